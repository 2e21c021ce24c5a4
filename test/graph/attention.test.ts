/**
 * A user's own attention written with functional ops (no attention layer from the library):
 * packed in-projection `linear(x, in_proj_weight, in_proj_bias)` with parameters, head split
 * by reshape/transpose, Q·Kᵀ scaled by 1/√d, softmax, P·V, out projection, mean over tokens,
 * classifier. prepareQat quantizes it without changes to the user's code:
 *  - the parameter weights get weight_fake_quant_<k> (per-channel) and convert makes integer
 *    linear layers on [B, T, E] tokens;
 *  - Q·Kᵀ and P·V are integer products of two quantized activations (int8 "matmul" nodes),
 *    the 1/√d scaling a requantization; softmax stays a float island.
 * The DESIGN.md §1 invariants are checked as for every model: (a) prepared with quantization
 * off ≡ float; (b) fake-quant ≡ Int8Model ≡ onnxruntime (QDQ and QOperator) within ±1 quantum;
 * (c) an export after more forwards is byte-identical (export reads frozen parameters).
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import * as ops from "../../src/ops/index.js";
import { Module } from "../../src/nn/module.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randint, randn } from "../../src/tensor/creation.js";
import { charTransformer } from "../../src/nn/models/vit.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { Adam } from "../../src/optim/adam.js";
import { calibrate, convertWithReport, disableFakeQuant, prepareQat, qconfigs } from "../../src/quant/index.js";
import { exportInt8Model, exportModel, importModel } from "../../src/onnx/index.js";
import { decodeModel, encodeModel } from "../../src/onnx/proto.js";
import { makeValueInfo } from "../../src/onnx/builders.js";
import { Int8Model } from "../../src/int8/model.js";
import { calibratedVitTiny, maxAbs, within } from "./helpers.js";
import { loadOrt, ortUnavailable } from "../onnx/helpers.js";
import { runOrtWith } from "../onnx/quantized-helpers.js";

const ort = await loadOrt();
const [T, E, H, C] = [6, 16, 2, 5];

/** Self-attention in the user's own code, batch first: x [B, T, E] → logits [B, C]. */
class MyAttention extends Module {
  in_proj_weight = this.registerParameter("in_proj_weight", randn([3 * E, E]).mul(1 / Math.sqrt(E)).detach());
  in_proj_bias = this.registerParameter("in_proj_bias", randn([3 * E]).mul(0.1).detach());
  out_proj = this.registerModule("out_proj", new Linear(E, E));
  head = this.registerModule("head", new Linear(E, C));

  forward(x: Tensor): Tensor {
    const [b, t] = x.shape;
    const d = E / H;
    const qkv = ops.linear(x, this.in_proj_weight, this.in_proj_bias); // [B, T, 3E]
    const heads = (k: number) => ops.slice(qkv, 2, k * E, (k + 1) * E).reshape([b, t, H, d]).transpose(1, 2); // [B, H, T, d]
    const [q, k, v] = [heads(0), heads(1), heads(2)];
    const scores = ops.matmul(q, k.transpose(2, 3)).mul(1 / Math.sqrt(d));
    const ctx = ops.matmul(ops.softmax(scores, -1), v); // [B, H, T, d]
    const y = this.out_proj.forward(ctx.transpose(1, 2).reshape([b, t, E]));
    return this.head.forward(y.mean(1));
  }
}

const tokens = (n: number, seed: number) => {
  manualSeed(seed);
  return randn([n, T, E]);
};



