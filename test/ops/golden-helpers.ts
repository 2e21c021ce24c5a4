/**
 * Helpers for the neural-network op tests: reading test/golden/ops/nn.json (written by
 * scripts/golden/ops_nn.py with PyTorch 1.13), turning its records into tensors, running an
 * op forward + backward with the recorded upstream gradient, and comparing with tolerances.
 */
import { readFileSync } from "node:fs";
import { expect } from "vitest";
import { backward } from "../../src/autograd/backward.js";
import { tensor } from "../../src/tensor/creation.js";
import type { DType } from "../../src/tensor/dtype.js";
import type { Tensor } from "../../src/tensor/tensor.js";

/** A tensor as stored in the golden file. */
export interface GT {
  shape: number[];
  data: number[];
}

/** Case fields shared by every golden record. */
export interface GoldenCase {
  name: string;
  y: GT;
  gy: GT;
  [key: string]: unknown;
}

export interface Golden {
  torch: string;
  [section: string]: unknown;
}

let cached: Golden | null = null;

export function golden(): Golden {
  if (!cached) cached = JSON.parse(readFileSync(new URL("../golden/ops/nn.json", import.meta.url), "utf8")) as Golden;
  return cached;
}

export function cases<C extends GoldenCase>(section: string): C[] {
  const list = golden()[section] as C[] | undefined;
  if (!list || list.length === 0) throw new Error(`golden file has no section '${section}'`);
  return list;
}

/** A tensor of `dtype` from a golden record, optionally requiring grad. */
export function fromGolden(g: GT, dtype: DType = "float64", requiresGrad = false): Tensor {
  const t = tensor(g.data, { shape: g.shape, dtype });
  if (requiresGrad) t.requiresGrad = true;
  return t;
}

/** Runs fn, back-propagates gy, and returns the output and the leaves' gradients. */
export function forwardBackward(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], gy: GT): { y: Tensor; grads: (Tensor | null)[] } {
  for (const t of inputs) t.grad = null;
  const y = fn(...inputs);
  backward(y, fromGolden(gy, y.dtype));
  return { y, grads: inputs.map((t) => t.grad) };
}

/** Tolerances: float64 compute against float64 PyTorch, and float32 compute against it. */
export const TOL64 = { atol: 1e-10, rtol: 1e-9 };
export const TOL32 = { atol: 2e-4, rtol: 2e-4 };

/** Asserts shape equality and |a − e| ≤ atol + rtol·|e| elementwise, naming the case. */
export function expectMatches(actual: Tensor | null, expected: GT | null, tol: { atol: number; rtol: number }, what: string): void {
  if (expected === null) {
    expect(actual, what).toBeNull();
    return;
  }
  expect(actual, what).not.toBeNull();
  const a = actual as Tensor;
  expect([...a.shape], `${what}: shape`).toEqual(expected.shape);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.data.length; i++) {
    const e = expected.data[i];
    const err = Math.abs(a.data[i] - e) - tol.rtol * Math.abs(e);
    if (!(err <= worst)) {
      worst = Number.isNaN(err) ? Infinity : err;
      at = i;
    }
  }
  if (worst > tol.atol) throw new Error(`${what}: index ${at}: got ${a.data[at]}, expected ${expected.data[at]}`);
}

/** Runs `check` in float64 with TOL64 and in float32 with TOL32. */
export const PRECISIONS: [DType, { atol: number; rtol: number }][] = [
  ["float64", TOL64],
  ["float32", TOL32],
];
