/**
 * QDQ and QOperator export (exportModel on QAT models, exportInt8Model on Int8Models) run in
 * onnxruntime-node against our Int8Model.run on embedded test images: every output element
 * within ±1 quantum of the output scale, top-1 agreement ≥ 99.5 %, for SmallCNN, ResNet-20
 * (width 8) and MobileNetV2 (width 0.5) under the x86 qconfig; onnxruntime's optimized QDQ
 * SmallCNN has every Conv and Gemm fused into integer kernels; graph structure (per-axis
 * weights, int32 bias DQ, one Q→DQ pair per consumer, integer Clips); per-tensor models at
 * opsets 10–12; the onnxruntime and onednn presets, fused and unfused; typed errors;
 * exporting leaves the QAT model alone.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { resnet20 } from "../../src/nn/models/resnet.js";
import { mobilenetV2Small } from "../../src/nn/models/mobilenet.js";
import type { Module } from "../../src/nn/module.js";
import { NotSupportedError, ValueError } from "../../src/tensor/errors.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { convert, enableObserver, qconfigFor, qconfigs, type QConfig, type QatModel } from "../../src/quant/index.js";
import type { Int8Model } from "../../src/int8/model.js";
import { decodeModel, exportInt8Model, exportModel, type ModelProto } from "../../src/onnx/index.js";
import { loadOrt, ortUnavailable } from "./helpers.js";
import { sigmoidCnn, standaloneBnCnn } from "./quantized-helpers.js";
import { INTEGER_KERNELS, calibrated, fmtParity, opCounts, parity, runOrtWith, testImages } from "./quantized-helpers.js";

const ort = await loadOrt();
const itOrt = ort ? it : it.skip;
if (!ort) console.warn(`[quantized export tests] onnxruntime checks skipped: ${ortUnavailable}`);

const images = testImages(200);
const example = testImages(2);

interface Case {
  name: string;
  make: () => Module;
  qconfig: QConfig;
  qm?: QatModel;
  int8?: Int8Model;
  ours?: Float32Array;
}

const CASES: Case[] = [
  { name: "SmallCNN", make: () => smallCnn(), qconfig: qconfigs.x86 },
  { name: "ResNet-20 (width 8)", make: () => resnet20({ width: 8 }), qconfig: qconfigs.x86 },
  { name: "MobileNetV2 (width 0.5)", make: () => mobilenetV2Small({ widthMult: 0.5 }), qconfig: qconfigs.x86 },
  { name: "CNN with a Sigmoid (table)", make: sigmoidCnn, qconfig: qconfigs.x86 },
  { name: "CNN with a standalone BatchNorm2d", make: standaloneBnCnn, qconfig: qconfigs.x86 },
];

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "qat-onnx-"));
  for (const c of CASES) {
    c.qm = calibrated(c.make, c.qconfig);
    c.int8 = convert(c.qm, { example });
    c.ours = c.int8.run(images).data as Float32Array;
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const outScale = (m: Int8Model) => m.value(m.graph.output).q.scale;

describe("QDQ and QOperator exports match Int8Model.run in onnxruntime", () => {
  for (const [i, c] of CASES.entries()) {
    for (const format of ["qdq", "qoperator"] as const) {
      itOrt(`${c.name} ${format}: every output within ±1 quantum, top-1 agreement ≥ 99.5 %`, async () => {
        const bytes = exportModel(c.qm!, { example, format });
        const optimized = join(dir, `${i}-${format}.onnx`);
        const theirs = await runOrtWith(ort!, bytes, images, { optimizedModelFilePath: optimized });
        const p = parity(theirs, c.ours!, outScale(c.int8!), 10);
        const fused = opCounts(new Uint8Array(readFileSync(optimized)));
        const kernels = Object.entries(fused).filter(([op]) => INTEGER_KERNELS.includes(op)).map(([op, k]) => `${op} ×${k}`).join(", ");
        console.log(`[onnx ${format}] ${c.name}, ${images.shape[0]} images: ${fmtParity(p)}; onnxruntime integer kernels: ${kernels}`);
        expect(p.maxQuanta).toBeLessThanOrEqual(1);
        expect(p.top1).toBeGreaterThanOrEqual(0.995);
        expect(fused.Conv ?? 0).toBe(0);
      });
    }
  }

  itOrt("SmallCNN QDQ: onnxruntime fuses every Conv and Gemm into integer kernels", async () => {
    const c = CASES[0];
    const bytes = exportModel(c.qm!, { example, format: "qdq" });
    const before = opCounts(bytes);
    expect(before.Conv).toBe(2);
    expect(before.Gemm).toBe(2);
    const optimized = join(dir, "smallcnn-qdq-fusion.onnx");
    await runOrtWith(ort!, bytes, example, { optimizedModelFilePath: optimized, graphOptimizationLevel: "extended" });
    const after = opCounts(new Uint8Array(readFileSync(optimized)));
    console.log(`[onnx qdq] SmallCNN optimized by onnxruntime (extended): ${JSON.stringify(after)}`);
    expect(after.QLinearConv).toBe(2);
    expect((after.QGemm ?? 0) + (after.QLinearMatMul ?? 0) + (after.MatMulInteger ?? 0)).toBe(2);
    expect(after.Conv ?? 0).toBe(0);
    expect(after.Gemm ?? 0).toBe(0);
    expect(after.MatMul ?? 0).toBe(0);
  });
});

describe("graph structure", () => {
  const graphOf = (format: "qdq" | "qoperator", opset = 13): ModelProto => decodeModel(exportInt8Model(CASES[1].int8!, { format, opset }));

  it("QDQ: per-axis int8 weights and int32 biases through DequantizeLinear, one Q→DQ pair per consumer, integer Clips", () => {
    const m = graphOf("qdq");
    expect(m.opsetImport).toEqual([{ domain: "", version: 13 }]);
    const g = m.graph!;
    const inits = new Map(g.initializer!.map((t) => [t.name!, t]));
    const consumers = new Map<string, number>();
    for (const n of g.node!) for (const i of n.input!) consumers.set(i, (consumers.get(i) ?? 0) + 1);
    const convs = g.node!.filter((n) => n.opType === "Conv");
    expect(convs.length).toBe(21);
    for (const conv of convs) {
      const [x, w, b] = conv.input!.map((name) => g.node!.find((n) => n.output![0] === name)!);
      expect([x.opType, w.opType, b.opType]).toEqual(["DequantizeLinear", "DequantizeLinear", "DequantizeLinear"]);
      expect(inits.get(w.input![0])!.dataType).toBe(3); // INT8
      expect(inits.get(b.input![0])!.dataType).toBe(6); // INT32
      expect(w.attribute!.find((a) => a.name === "axis")?.i ?? 0).toBe(0);
      expect(inits.get(w.input![1])!.dims).toEqual([inits.get(w.input![0])!.dims![0]]);
    }
    for (const q of g.node!.filter((n) => n.opType === "QuantizeLinear")) expect(consumers.get(q.output![0])).toBe(1);
    for (const clip of g.node!.filter((n) => n.opType === "Clip")) {
      expect(g.node!.find((n) => n.output![0] === clip.input![0])!.opType).toBe("QuantizeLinear");
      expect(inits.get(clip.input![2])!.dataType).toBe(2); // UINT8 bounds: reduce_range's 127
    }
  });

  it("QOperator: integer operators only, float at the two ends", () => {
    const m = graphOf("qoperator");
    expect(m.opsetImport).toContainEqual({ domain: "com.microsoft", version: 1 });
    const ops = new Set(m.graph!.node!.map((n) => n.opType));
    expect([...ops].sort()).toEqual(["Clip", "DequantizeLinear", "Flatten", "QGemm", "QLinearAdd", "QLinearConv", "QLinearGlobalAveragePool", "QuantizeLinear"]);
    const dqs = m.graph!.node!.filter((n) => n.opType === "DequantizeLinear");
    // the exit, and the ReLU requantizations (DequantizeLinear → QuantizeLinear) after each add
    expect(dqs.filter((n) => n.output![0] === "output").length).toBe(1);
    expect(m.graph!.node!.filter((n) => n.opType === "QuantizeLinear").length).toBe(dqs.length);
  });

  it("names the graph input and output as asked, with a symbolic or static batch", () => {
    const m = decodeModel(exportInt8Model(CASES[0].int8!, { format: "qdq", inputName: "images", outputName: "logits", dynamicBatch: false, batch: 4 }));
    expect(m.graph!.input![0].name).toBe("images");
    expect(m.graph!.output![0].name).toBe("logits");
    expect(m.graph!.input![0].type!.tensorType!.shape!.dim!.map((d) => d.dimValue ?? d.dimParam)).toEqual([4, 1, 28, 28]);
    const dyn = decodeModel(exportModel(CASES[0].qm!, { example, format: "qoperator" }));
    expect(dyn.graph!.output![0].type!.tensorType!.shape!.dim!.map((d) => d.dimValue ?? d.dimParam)).toEqual(["N", 10]);
  });
});

describe("other qconfigs and opsets", () => {
  itOrt("per-tensor SmallCNN: QDQ at opsets 10, 11, 12, 13 and QOperator at 12 within ±1 quantum", async () => {
    const qm = calibrated(() => smallCnn(), qconfigFor({ perChannel: false, reduceRange: true, name: "per-tensor" }));
    const int8 = convert(qm, { example });
    const x = testImages(64);
    const ours = int8.run(x).data;
    for (const [format, opset] of [["qdq", 10], ["qdq", 11], ["qdq", 12], ["qdq", 13], ["qoperator", 12]] as const) {
      const bytes = exportModel(qm, { example, format, opset });
      const p = parity(await runOrtWith(ort!, bytes, x), ours, outScale(int8), 10);
      console.log(`[onnx ${format} opset ${opset}] per-tensor SmallCNN: ${fmtParity(p)}`);
      expect(p.maxQuanta).toBeLessThanOrEqual(1);
    }
  });

  itOrt("int8 7-bit activations (qmin −64): QDQ and QOperator within ±1 quantum", async () => {
    const qm = calibrated(() => smallCnn(), qconfigFor({ activationDType: "int8", activationBits: 7, name: "int8-act7" }));
    const int8 = convert(qm, { example });
    expect(int8.graph.input.q.dtype).toBe("int8");
    const x = testImages(64);
    const ours = int8.run(x).data;
    for (const format of ["qdq", "qoperator"] as const) {
      const p = parity(await runOrtWith(ort!, exportModel(qm, { example, format }), x), ours, outScale(int8), 10);
      console.log(`[onnx ${format}] SmallCNN int8 7-bit activations: ${fmtParity(p)}`);
      expect(p.maxQuanta).toBeLessThanOrEqual(1);
    }
  });

  for (const preset of ["onnxruntime", "onednn"] as const) {
    itOrt(`${preset} preset: exact semantics ±1 quantum unfused and in onnxruntime's integer kernels`, async () => {
      const qm = calibrated(() => smallCnn(), qconfigs[preset]);
      const int8 = convert(qm, { example });
      const x = testImages(200);
      const ours = int8.run(x).data;
      const bytes = exportModel(qm, { example, format: "qdq" });
      // Without the QDQ fusion onnxruntime runs DQ → float op → Q: the ONNX semantics of the file.
      const plain = parity(await runOrtWith(ort!, bytes, x, { graphOptimizationLevel: "basic" }), ours, outScale(int8), 10);
      console.log(`[onnx qdq] SmallCNN ${preset} preset, unfused (basic): ${fmtParity(plain)}`);
      expect(plain.maxQuanta).toBeLessThanOrEqual(1);
      expect(plain.top1).toBeGreaterThanOrEqual(0.995);
      // Fused u8×s8 kernels on AVX2 without VNNI saturate int16 pair sums (255·127·2 > 32767):
      // onednn's full 8-bit activations get uint8 weights (weightType "auto"), which they run exactly.
      for (const format of ["qdq", "qoperator"] as const) {
        const fused = parity(await runOrtWith(ort!, exportModel(qm, { example, format }), x), ours, outScale(int8), 10);
        console.log(`[onnx ${format}] SmallCNN ${preset} preset, onnxruntime integer kernels: ${fmtParity(fused)}`);
        expect(fused.maxQuanta).toBeLessThanOrEqual(1);
        expect(fused.top1).toBeGreaterThanOrEqual(0.995);
      }
    });
  }
});

describe("errors and side effects", () => {
  it("a float model or an unknown format is a ValueError; too low an opset a NotSupportedError", () => {
    expect(() => exportModel(smallCnn(), { example, format: "qdq" })).toThrow(ValueError);
    expect(() => exportInt8Model(CASES[0].int8!, { format: "tflite" as "qdq" })).toThrow(ValueError);
    expect(() => exportInt8Model({} as Int8Model, { format: "qdq" })).toThrow(ValueError);
    expect(() => exportModel(CASES[0].qm!, { example, format: "qoperator", opset: 11 })).toThrow(NotSupportedError);
    expect(() => exportModel(CASES[0].qm!, { example, format: "qdq", opset: 12 })).toThrow(/per-axis .* opset ≥ 13/);
  });

  it("export freezes the QAT model like convert (observers off, BN statistics frozen): weights and ranges untouched, later forwards cannot change an export", () => {
    const qm = calibrated(() => smallCnn(), qconfigs.x86);
    enableObserver(qm);
    const state = (skip: RegExp) => Object.entries(qm.stateDict()).filter(([k]) => !skip.test(k)).map(([k, t]) => [k, Array.from(t.data)]);
    // weights, BN statistics and observed ranges: export reads them, never moves them
    const observed = () => state(/(observer_enabled|fake_quant_enabled|scale|zero_point)$/);
    const before = observed();
    const qdq = exportModel(qm, { example: testImages(8), format: "qdq" });
    const qop = exportModel(qm, { example: testImages(8), format: "qoperator" });
    expect(observed()).toEqual(before);
    // with observers still on, these forwards would have moved the ranges and BN statistics
    const frozen = state(/^$/);
    qm.train();
    noGrad(() => qm.forward(testImages(16)));
    qm.eval();
    noGrad(() => qm.forward(testImages(16)));
    expect(state(/^$/)).toEqual(frozen);
    expect(Buffer.from(exportModel(qm, { example: testImages(8), format: "qdq" })).equals(Buffer.from(qdq))).toBe(true);
    expect(Buffer.from(exportModel(qm, { example: testImages(8), format: "qoperator" })).equals(Buffer.from(qop))).toBe(true);
  });
});