describe("a user-written attention module quantizes without changes", () => {
  it("weights fake-quantized, Q·Kᵀ and P·V integer, softmax a float island; invariants (a) (b) (c) with onnxruntime", async () => {
    manualSeed(21);
    const float = new MyAttention();
    const x = tokens(8, 1);
    const qm = prepareQat(float, { qconfig: qconfigs.x86, example: tokens(2, 0) });
    // the packed in-projection weight has its own per-channel weight quantizer; out_proj/head are QAT Linears
    expect(Object.keys(qm.stateDict())).toEqual(expect.arrayContaining(["module.in_proj_weight", "module.weight_fake_quant_0.scale", "module.out_proj.weight_fake_quant.scale"]));
    // (a)
    qm.eval();
    disableFakeQuant(qm);
    const ref = noGrad(() => float.forward(x));
    const off = noGrad(() => qm.forward(x));
    for (let i = 0; i < ref.size; i++) expect(Math.abs(ref.data[i] - off.data[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(ref)));
    // calibrate, then QAT steps: the weight quantizer's STE reaches the parameter
    qm.train();
    calibrate(qm, [0, 1, 2].map((s) => ({ x: tokens(16, 10 + s) })), { batches: 3 });
    const opt = new Adam(qm.parameters(), { lr: 1e-3 });
    for (let s = 0; s < 3; s++) {
      opt.zeroGrad();
      qm.forward(tokens(16, 20 + s)).square().mean().backward();
      const w = qm.parameters().find((p) => p.shape.join() === [3 * E, E].join())!;
      expect(w.grad && maxAbs(w.grad) > 0).toBe(true);
      opt.step();
    }
    // (b)
    const { model: int8, report } = convertWithReport(qm);
    expect(report.islands.map((i) => i.fn)).toEqual(["softmax"]); // the token mean is an integer mean (issue 14)
    const ops8 = int8.graph.nodes.map((n) => n.op);
    expect(ops8.filter((o) => o === "linear")).toHaveLength(3); // in_proj (functional), out_proj, head
    expect(ops8.filter((o) => o === "matmul")).toHaveLength(2);
    qm.eval();
    const fq = noGrad(() => qm.forward(x));
    const scale = int8.value(int8.graph.output).q.scale;
    const got = int8.run(x);
    expect(within(fq.data, got.data, scale)).toBeGreaterThanOrEqual(0.99);
    for (const format of ["qdq", "qoperator"] as const) {
      const bytes = exportModel(qm, { example: x, format });
      if (!ort) {
        console.warn(`[attention] onnxruntime parity skipped: ${ortUnavailable}`);
        break;
      }
      const viaOrt = await runOrtWith(ort, bytes, x);
      expect(within(got.data, viaOrt, scale), format).toBeGreaterThanOrEqual(0.99);
      // (c)
      qm.train();
      noGrad(() => qm.forward(tokens(16, 40)));
      qm.eval();
      expect(Buffer.from(exportModel(qm, { example: x, format })).equals(Buffer.from(bytes)), format).toBe(true);
      // the export imports back to an Int8Model with the same integer products
      const back = importModel(bytes) as Int8Model;
      expect(back.graph.nodes.filter((n) => n.op === "matmul"), format).toHaveLength(2);
      expect(within(got.data, back.run(x).data, scale), format).toBeGreaterThanOrEqual(0.99);
    }
  });

  it("qconfig null on the in-projection keeps its weight float (no weight quantizer; a float island after convert)", () => {
    manualSeed(22);
    const qm = prepareQat(new MyAttention(), { qconfig: qconfigs.x86, example: tokens(2, 0), overrides: [{ name: "linear", qconfig: null }] });
    expect(Object.keys(qm.stateDict()).some((k) => k.includes("weight_fake_quant_"))).toBe(false);
    noGrad(() => qm.forward(tokens(4, 3)));
    const { report } = convertWithReport(qm);
    expect(report.islands.map((i) => i.fn)).toContain("linear");
  });
});

describe("masked attention: the −∞ mask runs in float inside the softmax island", () => {
  /** Causal self-attention through ops.scaledDotProductAttention (where(mask, scores, −∞) → softmax); qkv is called three times (one integer layer per call). */
  class CausalNet extends Module {
    qkv = this.registerModule("qkv", new Linear(E, 3 * E));
    head = this.registerModule("head", new Linear(E, C));
    forward(x: Tensor): Tensor {
      const [q, k, v] = [0, 1, 2].map((i) => ops.slice(this.qkv.forward(x), -1, i * E, (i + 1) * E));
      return this.head.forward(ops.scaledDotProductAttention(q, k, v, { isCausal: true }));
    }
  }

  it("prepare leaves the masked scores unquantized; Int8Model ≡ fake-quant ≡ onnxruntime (QDQ)", async () => {
    manualSeed(23);
    const qm = prepareQat(new CausalNet(), { qconfig: qconfigs.x86, example: tokens(2, 0) });
    qm.train();
    calibrate(qm, [0, 1].map((s) => ({ x: tokens(16, 30 + s) })), { batches: 2 });
    const { model: int8, report } = convertWithReport(qm);
    expect(report.islands.map((i) => i.fn)).toEqual(["softmax"]);
    expect(int8.graph.nodes.filter((n) => n.op === "matmul")).toHaveLength(2);
    const x = tokens(8, 5);
    qm.eval();
    const fq = noGrad(() => qm.forward(x));
    const got = int8.run(x);
    const scale = int8.value(int8.graph.output).q.scale;
    expect(within(fq.data, got.data, scale)).toBeGreaterThanOrEqual(0.99);
    if (!ort) return console.warn(`[attention] onnxruntime parity skipped: ${ortUnavailable}`);
    const viaOrt = await runOrtWith(ort, exportModel(qm, { example: x, format: "qdq" }), x);
    expect(within(got.data, viaOrt, scale)).toBeGreaterThanOrEqual(0.99);
  });
});

describe("a character language model: int32 token ids in", () => {
  it("prepare gives the token input no quantizer; convert passes it to the embedding island; Int8Model ≡ fake-quant ≡ onnxruntime (QDQ, QOperator)", async () => {
    manualSeed(24);
    const lm = charTransformer({ vocab: 12, context: 8, dim: 16, depth: 1, heads: 2 });
    const ids = (n: number, seed: number) => {
      manualSeed(seed);
      return randint(0, 12, [n, 8], { dtype: "int32" });
    };
    const qm = prepareQat(lm, { qconfig: qconfigs.x86 });
    expect(Object.keys(qm.stateDict()).some((k) => k.startsWith("quant.activation_post_process"))).toBe(false);
    qm.train();
    calibrate(qm, [0, 1].map((s) => ({ x: ids(16, 40 + s) })), { batches: 2 });
    const { model: int8, report } = convertWithReport(qm);
    // the embedding, + position embedding, LayerNorms and softmax (with its causal −∞ mask) are float; GELU a table; every linear and both products integer
    expect(new Set(report.islands.map((i) => i.fn))).toEqual(new Set(["Embedding", "add", "LayerNorm", "softmax"]));
    expect(int8.graph.nodes.filter((n) => n.op === "lut").map((n) => (n as { fn: string }).fn)).toEqual(["gelu"]);
    expect(int8.graph.nodes.filter((n) => n.op === "matmul")).toHaveLength(2);
    expect(int8.graph.input.int).toBe(true);
    expect(() => int8.run(randn([2, 8]))).toThrow(/token ids and must be int32/);
    const x = ids(6, 50);
    qm.eval();
    const fq = noGrad(() => qm.forward(x));
    const got = int8.run(x);
    const scale = int8.value(int8.graph.output).q.scale;
    expect(within(fq.data, got.data, scale)).toBeGreaterThanOrEqual(0.99);
    if (!ort) return console.warn(`[attention] onnxruntime parity skipped: ${ortUnavailable}`);
    for (const format of ["qdq", "qoperator"] as const) {
      const bytes = exportModel(qm, { example: x, format });
      const sess = await ort.InferenceSession.create(bytes);
      const res = await sess.run({ input: new ort.Tensor("int32", Int32Array.from(x.data as Int32Array), x.shape) });
      expect(within(got.data, res.output.data as Float32Array, scale), format).toBeGreaterThanOrEqual(0.99);
    }
    // the float model exports with an INT32 input too
    const float = exportModel(lm, { example: x, format: "float" });
    const sf = await ort.InferenceSession.create(float);
    const rf = await sf.run({ input: new ort.Tensor("int32", Int32Array.from(x.data as Int32Array), x.shape) });
    const want = noGrad(() => lm.forward(x));
    for (let i = 0; i < want.size; i++) expect(Math.abs((rf.output.data as Float32Array)[i] - want.data[i])).toBeLessThan(1e-4);
  });
});

describe("a character language model under the dynamic schemes (token ids in, float values between integer GEMMs)", () => {
  for (const name of ["int8DynActInt4Weight", "int4WeightOnly"] as const) {
    it(`${name}: convert ≡ fake-quant`, () => {
      manualSeed(26);
      const lm = charTransformer({ vocab: 10, context: 6, dim: 32, depth: 1, heads: 2 });
      const qm = prepareQat(lm, { qconfig: qconfigs[name] });
      // 8da4w quantizes the functional in-projection's input at run time too (weight-only: none)
      const inputQuantizers = qm.namedModules().filter(([p]) => /input_fake_quant_\d+$/.test(p)).length;
      expect(inputQuantizers).toBe(name === "int8DynActInt4Weight" ? 1 : 0);
      qm.train();
      calibrate(qm, [{ x: randint(0, 10, [8, 6], { dtype: "int32" }) }], { batches: 1 });
      const x = randint(0, 10, [4, 6], { dtype: "int32" });
      qm.eval();
      const fq = noGrad(() => qm.forward(x));
      const int8 = convertWithReport(qm).model;
      expect(int8.graph.input.int).toBe(true);
      const y = int8.run(x);
      for (let i = 0; i < y.size; i++) expect(Math.abs(y.data[i] - fq.data[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(fq.data[i])));
    });
  }
});

describe("a converted transformer runs from a file", () => {
  it("LayerNorm / embedding / softmax islands and parameter adds are stored as calls with their tensors: encode → decode runs bit-identically, and exports", async () => {
    manualSeed(25);
    const lm = charTransformer({ vocab: 10, context: 6, dim: 16, depth: 1, heads: 2 });
    const qm = prepareQat(lm, { qconfig: qconfigs.x86 });
    qm.train();
    calibrate(qm, [0, 1].map(() => ({ x: randint(0, 10, [8, 6], { dtype: "int32" }) })), { batches: 2 });
    const int8 = convertWithReport(qm).model;
    const back = Int8Model.decode(int8.encode());
    expect(back.floatIslands.every((i) => i.runnable)).toBe(true);
    const x = randint(0, 10, [5, 6], { dtype: "int32" });
    expect(Array.from(back.run(x).data)).toEqual(Array.from(int8.run(x).data));
    // the decoded model (no modules, only calls) exports and onnxruntime runs it as the in-memory model
    if (!ort) return console.warn(`[attention] onnxruntime parity skipped: ${ortUnavailable}`);
    const run = async (bytes: Uint8Array) => {
      const sess = await ort.InferenceSession.create(bytes);
      return (await sess.run({ input: new ort.Tensor("int32", Int32Array.from(x.data as Int32Array), x.shape) })).output.data as Float32Array;
    };
    const scale = int8.value(int8.graph.output).q.scale;
    expect(within(await run(exportInt8Model(back, { format: "qdq" })), int8.run(x).data, scale)).toBeGreaterThanOrEqual(0.99);
  });
});

describe("the zoo ViT (vitTiny) under static int8: the three invariants", () => {
  it("(a) prepared with quantization off ≡ float; (b) fake-quant ≡ Int8Model ≡ onnxruntime (QDQ); (c) export reads frozen parameters", async () => {
    const { images, qm } = calibratedVitTiny(); // asserts (a)
    const { model: int8 } = convertWithReport(qm);
    qm.eval();
    const fq = noGrad(() => qm.forward(images));
    const got = int8.run(images);
    const scale = int8.value(int8.graph.output).q.scale;
    expect(within(fq.data, got.data, scale)).toBeGreaterThanOrEqual(0.99);
    const qdq = exportModel(qm, { example: images, format: "qdq" });
    if (ort) {
      // Layer by layer: every quantized value onnxruntime computes (each QuantizeLinear made a graph output) is fed to the
      // Int8Model as its node inputs (teacher), and each node's output must agree within ±1 quantum. End to end the
      // agreement is lower on this untrained model: the float islands' ±1 ties (onnxruntime's exp / sqrt vs ours) are
      // amplified by LayerNorm over nearly constant token rows (measured and printed, not asserted).
      const model = decodeModel(qdq);
      const g = model.graph!;
      const names = new Map<string, string>();
      for (const n of g.node!) {
        const m = n.opType === "QuantizeLinear" ? /\/(v\d+)_quantized$/.exec(n.output![0]) : null;
        if (!m || names.has(m[1])) continue;
        names.set(m[1], n.output![0]);
        g.output!.push(makeValueInfo(n.output![0], int8.value(m[1]).q.dtype === "uint8" ? 2 : 3, []));
      }
      for (const o of g.output!) delete (o.type!.tensorType as { shape?: unknown }).shape;
      const sess = await ort.InferenceSession.create(encodeModel(model));
      const res = await sess.run({ input: new ort.Tensor("float32", Float32Array.from(images.data as Float32Array), images.shape) });
      const teacher = new Map([...names].map(([id, name]) => [id, { data: res[name].data as Uint8Array | Int8Array, shape: [...res[name].dims] }]));
      const { values } = int8.runQuantized(int8.quantizeInput(images), { collect: true, teacher });
      let total = 0, agree = 0;
      for (const n of int8.graph.nodes) {
        const t = teacher.get(n.output);
        if (!t) continue;
        const mine = values!.get(n.output)!.data;
        for (let i = 0; i < t.data.length; i++, total++) if (Math.abs(Number(t.data[i]) - mine[i]) <= 1) agree++;
      }
      const endToEnd = within(got.data, res.output.data as Float32Array, scale);
      console.log(`[attention] vitTiny: layer by layer ${(100 * agree / total).toFixed(3)} % of ${total} values within ±1 quantum of onnxruntime; end to end ${(100 * endToEnd).toFixed(2)} %`);
      expect(agree / total).toBeGreaterThanOrEqual(0.999);
    } else console.warn(`[attention] onnxruntime parity skipped: ${ortUnavailable}`);
    qm.train();
    noGrad(() => qm.forward(images));
    qm.eval();
    expect(Buffer.from(exportModel(qm, { example: images, format: "qdq" })).equals(Buffer.from(qdq))).toBe(true);
  });
});
