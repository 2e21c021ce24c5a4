/**
 * The QAT pipeline end to end on the model zoo: prepareQat structure and PyTorch-style keys,
 * fine-tuning with the schedule, convert → Int8Model, and parity of every integer activation
 * with the fake-quant model's (±1 quantum, ≥ 99.9 % exact), save/load, bad input.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { DataLoader } from "../../src/data/loader.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { subset } from "../../src/data/dataset.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { resnet20 } from "../../src/nn/models/resnet.js";
import { mobilenetV2Small } from "../../src/nn/models/mobilenet.js";
import type { Module } from "../../src/nn/module.js";
import { SGD } from "../../src/optim/sgd.js";
import { manualSeed } from "../../src/tensor/random.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { DTypeError, ShapeError } from "../../src/tensor/errors.js";
import { Trainer } from "../../src/train/trainer.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigFor, qconfigs } from "../../src/quant/qconfig.js";
import { qatSchedule } from "../../src/quant/schedule.js";
import { calibrate } from "../../src/quant/calibrate.js";
import { convert, convertWithReport } from "../../src/quant/convert.js";
import { Int8Model } from "../../src/int8/model.js";
import { QuantStub, type QatModel } from "../../src/quant/stubs.js";
import type { QuantResult } from "../../src/int8/kernels/common.js";
import { sigmoidCnn, standaloneBnCnn } from "../onnx/quantized-helpers.js";

const sample = fashionMnistSample();
const trainSet = subset(sample.train, Array.from({ length: 512 }, (_, i) => i * 11));
const testBatch = sample.test.getBatch(Array.from({ length: 128 }, (_, i) => i * 7));
const smallBatch = sample.test.getBatch(Array.from({ length: 32 }, (_, i) => i * 29));

function finetune(model: Module, steps: number): QatModel {
  const qm = prepareQat(model, { qconfig: qconfigs.x86, example: smallBatch.x });
  calibrate(qm, new DataLoader(trainSet, { batchSize: 64, seed: 2 }), { batches: 2 });
  const opt = new SGD(qm.parameters(), { lr: 0.01, momentum: 0.9 });
  const loader = new DataLoader(trainSet, { batchSize: 32, shuffle: true, seed: 3 });
  const trainer = new Trainer({ model: qm, optimizer: opt, progress: false, callbacks: [qatSchedule(qm, { freezeBnStep: Math.floor(steps * 0.6), freezeObserverStep: Math.floor(steps * 0.8) })] });
  while (trainer.step < steps) {
    for (const { x, y } of loader) {
      if (trainer.step >= steps) break;
      trainer.trainStep(x, y);
    }
  }
  qm.eval();
  return qm;
}

/** Fake-quant outputs of every quantized value's source module, as integers on that value's grid. */
function fakeQuantActivations(qm: QatModel, x: Tensor, int8: Int8Model): Map<string, QuantResult> {
  const out = new Map<string, QuantResult>();
  const handles = [];
  for (const v of int8.graph.values) {
    if (!v.source || v.source === "quant" || v.source.includes("#")) continue;
    const mod = qm.getSubmodule(v.source);
    handles.push(mod.registerForwardHook((_m, _i, y) => {
      if (out.has(v.id)) return;
      const q = v.q.dtype === "uint8" ? new Uint8Array(y.size) : new Int8Array(y.size);
      for (let i = 0; i < y.size; i++) q[i] = Math.round(y.data[i] / v.q.scale) + v.q.zeroPoint;
      out.set(v.id, { data: q, shape: [...y.shape] });
    }));
  }
  noGrad(() => qm.forward(x));
  for (const h of handles) h.remove();
  return out;
}

