/**
 * Issue 14's remaining integer kernels: Max / Min of quantized activations (and a constant),
 * Resize nearest, means over any axes, Pad / Expand / Split sharing their input's
 * parameters. Each on an imported ONNX model (written here with onnx.helper's builders) and
 * on a captured user forward:
 *   prepared with fake quantization off ≡ float; fake-quant ≡ Int8Model (±1 quantum);
 *   the integer nodes, not islands; a saved file runs the same; the QDQ and QOperator exports
 *   run in onnxruntime ≡ Int8Model (±1 quantum on ≥ 99.9 %); the QDQ export imports back to
 *   the same integer nodes and the same outputs. Plus the kernels against direct references
 *   and typed errors for bad attributes.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import * as ops from "../../src/ops/index.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { Module } from "../../src/nn/module.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { attr, floatTensorProto, int64TensorProto, makeModel, makeNode, makeValueInfo } from "../../src/onnx/builders.js";
import { DataType, encodeModel } from "../../src/onnx/proto.js";
import { exportInt8Model, importModel } from "../../src/onnx/index.js";
import { calibrate, convertWithReport, disableFakeQuant, enableFakeQuant, prepareQat, qconfigs, type QatModel } from "../../src/quant/index.js";
import { Int8Model } from "../../src/int8/model.js";
import { validateInt8Graph } from "../../src/int8/validate.js";
import { expandQuant, padQuant } from "../../src/int8/kernels/layout.js";
import { qmaxmin, qmean } from "../../src/int8/kernels/reduce-quant.js";
import { quantizeMultiplier } from "../../src/int8/fixed-point.js";
import { FormatError, NotSupportedError } from "../../src/tensor/errors.js";
import { loadOrt, ortUnavailable } from "./helpers.js";
import { runOrtWith } from "./quantized-helpers.js";

const ort = await loadOrt();

/**
 * x [N, 3, 6, 6] → Conv 3×3 → LeakyRelu → Max(·, 0.05) → Pad reflect → Resize nearest ×2 →
 * Conv 1×1 → Min(conv, resized) → Split [1, 3] on channels → Expand the first to 3 channels →
 * Add → ReduceMean over [1, 3] → Gemm [N, 5].
 */
function onnxModel(): Uint8Array {
  manualSeed(7);
  const w = (name: string, dims: number[], s = 0.4) => floatTensorProto(name, Array.from(randn([dims.reduce((a, b) => a * b, 1)]).mul(s).data), dims);
  const nodes = [
    makeNode("Conv", ["x", "w1", "b1"], ["c1"], { name: "conv1", attributes: [attr.ints("pads", [1, 1, 1, 1]), attr.ints("kernel_shape", [3, 3])] }),
    makeNode("LeakyRelu", ["c1"], ["l1"], { name: "leaky", attributes: [attr.float("alpha", 0.1)] }),
    makeNode("Max", ["l1", "floor"], ["m1"], { name: "max" }),
    makeNode("Pad", ["m1", "pads"], ["p1"], { name: "pad", attributes: [attr.string("mode", "reflect")] }),
    makeNode("Resize", ["p1", "", "scales"], ["r1"], { name: "resize", attributes: [attr.string("mode", "nearest"), attr.string("coordinate_transformation_mode", "asymmetric"), attr.string("nearest_mode", "floor")] }),
    makeNode("Conv", ["r1", "w2"], ["c2"], { name: "conv2", attributes: [attr.ints("kernel_shape", [1, 1])] }),
    makeNode("Min", ["c2", "r1"], ["n1"], { name: "min" }),
    makeNode("Split", ["n1", "split"], ["s0", "s1"], { name: "split", attributes: [attr.int("axis", 1)] }),
    makeNode("Expand", ["s0", "shape"], ["e0"], { name: "expand" }),
    makeNode("Add", ["e0", "s1"], ["a1"], { name: "add" }),
    makeNode("ReduceMean", ["a1"], ["rm"], { name: "mean", attributes: [attr.ints("axes", [1, 3]), attr.int("keepdims", 0)] }),
    makeNode("Gemm", ["rm", "wf"], ["y"], { name: "head", attributes: [attr.int("transB", 1)] }),
  ];
  const inits = [
    w("w1", [4, 3, 3, 3]), w("b1", [4], 0.1), floatTensorProto("floor", [0.05], []), int64TensorProto("pads", [0, 0, 1, 1, 0, 0, 1, 1]),
    floatTensorProto("scales", [1, 1, 2, 2]), w("w2", [4, 4, 1, 1]), int64TensorProto("split", [1, 3]), int64TensorProto("shape", [1, 3, 1, 1]), w("wf", [5, 16]),
  ];
  const graph = { name: "int_ops", node: nodes, initializer: inits, input: [makeValueInfo("x", DataType.FLOAT, ["N", 3, 6, 6])], output: [makeValueInfo("y", DataType.FLOAT, ["N", 5])] };
  return encodeModel(makeModel(graph, { opset: 13 }));
}

