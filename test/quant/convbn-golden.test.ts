/**
 * The QAT conv-bn-relu module against PyTorch 1.13's nn.intrinsic.qat.ConvBnReLU2d with the
 * x86 qconfig (test/golden/quant/convbn_qat.json from scripts/golden/convbn_qat.py): forward
 * output, gradients of input, weight, BN γ and β, running statistics and the weight
 * quantizer's scales over two batch-statistics steps and one step after freeze_bn_stats.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { backward } from "../../src/autograd/backward.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { BatchNorm2d } from "../../src/nn/layers/batchnorm.js";
import { QatConvBn2d } from "../../src/quant/qat-modules.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { expectClose } from "../core/helpers.js";

interface Step {
  frozen: boolean;
  x: number[]; g: number[]; y: number[]; dx: number[]; dweight: number[]; dbn_weight: number[]; dbn_bias: number[];
  running_mean: number[]; running_var: number[]; w_scale: number[]; w_zero_point: number[];
}
const golden = JSON.parse(readFileSync(path.join(import.meta.dirname, "../golden/quant/convbn_qat.json"), "utf8")) as {
  torch: string; init: Record<string, number[]>; steps: Step[];
};

describe(`QatConvBn2d vs PyTorch ${golden.torch} ConvBnReLU2d`, () => {
  it("matches forward, gradients, running stats and weight scales before and after freezing BN", () => {
    const conv = new Conv2d(3, 4, 3, { padding: 1, bias: false });
    const bn = new BatchNorm2d(4);
    conv.weight.data.set(golden.init.weight);
    bn.weight!.data.set(golden.init.bn_weight);
    bn.bias!.data.set(golden.init.bn_bias);
    bn.runningMean!.data.set(golden.init.running_mean);
    bn.runningVar!.data.set(golden.init.running_var);
    const m = new QatConvBn2d(conv, bn, qconfigs.x86.weight({ outChannels: 4 }), { min: 0, max: Infinity });
    m.train();
    for (const [i, s] of golden.steps.entries()) {
      if (s.frozen) m.freezeBnStats();
      for (const p of m.parameters()) p.grad = null;
      const x = new Tensor(Float32Array.from(s.x), [2, 3, 5, 5]);
      x.requiresGrad = true;
      const y = m.forward(x);
      backward(y, new Tensor(Float32Array.from(s.g), y.shape));
      const ctx = `step ${i}${s.frozen ? " (BN frozen)" : ""}`;
      expect(Array.from((m.weight_fake_quant as unknown as { scale: Tensor }).scale.data), ctx).toEqual(s.w_scale.map(Math.fround));
      expectClose(y.data, s.y, 2e-5, 1e-4);
      expectClose(x.grad!.data, s.dx, 2e-5, 1e-4);
      expectClose(m.weight.grad!.data, s.dweight, 2e-5, 1e-4);
      expectClose(bn.weight!.grad!.data, s.dbn_weight, 5e-5, 1e-4);
      expectClose(bn.bias!.grad!.data, s.dbn_bias, 5e-5, 1e-4);
      expectClose(bn.runningMean!.data, s.running_mean, 1e-6, 1e-5);
      expectClose(bn.runningVar!.data, s.running_var, 1e-6, 1e-5);
      const w = m.weight.data;
      const gw = m.weight.grad!.data;
      for (let k = 0; k < w.length; k++) w[k] = Math.fround(w[k] - Math.fround(0.01 * gw[k]));
    }
  });
});