function compare(fq: Map<string, QuantResult>, values: Map<string, QuantResult>) {
  let total = 0;
  let exact = 0;
  let maxDiff = 0;
  for (const [id, { data: q }] of fq) {
    const got = values.get(id)!.data;
    expect(got.length).toBe(q.length);
    for (let i = 0; i < q.length; i++) {
      const d = Math.abs(got[i] - q[i]);
      total++;
      if (d === 0) exact++;
      maxDiff = Math.max(maxDiff, d);
    }
  }
  return { total, exactFraction: exact / total, maxDiff };
}

/**
 * Parity of every integer activation with the fake-quant model's: layer by layer (each
 * integer node fed the fake-quant model's own quantized inputs) and end to end.
 */
function parity(qm: QatModel, int8: Int8Model, x: Tensor) {
  const fq = fakeQuantActivations(qm, x, int8);
  const q = int8.quantizeInput(x);
  const layerwise = compare(fq, int8.runQuantized(q, { collect: true, teacher: fq }).values!);
  const endToEnd = compare(fq, int8.runQuantized(q, { collect: true }).values!);
  return { layers: fq.size, layerwise, endToEnd };
}

function top1Agreement(a: Tensor, b: Tensor): number {
  const [n, c] = a.shape;
  let agree = 0;
  for (let i = 0; i < n; i++) {
    let ia = 0;
    let ib = 0;
    for (let j = 1; j < c; j++) {
      if (a.data[i * c + j] > a.data[i * c + ia]) ia = j;
      if (b.data[i * c + j] > b.data[i * c + ib]) ib = j;
    }
    if (ia === ib) agree++;
  }
  return agree / n;
}

describe("prepareQat", () => {
  it("fuses conv-bn-relu, keeps PyTorch-style keys and leaves the float model untouched", () => {
    manualSeed(0);
    const model = smallCnn();
    const before = Object.keys(model.stateDict());
    const qm = prepareQat(model, { qconfig: qconfigs.x86 });
    expect(Object.keys(model.stateDict())).toEqual(before);
    const keys = Object.keys(qm.stateDict());
    for (const k of [
      "quant.activation_post_process.scale", "module.conv1.weight", "module.conv1.bn.running_mean", "module.conv1.bn.num_batches_tracked",
      "module.conv1.weight_fake_quant.scale", "module.conv1.weight_fake_quant.activation_post_process.min_val",
      "module.conv1.activation_post_process.zero_point", "module.fc1.weight_fake_quant.zero_point", "module.fc2.activation_post_process.scale",
    ]) expect(keys).toContain(k);
    expect(keys.some((k) => k.startsWith("module.bn1."))).toBe(false);
    expect(qm.module.getSubmodule("bn1").constructor.name).toBe("Identity");
    expect(qm.module.getSubmodule("conv1").constructor.name).toBe("QatConvBn2d");
    expect(qm.module.getSubmodule("fc1").constructor.name).toBe("QatLinear");
  });

  it("a null qconfig override keeps a layer in float: convert makes it a float island and reports it; strict names it", () => {
    manualSeed(5);
    const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86, overrides: [{ name: "fc2", qconfig: null }] });
    expect(qm.module.getSubmodule("fc2").constructor.name).toBe("Linear");
    noGrad(() => qm.forward(testBatch.x));
    expect(() => convert(qm, { strict: true })).toThrow(/strict.*module\.fc2.*Linear/);
    const { model: int8, report } = convertWithReport(qm);
    expect(report.islands.map((i) => i.source)).toEqual(["module.fc2"]);
    expect(int8.floatIslands.map((i) => i.fn)).toEqual(["Linear"]);
    // the island computes in float between dequantize and quantize: the int8 model still matches fake-quant
    qm.eval();
    const fq = noGrad(() => qm.forward(testBatch.x));
    const out = int8.run(testBatch.x);
    const s = int8.value(int8.graph.output).q.scale;
    let within = 0;
    for (let i = 0; i < fq.size; i++) if (Math.abs(fq.data[i] - out.data[i]) <= s * 1.001) within++;
    expect(within / fq.size).toBeGreaterThanOrEqual(0.999);
    expect(top1Agreement(fq, out)).toBe(1);
  });

  it("the input quantizer takes its own qconfig through an override on `quant` or type QuantStub", () => {
    const w4a4 = qconfigFor({ weightBits: 4, activationBits: 4, lsqWeights: true, lsqActivations: true });
    for (const o of [{ name: "quant" }, { type: QuantStub }]) {
      const qm = prepareQat(smallCnn(), { qconfig: w4a4, overrides: [{ ...o, qconfig: qconfigs.onednn }] });
      noGrad(() => qm.forward(testBatch.x));
      qm.eval();
      const int8 = convert(qm);
      const input = int8.graph.input.q;
      expect(input.qmax - input.qmin).toBe(255);
      const conv1 = int8.inspect().find((l) => l.op === "conv2d")!;
      expect(conv1.outQMax - conv1.outQMin).toBe(15);
      expect(conv1.weightBits).toBe(4);
    }
    expect(() => prepareQat(smallCnn(), { qconfig: w4a4, overrides: [{ name: "quant", qconfig: null }] })).toThrow(/input quantizer/);
  });
});

