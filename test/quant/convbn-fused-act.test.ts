/**
 * QatConvBn2d with a fused ReLU while BN uses batch statistics: `finish` runs BN → ReLU as one
 * op (BatchNorm's forwardAct, batchNormAct) unless the BN module has forward hooks. The fused
 * path must give the same output, running statistics and gradients (input, weight, BN γ and β)
 * bit for bit as the two-op path, which a forward hook on BN forces — on every backend, for a
 * conv and a linear ReLU layer and (never fused) a ReLU6 one, through two training steps.
 */
import { expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { BatchNorm1d, BatchNorm2d } from "../../src/nn/layers/batchnorm.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { QatConvBn2d, QatLinearBn1d } from "../../src/quant/qat-modules.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";

/** Output, running stats and gradients of two training steps of a fresh layer (seeded), BN hooked or not. */
function run(act: { min: number; max: number }, hookBn: boolean, linear = false): { out: Float32Array[]; calls: number; fused: number } {
  manualSeed(3);
  const m = linear
    ? new QatLinearBn1d(new Linear(5, 6), new BatchNorm1d(6), qconfigs.onednn.weight({ outChannels: 6 }), act)
    : new QatConvBn2d(new Conv2d(5, 6, 3, { padding: 1, bias: false }), new BatchNorm2d(6), qconfigs.onednn.weight({ outChannels: 6 }), act);
  let calls = 0, fused = 0;
  if (hookBn) m.bn.registerForwardHook(() => void calls++);
  const forwardAct = m.bn.forwardAct.bind(m.bn);
  m.bn.forwardAct = (x, a) => (a === "relu" && fused++, forwardAct(x, a));
  m.train();
  const out: Float32Array[] = [];
  for (let step = 0; step < 2; step++) {
    const x = randn(linear ? [12, 5] : [4, 5, 9, 7]).requiresGrad_();
    const y = m.forward(x);
    const g = randn(y.shape);
    y.backward(g);
    const grads = [x.grad, m.weight.grad, m.bn.weight!.grad, m.bn.bias!.grad] as (Tensor | null)[];
    out.push(y.data as Float32Array, ...grads.map((t) => t!.data as Float32Array), m.bn.runningMean!.data as Float32Array, m.bn.runningVar!.data as Float32Array);
    for (const p of m.parameters()) p.grad = null;
  }
  return { out: out.map((a) => a.slice()), calls, fused };
}

describeEachBackend("QatConvBn2d: BN → ReLU fused while BN trains", () => {
  it("ReLU: the fused op equals BN then ReLU bit for bit (output, running statistics, all gradients), two steps", () => {
    const fused = run({ min: 0, max: Infinity }, false);
    const plain = run({ min: 0, max: Infinity }, true);
    expect([fused.fused, plain.calls, plain.fused], "fused op calls, hooked BN forwards, fused calls with the hook").toEqual([2, 2, 0]);
    expect(fused.out.length).toBe(plain.out.length);
    fused.out.forEach((a, i) => expectIdentical(a, plain.out[i], `array ${i}`));
  });

  it("QatLinearBn1d with ReLU (BatchNorm1d, and a Linear bias through the channel affine): the same, bit for bit", () => {
    const fused = run({ min: 0, max: Infinity }, false, true);
    const plain = run({ min: 0, max: Infinity }, true, true);
    expect([fused.fused, plain.calls]).toEqual([2, 2]);
    fused.out.forEach((a, i) => expectIdentical(a, plain.out[i], `array ${i}`));
  });

  it("ReLU6 (hardtanh) is not fused: BN's forward runs", () => {
    const r = run({ min: 0, max: 6 }, false);
    expect(r.fused).toBe(0);
  });
});
