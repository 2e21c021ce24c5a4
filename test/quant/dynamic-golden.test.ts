/**
 * quant.quantizeDynamic against PyTorch 1.13's torch.ao.quantization.quantize_dynamic
 * (scripts/golden/dynamic_quant.py, onednn engine; the MLP's weights moved through
 * safetensors): the float models agree to float32 rounding, the per-channel weight scales are
 * PyTorch's (amax/127.5) to the float32 ulp, and the dynamically quantized outputs agree within
 * the activation-rounding difference of the two schemes — PyTorch picks the run-time
 * activation parameters with ChooseQuantizationParams (reduce_range on x86: 7-bit codes),
 * we with onnxruntime's DynamicQuantizeLinear rule (8-bit codes, what the exported model runs),
 * so neither is bit-exact with the other. Measured on this golden: max |ours − float| 1.1 % of
 * the output range, max |PyTorch − float| 1.4 %, max |ours − PyTorch| 2.2 %.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { Sequential } from "../../src/nn/layers/container.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { ReLU } from "../../src/nn/layers/activation.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { loadSafetensors } from "../../src/nn/fs.js";
import { quantizeDynamic } from "../../src/quant/quantize-dynamic.js";
import { GroupwiseFakeQuantize } from "../../src/quant/groupwise.js";

const g = JSON.parse(readFileSync(new URL("../golden/quant/dynamic_mlp.json", import.meta.url), "utf8"));
const model = new Sequential(new Linear(64, 48), new ReLU(), new Linear(48, 32), new ReLU(), new Linear(32, 10));
model.loadStateDict(loadSafetensors(new URL("../golden/quant/dynamic_mlp.safetensors", import.meta.url).pathname));
model.eval();
const x = new Tensor(Float32Array.from(g.x as number[]), g.x_shape);
const range = Math.max(...(g.float as number[]).map(Math.abs));
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

describe("quantizeDynamic vs PyTorch quantize_dynamic", () => {
  it("the float MLP (weights through safetensors) is PyTorch's", () => {
    expect(maxDiff(noGrad(() => model.forward(x)).data, g.float)).toBeLessThanOrEqual(1e-6 * range);
  });
  it("per-channel weight scales are PyTorch's per_channel_dynamic_qconfig scales (amax / 127.5)", () => {
    const fq = new GroupwiseFakeQuantize({ bits: 8, groupSize: "row" });
    ([0, 2, 4] as const).forEach((i, j) => {
      const ours = fq.paramsFor((model.getSubmodule(String(i)) as Linear).weight).scales;
      const theirs = g.weight_scales.per_channel[j] as number[];
      expect(ours.length).toBe(theirs.length);
      for (let c = 0; c < ours.length; c++) expect(ours[c]).toBe(Math.fround(theirs[c]));
    });
  });
  it("outputs agree within the activation-rounding difference of the two schemes (see the header)", () => {
    const ours = noGrad(() => quantizeDynamic(model).forward(x)).data;
    const torchPc = g.dynamic.per_channel as number[];
    const errOurs = maxDiff(ours, g.float) / range;
    const errTorch = maxDiff(torchPc, g.float) / range;
    const gap = maxDiff(ours, torchPc) / range;
    console.log(`[dynamic golden] max |ours − float| ${(100 * errOurs).toFixed(2)} %, |PyTorch − float| ${(100 * errTorch).toFixed(2)} %, |ours − PyTorch| ${(100 * gap).toFixed(2)} % of the output range`);
    expect(errOurs).toBeLessThan(0.02);
    expect(errTorch).toBeLessThan(0.02);
    expect(gap).toBeLessThan(0.03);
    // and a quantized model at all: not the float output
    expect(maxDiff(ours, g.float)).toBeGreaterThan(0);
  });
});
