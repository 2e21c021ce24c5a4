/**
 * The dynamic Int8Model nodes: dynamic_linear bit for bit against an independent statement of
 * onnxruntime's DynamicQuantizeLinear → MatMulInteger → Mul → Add (float32 arithmetic written
 * out here), linear_nbits against float64 sums of the dequantized weights, packing round trip,
 * convert of the three presets (Int8Model = the fake-quant model up to float summation order;
 * rank-3 token inputs), quantizeDynamic = the Int8Model of the same qconfig exactly,
 * encode/decode, and the validator's refusals.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { Sequential } from "../../src/nn/layers/container.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { ReLU } from "../../src/nn/layers/activation.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { FormatError } from "../../src/tensor/errors.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { convert } from "../../src/quant/convert.js";
import { quantizeDynamic, quantizeDynamicQConfig } from "../../src/quant/quantize-dynamic.js";
import { Int8Model } from "../../src/int8/model.js";
import type { DynamicLinearNode } from "../../src/int8/graph-dynamic.js";
import { bitsF32, packCodes, unpackCodes } from "../../src/int8/graph-dynamic.js";
import { dynamicLinear } from "../../src/int8/kernels/dynamic.js";
import type { QuantArray } from "../../src/int8/kernels/common.js";

const f32 = Math.fround;

/** onnxruntime's arithmetic, written independently: GetQuantizationParameter, MlasQuantizeLinear, MatMulInteger, Cast, Mul, Add. */
function ortDynamicLinear(x: Float32Array, m: number, k: number, w: Int8Array, n: number, ws: Float32Array, b: Float32Array | null): Float32Array {
  let mn = Infinity;
  let mx = -Infinity;
  for (const v of x) {
    mn = Math.min(mn, v);
    mx = Math.max(mx, v);
  }
  mn = Math.min(mn, 0);
  mx = Math.max(mx, 0);
  const scale = mx === mn ? 1 : f32(f32(mx - mn) / 255);
  const zpF = Math.max(0, Math.min(255, f32(0 - f32(mn / scale))));
  const even = (v: number) => (Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
  const zp = even(zpF);
  const q = Array.from(x, (v) => Math.max(0, Math.min(255, even(f32(v / scale)) + zp)));
  const y = new Float32Array(m * n);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let acc = 0n;
      for (let j = 0; j < k; j++) acc += BigInt((q[r * k + j] - zp) * w[c * k + j]);
      const prod = f32(f32(Number(acc)) * f32(scale * ws[c]));
      y[r * n + c] = b ? f32(prod + b[c]) : prod;
    }
  }
  return y;
}

describe("dynamic_linear", () => {
  it("is onnxruntime's DynamicQuantizeLinear + MatMulInteger + Mul + Add bit for bit", () => {
    manualSeed(11);
    const [m, k, n] = [7, 40, 9];
    const x = randn([m, k]);
    for (let i = 0; i < k; i++) x.data[i] *= 5; // an outlier row
    const w = Int8Array.from({ length: n * k }, (_, i) => ((i * 37) % 255) - 127);
    const ws = Float32Array.from({ length: n }, (_, i) => 0.001 * (i + 1));
    const b = Float32Array.from({ length: n }, (_, i) => 0.1 * i - 0.3);
    const tensors = new Map<string, Int8Array | Int32Array>([
      ["w", w], ["s", new Int32Array(ws.buffer)], ["b", new Int32Array(b.buffer)],
    ]);
    const node: DynamicLinearNode = { op: "dynamic_linear", name: "l", inputs: ["x"], output: "y", wInt8: "w", wShape: [n, k], wScales: "s", bias: "b", act: { granularity: "per_tensor", dtype: "uint8" }, weightBits: 8 };
    const got = dynamicLinear(node, { data: x.data as unknown as QuantArray, shape: [m, k] }, tensors);
    const want = ortDynamicLinear(x.data as Float32Array, m, k, w, n, ws, b);
    expect(Array.from(got.data as unknown as Float32Array)).toEqual(Array.from(want));
  });
});

describe("dynamic_linear with K beyond one exact float32 chunk", () => {
  it("K = 600 (three chunks of at most 256), full-range weights and zero points: still bit for bit", () => {
    manualSeed(14);
    const [m, k, n] = [5, 600, 7];
    const x = randn([m, k]);
    const w = Int8Array.from({ length: n * k }, (_, i) => (i * 97) % 2 === 0 ? 127 : -128); // worst-case magnitudes
    const ws = Float32Array.from({ length: n }, (_, i) => 0.002 * (i + 1));
    const tensors = new Map<string, Int8Array | Int32Array>([["w", w], ["s", new Int32Array(ws.buffer)]]);
    const node: DynamicLinearNode = { op: "dynamic_linear", name: "l", inputs: ["x"], output: "y", wInt8: "w", wShape: [n, k], wScales: "s", bias: null, act: { granularity: "per_tensor", dtype: "uint8" }, weightBits: 8 };
    const got = dynamicLinear(node, { data: x.data as unknown as QuantArray, shape: [m, k] }, tensors);
    expect(Array.from(got.data as unknown as Float32Array)).toEqual(Array.from(ortDynamicLinear(x.data as Float32Array, m, k, w, n, ws, null)));
  });
});