/** The same ideas written as a user forward: functional maximum / minimum / pad / broadcastTo / mean / slice. */
class UserNet extends Module {
  a = this.registerModule("a", new Conv2d(3, 4, 3, { padding: 1 }));
  b = this.registerModule("b", new Conv2d(4, 4, 1));
  fc = this.registerModule("fc", new Linear(24, 5));
  forward(x: Tensor): Tensor {
    const h = ops.maximum(this.a.forward(x), 0.05);
    const p = ops.pad(h, [1, 1, 0, 2]);
    const m = ops.minimum(this.b.forward(p), p);
    const first = ops.broadcastTo(ops.slice(m, 1, 0, 1), [m.shape[0], 3, m.shape[2], m.shape[3]]);
    const s = ops.add(first, ops.slice(m, 1, 1, 4));
    return this.fc.forward(ops.mean(s, [2], { keepdim: false }).flatten(1));
  }
}

function prepared(model: Module, example: Tensor): QatModel {
  const qm = prepareQat(model, { qconfig: qconfigs.x86, example });
  qm.train();
  calibrate(qm, [0, 1, 2].map((s) => ({ x: (manualSeed(60 + s), randn([16, ...example.shape.slice(1)])) })), { batches: 3 });
  qm.eval();
  return qm;
}

/** Share of values within `tol` output quanta. */
function within(a: ArrayLike<number>, b: ArrayLike<number>, scale: number, tol = 1): number {
  let ok = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) <= scale * tol * 1.0001 + 1e-7) ok++;
  return ok / a.length;
}


describe.each([
  ["imported ONNX model", () => importModel(onnxModel()) as Module, [2, 3, 6, 6], ["maximum", "minimum", "mean", "pad", "expand", "resize", "slice"]],
  ["captured user forward", () => (manualSeed(3), new UserNet()), [2, 3, 6, 6], ["maximum", "minimum", "mean", "pad", "expand", "slice"]],
] as const)("integer Max / Min / Resize / mean / Pad / Expand / Split: %s", (_what, make, shape, expected) => {
  it("prepared-off ≡ float; fake-quant ≡ Int8Model with integer nodes (no islands); a saved file runs the same", () => {
    const float = make();
    manualSeed(90);
    const x = randn([8, ...shape.slice(1)]);
    const ref = noGrad(() => float.forward(x));
    const qm = prepared(make(), x);
    disableFakeQuant(qm);
    const off = noGrad(() => qm.forward(x));
    for (let i = 0; i < ref.size; i++) expect(Math.abs(off.data[i] - ref.data[i])).toBeLessThan(1e-5);
    enableFakeQuant(qm);
    const fq = noGrad(() => qm.forward(x));
    const { model: int8, report } = convertWithReport(qm);
    expect(report.islands.map((i) => `${i.fn}: ${i.reason}`)).toEqual([]);
    const kinds = new Set(int8.graph.nodes.map((n) => n.op));
    for (const op of expected) expect(kinds.has(op as never), op).toBe(true);
    const got = int8.run(x);
    const scale = int8.value(int8.graph.output).q.scale;
    expect(within(fq.data, got.data, scale)).toBeGreaterThanOrEqual(0.999);
    expect(Array.from(Int8Model.decode(int8.encode()).run(x).data)).toEqual(Array.from(got.data));
  });

  it("QDQ and QOperator exports in onnxruntime ≡ Int8Model; both import back to the integer nodes", async () => {
    manualSeed(91);
    const x = randn([16, ...shape.slice(1)]);
    const qm = prepared(make(), x);
    const { model: int8 } = convertWithReport(qm);
    const got = int8.run(x);
    const scale = int8.value(int8.graph.output).q.scale;
    const qdq = exportInt8Model(int8, { format: "qdq", opset: 13 });
    const back = importModel(qdq) as Int8Model;
    // the LeakyRelu table of convert imports back as a float island (same values: the table is the island's)
    expect(back.floatIslands.map((i) => i.fn).filter((fn) => fn !== "LeakyRelu")).toEqual([]);
    const backKinds = new Set(back.graph.nodes.map((n) => n.op));
    for (const op of expected) expect(backKinds.has(op as never), op).toBe(true);
    expect(within(back.run(x).data, got.data, scale)).toBeGreaterThanOrEqual(0.999);
    // the QOperator form (Pad / Expand / Resize on uint8, DQ → Max / Min / ReduceMean → Q) imports back too
    const qop = importModel(exportInt8Model(int8, { format: "qoperator", opset: 13 })) as Int8Model;
    const qopKinds = new Set(qop.graph.nodes.map((n) => n.op));
    for (const op of expected) expect(qopKinds.has(op as never), `qoperator ${op}`).toBe(true);
    expect(within(qop.run(x).data, got.data, scale)).toBeGreaterThanOrEqual(0.999);
    if (!ort) return console.warn(`[integer-ops] onnxruntime parity skipped: ${ortUnavailable}`);
    for (const format of ["qdq", "qoperator"] as const) {
      const viaOrt = await runOrtWith(ort, exportInt8Model(int8, { format, opset: 13 }), x);
      expect(within(viaOrt, got.data, scale), format).toBeGreaterThanOrEqual(0.999);
    }
  });
});


