/**
 * The fused ops batchNormAct(…, "relu") (src/ops/batchnorm.ts) and addRelu (src/ops/fused-act.ts)
 * against the unfused ops they replace, on every backend: outputs, running statistics and the
 * gradients of every input equal relu(batchNorm(…)) and relu(add(a, b)) bit for bit (training
 * and eval, with and without γ/β, ranks 2–4, a tensor added to itself, a broadcast operand);
 * float64 central-difference gradient checks of both; the ReLU mask at exactly 0.
 */
import { expect, it } from "vitest";
import "../../src/autograd/backward.js";
import { add, mul } from "../../src/ops/binary.js";
import { batchNorm, batchNormAct } from "../../src/ops/batchnorm.js";
import { addRelu } from "../../src/ops/fused-act.js";
import { sum } from "../../src/ops/reduce.js";
import { relu } from "../../src/ops/unary.js";
import { randn, tensor } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";
import { expectGrad, leaf } from "../core/helpers.js";

function param(values: Tensor): Tensor {
  const t = tensor(values.data.slice(), { shape: values.shape, dtype: values.dtype });
  t.requiresGrad = true;
  return t;
}

interface Run { out: Float32Array; grads: Float32Array[]; running: Float32Array[] }

/** One forward + backward with fresh leaves (copies of the given values) through `f`. */
function run(xv: Tensor, wv: Tensor | null, bv: Tensor | null, weights: Tensor, training: boolean,
  f: (x: Tensor, rm: Tensor, rv: Tensor, w: Tensor | null, b: Tensor | null) => Tensor): Run {
  const x = param(xv), w = wv && param(wv), b = bv && param(bv);
  const c = xv.shape[1];
  const rm = randn([c]), rv = tensor(randn([c]).data.map((v) => 1 + Math.abs(v)), { shape: [c] });
  const out = f(x, rm, rv, w, b);
  sum(mul(out, weights)).backward();
  const grads = [x, w, b].filter((t): t is Tensor => t !== null).map((t) => Float32Array.from(t.grad!.data));
  void training;
  return { out: Float32Array.from(out.data), grads, running: [Float32Array.from(rm.data), Float32Array.from(rv.data)] };
}

describeEachBackend("fused BN + ReLU and add + ReLU equal the unfused ops", (backend) => {
  it("batchNormAct(…, 'relu') = relu(batchNorm(…)): values, running stats, gradients (training and eval, affine or not, ranks 2–4)", () => {
    for (const shape of [[16, 4, 9, 7], [6, 3, 11], [40, 5], [32, 16, 16, 16]]) {
      for (const affine of [true, false]) {
        for (const training of [true, false]) {
          manualSeed(shape.length * 10 + (affine ? 1 : 0) + (training ? 2 : 0));
          const c = shape[1];
          const xv = randn(shape), wv = affine ? randn([c]) : null, bv = affine ? randn([c]) : null, weights = randn(shape);
          const opts = { training, momentum: 0.1, eps: 1e-5 };
          const what = `[${backend}] ${shape.join("×")} affine ${affine} training ${training}`;
          manualSeed(7);
          const fused = run(xv, wv, bv, weights, training, (x, rm, rv, w, b) => batchNormAct(x, rm, rv, w, b, opts, "relu"));
          manualSeed(7);
          const unfused = run(xv, wv, bv, weights, training, (x, rm, rv, w, b) => relu(batchNorm(x, rm, rv, w, b, opts)));
          expectIdentical(fused.out, unfused.out, `${what}: output`);
          fused.running.forEach((r, i) => expectIdentical(r, unfused.running[i], `${what}: running stat ${i}`));
          fused.grads.forEach((g, i) => expectIdentical(g, unfused.grads[i], `${what}: gradient ${i}`));
          expect(fused.out.some((v) => v === 0) && fused.out.some((v) => v > 0)).toBe(true);
        }
      }
    }
  });

  it("addRelu = relu(add(a, b)): values and gradients; a + a; a broadcast operand takes the unfused ops", () => {
    manualSeed(11);
    for (const [sa, sb] of [[[8, 16, 10, 10], [8, 16, 10, 10]], [[300], [300]], [[4, 5], [5]]]) {
      const av = randn(sa), bv = randn(sb), weights = randn(sa);
      av.data[0] = 1;
      if (bv.size === av.size) bv.data[0] = -1; // sum exactly 0: no gradient
      const grads = (f: (a: Tensor, b: Tensor) => Tensor): Float32Array[] => {
        const a = param(av), b = param(bv);
        const out = f(a, b);
        sum(mul(out, weights)).backward();
        return [Float32Array.from(out.data), Float32Array.from(a.grad!.data), Float32Array.from(b.grad!.data)];
      };
      const fused = grads(addRelu), unfused = grads((a, b) => relu(add(a, b)));
      fused.forEach((v, i) => expectIdentical(v, unfused[i], `[${backend}] ${sa} + ${sb}: array ${i}`));
      if (bv.size === av.size) expect(fused[1][0] === 0).toBe(true); // ±0 (g·0 keeps g's sign)
    }
    const a = param(randn([20, 30])), a2 = param(a);
    sum(addRelu(a, a)).backward();
    sum(relu(add(a2, a2))).backward();
    expectIdentical(a.grad!.data, a2.grad!.data, `[${backend}] a + a`);
  });
});

it("float64 gradient checks: batchNormAct with ReLU (training and eval, affine) and addRelu", () => {
  manualSeed(5);
  const rm = tensor([0.1, -0.2, 0.3], { dtype: "float64" }), rv = tensor([1.5, 0.7, 2], { dtype: "float64" });
  for (const training of [true, false]) {
    expectGrad((x, w, b) => batchNormAct(x, rm.detach(), rv.detach(), w, b, { training, momentum: 0 }, "relu"),
      [leaf([4, 3, 5]), leaf([3], 1, 1), leaf([3], 0.5, 0.3)]);
  }
  expectGrad((x) => batchNormAct(x, null, null, null, null, { training: true }, "relu"), [leaf([6, 3])]);
  expectGrad((a, b) => addRelu(a, b), [leaf([5, 7]), leaf([5, 7])]);
});
