/**
 * DESIGN.md §1 invariants on user-written models that only a graph can quantize: a forward
 * with a functional residual add, a concat and a reshape (ResidualConcatNet), a float island
 * (a functional tanh), and a two-input model.
 *  (a) prepared with fake quantization off ≡ the float model (≤ 1e-5 × output scale);
 *  (b) fake-quant ≡ Int8Model ≡ onnxruntime on the QDQ export: ±1 output quantum on ≥ 99.9 %
 *      of values, top-1 identical;
 *  (c) an export after extra training-mode and eval forwards is byte-identical to the export
 *      right after convert.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import * as ops from "../../src/ops/index.js";
import { Module } from "../../src/nn/module.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { SGD } from "../../src/optim/sgd.js";
import { calibrate, convertWithReport, disableFakeQuant, enableFakeQuant, prepareQat, qconfigs, type QatModel } from "../../src/quant/index.js";
import { exportModel, importModel } from "../../src/onnx/index.js";
import type { Int8Model } from "../../src/int8/model.js";
import { maxAbs } from "./helpers.js";
import { loadOrt, ortUnavailable } from "../onnx/helpers.js";
import { runOrtWith } from "../onnx/quantized-helpers.js";
import { ResidualConcatNet, TwoInputNet, images, trainedFloat } from "./models.js";

const ort = await loadOrt();

/** ResidualConcatNet with a functional abs before the classifier: abs has no integer kernel (a float island). */
class WithIsland extends ResidualConcatNet {
  head = this.registerModule("head", new Linear(10, 10));
  override forward(x: Tensor): Tensor {
    return this.head.forward(super.forward(x).abs());
  }
}

/** ResidualConcatNet with a functional tanh and GELU before the classifier: 256-entry tables in the Int8Model. */
class WithTables extends ResidualConcatNet {
  head = this.registerModule("head", new Linear(10, 10));
  override forward(x: Tensor): Tensor {
    return this.head.forward(ops.gelu(super.forward(x).tanh()));
  }
}

/** x·sigmoid(x) (SiLU) written functionally: the sigmoid a table, the mul an integer product of two activations. */
class SiluNet extends ResidualConcatNet {
  override forward(x: Tensor): Tensor {
    const y = super.forward(x);
    return ops.mul(y, y.sigmoid());
  }
}

/** Global average pooling written functionally, both ways: adaptiveAvgPool2d(x, 1) and x.mean([2, 3]). */
class GapNet extends Module {
  a = this.registerModule("a", new Conv2d(3, 8, 3, { padding: 1 }));
  b = this.registerModule("b", new Conv2d(3, 8, 3, { padding: 1 }));
  fc = this.registerModule("fc", new Linear(16, 10));
  forward(x: Tensor): Tensor {
    const p = ops.adaptiveAvgPool2d(this.a.forward(x).relu(), 1).flatten(1);
    const q = this.b.forward(x).relu().mean([2, 3]);
    return this.fc.forward(ops.concat([p, q], 1));
  }
}

/** An NHWC flatten (as TensorFlow-exported heads do): permute then reshape, and a transpose pair. */
class NhwcHead extends Module {
  a = this.registerModule("a", new Conv2d(3, 6, 3, { padding: 1, stride: 2 }));
  fc = this.registerModule("fc", new Linear(6 * 4 * 4, 10));
  forward(x: Tensor): Tensor {
    const y = this.a.forward(x).relu().permute([0, 2, 3, 1]).transpose(1, 2).transpose(2, 1);
    return this.fc.forward(y.reshape([y.shape[0], -1]));
  }
}

/** A small conv net whose classifier input is built by reshape + functional relu + concat. */
class ConcatHead extends Module {
  a = this.registerModule("a", new Conv2d(3, 4, 3, { padding: 1, stride: 2 }));
  b = this.registerModule("b", new Conv2d(3, 4, 1, { stride: 2 }));
  fc = this.registerModule("fc", new Linear(8 * 4 * 4, 10));
  forward(x: Tensor): Tensor {
    const y = ops.concat([this.a.forward(x).relu(), this.b.forward(x)], 1);
    return this.fc.forward(y.reshape([y.shape[0], -1]));
  }
}



function prepared(make: () => Module): { float: Module; qm: QatModel } {
  // a few float training steps so BN statistics and weights are not at their initial values
  const float = trainedFloat(make);
  const qm = prepareQat(float, { qconfig: qconfigs.x86, example: images(2, 1) });
  return { float, qm };
}