/** x [N, 2, 5, 7] → Resize (nearest unless `mode`, the given attributes and scales) → y, at `opset`. */
function resizeModel(c: { coord?: string; nearest?: string; scales: number[]; opset?: number; mode?: string; upsample?: boolean }): Uint8Array {
  const opset = c.opset ?? 13;
  const attributes = [attr.string("mode", c.mode ?? "nearest")];
  if (c.coord) attributes.push(attr.string("coordinate_transformation_mode", c.coord));
  if (c.nearest) attributes.push(attr.string("nearest_mode", c.nearest));
  const inits = [floatTensorProto("scales", c.scales)];
  const inputs = opset < 11 ? ["x", "scales"] : ["x", "", "scales"];
  const out = [Math.floor(5 * c.scales[2]), Math.floor(7 * c.scales[3])];
  const graph = {
    name: "resize", node: [makeNode(c.upsample ? "Upsample" : "Resize", inputs, ["y"], { name: "resize", attributes })], initializer: inits,
    input: [makeValueInfo("x", DataType.FLOAT, ["N", 2, 5, 7])], output: [makeValueInfo("y", DataType.FLOAT, ["N", 2, ...out])],
  };
  return encodeModel(makeModel(graph, { opset }));
}

describe("Resize nearest: every coordinate mode and rounding rule is an exact gather", () => {
  const cases = [
    { coord: "half_pixel", nearest: "round_prefer_floor", scales: [1, 1, 2, 2] },
    { coord: "asymmetric", nearest: "floor", scales: [1, 1, 1.5, 1.5] },
    { coord: "align_corners", nearest: "round_prefer_ceil", scales: [1, 1, 0.6, 0.6] },
    { coord: "pytorch_half_pixel", nearest: "ceil", scales: [1, 1, 0.6, 0.6] },
    { coord: "tf_half_pixel_for_nn", nearest: "round_prefer_floor", scales: [1, 1, 1.2, 2.5] },
    { opset: 10, scales: [1, 1, 2, 3] },
    { opset: 9, upsample: true, scales: [1, 1, 2, 3] },
  ];
  it.each(cases)("%o: Int8Model ≡ fake-quant exactly; QDQ / QOperator in onnxruntime and imported back ≡ Int8Model exactly", async (c) => {
    manualSeed(5);
    const x = randn([4, 2, 5, 7]);
    const qm = prepared(importModel(resizeModel(c)) as Module, x);
    const fq = noGrad(() => qm.forward(x));
    const { model: int8, report } = convertWithReport(qm);
    expect(report.islands).toEqual([]);
    expect(int8.graph.nodes.map((n) => n.op)).toEqual(["resize"]);
    const got = int8.run(x);
    expect(Array.from(got.data)).toEqual(Array.from(fq.data));
    const opset = Math.max(c.opset ?? 13, 10); // Upsample (opset 9) exports as Resize-10
    if (opset >= 12) {
      // below 12 the input's reduce_range clamp is a float Clip, which the quantized importer does not read back
      const back = importModel(exportInt8Model(int8, { format: "qdq", opset })) as Int8Model;
      expect(back.graph.nodes.map((n) => n.op)).toEqual(["resize"]);
      expect(Array.from(back.run(x).data)).toEqual(Array.from(got.data));
    }
    if (!ort) return console.warn(`[integer-ops] onnxruntime parity skipped: ${ortUnavailable}`);
    // the float import itself equals onnxruntime on the original model (Upsample-9 included)
    const float = noGrad(() => (importModel(resizeModel(c)) as Module).forward(x));
    expect(Array.from(await runOrtWith(ort, resizeModel(c), x))).toEqual(Array.from(float.data));
    for (const format of opset < 12 ? (["qdq"] as const) : (["qdq", "qoperator"] as const)) {
      expect(Array.from(await runOrtWith(ort, exportInt8Model(int8, { format, opset }), x)), format).toEqual(Array.from(got.data));
    }
  });
  it("a linear Resize stays a float island (it interpolates), with the reason", () => {
    const linear = importModel(resizeModel({ mode: "linear", coord: "half_pixel", scales: [1, 1, 2, 2] })) as Module;
    const { report } = convertWithReport(prepared(linear, randn([2, 2, 5, 7])));
    expect(report.islands.map((i) => i.reason)).toEqual([expect.stringMatching(/mode 'linear' interpolates/)]);
  });
});

