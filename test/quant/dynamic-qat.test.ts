/**
 * QAT with the dynamic and 4-bit schemes through prepareQat: the run-time input quantizer
 * QatLinear builds (per token int8 for 8da4w, per tensor uint8 for dynamic, none for
 * weight-only), per-module overrides (another dynamic scheme, or float), training with
 * learned per-group scales (LSQ: the loss falls, the scales move, convert then gives the
 * trained model's outputs), a transformer encoder layer (its Linear layers and attention's
 * functional in-projection become integer nodes, the rest float islands) and the refusal of
 * static + dynamic mixtures.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { Sequential } from "../../src/nn/layers/container.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { ReLU } from "../../src/nn/layers/activation.js";
import { TransformerEncoderLayer } from "../../src/nn/layers/transformer.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { NotSupportedError } from "../../src/tensor/errors.js";
import { mseLoss } from "../../src/ops/loss.js";
import { backward } from "../../src/autograd/backward.js";
import { SGD } from "../../src/optim/sgd.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { dynamicQConfig } from "../../src/quant/dynamic-qconfig.js";
import { convert, convertWithReport } from "../../src/quant/convert.js";
import { DynamicFakeQuantize } from "../../src/quant/dynamic-fake-quant.js";
import { GroupwiseFakeQuantize } from "../../src/quant/groupwise.js";
import type { QatLinear } from "../../src/quant/qat-modules.js";

function mlp(): Sequential {
  manualSeed(41);
  return new Sequential(new Linear(32, 64), new ReLU(), new Linear(64, 32), new ReLU(), new Linear(32, 4));
}
const maxDiff = (a: Tensor, b: Tensor) => Math.max(...Array.from(a.data, (v, i) => Math.abs(v - b.data[i])));
const maxAbs = (a: Tensor) => Math.max(...Array.from(a.data, Math.abs));

describe("prepareQat with dynamic qconfigs", () => {
  it("builds the run-time input quantizer each scheme names", () => {
    const x = randn([4, 32]);
    const get = (qc: keyof typeof qconfigs) => prepareQat(mlp(), { qconfig: qconfigs[qc], example: x }).module.getSubmodule("0") as QatLinear;
    const a = get("int8DynActInt4Weight");
    expect(a.input_fake_quant).toBeInstanceOf(DynamicFakeQuantize);
    expect([(a.input_fake_quant as DynamicFakeQuantize).granularity, (a.input_fake_quant as DynamicFakeQuantize).dtype]).toEqual(["per_token", "int8"]);
    expect((a.weight_fake_quant as GroupwiseFakeQuantize).bits).toBe(4);
    const d = get("dynamic").input_fake_quant as DynamicFakeQuantize;
    expect([d.granularity, d.dtype]).toEqual(["per_tensor", "uint8"]);
    expect(get("int4WeightOnly").input_fake_quant).toBeUndefined();
  });
  it("per-module overrides: another dynamic scheme for one layer, float for another", () => {
    const x = randn([4, 32]);
    const qm = prepareQat(mlp(), {
      qconfig: qconfigs.int8DynActInt4Weight, example: x,
      overrides: [{ name: "4", qconfig: qconfigs.int4WeightOnly }, { name: "2", qconfig: null }],
    });
    qm.eval();
    const { model, report } = convertWithReport(qm);
    const nodes = model.graph.nodes;
    expect(nodes.filter((n) => n.op === "linear_nbits").map((n) => (n.op === "linear_nbits" ? n.act?.granularity ?? "float" : ""))).toEqual(["per_token", "float"]);
    expect(report.islands.map((i) => i.source)).toEqual(["module.2"]); // the float Linear (fused with its ReLU)
    expect(maxDiff(model.run(x), noGrad(() => qm.forward(x)))).toBeLessThanOrEqual(1e-5 * maxAbs(noGrad(() => qm.forward(x))));
  });
  it("a static qconfig mixed into a dynamic model is refused by convert, naming the layer", () => {
    const x = randn([4, 32]);
    const qm = prepareQat(mlp(), { qconfig: qconfigs.dynamic, example: x, overrides: [{ name: "4", qconfig: qconfigs.x86 }] });
    expect(() => convert(qm)).toThrow(NotSupportedError);
    expect(() => convert(qm)).toThrow(/module\.4/);
  });
});

describe("training with learned 4-bit group scales", () => {
  it("the loss falls, the scales move, and convert gives the trained model's outputs", () => {
    manualSeed(42);
    const teacher = mlp();
    const x = randn([64, 32]);
    const target = noGrad(() => teacher.forward(x));
    manualSeed(43);
    const student = new Sequential(new Linear(32, 64), new ReLU(), new Linear(64, 32), new ReLU(), new Linear(32, 4));
    const qc = dynamicQConfig({ weightBits: 4, groupSize: 16, lsq: true, activations: "per_token" });
    const qm = prepareQat(student, { qconfig: qc, example: x });
    const fq = (qm.module.getSubmodule("0") as QatLinear).weight_fake_quant as GroupwiseFakeQuantize;
    const s0 = Float32Array.from(fq.group_scale!.data);
    const opt = new SGD(qm.parameters(), { lr: 0.05, momentum: 0.9 });
    const lossAt = () => noGrad(() => mseLoss(qm.forward(x), target)).data[0];
    const before = lossAt();
    for (let step = 0; step < 40; step++) {
      opt.zeroGrad();
      backward(mseLoss(qm.forward(x), target));
      opt.step();
    }
    const after = lossAt();
    console.log(`[dynamic qat] 8da4w LSQ, 40 steps: loss ${before.toExponential(3)} → ${after.toExponential(3)}`);
    expect(after).toBeLessThan(0.5 * before);
    expect(Array.from(fq.group_scale!.data).some((v, i) => v !== s0[i])).toBe(true);
    qm.eval();
    const y = noGrad(() => qm.forward(x));
    expect(maxDiff(convert(qm).run(x), y)).toBeLessThanOrEqual(1e-5 * maxAbs(y));
    // the learned scales are state: a freshly prepared model loads them before any forward
    manualSeed(43);
    const again = prepareQat(new Sequential(new Linear(32, 64), new ReLU(), new Linear(64, 32), new ReLU(), new Linear(32, 4)), { qconfig: qc, example: x });
    again.loadStateDict(qm.stateDict());
    again.eval();
    expect(Array.from(noGrad(() => again.forward(x)).data)).toEqual(Array.from(y.data));
  });
});

describe("a transformer encoder layer", () => {
  it("its Linear layers become dynamic nodes; the Int8Model is the fake-quant model up to float rounding", () => {
    manualSeed(44);
    const m = new Sequential(new TransformerEncoderLayer(32, 4, { dimFeedforward: 64, dropout: 0, batchFirst: true, activation: "gelu" }), new Linear(32, 10));
    m.eval();
    const x = randn([2, 7, 32]);
    for (const name of ["dynamic", "int8DynActInt4Weight"] as const) {
      const qm = prepareQat(m, { qconfig: qconfigs[name], example: x });
      qm.eval();
      const y = noGrad(() => qm.forward(x));
      const int8 = convert(qm);
      // in_proj (functional linear on the packed in_proj_weight: weight-only), out_proj, linear1, linear2, head
      expect(int8.graph.nodes.filter((n) => n.op === "dynamic_linear" || n.op === "linear_nbits").length).toBe(5);
      expect(maxDiff(int8.run(x), y)).toBeLessThanOrEqual(1e-5 * maxAbs(y));
    }
  });
});

describe("the QAT schedule", () => {
  it("switches the run-time input quantizers with the activations (activation delay)", async () => {
    const { disableFakeQuant, enableFakeQuant } = await import("../../src/quant/schedule.js");
    const x = randn([4, 32]);
    const qm = prepareQat(mlp(), { qconfig: qconfigs.int8DynActInt4Weight, example: x });
    const inq = (qm.module.getSubmodule("0") as QatLinear).input_fake_quant as DynamicFakeQuantize;
    disableFakeQuant(qm, "activations");
    expect(inq.fake_quant_enabled.data[0]).toBe(0);
    expect(((qm.module.getSubmodule("0") as QatLinear).weight_fake_quant as GroupwiseFakeQuantize).fake_quant_enabled.data[0]).toBe(1);
    enableFakeQuant(qm, "activations");
    expect(inq.fake_quant_enabled.data[0]).toBe(1);
  });
});

describe("dynamic qconfig names", () => {
  it("a generated dynamicQConfig name resolves again (qconfigByName, so QAT checkpoints reload); other names are refused", async () => {
    const { qconfigByName } = await import("../../src/quant/qconfig.js");
    const { parseDynamicQConfigName } = await import("../../src/quant/dynamic-qconfig.js");
    for (const o of [{ weightBits: 4, groupSize: 32, lsq: true, activations: "per_token" as const }, { weightBits: 3, groupSize: 16 as const, symmetric: false, activations: "none" as const }, { weightBits: 8 }]) {
      const name = dynamicQConfig(o).name;
      const back = parseDynamicQConfigName(name)!;
      expect(dynamicQConfig(back).name).toBe(name);
      const w = qconfigByName(name).weight({ outChannels: 4 }) as GroupwiseFakeQuantize;
      expect([w.bits, w.groupSizeOption, w.mode]).toEqual([o.weightBits, o.groupSize ?? "row", o.lsq ? "lsq" : "minmax"]);
    }
    expect(qconfigByName("int8DynActInt4Weight").name).toBe("int8DynActInt4Weight");
    expect(() => qconfigByName("dynamic-w9")).toThrow(/dynamic-w<2-8>/);
  });
});