describe("convert → Int8Model", () => {
  const cases: [string, () => Module, number, Tensor][] = [
    ["SmallCNN", () => smallCnn(), 12, testBatch.x],
    ["ResNet-20 style", () => resnet20({ width: 8 }), 6, smallBatch.x],
    ["MobileNetV2 style", () => mobilenetV2Small({ widthMult: 0.5 }), 6, smallBatch.x],
    ["CNN with a Sigmoid (256-entry table)", sigmoidCnn, 6, smallBatch.x],
    ["CNN with a standalone BatchNorm2d (depthwise 1×1)", standaloneBnCnn, 6, smallBatch.x],
  ];
  for (const [name, make, steps, batch] of cases) {
    it(`${name}: integer activations match fake-quant (±1 quantum, ≥ 99.9 % exact) and top-1 agrees`, () => {
      manualSeed(1);
      const qm = finetune(make(), steps);
      const int8 = convert(qm);
      const p = parity(qm, int8, batch);
      const pct = (f: number) => (f * 100).toFixed(3);
      console.log(`${name}: ${p.layers} quantized activations, ${p.layerwise.total} values; layer by layer ${pct(p.layerwise.exactFraction)} % exact (max |Δ| ${p.layerwise.maxDiff}); end to end ${pct(p.endToEnd.exactFraction)} % exact (max |Δ| ${p.endToEnd.maxDiff})`);
      expect(p.layerwise.maxDiff).toBeLessThanOrEqual(1);
      expect(p.layerwise.exactFraction).toBeGreaterThanOrEqual(0.999);
      const fqOut = noGrad(() => qm.forward(batch));
      expect(top1Agreement(fqOut, int8.run(batch))).toBeGreaterThanOrEqual(0.99);
    });
  }

  it("save/load round trip is exact; size ≤ 27 % of float; bad input is caught before any kernel", () => {
    manualSeed(2);
    const float = smallCnn();
    const qm = finetune(float, 4);
    const int8 = convert(qm);
    const back = Int8Model.decode(int8.encode(), "test.int8");
    expect(Array.from(back.run(testBatch.x).data)).toEqual(Array.from(int8.run(testBatch.x).data));
    const floatBytes = float.parameters().reduce((s, p) => s + p.size * 4, 0);
    expect(int8.sizeBytes / floatBytes).toBeLessThan(0.27);
    expect(() => int8.run(new Tensor(new Float32Array(28 * 28), [1, 28, 28]))).toThrow(ShapeError);
    expect(() => int8.run(new Tensor(new Int32Array(784), [1, 1, 28, 28]))).toThrow(DTypeError);
    const bytes = int8.encode();
    expect(() => Int8Model.decode(bytes.subarray(0, bytes.length - 10), "cut.int8")).toThrow(/cut\.int8/);
    const info = int8.inspect();
    expect(info.find((l) => l.name === "module.conv1")!.weightBits).toBe(8);
  });
});