describe("kernels against direct references; typed errors", () => {
  const q = (data: number[], shape: number[]) => ({ data: Int8Array.from(data), shape });
  it("padQuant: numpy.pad's constant / edge / reflect; expandQuant repeats dims of 1", () => {
    const x = q([1, 2, 3], [1, 3]);
    expect(Array.from(padQuant(x, [0, 2, 0, 3], "constant", 9).data)).toEqual([9, 9, 1, 2, 3, 9, 9, 9]);
    expect(Array.from(padQuant(x, [0, 2, 0, 3], "edge", 0).data)).toEqual([1, 1, 1, 2, 3, 3, 3, 3]);
    expect(Array.from(padQuant(x, [0, 2, 0, 3], "reflect", 0).data)).toEqual([3, 2, 1, 2, 3, 2, 1, 2]);
    const e = expandQuant(q([1, 2], [1, 2, 1]), [1, 2, 3]);
    expect([Array.from(e.data), e.shape]).toEqual([[1, 1, 1, 2, 2, 2], [1, 2, 3]]);
  });
  it("qmaxmin and qmean: within one quantum of the float definitions Q_y(max(DQ a, DQ b, c)) and Q_y(mean(DQ x))", () => {
    manualSeed(11);
    const rnd = (n: number) => Int8Array.from(randn([n]).mul(50).data, (v) => Math.max(-128, Math.min(127, Math.round(v))));
    const [a, b] = [rnd(600), rnd(600)];
    const [sa, za, sb, zb, sy, zy] = [0.031, 3, 0.047, -5, 0.05, 2];
    const m = (s: number): [number, number] => { const r = quantizeMultiplier(s / sy); return [r.multiplier, r.shift]; };
    const cq = Math.round(0.3 / sy) + zy;
    // rounding half away from zero, as the fixed-point requantization does
    const qy = (v: number) => Math.max(-128, Math.min(127, Math.sign(v) * Math.round(Math.abs(v / sy)) + zy));
    for (const op of ["maximum", "minimum"] as const) {
      const got = qmaxmin({ op, inputs: [{ x: a, shape: [600], zp: za, multiplier: m(sa) }, { x: b, shape: [600], zp: zb, multiplier: m(sb) }, { x: Int32Array.of(cq), shape: [1], zp: 0, multiplier: null }], yZp: zy, outDType: "int8" });
      const f = op === "maximum" ? Math.max : Math.min;
      for (let i = 0; i < 600; i++) {
        const real = f(sa * (a[i] - za), sb * (b[i] - zb), sy * (cq - zy));
        const want = qy(real);
        // the fixed-point multiplier may land a rounding tie (x.5 quanta) on the other side; nothing else differs
        const tie = Math.abs(Math.abs(real / sy) % 1 - 0.5) < 1e-9;
        expect(Math.abs(got.data[i] - want)).toBeLessThanOrEqual(tie ? 1 : 0);
      }
    }
    const r = quantizeMultiplier(sa / (sy * 12));
    const mean = qmean({ x: a, xZp: za, xShape: [2, 3, 4, 25], axes: [1, 2], keepdims: false, multiplier: [r.multiplier, r.shift], yZp: zy, outDType: "int8" });
    expect(mean.shape).toEqual([2, 25]);
    for (let n = 0; n < 2; n++) {
      for (let w = 0; w < 25; w++) {
        let s = 0;
        for (let k = 0; k < 12; k++) s += a[n * 300 + k * 25 + w] - za;
        expect(Math.abs(mean.data[n * 25 + w] - qy((sa * s) / 12))).toBeLessThanOrEqual(1);
      }
    }
  });
  it("bad attributes are FormatErrors naming the node and field; convert and quantized import name what stays float", () => {
    manualSeed(5);
    const x = randn([4, 2, 5, 7]);
    const { model: int8 } = convertWithReport(prepared(importModel(resizeModel({ coord: "asymmetric", nearest: "floor", scales: [1, 1, 2, 2] })) as Module, x));
    const bad = (patch: Record<string, unknown>) => {
      const g = JSON.parse(JSON.stringify(int8.graph));
      Object.assign(g.nodes[0], patch);
      return () => validateInt8Graph(g, int8.tensors);
    };
    expect(bad({ scales: [2, 1, 2, 2] })).toThrow(FormatError);
    expect(bad({ scales: [2, 1, 2, 2] })).toThrow(/node 'module.resize' \("resize"\): scales must be 4 positive numbers, 1 for the batch/);
    const idx = int8.graph.nodes[0].op === "resize" ? int8.graph.nodes[0].index : "";
    const tensors = new Map(int8.tensors).set(idx, Int32Array.from(int8.tensors.get(idx)!, () => 70));
    const g = JSON.parse(JSON.stringify(int8.graph));
    expect(() => validateInt8Graph(g, tensors)).toThrow(/index holds offsets outside \[0, 70\)/);
    expect(bad({ op: "pad", pads: [1, 0, 0, 0, 0, 0, 0, 0], mode: "constant", value: 0 })).toThrow(/pads must not pad the batch dim/);
    expect(bad({ op: "pad", pads: [0, 0, 0, 0, 0, 0, 0, 0], mode: "wrap", value: 0 })).toThrow(/mode must be constant, edge or reflect/);
    expect(bad({ op: "mean", axes: [0, 2], keepdims: true, multiplier: [1 << 30, 0], clamp: [-128, 127] })).toThrow(/axes must be increasing non-batch axes/);
    expect(bad({ op: "maximum", multipliers: [], clamp: [-128, 127] })).toThrow(/multipliers must have one entry per input/);
    // a mean over the batch stays a float island, with the reason; strict names it
    class BatchMean extends Module {
      fc = this.registerModule("fc", new Linear(4, 4));
      forward(t: Tensor): Tensor {
        return ops.mean(this.fc.forward(t), [0], { keepdim: true });
      }
    }
    const qm = prepared(new BatchMean(), randn([4, 4]));
    expect(convertWithReport(qm).report.islands.map((i) => i.reason)).toEqual(["mean over the batch dimension"]);
    expect(() => convertWithReport(qm, { strict: true })).toThrow(NotSupportedError);
    // quantized import: a Pad of the batch dim is a named NotSupportedError
    const s = floatTensorProto("s", [0.05], []);
    const padBatch = encodeModel(makeModel({
      name: "q", initializer: [s, int64TensorProto("p", [1, 0, 0, 0])],
      node: [makeNode("QuantizeLinear", ["x", "s"], ["q"]), makeNode("DequantizeLinear", ["q", "s"], ["d"]), makeNode("Pad", ["d", "p"], ["e"], { name: "pad" }), makeNode("QuantizeLinear", ["e", "s"], ["qe"]), makeNode("DequantizeLinear", ["qe", "s"], ["y"])],
      input: [makeValueInfo("x", DataType.FLOAT, [1, 4])], output: [makeValueInfo("y", DataType.FLOAT, [2, 4])],
    }, { opset: 13 }));
    expect(() => importModel(padBatch)).toThrow(/Pad node 'pad': pads \[1, 0, 0, 0\] must be 4 non-negative values that leave the batch dim alone/);
  });
});
