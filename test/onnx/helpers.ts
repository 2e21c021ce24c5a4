/**
 * Helpers for the ONNX tests: onnxruntime-node loaded once (tests that need it skip with a
 * printed reason when it cannot load), running bytes in it, relative-difference checks, and
 * small models for the hostile-input tests.
 */
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { expect } from "vitest";
import * as nn from "../../src/nn/index.js";
import type { Tensor } from "../../src/tensor/tensor.js";

type Ort = typeof import("onnxruntime-node");

let ortPromise: Promise<Ort | null> | null = null;
/** Why onnxruntime-node could not be loaded, if it could not. */
export let ortUnavailable = "";

/** onnxruntime-node, or null (with `ortUnavailable` set) when its native binding does not load. */
export function loadOrt(): Promise<Ort | null> {
  ortPromise ??= import("onnxruntime-node").then(
    (m) => m as Ort,
    (e: unknown) => {
      ortUnavailable = `onnxruntime-node could not be loaded: ${(e as Error).message}`;
      console.warn(`[onnx tests] skipping onnxruntime checks: ${ortUnavailable}`);
      return null;
    },
  );
  return ortPromise;
}

/** Runs a single-input single-output model in onnxruntime; returns the output values and shape. */
export async function runOrt(ort: Ort, bytes: Uint8Array, x: Tensor, opts: { optimizedModelFilePath?: string } = {}): Promise<{ data: Float32Array; dims: number[] }> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", ...opts });
  try {
    const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", x.toFloat32Array(), [...x.shape]) };
    const out = await session.run(feeds);
    const y = out[session.outputNames[0]];
    return { data: y.data as Float32Array, dims: [...y.dims] };
  } finally {
    await session.release();
  }
}

/** max |a − b| / max(|b|_∞, tiny): the "relative" error of a whole output. */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let num = 0;
  let den = 1e-12;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** Elementwise: every |a − b| ≤ tol·(1 + |b|). */
export function expectAllClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < b.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])))) throw new Error(`element ${i}: ${a[i]} vs ${b[i]} (tol ${tol})`);
  }
}

/** A small CNN touching most float rules (used for fuzzing: a few KB of bytes). */
export class TinyNet extends nn.Module {
  conv: nn.Conv2d;
  bn: nn.BatchNorm2d;
  relu: nn.ReLU6;
  pool: nn.MaxPool2d;
  flatten: nn.Flatten;
  fc: nn.Linear;

  constructor() {
    super();
    this.conv = this.registerModule("conv", new nn.Conv2d(1, 2, 3, { padding: 1 }));
    this.bn = this.registerModule("bn", new nn.BatchNorm2d(2));
    this.relu = this.registerModule("relu", new nn.ReLU6());
    this.pool = this.registerModule("pool", new nn.MaxPool2d(2));
    this.flatten = this.registerModule("flatten", new nn.Flatten());
    this.fc = this.registerModule("fc", new nn.Linear(8, 3));
  }

  forward(x: Tensor): Tensor {
    return this.fc.forward(this.flatten.forward(this.pool.forward(this.relu.forward(this.bn.forward(this.conv.forward(x))))));
  }
}

/** Gives BatchNorm layers non-trivial running statistics and affine parameters. */
export function randomizeBatchNorm(model: nn.Module, seed = 1): void {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const m of model.modules()) {
    if (!(m instanceof nn.BatchNormBase)) continue;
    for (let i = 0; i < m.numFeatures; i++) {
      m.running_mean!.data[i] = next() - 0.5;
      m.running_var!.data[i] = 0.5 + next();
      m.weight!.data[i] = 0.5 + next();
      m.bias!.data[i] = next() - 0.5;
    }
  }
}