describe("packing", () => {
  it("2/4/8-bit codes round-trip through MatMulNBits blocks (last block padded)", () => {
    for (const bits of [2, 4, 8]) {
      const [n, k, bs] = [3, 40, 16];
      const codes = Int32Array.from({ length: n * k }, (_, i) => (i * 7) % 2 ** bits);
      const packed = packCodes(codes, n, k, bits, bs);
      expect(packed.length).toBe((n * Math.ceil(k / bs) * bs * bits) / 8);
      expect(Array.from(unpackCodes(packed, n, k, bits, bs))).toEqual(Array.from(codes));
    }
  });
  it("4-bit: the first code of a byte is its low nibble (MatMulNBits' order)", () => {
    const p = packCodes(Int32Array.of(1, 2, 3, 4), 1, 4, 4, 16);
    expect(new Uint8Array(p.buffer)[0]).toBe(0x21);
    expect(new Uint8Array(p.buffer)[1]).toBe(0x43);
  });
});

function mlp(): Sequential {
  manualSeed(12);
  return new Sequential(new Linear(64, 32), new ReLU(), new Linear(32, 16), new ReLU(), new Linear(16, 10));
}

const maxDiff = (a: Tensor, b: Tensor) => Math.max(...Array.from(a.data, (v, i) => Math.abs(v - b.data[i])));
const maxAbs = (a: Tensor) => Math.max(...Array.from(a.data, Math.abs));

describe("convert of dynamic qconfigs", () => {
  for (const name of ["dynamic", "int4WeightOnly", "int8DynActInt4Weight"] as const) {
    it(`${name}: the Int8Model is the fake-quant model up to float summation order; file round trip`, () => {
      const x = randn([8, 64]);
      const qm = prepareQat(mlp(), { qconfig: qconfigs[name], example: x });
      qm.eval();
      const fq = noGrad(() => qm.forward(x));
      const int8 = convert(qm);
      expect(int8.graph.input.float).toBe(true);
      const ops = int8.graph.nodes.map((nd) => nd.op);
      expect(ops.filter((o) => o === (name === "dynamic" ? "dynamic_linear" : "linear_nbits"))).toHaveLength(3);
      const y = int8.run(x);
      expect(maxDiff(y, fq)).toBeLessThanOrEqual(1e-5 * maxAbs(fq));
      const back = Int8Model.decode(int8.encode());
      expect(Array.from(back.run(x).data)).toEqual(Array.from(y.data));
    });
  }
  it("token inputs [B, T, D]: per-token rows follow the leading dims", () => {
    manualSeed(13);
    const x = randn([2, 5, 32]);
    const model = new Sequential(new Linear(32, 32), new ReLU(), new Linear(32, 8));
    const qm = prepareQat(model, { qconfig: qconfigs.int8DynActInt4Weight, example: x });
    qm.eval();
    const fq = noGrad(() => qm.forward(x));
    const y = convert(qm).run(x);
    expect(y.shape).toEqual([2, 5, 8]);
    expect(maxDiff(y, fq)).toBeLessThanOrEqual(1e-5 * maxAbs(fq));
  });
});

describe("quantizeDynamic", () => {
  for (const dtype of ["int8", "int4"] as const) {
    it(`dtype ${dtype}: the same outputs as the Int8Model of the same qconfig, bit for bit`, () => {
      const x = randn([6, 64]);
      const model = mlp();
      const dq = quantizeDynamic(model, { dtype });
      const qm = prepareQat(model, { qconfig: quantizeDynamicQConfig({ dtype }), example: x, fuse: false });
      const int8 = convert(qm);
      expect(Array.from(noGrad(() => dq.forward(x)).data)).toEqual(Array.from(int8.run(x).data));
      expect(model.namedModules().filter(([, m]) => m instanceof Linear)).toHaveLength(3); // the original is untouched
    });
  }
  it("selects layers by predicate and refuses other module names", () => {
    const dq = quantizeDynamic(mlp(), { modules: (p) => p === "4" });
    expect(dq.namedModules().filter(([, m]) => m instanceof Linear).map(([p]) => p)).toEqual(["0", "2"]);
    expect(() => quantizeDynamic(mlp(), { modules: ["Conv2d"] })).toThrow(/Linear/);
  });
});

describe("validation of dynamic graphs", () => {
  const build = () => {
    const x = randn([2, 64]);
    const qm = prepareQat(mlp(), { qconfig: qconfigs.dynamic, example: x });
    return convert(qm);
  };
  const reload = (int8: Int8Model, mutate: (g: any, t: Map<string, Int8Array | Int32Array>) => void) => {
    const g = JSON.parse(JSON.stringify(int8.graph));
    const t = new Map(int8.tensors);
    mutate(g, t);
    return () => Int8Model.decode(new Int8Model(g, t).encode());
  };
  it("refuses a quantized input to a dynamic node, a non-positive scale, a bad act", () => {
    const int8 = build();
    expect(reload(int8, (g) => (g.input.float = false))).toThrow(FormatError);
    const node = int8.graph.nodes[0] as DynamicLinearNode;
    expect(reload(int8, (_g, t) => t.set(node.wScales, new Int32Array(new Float32Array(32).fill(-1).buffer)))).toThrow(/positive/);
    expect(reload(int8, (g) => (g.nodes[0].act = { granularity: "per_row", dtype: "uint8" }))).toThrow(/granularity/);
    expect(bitsF32(int8.tensors.get(node.wScales) as Int32Array).every((v) => v > 0)).toBe(true);
  });
  it("refuses a float value read by an integer op (only float islands and dynamic nodes touch float values)", () => {
    const int8 = build();
    const i = int8.graph.nodes.findIndex((n) => n.op === "float");
    expect(i).toBeGreaterThan(0);
    expect(reload(int8, (g) => (g.nodes[i] = { op: "reshape", name: g.nodes[i].name, inputs: g.nodes[i].inputs, output: g.nodes[i].output, shape: [-1, 32] }))).toThrow(/float value/);
  });
});
