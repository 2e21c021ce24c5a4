/**
 * Issue #13: uint8 conv / linear weights (exportInt8Model / exportModel `weightType`) keep
 * onnxruntime's fused integer kernels exact on presets whose activations use the full 8-bit
 * range. On AVX2 without VNNI, MLAS's u8×s8 kernel sums pairs of raw products in int16
 * (vpmaddubsw) and saturates (255·127·2 > 32767); its u8×u8 kernel widens first. For SmallCNN
 * and MobileNetV2 (width 0.5) under the onnxruntime, tflite and onednn presets, QDQ and
 * QOperator files are run with onnxruntime's default optimizations ("all") against Int8Model:
 * the figures before (weightType "int8") and after ("auto") are printed, and "auto" must agree
 * within ±1 quantum on ≥ 99.9 % of outputs with top-1 identical. The x86 preset's files are
 * byte-identical under "auto" and "int8"; uint8-weight files import back to the same Int8Model.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { mobilenetV2Small } from "../../src/nn/models/mobilenet.js";
import type { Module } from "../../src/nn/module.js";
import { ValueError } from "../../src/tensor/errors.js";
import { convert, qconfigs } from "../../src/quant/index.js";
import { Int8Model } from "../../src/int8/model.js";
import { decodeModel, exportInt8Model, exportModel, importModel } from "../../src/onnx/index.js";
import { loadOrt, ortUnavailable } from "./helpers.js";
import { calibrated, opCounts, runOrtWith, testImages } from "./quantized-helpers.js";

const ort = await loadOrt();
const itOrt = ort ? it : it.skip;
if (!ort) console.warn(`[u8 weight export tests] onnxruntime checks skipped: ${ortUnavailable}`);

const images = testImages(200);
const example = testImages(2);

const MODELS: { name: string; make: () => Module }[] = [
  { name: "SmallCNN", make: () => smallCnn() },
  { name: "MobileNetV2 (width 0.5)", make: () => mobilenetV2Small({ widthMult: 0.5 }) },
];
const PRESETS = ["onnxruntime", "tflite", "onednn"] as const;
const dir = mkdtempSync(join(tmpdir(), "qat-u8w-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Share of outputs within ±1 quantum, max |Δ| in quanta, top-1 agreement. */
function agreement(a: ArrayLike<number>, b: ArrayLike<number>, scale: number, classes: number) {
  let within = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.round((Math.abs(a[i] - b[i]) / scale) * 1e3) / 1e3;
    max = Math.max(max, d);
    if (d <= 1) within++;
  }
  let agree = 0;
  const rows = a.length / classes;
  const arg = (v: ArrayLike<number>, r: number) => {
    let best = 0;
    for (let j = 1; j < classes; j++) if (v[r * classes + j] > v[r * classes + best]) best = j;
    return best;
  };
  for (let r = 0; r < rows; r++) if (arg(a, r) === arg(b, r)) agree++;
  return { within: within / a.length, max, top1: agree / rows };
}
const fmt = (p: ReturnType<typeof agreement>) => `${(100 * p.within).toFixed(2)} % within ±1 quantum (max |Δ| ${p.max}), top-1 ${(100 * p.top1).toFixed(2)} %`;

/** Element types of the conv / linear weight initializers (names ending .weight_quantized). */
function weightTypes(bytes: Uint8Array): number[] {
  return decodeModel(bytes).graph!.initializer!.filter((t) => t.name!.endsWith(".weight_quantized")).map((t) => t.dataType!);
}