/** Fraction within ±1 quantum and top-1 agreement of two [N, C] outputs. */
function agreement(a: Float32Array | Tensor, b: Float32Array | Tensor, scale: number, classes: number) {
  const x = a instanceof Float32Array ? a : (a.data as Float32Array);
  const y = b instanceof Float32Array ? b : (b.data as Float32Array);
  let within = 0;
  let top = 0;
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i] - y[i]) <= scale * 1.0001) within++;
  for (let r = 0; r < x.length / classes; r++) {
    const arg = (v: ArrayLike<number>) => {
      let k = 0;
      for (let j = 1; j < classes; j++) if (v[r * classes + j] > v[r * classes + k]) k = j;
      return k;
    };
    if (arg(x) === arg(y)) top++;
  }
  return { within: within / x.length, top1: top / (x.length / classes) };
}

describe("graph invariants on user-written models", () => {
  for (const [name, make, islands, importedIslands = []] of [
    ["functional residual add + concat + reshape", () => new ResidualConcatNet(), []],
    ["reshape + functional relu + concat head", () => new ConcatHead(), []],
    ["functional global average pooling (adaptiveAvgPool2d, mean)", () => new GapNet(), []],
    ["NHWC flatten: permute, transposes, reshape", () => new NhwcHead(), []],
    ["a functional abs (float island)", () => new WithIsland(), ["module.abs"], ["Abs"]],
    // GELU exports in its Erf form (Div, Erf, Add, Mul, Mul) and imports as one float chain, named by its last op
    ["functional tanh and GELU (256-entry tables; onnxruntime computes them in float)", () => new WithTables(), [], ["Tanh", "Mul"]],
    ["functional SiLU x·sigmoid(x) (sigmoid a table, mul an integer product)", () => new SiluNet(), [], []],
  ] as [string, () => Module, string[], string[]?][]) {
    it(`${name}: (a) prepare is a no-op with quantization off; (b) fake-quant ≡ Int8Model ≡ onnxruntime; (c) export reads frozen parameters`, async () => {
      const { float, qm } = prepared(make);
      const x = images(32, 3);
      // (a)
      qm.eval();
      disableFakeQuant(qm);
      const ref = noGrad(() => float.forward(x));
      const off = noGrad(() => qm.forward(x));
      let d = 0;
      for (let i = 0; i < ref.size; i++) d = Math.max(d, Math.abs(ref.data[i] - off.data[i]));
      expect(d).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(ref)));
      // calibrate + a few QAT steps with fake quantization on
      qm.train();
      calibrate(qm, [0, 1, 2].map((s) => ({ x: images(16, 10 + s) })), { batches: 3 });
      const opt = new SGD(qm.parameters(), { lr: 0.005, momentum: 0.9 });
      for (let s = 0; s < 3; s++) {
        opt.zeroGrad();
        qm.forward(images(16, 20 + s)).square().mean().backward();
        opt.step();
      }
      // (b)
      const { model: int8, report } = convertWithReport(qm);
      expect(report.islands.map((i) => i.source)).toEqual(islands);
      qm.eval();
      const fq = noGrad(() => qm.forward(x));
      const scale = int8.value(int8.graph.output).q.scale;
      const viaInt8 = agreement(fq, int8.run(x), scale, 10);
      expect(viaInt8.within).toBeGreaterThanOrEqual(0.999);
      expect(viaInt8.top1).toBe(1);
      const qdq = exportModel(qm, { example: x, format: "qdq" });
      if (ort) {
        const viaOrt = agreement(int8.run(x), await runOrtWith(ort, qdq, x), scale, 10);
        expect(viaOrt.within).toBeGreaterThanOrEqual(0.999);
        expect(viaOrt.top1).toBe(1);
      } else console.warn(`[graph invariants] onnxruntime parity skipped: ${ortUnavailable}`);
      // the QDQ file imports back to an Int8Model: a Sigmoid between DQ and Q becomes a table again, a Mul of two
      // DQs an integer product; Tanh / GELU import as float islands, which compute the same values as the tables
      const back = importModel(qdq) as Int8Model;
      const rt = agreement(int8.run(x), back.run(x), scale, 10);
      expect(rt.within).toBe(1);
      expect(back.floatIslands.map((i) => i.fn).filter((f, i, a) => a.indexOf(f) === i)).toEqual(importedIslands);
      // (c)
      qm.train();
      noGrad(() => qm.forward(images(16, 40)));
      qm.eval();
      noGrad(() => qm.forward(images(16, 41)));
      expect(Buffer.from(exportModel(qm, { example: x, format: "qdq" })).equals(Buffer.from(qdq))).toBe(true);
    });
  }

  it("float ONNX export reads the captured graph: a user model's functional ops run in onnxruntime as in qat-ts", async () => {
    manualSeed(11);
    const net = new ResidualConcatNet();
    net.eval();
    const x = images(4, 12);
    const bytes = exportModel(net, { example: x, format: "float" });
    if (!ort) return console.warn(`[graph invariants] onnxruntime check skipped: ${ortUnavailable}`);
    const got = await runOrtWith(ort, bytes, x);
    const want = noGrad(() => net.forward(x));
    for (let i = 0; i < want.size; i++) expect(Math.abs(got[i] - want.data[i])).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs(want)));
  });

  it("a model with no child modules (parameters and a functional forward) is captured op by op, trains, converts", () => {
    class FunctionalMlp extends Module {
      w1 = this.registerParameter("w1", randn([12, 16]).mul(0.3).detach().requiresGrad_());
      w2 = this.registerParameter("w2", randn([16, 10]).mul(0.3).detach().requiresGrad_());
      forward(x: Tensor): Tensor {
        return ops.matmul(ops.matmul(x, this.w1).relu(), this.w2);
      }
    }
    manualSeed(12);
    const net = new FunctionalMlp();
    const x = randn([8, 12]);
    const qm = prepareQat(net, { qconfig: qconfigs.x86, example: x });
    qm.forward(x).square().mean().backward();
    expect(net.w1.grad === null && qm.parameters().some((p) => p.grad !== null)).toBe(true);
    const { model: int8, report } = convertWithReport(qm);
    // matmul with a parameter weight: prepare makes it linear(x, Wᵀ) with a weight quantizer, convert an integer linear
    expect(report.islands).toEqual([]);
    expect(int8.graph.nodes.filter((n) => n.op === "linear").map((n) => n.op === "linear" && n.wShape)).toEqual([[16, 12], [10, 16]]);
  });

  it("two-input model: (a) prepare is a no-op with quantization off; (b) fake-quant ≡ Int8Model (one input quantizer per input); ONNX export says it is single-input", () => {
    manualSeed(9);
    const net = new TwoInputNet();
    const x = randn([64, 6]), y = randn([64, 4]);
    const qm = prepareQat(net, { qconfig: qconfigs.x86, example: [x, y] });
    expect(Object.keys(qm.stateDict())).toContain("quant_1.activation_post_process.scale");
    qm.eval();
    disableFakeQuant(qm);
    const ref = noGrad(() => net.forward(x, y));
    const off = noGrad(() => qm.forward(x, y));
    for (let i = 0; i < ref.size; i++) expect(Math.abs(ref.data[i] - off.data[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(ref)));
    enableFakeQuant(qm);
    qm.train();
    noGrad(() => qm.forward(x, y));
    const { model: int8, report } = convertWithReport(qm);
    expect(report.islands).toEqual([]); // a matmul with a parameter weight: an integer linear on Wᵀ
    qm.eval();
    const fq = noGrad(() => qm.forward(x, y));
    const got = int8.run(x, y);
    const a = agreement(fq, got, int8.value(int8.graph.output).q.scale, 3);
    expect(a.within).toBeGreaterThanOrEqual(0.999);
    expect(a.top1).toBe(1);
    expect(() => int8.run(x)).toThrow(/takes 2 input/);
  });

  it("two-input model without islands: the QDQ export has two graph inputs and onnxruntime computes what Int8Model computes", async () => {
    class TwoBranch extends Module {
      a = this.registerModule("a", new Linear(6, 8));
      b = this.registerModule("b", new Linear(4, 8));
      head = this.registerModule("head", new Linear(8, 3));
      forward(x: Tensor, y: Tensor): Tensor {
        return this.head.forward(ops.add(this.a.forward(x), this.b.forward(y)).relu());
      }
    }
    manualSeed(13);
    const net = new TwoBranch();
    const x = randn([64, 6]), y = randn([64, 4]);
    const qm = prepareQat(net, { qconfig: qconfigs.x86, example: [x, y] });
    qm.train();
    for (let i = 0; i < 3; i++) noGrad(() => qm.forward(x, y)); // observers run (calibrate feeds single-input loaders)
    const { model: int8, report } = convertWithReport(qm);
    expect(report.islands).toEqual([]);
    const bytes = exportModel(qm, { example: x, format: "qdq" });
    if (!ort) return console.warn(`[graph invariants] onnxruntime check skipped: ${ortUnavailable}`);
    const session = await ort.InferenceSession.create(bytes);
    try {
      expect(session.inputNames).toEqual(["input", "input_1"]);
      const feeds = { input: new ort.Tensor("float32", x.toFloat32Array(), [64, 6]), input_1: new ort.Tensor("float32", y.toFloat32Array(), [64, 4]) };
      const got = (await session.run(feeds))[session.outputNames[0]].data as Float32Array;
      const a = agreement(int8.run(x, y), got, int8.value(int8.graph.output).q.scale, 3);
      expect(a.within).toBeGreaterThanOrEqual(0.999);
      expect(a.top1).toBe(1);
    } finally {
      await session.release();
    }
  });
});
