/**
 * ONNX export of dynamic Int8Models, run by onnxruntime-node and compared with Int8Model.run:
 * the dynamic preset as DynamicQuantizeLinear + MatMulInteger + Mul + Add, bit for bit (int8
 * weights within [−64, 64]; full-range weights are written as uint8 + 128, since onnxruntime's
 * u8×s8 AVX2 kernel saturates int16 pair sums),
 * int4WeightOnly and 8da4w as com.microsoft MatMulNBits (within float summation order), with
 * graph optimizations on and off; the node pattern is onnxruntime quantize_dynamic's; a
 * transformer encoder layer under both schemes (measured: bit for bit for dynamic).
 */
import { beforeAll, describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { Sequential } from "../../src/nn/layers/container.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { ReLU } from "../../src/nn/layers/activation.js";
import { TransformerEncoderLayer } from "../../src/nn/layers/transformer.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { dynamicQConfig } from "../../src/quant/dynamic-qconfig.js";
import type { QConfig } from "../../src/quant/prepare.js";
import { convert } from "../../src/quant/convert.js";
import type { Int8Model } from "../../src/int8/model.js";
import { decodeModel, exportInt8Model } from "../../src/onnx/index.js";
import { DataType } from "../../src/onnx/proto.js";
import { loadOrt, ortUnavailable } from "./helpers.js";

const ort = await loadOrt();
if (!ort) console.warn(`[dynamic export tests] onnxruntime checks skipped: ${ortUnavailable}`);

function mlp(): Sequential {
  manualSeed(21);
  return new Sequential(new Linear(64, 48), new ReLU(), new Linear(48, 32), new ReLU(), new Linear(32, 10));
}

function int8Of(qconfig: QConfig, x: Tensor): Int8Model {
  const qm = prepareQat(mlp(), { qconfig, example: x });
  return convert(qm);
}

async function runOrt(bytes: Uint8Array, x: Tensor, level: "all" | "disabled"): Promise<Float32Array> {
  const session = await ort!.InferenceSession.create(bytes, { graphOptimizationLevel: level });
  const feeds = { input: new ort!.Tensor("float32", Float32Array.from(x.data), x.shape) };
  const out = await session.run(feeds);
  return out.output.data as Float32Array;
}

const x = (() => {
  manualSeed(22);
  return randn([16, 64]);
})();

describe("dynamic export (DynamicQuantizeLinear + MatMulInteger)", () => {
  let bytes: Uint8Array;
  let ours: Float32Array;
  beforeAll(() => {
    const int8 = int8Of(dynamicQConfig({ weightBits: 7, name: "dynamic-w7" }), x);
    ours = int8.run(x).data as Float32Array;
    bytes = exportInt8Model(int8, { format: "qdq" });
  });
  it("writes onnxruntime quantize_dynamic's pattern", () => {
    const ops = decodeModel(bytes).graph!.node!.map((n) => n.opType);
    expect(ops.filter((o) => o === "DynamicQuantizeLinear")).toHaveLength(3);
    expect(ops.filter((o) => o === "MatMulInteger")).toHaveLength(3);
    expect(ops.slice(0, 6)).toEqual(["DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul", "Add"]);
  });
  for (const level of ["disabled", "all"] as const) {
    it(`onnxruntime (optimizations ${level}) equals Int8Model.run bit for bit`, async (ctx) => {
      if (!ort) return ctx.skip();
      const theirs = await runOrt(bytes, x, level);
      expect(Array.from(theirs)).toEqual(Array.from(ours));
    });
  }
});

describe("dynamic export with full-range int8 weights", () => {
  it("stores them as uint8 + 128 (QUInt8) and stays bit for bit; 7-bit weights stay int8", async (ctx) => {
    const int8 = int8Of(qconfigs.dynamic, x);
    const bytes = exportInt8Model(int8, { format: "qdq" });
    const inits = decodeModel(bytes).graph!.initializer!.filter((t) => t.name!.endsWith(".weight_quantized"));
    expect(inits.map((t) => t.dataType)).toEqual([DataType.UINT8, DataType.UINT8, DataType.UINT8]);
    const int7 = int8Of(dynamicQConfig({ weightBits: 7 }), x);
    const inits7 = decodeModel(exportInt8Model(int7, { format: "qdq" })).graph!.initializer!.filter((t) => t.name!.endsWith(".weight_quantized"));
    expect(inits7.map((t) => t.dataType)).toEqual([DataType.INT8, DataType.INT8, DataType.INT8]);
    if (!ort) return ctx.skip();
    const theirs = await runOrt(bytes, x, "all");
    expect(Array.from(theirs)).toEqual(Array.from(int8.run(x).data));
  });
});

describe("4-bit export (MatMulNBits)", () => {
  for (const name of ["int4WeightOnly", "int8DynActInt4Weight"] as const) {
    it(`${name}: onnxruntime equals Int8Model.run within float summation order`, async (ctx) => {
      const int8 = int8Of(qconfigs[name], x);
      const ours = int8.run(x).data as Float32Array;
      const bytes = exportInt8Model(int8, { format: "qdq" });
      const ops = decodeModel(bytes).graph!.node!.map((n) => n.opType);
      expect(ops.filter((o) => o === "MatMulNBits")).toHaveLength(3);
      if (!ort) return ctx.skip();
      const theirs = await runOrt(bytes, x, "all");
      const scale = Math.max(...Array.from(ours, Math.abs));
      const worst = Math.max(...Array.from(ours, (v, i) => Math.abs(v - theirs[i])));
      console.log(`[onnx dynamic] ${name}: max |ort − Int8Model| = ${worst.toExponential(2)} (output max ${scale.toFixed(3)})`);
      expect(worst).toBeLessThanOrEqual(1e-5 * scale);
    });
  }
});

describe("a transformer encoder layer", () => {
  for (const name of ["dynamic", "int8DynActInt4Weight"] as const) {
    it(`${name}: exported (attention's packed in-projection quantizes its input at run time too), onnxruntime equals Int8Model.run within float rounding`, async (ctx) => {
      manualSeed(23);
      const m = new Sequential(new TransformerEncoderLayer(32, 4, { dimFeedforward: 64, dropout: 0, batchFirst: true, activation: "gelu" }), new Linear(32, 10));
      m.eval();
      const xt = randn([2, 7, 32]);
      const qm = prepareQat(m, { qconfig: qconfigs[name], example: xt });
      const int8 = convert(qm);
      const ours = int8.run(xt).data as Float32Array;
      const bytes = exportInt8Model(int8, { format: "qdq", opset: 17 });
      const ops = decodeModel(bytes).graph!.node!.map((n) => n.opType);
      // the functional in-projection gets prepare's input_fake_quant_<k>, like the Linear modules' input_fake_quant
      expect(ops.filter((o) => o === "MatMulNBits").length).toBe(name === "dynamic" ? 0 : 5);
      expect(ops.filter((o) => o === "MatMulInteger").length).toBe(name === "dynamic" ? 5 : 0);
      expect(ops.filter((o) => o === "DynamicQuantizeLinear").length).toBeGreaterThanOrEqual(name === "dynamic" ? 5 : 0);
      if (!ort) return ctx.skip();
      const theirs = await runOrt(bytes, xt, "all");
      const scale = Math.max(...Array.from(ours, Math.abs));
      const worst = Math.max(...Array.from(ours, (v, i) => Math.abs(v - theirs[i])));
      console.log(`[onnx dynamic] transformer layer ${name}: max |ort − Int8Model| = ${worst.toExponential(2)} (output max ${scale.toFixed(3)})`);
      expect(worst).toBeLessThanOrEqual(1e-5 * scale);
    });
  }
});