describe("full-range presets: onnxruntime's fused kernels match Int8Model with weightType 'auto'", () => {
  for (const m of MODELS) {
    for (const preset of PRESETS) {
      itOrt(`${m.name}, ${preset} preset: QDQ and QOperator within ±1 quantum on ≥ 99.9 %, top-1 identical`, async () => {
        const int8 = convert(calibrated(m.make, qconfigs[preset]), { example });
        const ours = int8.run(images).data;
        const scale = int8.value(int8.graph.output).q.scale;
        for (const format of ["qdq", "qoperator"] as const) {
          const before = agreement(await runOrtWith(ort!, exportInt8Model(int8, { format, weightType: "int8" }), images), ours, scale, 10);
          const bytes = exportInt8Model(int8, { format });
          const optimized = join(dir, `${m.name.length}-${preset}-${format}.onnx`);
          const after = agreement(await runOrtWith(ort!, bytes, images, { optimizedModelFilePath: optimized }), ours, scale, 10);
          const u8 = weightTypes(bytes).filter((t) => t === 2).length;
          const ops = opCounts(new Uint8Array(readFileSync(optimized)));
          const fused = ["QLinearConv", "QGemm", "QLinearMatMul", "MatMulInteger"].map((op) => `${op} ×${ops[op] ?? 0}`).join(", ");
          console.log(`[u8 weights] ${m.name} ${preset} ${format}: int8 weights ${fmt(before)}; auto (${u8}/${weightTypes(bytes).length} layers uint8) ${fmt(after)}; onnxruntime runs ${fused}, float Conv ×${ops.Conv ?? 0}`);
          // uint8 activations: every conv still runs in onnxruntime's integer kernels
          if (int8.graph.input.q.dtype === "uint8") expect(ops.Conv ?? 0).toBe(0);
          expect(after.within).toBeGreaterThanOrEqual(0.999);
          expect(after.top1).toBe(1);
        }
      });
    }
  }
});

describe("what 'auto' leaves alone, and the way back", () => {
  it("x86 preset (reduce_range: 127 · 128 · 2 ≤ 32767): 'auto' files equal the 'int8' ones byte for byte", () => {
    for (const m of MODELS) {
      const int8 = convert(calibrated(m.make, qconfigs.x86), { example });
      for (const format of ["qdq", "qoperator"] as const) {
        const auto = exportInt8Model(int8, { format });
        expect(Buffer.from(auto).equals(Buffer.from(exportInt8Model(int8, { format, weightType: "int8" })))).toBe(true);
        expect(weightTypes(auto).every((t) => t === 3)).toBe(true);
      }
    }
  });

  it("uint8-weight files (onednn 'auto', and 'uint8' forced on x86) import back to the same Int8Model, bit for bit", () => {
    const x = testImages(12);
    for (const [preset, weightType] of [["onednn", "auto"], ["x86", "uint8"], ["tflite", "auto"]] as const) {
      const int8 = convert(calibrated(() => smallCnn(), qconfigs[preset]), { example });
      const out = int8.runQuantized(int8.quantizeInput(x)).output;
      for (const format of ["qdq", "qoperator"] as const) {
        if (preset === "tflite" && format === "qoperator") continue; // int8 activations: QOperator keeps int8 weights
        const bytes = exportInt8Model(int8, { format, weightType });
        expect(weightTypes(bytes).every((t) => t === 2)).toBe(true);
        const back = importModel(bytes);
        expect(back).toBeInstanceOf(Int8Model);
        const b = back as Int8Model;
        for (const n of int8.graph.nodes) {
          if (n.op !== "conv2d" && n.op !== "linear") continue;
          const m = b.graph.nodes.find((k) => k.op === n.op && k.name === n.name) as typeof n;
          expect(Array.from(b.tensors.get(m.weight)!)).toEqual(Array.from(int8.tensors.get(n.weight)!));
          const zp = (mm: Int8Model, k: typeof n) => (k.wZeroPoints ? Array.from(mm.tensors.get(k.wZeroPoints)!) : []).filter((z) => z !== 0);
          expect(zp(b, m)).toEqual(zp(int8, n));
        }
        expect(Array.from(b.runQuantized(b.quantizeInput(x)).output.data)).toEqual(Array.from(out.data));
      }
    }
  });

  it("an unknown weightType is a ValueError naming it", () => {
    const int8 = convert(calibrated(() => smallCnn(), qconfigs.x86), { example });
    expect(() => exportInt8Model(int8, { format: "qdq", weightType: "u8" as "uint8" })).toThrow(ValueError);
    expect(() => exportInt8Model(int8, { format: "qdq", weightType: "u8" as "uint8" })).toThrow(/weightType .*'u8'/);
  });

  it("exportModel passes weightType on", () => {
    const qm = calibrated(() => smallCnn(), qconfigs.x86);
    expect(weightTypes(exportModel(qm, { example, format: "qoperator", weightType: "uint8" })).every((t) => t === 2)).toBe(true);
    expect(weightTypes(exportModel(qm, { example, format: "qoperator" })).every((t) => t === 3)).toBe(true);
  });
});
