/**
 * ONNX export of the dynamic LSTM / GRU nodes (src/onnx/export-dynamic-rnn.ts), run by
 * onnxruntime-node and compared with Int8Model.run: the LSTM as com.microsoft
 * DynamicQuantizeLSTM, the GRU unrolled into DynamicQuantizeLinear + MatMulInteger GEMMs and
 * float gates. Both quantize their GEMM inputs by the same rule as Int8Model; onnxruntime's
 * sigmoid / tanh are MLAS approximations, and a state value that moves by an ulp can move a
 * run-time code by one, so the comparison bound is stated per case (measured values printed).
 * Import back is checked here too: DynamicQuantizeLSTM into dynamic_lstm nodes, the unrolled GRU
 * into dynamic_linear nodes and float islands (the same function, bit for bit).
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { GRU, LSTM } from "../../src/nn/layers/rnn.js";
import { Sequential } from "../../src/nn/layers/container.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { convert } from "../../src/quant/convert.js";
import { Int8Model } from "../../src/int8/model.js";
import { FLOAT_Q, type Int8Graph } from "../../src/int8/graph.js";
import { dynamicRnnNode, type RnnWeightGranularity } from "../../src/quant/quantize-dynamic-rnn.js";
import { decodeModel, exportInt8Model, importModel } from "../../src/onnx/index.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { loadOrt, ortUnavailable } from "./helpers.js";

const ort = await loadOrt();
if (!ort) console.warn(`[dynamic rnn export tests] onnxruntime checks skipped: ${ortUnavailable}`);

/** An Int8Model of one dynamic RNN node (weights per row or per tensor). */
function single(m: LSTM | GRU, inputShape: number[], granularity: RnnWeightGranularity): Int8Model {
  const { node, tensors } = dynamicRnnNode(m, "rnn", granularity, { input: "x", output: "y" });
  const F = (m.bidirectional ? 2 : 1) * m.hiddenSize;
  const outShape = [inputShape[0], inputShape[1], F];
  const graph: Int8Graph = {
    input: { id: "x", shape: inputShape, q: FLOAT_Q, float: true }, output: "y",
    values: [{ id: "x", shape: inputShape, q: FLOAT_Q, float: true }, { id: "y", shape: outShape, q: FLOAT_Q, float: true }],
    nodes: [node], meta: {},
  };
  return new Int8Model(graph, tensors);
}

