/**
 * QDQ export with INT4 weights (issue 7): a SmallCNN under the w4a8 qconfig (4-bit
 * per-channel symmetric LSQ weights), calibrated and converted, exported at opset 21 stores
 * every Conv / Gemm weight and its zero point as packed INT4 (a smaller file than the int8
 * opset-13 export) and, run in onnxruntime-node, matches Int8Model.run on 64 embedded test
 * images: every output within ±1 quantum of the output scale, top-1 agreement ≥ 99 %. At
 * opset 13 the same weights stay int8.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { convert, qconfigByName, qconfigs } from "../../src/quant/index.js";
import type { Int8Model } from "../../src/int8/model.js";
import { DataType } from "../../src/onnx/proto.js";
import { decodeModel, exportInt8Model } from "../../src/onnx/index.js";
import { int4TensorProto } from "../../src/onnx/builders.js";
import { loadOrt, ortUnavailable } from "./helpers.js";
import { calibrated, fmtParity, parity, runOrtWith, testImages } from "./quantized-helpers.js";

const ort = await loadOrt();
if (!ort) console.warn(`[int4 export tests] onnxruntime checks skipped: ${ortUnavailable}`);

const images = testImages(64);
const example = testImages(2);

let int8: Int8Model;
let ours: Float32Array;
let bytes13: Uint8Array;
let bytes21: Uint8Array;

beforeAll(() => {
  const qm = calibrated(() => smallCnn(), qconfigByName("w4a8"));
  int8 = convert(qm, { example });
  ours = int8.run(images).data as Float32Array;
  bytes13 = exportInt8Model(int8, { format: "qdq", opset: 13 });
  bytes21 = exportInt8Model(int8, { format: "qdq", opset: 21 });
});

const weightInits = (bytes: Uint8Array) => decodeModel(bytes).graph!.initializer!.filter((t) => /\.weight_(quantized|zero_point)$/.test(t.name!));

describe("QDQ export with INT4 weights at opset 21", () => {
  it("stores 4-bit weights and their zero points as INT4 at opset 21, int8 at opset 13; the file is smaller", () => {
    const w21 = weightInits(bytes21);
    const w13 = weightInits(bytes13);
    expect(w21.length).toBeGreaterThanOrEqual(2 * 3);
    for (const t of w21) expect(t.dataType, t.name).toBe(DataType.INT4);
    for (const t of w13) expect(t.dataType, t.name).toBe(DataType.INT8);
    for (const t of w21.filter((x) => x.name!.endsWith(".weight_quantized"))) {
      const n = t.dims!.reduce((a, d) => a * Number(d), 1);
      expect(t.rawData!.length).toBe(Math.ceil(n / 2));
    }
    console.log(`[onnx int4] SmallCNN w4a8 QDQ: opset 13 ${bytes13.length} bytes, opset 21 ${bytes21.length} bytes`);
    expect(bytes21.length).toBeLessThan(bytes13.length);
  });

  it("opset 21 INT4 export matches Int8Model.run in onnxruntime (±1 quantum, top-1 ≥ 99 %)", async (ctx) => {
    if (!ort) {
      console.warn(`[int4 export tests] skipped: ${ortUnavailable}`);
      return ctx.skip();
    }
    let theirs: Float32Array;
    try {
      theirs = await runOrtWith(ort, bytes21, images);
    } catch (e) {
      console.warn(`[int4 export tests] skipped: onnxruntime rejected the INT4 model: ${(e as Error).message}`);
      return ctx.skip();
    }
    const p = parity(theirs, ours, int8.value(int8.graph.output).q.scale, 10);
    console.log(`[onnx int4] SmallCNN w4a8 QDQ opset 21, ${images.shape[0]} images: ${fmtParity(p)}`);
    expect(p.maxQuanta).toBeLessThanOrEqual(1);
    expect(p.top1).toBeGreaterThanOrEqual(0.99);
  });

  it("packs INT4 two per byte, low nibble first, and rejects values outside [-8, 7]", () => {
    const t = int4TensorProto("w", [-8, 7, 1, -1, 3], [5]);
    expect(t.dataType).toBe(DataType.INT4);
    expect(Array.from(t.rawData!)).toEqual([0x78, 0xf1, 0x03]);
    expect(() => int4TensorProto("w", [8])).toThrow(/outside/);
  });

  it("keeps 8-bit weights int8 at opset 21", () => {
    const x86 = convert(calibrated(() => smallCnn(), qconfigs.x86), { example });
    const inits = weightInits(exportInt8Model(x86, { format: "qdq", opset: 21 }));
    expect(inits.length).toBeGreaterThan(0);
    for (const t of inits) expect(t.dataType, t.name).toBe(DataType.INT8);
  });
});
