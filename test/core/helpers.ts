/** Test helpers shared by the core op tests: float64 random inputs and gradcheck assertions. */
import { expect } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { randn } from "../../src/tensor/creation.js";
import type { Tensor } from "../../src/tensor/tensor.js";

/** A float64 leaf requiring grad. */
export function leaf(shape: number[], scale = 1, offset = 0): Tensor {
  const t = randn(shape, { dtype: "float64" });
  for (let i = 0; i < t.size; i++) t.data[i] = t.data[i] * scale + offset;
  t.requiresGrad = true;
  return t;
}

/** Asserts the analytic gradient of fn matches central differences. */
export function expectGrad(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], tol = {}): void {
  const r = gradcheck(fn, inputs, tol);
  if (!r.ok) throw new Error(`gradcheck failed: ${JSON.stringify(r.failure)} (max err ${r.maxAbsError})`);
  expect(r.ok).toBe(true);
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-6, rtol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e)) {
      expect(Number.isNaN(a), `index ${i}`).toBe(true);
      continue;
    }
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`index ${i}: got ${a}, expected ${e}`);
    }
  }
}
