/**
 * The op-level suite on both backends: the same seeded computations (forward values and
 * every gradient) through src/ops on "ref" and on each fast backend registered ("wasm", and
 * "native" where its addon is built) agree within the tolerance of
 * ./helpers.ts (relative 1e-5 of the magnitude, see expectOp), and SmallCNN trained for 200
 * SGD steps follows the same loss curve on both.
 */
import { afterAll, describe, expect, it } from "vitest";
import { backward } from "../../src/autograd/backward.js";
import { getBackend, listBackends, setBackend } from "../../src/backend/index.js";
import { SmallCNN } from "../../src/nn/models/small-cnn.js";
import * as ops from "../../src/ops/index.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { SGD } from "../../src/optim/sgd.js";
import { randint, randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { expectNear } from "./helpers.js";

const initial = getBackend();
afterAll(() => setBackend(initial));

/** Output and input gradients of fn on fresh seeded float32 inputs, on one backend. */
function evaluate(backend: string, shapes: number[][], fn: (...xs: Tensor[]) => Tensor): Float32Array[] {
  setBackend(backend);
  manualSeed(42);
  const xs = shapes.map((s) => randn(s).requiresGrad_());
  const y = fn(...xs);
  const w = randn(y.shape);
  backward(ops.sum(ops.mul(y, w)));
  return [y, ...xs.map((x) => x.grad!)].map((t) => Float32Array.from(t.data as Float32Array));
}

/** The fast backends compared with ref. */
const FAST = listBackends().filter((b) => b !== "ref");

/** Compares ref and each fast backend's results with tolerance 1e-5·(max |ref| of that output) + 1e-6. */
function expectOp(shapes: number[][], fn: (...xs: Tensor[]) => Tensor): void {
  const want = evaluate("ref", shapes, fn);
  for (const fast of FAST) {
    const got = evaluate(fast, shapes, fn);
    want.forEach((w, i) => {
      const scale = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expectNear(got[i], w, new Float32Array(w.length).fill(scale));
    });
  }
}

describe(`ops on ref and ${FAST.join(", ")} agree`, () => {
  it("matmul and linear (batched, transposed weight)", () => {
    expectOp([[37, 45], [45, 29]], (a, b) => ops.matmul(a, b));
    expectOp([[3, 17, 33], [33, 9]], (a, b) => ops.matmul(a, b));
    expectOp([[64, 157], [130, 157], [130]], (x, w, b) => ops.linear(x, w, b));
  });

  it("conv2d with bias, stride, padding, groups", () => {
    expectOp([[4, 3, 13, 11], [8, 3, 3, 3], [8]], (x, w, b) => ops.conv2d(x, w, b, { padding: 1 }));
    expectOp([[2, 6, 9, 9], [6, 2, 3, 3]], (x, w) => ops.conv2d(x, w, null, { stride: 2, groups: 3 }));
    expectOp([[2, 4, 8, 8], [5, 4, 1, 1]], (x, w) => ops.conv2d(x, w));
  });

  it("pooling", () => {
    expectOp([[4, 5, 28, 28]], (x) => ops.maxPool2d(x, 2));
    expectOp([[3, 4, 11, 9]], (x) => ops.maxPool2d(x, 3, { stride: 2, padding: 1 }));
    expectOp([[3, 4, 11, 9]], (x) => ops.avgPool2d(x, 3, { stride: 2, padding: 1 }));
  });

  it("batch norm, training and eval", () => {
    expectOp([[16, 8, 12, 12], [8], [8]], (x, g, b) => ops.batchNorm(x, null, null, g, b, { training: true }));
    expectOp([[16, 8, 12, 12], [8], [8]], (x, g, b) => {
      const rm = randn([8]);
      const rv = ops.add(ops.abs(randn([8])), 0.5);
      return ops.batchNorm(x, rm, rv, g, b, { training: false });
    });
  });

  it("elementwise chains (relu, add with bias row, mul, clamp, comparisons)", () => {
    expectOp([[64, 300], [300]], (x, b) => ops.relu(ops.add(x, b)));
    expectOp([[40, 50], [40, 50]], (a, b) => ops.mul(ops.sub(a, b), ops.div(a, ops.add(ops.abs(b), 1))));
    expectOp([[2000]], (x) => ops.mul(ops.clamp(x, -0.5, 0.7), ops.square(x)));
    expectOp([[3000]], (x) => ops.mul(x, ops.gt(x, 0.1)));
  });
});

/** Losses of `steps` SGD steps of SmallCNN on synthetic data, on one backend. */
function lossCurve(backend: string, steps: number): number[] {
  setBackend(backend);
  manualSeed(7);
  const model = new SmallCNN();
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const x = randn([8, 1, 28, 28]);
  const y = randint(0, 10, [8]);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    const loss = crossEntropy(model.forward(x), y);
    backward(loss);
    opt.step();
    losses.push(loss.item());
  }
  return losses;
}

describe("SmallCNN training on both backends", () => {
  it("200 SGD steps give the same loss curve", () => {
    const want = lossCurve("ref", 200);
    for (const fast of FAST) {
      const got = lossCurve(fast, 200);
      expectNear(got.slice(0, 20), want.slice(0, 20), undefined, 1e-4, 1e-6);
      expectNear(got, want, undefined, 1e-2, 1e-4);
    }
    expect(want[199]).toBeLessThan(want[0]);
  });
});
