/**
 * The folded form of QatConvBn2d once BN uses running statistics (eval, and train after
 * freezeBnStats), against PyTorch 1.13's nn.intrinsic.qat.ConvBnReLU2d with the x86 qconfig
 * (test/golden/quant/convbn_folded.json from scripts/golden/convbn_folded.py), on every backend.
 *
 * The input comes from an output quantizer, so the layer knows S_x and must add its folded
 * bias on the int32 grid S_x·S_w[c] (what convert stores). The golden's `y_int` is that
 * integer-grid output computed by PyTorch (torch.quantize_per_channel to qint32); its `y` is
 * PyTorch's own BN path with a float bias. They differ by up to ~1.7e-4 (half a grid step),
 * well above our tolerance, so a layer that stays on the BN path after the freeze (or drops
 * the bias rounding) fails here. Gradients are the same function's: PyTorch's within float
 * tolerance.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { backward } from "../../src/autograd/backward.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { BatchNorm2d } from "../../src/nn/layers/batchnorm.js";
import type { Module } from "../../src/nn/module.js";
import { QatConvBn2d } from "../../src/quant/qat-modules.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { QuantStub, attachOutputQuantizer } from "../../src/quant/stubs.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { expectClose } from "../core/helpers.js";
import { describeEachBackend } from "../backend/helpers.js";

interface GT { shape: number[]; dtype: string; data: number[] }
interface Mode { y: number[]; y_int: number[]; dx: number[]; dweight: number[]; dbn_weight: number[]; dbn_bias: number[]; max_y_vs_y_int: number }
const golden = JSON.parse(readFileSync(path.join(import.meta.dirname, "../golden/quant/convbn_folded.json"), "utf8")) as {
  torch: string; x_shape: number[]; x: number[]; g: number[]; state: Record<string, GT>; act_state: Record<string, GT>; modes: Record<"eval" | "frozen_train", Mode>;
};

function stateOf(entries: Record<string, GT>): Record<string, Tensor> {
  const sd: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(entries)) {
    sd[k] = new Tensor(t.dtype === "float32" ? Float32Array.from(t.data) : Int32Array.from(t.data), t.shape);
  }
  return sd;
}

/** Our module and input stub, with PyTorch's state (observers disabled, as in the golden). */
function build(): { m: QatConvBn2d; stub: QuantStub } {
  const m = new QatConvBn2d(new Conv2d(3, 4, 3, { padding: 1, bias: false }), new BatchNorm2d(4), qconfigs.x86.weight({ outChannels: 4 }), { min: 0, max: Infinity });
  m.loadStateDict(stateOf(golden.state), { strict: true });
  const stub = new QuantStub();
  const fq = qconfigs.x86.activation() as Module;
  attachOutputQuantizer(stub, fq);
  fq.loadStateDict(stateOf(golden.act_state), { strict: true });
  return { m, stub };
}

/** Largest |a − b| (the distance between PyTorch's BN path and its integer-grid output). */
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => Array.from(a).reduce((w, v, i) => Math.max(w, Math.abs(v - b[i])), 0);

describeEachBackend(`QatConvBn2d folded form vs PyTorch ${golden.torch} ConvBnReLU2d`, () => {
  for (const mode of ["eval", "frozen_train"] as const) {
    it(`${mode}: output on the int32 bias grid; gradients as PyTorch's`, () => {
      const want = golden.modes[mode];
      // The golden separates the two forms by far more than the tolerance used below.
      expect(want.max_y_vs_y_int).toBeGreaterThan(20 * 5e-6);
      const { m, stub } = build();
      if (mode === "eval") m.eval();
      else m.train().freezeBnStats();
      const xq = stub.call(new Tensor(Float32Array.from(golden.x), golden.x_shape));
      xq.requiresGrad = true;
      const y = m.forward(xq);
      expectClose(y.data, want.y_int, 5e-6, 1e-5);
      expect(maxDiff(y.data, want.y)).toBeGreaterThan(1e-5); // not PyTorch's float-bias BN path
      backward(y, new Tensor(Float32Array.from(golden.g), y.shape));
      expectClose(xq.grad!.data, want.dx, 2e-5, 1e-4);
      expectClose(m.weight.grad!.data, want.dweight, 2e-5, 1e-4);
      expectClose(m.bn.weight!.grad!.data, want.dbn_weight, 5e-5, 1e-4);
      expectClose(m.bn.bias!.grad!.data, want.dbn_bias, 5e-5, 1e-4);
    });
  }
});
