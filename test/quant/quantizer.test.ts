/**
 * The PT2E-style Quantizer API (src/quant/quantizer*.ts): prepareQat(model, { qconfig, overrides })
 * is DefaultQuantizer.fromOptions (one code path), PT2E's rule priority, and user-written
 * quantizers that change what gets fake-quantized: only linears (edges get their own
 * quantizers), a concat whose inputs share one quantizer, a sigmoid with fixed qparams 1/256;
 * bad annotations get typed errors.
 */
import { describe, expect, it } from "vitest";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { NotSupportedError, ValueError } from "../../src/tensor/errors.js";
import type { Module } from "../../src/nn/module.js";
import { Sequential } from "../../src/nn/layers/container.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { ReLU, Tanh } from "../../src/nn/layers/activation.js";
import { refsOf } from "../../src/graph/graph.js";
import type { GraphModule } from "../../src/graph/graph-module.js";
import {
  DefaultQuantizer, FakeQuantize, FixedQParamsFakeQuantize, FixedQParamsQuantizationSpec, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver,
  QuantizationSpec, type Quantizer, SharedQuantizationSpec, annotate, annotationOf, convertWithReport, edge, prepareQat, prepareQatPt2e, qconfigByName, qconfigFor, qconfigs, quantizationConfigOf,
} from "../../src/quant/index.js";
import { ResidualConcatNet, SigmoidHead, images, qatSteps, sameBits, trainedFloat, withinOne } from "./quantizer-helpers.js";

const act = new QuantizationSpec({ dtype: "uint8", qmin: 0, qmax: 255, qscheme: "per_tensor_affine", observerOrFakeQuantCtr: FakeQuantize.withArgs({ observer: MovingAverageMinMaxObserver }) });
const weight = new QuantizationSpec({
  dtype: "int8", qmin: -127, qmax: 127, qscheme: "per_channel_symmetric", chAxis: 0,
  observerOrFakeQuantCtr: FakeQuantize.withArgs({ observer: MovingAveragePerChannelMinMaxObserver }),
});

/** Quantizes Linear layers only: their input edge, weight and output. */
class LinearsOnly implements Quantizer {
  readonly name = "linears-only";
  annotate(gm: GraphModule): void {
    for (const n of gm.graph.nodes) {
      if (n.kind !== "call_module" || !(gm.getSubmodule(n.target) instanceof Linear)) continue;
      annotate(n, { inputQSpecMap: [[refsOf(n.args)[0], act], ["weight", weight]], outputQSpec: act });
    }
  }
}

const keys = (m: Module) => Object.keys(m.stateDict()).sort();
const mlpInput = (n: number, seed: number) => {
  manualSeed(seed);
  return randn([n, 12]);
};