async function runOrt(bytes: Uint8Array, x: Tensor): Promise<Float32Array> {
  const session = await ort!.InferenceSession.create(bytes, { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
  const out = await session.run({ input: new ort!.Tensor("float32", Float32Array.from(x.data as Float32Array), x.shape) });
  return out.output.data as Float32Array;
}

function compare(name: string, ours: Float32Array, theirs: Float32Array, bound: number): void {
  expect(theirs.length).toBe(ours.length);
  const range = Math.max(...Array.from(ours, Math.abs));
  let max = 0;
  let equal = 0;
  for (let i = 0; i < ours.length; i++) {
    max = Math.max(max, Math.abs(ours[i] - theirs[i]));
    if (ours[i] === theirs[i]) equal++;
  }
  console.log(`[dynamic rnn export] ${name}: max |onnxruntime − Int8Model| ${max.toExponential(2)} (${((100 * max) / range).toFixed(4)} % of the range), ${((100 * equal) / ours.length).toFixed(1)} % bit-equal`);
  expect(max).toBeLessThanOrEqual(bound * range);
}

manualSeed(404);
const cases: { name: string; make: () => LSTM | GRU; shape: number[]; gran: RnnWeightGranularity; ops: string[] }[] = [
  { name: "LSTM 2 layers bidirectional, time-major, per-row weights", make: () => new LSTM(8, 16, { numLayers: 2, bidirectional: true }), shape: [7, 3, 8], gran: "per_channel", ops: ["DynamicQuantizeLSTM"] },
  { name: "LSTM batch_first, per-tensor weights", make: () => new LSTM(8, 12, { batchFirst: true }), shape: [4, 6, 8], gran: "per_tensor", ops: ["DynamicQuantizeLSTM"] },
  { name: "GRU 2 layers bidirectional, batch_first, per-row weights", make: () => new GRU(8, 16, { numLayers: 2, bidirectional: true, batchFirst: true }), shape: [3, 5, 8], gran: "per_channel", ops: ["DynamicQuantizeLinear", "MatMulInteger", "Sigmoid", "Tanh"] },
  { name: "GRU batch_first, no bias, per-tensor weights", make: () => new GRU(6, 10, { batchFirst: true, bias: false }), shape: [2, 4, 6], gran: "per_tensor", ops: ["DynamicQuantizeLinear", "MatMulInteger"] },
];

describe("dynamic LSTM / GRU export, run by onnxruntime", () => {
  for (const c of cases) {
    it(c.name, async (ctx) => {
      const m = c.make();
      const int8 = single(m, c.shape.map((d, i) => (i === 0 ? -1 : d)), c.gran);
      const x = randn(c.shape);
      const ours = int8.run(x).data as Float32Array;
      const bytes = exportInt8Model(int8, { format: "qdq" });
      const ops = new Set(decodeModel(bytes).graph!.node!.map((n) => n.opType));
      for (const op of c.ops) expect(ops.has(op)).toBe(true);
      if (!ort) return ctx.skip();
      compare(c.name, ours, await runOrt(bytes, x), 1e-5);
    });
  }

  it("a converted model (batch_first LSTM → Linear) exports and runs at another batch size", async (ctx) => {
    const model = new Sequential(new LSTM(8, 16, { batchFirst: true }), new Linear(16, 5));
    const x = randn([4, 6, 8]);
    const int8 = convert(prepareQat(model, { qconfig: qconfigs.dynamic, example: x }));
    const bytes = exportInt8Model(int8, { format: "qdq" });
    if (!ort) return ctx.skip();
    const x2 = randn([2, 6, 8]);
    compare("converted LSTM → Linear, batch 2", int8.run(x2).data as Float32Array, await runOrt(bytes, x2), 1e-5);
  });

  it("a time-major GRU is refused with the reason (the unrolled form needs a static sequence length)", () => {
    const int8 = single(new GRU(4, 6), [-1, 2, 4], "per_channel");
    expect(() => exportInt8Model(int8, { format: "qdq" })).toThrow(/static sequence length/);
  });
});

describe("import of the dynamic RNN exports", () => {
  for (const c of cases.filter((k) => k.ops[0] === "DynamicQuantizeLSTM")) {
    it(`${c.name}: the export imports back to dynamic_lstm nodes that compute what the original does, bit for bit`, () => {
      const int8 = single(c.make(), c.shape.map((d, i) => (i === 0 ? -1 : d)), c.gran);
      const back = importModel(exportInt8Model(int8, { format: "qdq" })) as Int8Model;
      expect(back.graph.nodes.filter((n) => n.op === "dynamic_lstm")).toHaveLength((int8.graph.nodes[0] as { numLayers: number }).numLayers);
      const x = randn(c.shape);
      expect(Array.from(back.run(x).data as Float32Array)).toEqual(Array.from(int8.run(x).data as Float32Array));
      // and from its own file (a batch-first layer imports as one batchFirst node: no Transpose islands)
      expect(back.graph.nodes.every((n) => n.op === "dynamic_lstm")).toBe(true);
      expect(Array.from(Int8Model.decode(back.encode()).run(x).data as Float32Array)).toEqual(Array.from(int8.run(x).data as Float32Array));
    });
  }

  it("a 2-layer batch-first LSTM (one Transpose in, one out for the whole stack) imports with those Transposes as islands, same outputs", () => {
    const int8 = single(new LSTM(8, 6, { numLayers: 2, batchFirst: true }), [-1, 5, 8], "per_channel");
    const back = importModel(exportInt8Model(int8, { format: "qdq" })) as Int8Model;
    expect(back.graph.nodes.map((n) => n.op)).toEqual(["float", "dynamic_lstm", "dynamic_lstm", "float"]);
    const x = randn([3, 5, 8]);
    expect(Array.from(back.run(x).data as Float32Array)).toEqual(Array.from(int8.run(x).data as Float32Array));
  });

  it("refuses what it does not import, naming it", () => {
    const int8 = single(new LSTM(4, 5), [-1, 2, 4], "per_channel");
    const m = decodeModel(exportInt8Model(int8, { format: "qdq" }));
    const lstm = m.graph!.node!.find((n) => n.opType === "DynamicQuantizeLSTM")!;
    lstm.input![5] = "input"; // initial_h
    expect(() => importModel(encodeModel(m))).toThrow(/initial_h is not supported/);
  });

  it("the unrolled GRU export imports back as dynamic_linear nodes and float islands that compute what the original does, bit for bit", () => {
    const c = cases.find((k) => k.name.startsWith("GRU 2 layers"))!;
    const int8 = single(c.make(), c.shape.map((d, i) => (i === 0 ? -1 : d)), c.gran);
    const back = importModel(exportInt8Model(int8, { format: "qdq" })) as Int8Model;
    expect(back.graph.nodes.filter((n) => n.op === "dynamic_linear").length).toBeGreaterThan(0);
    const x = randn(c.shape);
    expect(Array.from(back.run(x).data as Float32Array)).toEqual(Array.from(int8.run(x).data as Float32Array));
  });
});