describe("Quantizer API", () => {
  it("prepareQat(model, { qconfig, overrides }) and the DefaultQuantizer give the same graph, keys and outputs", () => {
    const float = trainedFloat(() => new ResidualConcatNet());
    const example = images(2, 1);
    const a = prepareQat(float, { qconfig: qconfigs.x86, overrides: [{ name: "branch", qconfig: null }], example });
    const b = prepareQat(float, { quantizer: new DefaultQuantizer().setGlobal(qconfigs.x86).setModuleName("branch", null), example });
    expect((b.module as GraphModule).graph.toString()).toBe((a.module as GraphModule).graph.toString());
    expect(keys(b)).toEqual(keys(a));
    expect(a.module.getSubmodule("branch").typeName).toBe("Conv2d"); // qconfig null: float weights
    const x = images(8, 2);
    expect(sameBits(noGrad(() => a.forward(x)), noGrad(() => b.forward(x)))).toBe(true);
    const c = prepareQatPt2e(float, new DefaultQuantizer().setGlobal(qconfigs.x86), example);
    expect(c.description.qconfig).toBe("x86");
    expect(c.module.getSubmodule("branch").typeName).toBe("QatConv2d");
  });

  it("setModuleName outranks setModuleType, whatever the order they are set in (PT2E's priority)", () => {
    const w4 = qconfigFor({ weightBits: 4 });
    const q = new DefaultQuantizer().setGlobal(qconfigs.x86).setModuleName("conv1", qconfigs.x86).setModuleType(Conv2d, w4);
    const qm = prepareQat(trainedFloat(() => new ResidualConcatNet()), { quantizer: q, example: images(2, 1) });
    const wq = (p: string) => (qm.module.getSubmodule(p) as unknown as { weight_fake_quant: { quantMax: number } }).weight_fake_quant.quantMax;
    expect(wq("conv1")).toBe(127);
    expect(wq("conv2")).toBe(7); // a fused conv + bn matches its conv's type
    expect(wq("branch")).toBe(7);
    expect(wq("fc")).toBe(127);
  });

  it("a DefaultQuantizer describes itself as qconfig + overrides + addRelu; re-preparing from that description gives the same model", () => {
    const float = trainedFloat(() => new ResidualConcatNet());
    const example = images(2, 1);
    const q = new DefaultQuantizer({ addRelu: true }).setGlobal(qconfigs.x86).setModuleNameRegex(/^conv/, qconfigs.onednn).setModuleName("conv1", qconfigs.x86);
    const a = prepareQat(float, { quantizer: q, example });
    const d = a.description;
    expect(d).toMatchObject({ qconfig: "x86", addRelu: true, overrides: [{ name: "conv1", qconfig: "x86" }, { regex: "^conv", qconfig: "onednn" }] });
    const overrides = d.overrides.map((o) => ({ ...(o.name !== undefined ? { name: o.name } : { regex: new RegExp(o.regex!) }), qconfig: o.qconfig === null ? null : qconfigByName(o.qconfig) }));
    const b = prepareQat(float, { qconfig: qconfigByName(d.qconfig), overrides, addRelu: d.addRelu, example });
    expect((b.module as GraphModule).graph.toString()).toBe((a.module as GraphModule).graph.toString());
    expect(keys(b)).toEqual(keys(a));
    expect(b.description).toEqual(a.description);
  });

  it("a quantizer of linears only: ReLU / Tanh outputs stay float, each linear's input edge gets its own quantizer; convert ≡ fake-quant", () => {
    manualSeed(3);
    const mlp = new Sequential(new Linear(12, 16), new ReLU(), new Linear(16, 16), new Tanh(), new Linear(16, 4));
    const qm = prepareQat(mlp, { quantizer: new LinearsOnly(), example: mlpInput(2, 1), fuse: false });
    const k = keys(qm);
    for (const p of ["0", "2", "4"]) expect(k).toContain(`module.${p}.activation_post_process.scale`);
    expect(k.some((s) => s.startsWith("module.1.activation_post_process") || s.startsWith("module.3.activation_post_process"))).toBe(false);
    // the edges relu → linear 2 and tanh → linear 4: inserted quantizer nodes
    const g = (qm.module as GraphModule).graph;
    const inserted = g.nodes.filter((n) => /^activation_post_process_\d+$/.test(n.target));
    expect(inserted.map((n) => g.producer(refsOf(n.args)[0])!.target)).toEqual(["1", "3"]);
    expect(k).toContain("quant.activation_post_process.scale");
    expect(qm.description.qconfig).toBe("linears-only");
    qatSteps(qm, (n, s) => mlpInput(n, s));
    const { model: int8, report } = convertWithReport(qm);
    expect(report.islands.map((i) => i.source)).toEqual(["module.3"]); // Tanh module: a float island between DQ and Q
    const x = mlpInput(64, 5);
    const r = withinOne(noGrad(() => qm.forward(x)), int8.run(x), int8.value(int8.graph.output).q.scale);
    expect(r.within).toBeGreaterThanOrEqual(0.999);
  });

  it("a concat whose inputs share one quantizer (SharedQuantizationSpec): both branches on one grid, the integer concat rescales nothing", () => {
    class SharedConcat extends DefaultQuantizer {
      override annotate(gm: GraphModule): void {
        super.annotate(gm);
        const cat = gm.graph.nodes.find((n) => n.target === "concat")!;
        const [r, br] = refsOf(cat.args);
        const first = edge(r, cat);
        const branch = gm.graph.producer(br)!;
        annotate(branch, { outputQSpec: new SharedQuantizationSpec(first) });
        // r's own output spec on its edge (implicit sharing), branch's edge and output and the concat's output shared with it
        annotate(cat, { inputQSpecMap: [[r, quantizationConfigOf(x86).activation], [br, new SharedQuantizationSpec(first)]], outputQSpec: new SharedQuantizationSpec(first) });
      }
    }
    const float = trainedFloat(() => new ResidualConcatNet());
    const x86 = qconfigs.x86;
    const q = new SharedConcat().setGlobal(x86);
    const plain = prepareQat(float, { qconfig: qconfigs.x86, example: images(2, 1) });
    const qm = prepareQat(float, { quantizer: q, example: images(2, 1) });
    const gm = qm.module as GraphModule;
    // branch lost its own output quantizer: one module is called on r, on branch's output and after the concat
    expect(keys(plain)).toContain("module.branch.activation_post_process.scale");
    expect(keys(qm)).not.toContain("module.branch.activation_post_process.scale");
    const cat = gm.graph.nodes.find((n) => n.target === "concat")!;
    const readers = refsOf(cat.args).map((id) => gm.graph.producer(id)!.target);
    expect(readers[0]).toBe(readers[1]);
    expect(readers[0]).toMatch(/^activation_post_process_\d+$/);
    qatSteps(qm);
    const { model: int8 } = convertWithReport(qm);
    const concat = int8.graph.nodes.find((n) => n.op === "concat") as { multipliers: unknown[] };
    expect(concat.multipliers).toEqual([null, null]);
    const x = images(32, 3);
    const r = withinOne(noGrad(() => qm.forward(x)), int8.run(x), int8.value(int8.graph.output).q.scale);
    expect(r.within).toBeGreaterThanOrEqual(0.999);
  });

  it("a sigmoid with fixed qparams (FixedQParamsQuantizationSpec 1/256, 0): the table's output grid is exactly that", () => {
    class FixedSigmoid extends DefaultQuantizer {
      override annotate(gm: GraphModule): void {
        super.annotate(gm);
        for (const n of gm.graph.nodes) if (n.target === "sigmoid") annotate(n, { outputQSpec: new FixedQParamsQuantizationSpec({ dtype: "uint8", scale: 1 / 256, zeroPoint: 0, qmin: 0, qmax: 255 }) });
      }
    }
    const float = trainedFloat(() => new SigmoidHead());
    const qm = prepareQat(float, { quantizer: new FixedSigmoid().setGlobal(qconfigs.x86), example: images(2, 1) });
    const gm = qm.module as GraphModule;
    const sig = gm.graph.nodes.find((n) => n.target === "sigmoid")!;
    const fqNode = gm.graph.nodes.find((n) => refsOf(n.args)[0] === sig.outputs[0])!;
    const fq = gm.getSubmodule(fqNode.target);
    expect(fq).toBeInstanceOf(FixedQParamsFakeQuantize);
    qatSteps(qm);
    expect(Array.from((fq as FixedQParamsFakeQuantize).scale.data)).toEqual([1 / 256]); // training does not move it
    const { model: int8 } = convertWithReport(qm);
    const lut = int8.graph.nodes.find((n) => n.op === "lut")!;
    expect(int8.value(lut.output).q).toMatchObject({ scale: 1 / 256, zeroPoint: 0, qmin: 0, qmax: 255 });
    const x = images(32, 3);
    const r = withinOne(noGrad(() => qm.forward(x)), int8.run(x), int8.value(int8.graph.output).q.scale);
    expect(r.within).toBeGreaterThanOrEqual(0.999);
  });

  it("bad annotations and options get typed errors naming the node", () => {
    const float = trainedFloat(() => new ResidualConcatNet());
    const example = images(2, 1);
    const withBias = (spec: QuantizationSpec): Quantizer => ({
      annotate(gm) {
        new DefaultQuantizer().setGlobal(qconfigs.x86).annotate(gm);
        annotate(gm.graph.nodes.find((n) => n.target === "fc")!, { inputQSpecMap: [["bias", spec]] });
      },
    });
    expect(() => prepareQat(float, { quantizer: withBias(act), example })).toThrow(NotSupportedError);
    expect(() => prepareQat(float, { quantizer: withBias(act), example })).toThrow(/'fc'.*bias/);
    const selfShare: Quantizer = {
      annotate(gm) {
        const n = gm.graph.nodes.find((x) => x.target === "add")!;
        annotate(n, { outputQSpec: new SharedQuantizationSpec(n) });
      },
    };
    expect(() => prepareQat(float, { quantizer: selfShare, example })).toThrow(/'add'.*itself/);
    const notRead: Quantizer = { annotate: (gm) => void annotate(gm.graph.nodes.find((x) => x.target === "add")!, { inputQSpecMap: [[gm.graph.inputs[0], act]] }) };
    expect(() => prepareQat(float, { quantizer: notRead, example })).toThrow(ValueError);
    expect(() => prepareQat(float, { qconfig: qconfigs.x86, quantizer: new LinearsOnly(), example })).toThrow(/not both/);
    expect(() => new QuantizationSpec({ dtype: "uint8", qmin: 5, qmax: 5, observerOrFakeQuantCtr: act.observerOrFakeQuantCtr })).toThrow(ValueError);
    const rejecting: Quantizer = {
      annotate: () => {},
      validate: () => {
        throw new ValueError("quantizer says no");
      },
    };
    expect(() => prepareQat(float, { quantizer: rejecting, example })).toThrow(/quantizer says no/);
    // a quantizer that leaves the model input float: prepare is fine, convert names the input
    const noInput: Quantizer = {
      annotate(gm) {
        new DefaultQuantizer().setGlobal(qconfigs.x86).annotate(gm);
        for (const n of gm.graph.nodes) annotationOf(n)?.inputQSpecMap.delete(gm.graph.inputs[0]);
      },
    };
    const qm = prepareQat(float, { quantizer: noInput, example });
    noGrad(() => qm.forward(images(8, 9))); // observers see data
    expect(() => convertWithReport(qm)).toThrow(/model input 'quant' has no quantizer/);
  });
});
