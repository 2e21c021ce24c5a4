/**
 * Float islands of imported models that run from a file and export (issue #13):
 * - integer-valued shape arithmetic (ONNX Shape → Gather → Div → Concat feeding a Reshape or an
 *   Expand) is its own node with an unquantized int32 output, exported as the op's int64 value:
 *   torchvision ShuffleNetV2 (channel shuffle, chunk) and torch's LSTM / GRU exports (the zero
 *   initial state is Expand-ed to the run-time batch) convert, export QDQ and QOperator, and
 *   onnxruntime runs them as Int8Model does;
 * - imported ONNX ops that become islands (and the ops a table was made from) are stored in the
 *   `.int8` file as their ONNX node (op type, attributes, parameters and constants in the tensor
 *   table): Int8Model.decode(encode(m)) computes bit for bit what m computes and exports the same
 *   bytes (ShuffleNetV2, MobileNetV3's tables, a Softmax / Resize / ReduceMax net at opsets 11 and
 *   13 — the stored opset is the one the rebuilt kernel reads); the validator checks the stored
 *   nodes; a module island with no stored form is refused
 *   at encode with a NotSupportedError naming it.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { FormatError, NotSupportedError } from "../../src/tensor/errors.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import * as nn from "../../src/nn/index.js";
import { Int8Model } from "../../src/int8/model.js";
import { validateInt8Graph } from "../../src/int8/validate.js";
import type { Int8Graph } from "../../src/int8/graph.js";
import { calibrate, convertWithReport, prepareQat, qconfigs } from "../../src/quant/index.js";
import { DataType, attr, encodeModel, exportInt8Model, floatTensorProto, importModel, makeModel, makeNode, makeValueInfo, type OnnxModule } from "../../src/onnx/index.js";
import { fromGolden, goldenPath, readGolden, type GoldenTensor } from "../nn/golden.js";
import { loadOrt, ortUnavailable } from "./helpers.js";
import { parity, runOrtWith } from "./quantized-helpers.js";
import { compareLayers, fmtLayerReport, ortQOperatorValues, qdqLayerParity } from "./layer-parity-helpers.js";
import { Pipeline, torchvisionDoc, torchvisionInput } from "./torchvision-helpers.js";

const ort = await loadOrt();
if (!ort) console.warn(`[island files] onnxruntime checks skipped: ${ortUnavailable}`);
const itOrt = ort ? it : it.skip;

/** The integer output of `m` on x, as a plain array. */
const qOut = (m: Int8Model, x: Tensor, ...more: Tensor[]) => Array.from(m.runQuantized(m.quantizeInput(x), { inputs: more }).output.data);

/** m → file → m: the decoded model computes the same integers and writes the same QDQ / QOperator bytes. */
function roundTrip(m: Int8Model, x: Tensor, opset = 13): Int8Model {
  const back = Int8Model.decode(m.encode(), "islands.int8");
  expect(back.floatIslands.every((i) => i.runnable), "every island runs from the file").toBe(true);
  expect(qOut(back, x)).toEqual(qOut(m, x));
  for (const format of ["qdq", "qoperator"] as const) {
    const [a, b] = [exportInt8Model(m, { format, opset }), exportInt8Model(back, { format, opset })];
    expect(Buffer.from(b).equals(Buffer.from(a)), `${format} export of the decoded model`).toBe(true);
  }
  return back;
}

describe("ShuffleNetV2 (narrow torchvision): run-time shape arithmetic and imported-op islands", () => {
  const p = new Pipeline(torchvisionDoc.models.shufflenet_v2);

  it("shape arithmetic is int32 nodes read unquantized; every island is stored; the file runs bit for bit and exports the same bytes", () => {
    const int8 = p.int8();
    const ints = int8.graph.nodes.filter((n) => int8.value(n.output).int);
    expect(new Set(ints.map((n) => (n as { fn: string }).fn))).toEqual(new Set(["Shape", "Gather", "Unsqueeze", "Div", "Mul", "Add", "Cast", "Concat"]));
    // a Reshape island reads its target shape as an int32 input (channel shuffle)
    const reshapes = int8.graph.nodes.filter((n) => n.op === "float" && n.fn === "Reshape");
    expect(reshapes.some((n) => n.inputs.some((i) => int8.value(i).int))).toBe(true);
    expect(int8.graph.nodes.filter((n) => n.op === "float" && !n.call)).toEqual([]);
    roundTrip(int8, torchvisionInput);
  });

  itOrt("QOperator export in onnxruntime ≡ Int8Model layer by layer, and QDQ from the decoded file too", async () => {
    const int8 = p.int8();
    const back = Int8Model.decode(int8.encode());
    const x = torchvisionInput;
    const qop = compareLayers(back, await ortQOperatorValues(ort!, exportInt8Model(back, { format: "qoperator" }), x, back), x);
    const qdq = await qdqLayerParity(ort!, back, x, (m) => exportInt8Model(m, { format: "qdq" }));
    console.log(`[island files] ShuffleNetV2 from a file, layer by layer: QOperator ${fmtLayerReport(qop)}; QDQ ${fmtLayerReport(qdq)}`);
    for (const r of [qop, qdq]) {
      expect(r.missing).toEqual([]);
      expect(r.offTie.slice(0, 5)).toEqual([]);
      expect(r.differ / r.elements).toBeLessThan(1e-4);
    }
  });
});

describe("MobileNetV3-small (narrow torchvision): tables of imported ops keep their op in the file", () => {
  itOrt("decode(encode) runs bit for bit; its QDQ export (HardSigmoid / HardSwish between DQ and Q) equals Int8Model in onnxruntime", async () => {
    const int8 = new Pipeline(torchvisionDoc.models.mobilenet_v3_small).int8();
    const tables = int8.graph.nodes.filter((n) => n.op === "lut" && n.fn === "onnx");
    expect(tables.length).toBeGreaterThan(0);
    expect(tables.every((n) => n.op === "lut" && n.call?.op === "onnx")).toBe(true);
    const back = roundTrip(int8, torchvisionInput);
    const theirs = await runOrtWith(ort!, exportInt8Model(back, { format: "qdq" }), torchvisionInput);
    const par = parity(theirs, back.run(torchvisionInput).data, back.value(back.graph.output).q.scale, theirs.length / torchvisionInput.shape[0]);
    expect(par.maxQuanta).toBeLessThanOrEqual(1);
  });
});

const rnnDoc = readGolden<Record<"lstm" | "gru", { x: GoldenTensor; y: GoldenTensor }>>("rnn/onnx_models.json");

describe("torch LSTM / GRU exports: the zero initial state is Expand-ed to the run-time batch", () => {
  for (const name of ["lstm", "gru"] as const) {
    it(`${name}.onnx converts with its Expand reading an int32 shape; QDQ / QOperator (opset 14) run in onnxruntime as Int8Model (±1 quantum); the file round-trips`, async () => {
      const m = importModel(readFileSync(goldenPath(`rnn/${name}.onnx`))) as OnnxModule;
      const x = fromGolden(rnnDoc[name].x);
      const q = prepareQat(m, { qconfig: qconfigs.x86, example: x });
      q.train();
      noGrad(() => q.forward(x));
      const { model: int8 } = convertWithReport(q);
      const expands = int8.graph.nodes.filter((n) => n.op === "float" && n.fn === "Expand");
      expect(expands.length).toBeGreaterThan(0);
      expect(expands.every((n) => n.inputs.length === 1 && int8.value(n.inputs[0]).int)).toBe(true);
      roundTrip(int8, x, 14);
      if (!ort) return;
      const ours = int8.run(x).data;
      const scale = int8.value(int8.graph.output).q.scale;
      for (const format of ["qdq", "qoperator"] as const) {
        const theirs = await runOrtWith(ort, exportInt8Model(int8, { format, opset: 14 }), x);
        const par = parity(theirs, ours, scale, x.shape[x.shape.length - 1]);
        expect(par.maxQuanta, `${format}: max difference in output quanta`).toBeLessThanOrEqual(1);
      }
    });
  }
});

/** Conv → Softmax(axis 1) → Resize (linear, ×2) → ReduceMax(axes [1]) → Flatten → Gemm, at `opset`: three imported-op islands. */
function islandNet(opset: number): Uint8Array {
  manualSeed(3);
  const rnd = (name: string, shape: number[], s = 0.3) => floatTensorProto(name, Array.from(randn(shape).data, (v) => s * v), shape);
  const nodes = [
    makeNode("Conv", ["x", "cw", "cb"], ["c"], { attributes: [attr.ints("pads", [1, 1, 1, 1]), attr.ints("kernel_shape", [3, 3])] }),
    makeNode("Softmax", ["c"], ["s"], { attributes: [attr.int("axis", 1)] }),
    makeNode("Resize", ["s", "roi", "scales"], ["r"], { attributes: [attr.string("mode", "linear")] }),
    makeNode("ReduceMax", ["r"], ["m"], { attributes: [attr.ints("axes", [1]), attr.int("keepdims", 1)] }),
    makeNode("Flatten", ["m"], ["f"], { attributes: [attr.int("axis", 1)] }),
    makeNode("Gemm", ["f", "gw", "gb"], ["y"], { attributes: [attr.int("transB", 1)] }),
  ];
  const inits = [rnd("cw", [4, 3, 3, 3]), rnd("cb", [4]), floatTensorProto("roi", [], [0]), floatTensorProto("scales", [1, 1, 2, 2]), rnd("gw", [5, 64], 0.1), rnd("gb", [5])];
  const input = [makeValueInfo("x", DataType.FLOAT, ["N", 3, 4, 4])];
  return encodeModel(makeModel({ name: "islands", node: nodes, initializer: inits, input, output: [makeValueInfo("y", DataType.FLOAT, ["N", 5])] }, { opset }));
}

describe("torch LSTM / GRU exports under the dynamic scheme (float values between integer GEMMs)", () => {
  for (const name of ["lstm", "gru"] as const) {
    it(`${name}.onnx: its imported-op islands and int32 shape arithmetic are stored; the file runs bit for bit; the export equals Int8Model in onnxruntime`, async () => {
      const m = importModel(readFileSync(goldenPath(`rnn/${name}.onnx`))) as OnnxModule;
      const x = fromGolden(rnnDoc[name].x);
      const q = prepareQat(m, { qconfig: qconfigs.dynamic, example: x });
      noGrad(() => q.forward(x));
      const { model: int8 } = convertWithReport(q);
      expect(int8.graph.nodes.some((n) => int8.value(n.output).int)).toBe(true);
      expect(int8.graph.nodes.filter((n) => n.op === "float" && !n.call)).toEqual([]);
      roundTrip(int8, x, 14);
      if (!ort) return;
      const theirs = await runOrtWith(ort, exportInt8Model(int8, { format: "qdq", opset: 14 }), x);
      const ours = int8.run(x).data;
      for (let i = 0; i < ours.length; i++) expect(Math.abs(theirs[i] - ours[i])).toBeLessThanOrEqual(1e-5);
    });
  }
});

describe("imported Softmax / Resize / ReduceMax islands (their ONNX node, opset and attributes in the file)", () => {
  for (const opset of [11, 13]) {
    it(`opset ${opset}: decode(encode) runs bit for bit${opset === 11 ? "; the stored opset is what the rebuilt kernel reads (Softmax over C·H·W at 11)" : "; QDQ / QOperator of the decoded model equal the in-memory exports and onnxruntime (±1 quantum)"}`, async () => {
      const m = importModel(islandNet(opset)) as OnnxModule;
      manualSeed(4);
      const x = randn([4, 3, 4, 4]);
      const q = prepareQat(m, { qconfig: qconfigs.x86, example: x });
      calibrate(q, [{ x }, { x: randn([4, 3, 4, 4]) }], { batches: 2 });
      const { model: int8, report } = convertWithReport(q);
      expect(report.islands.map((i) => i.fn)).toEqual(["Softmax", "Resize", "ReduceMax"]);
      if (opset === 13) {
        const back = roundTrip(int8, x);
        if (!ort) return;
        for (const format of ["qdq", "qoperator"] as const) {
          const theirs = await runOrtWith(ort, exportInt8Model(back, { format }), x);
          expect(parity(theirs, back.run(x).data, back.value(back.graph.output).q.scale, 5).maxQuanta, format).toBeLessThanOrEqual(1);
        }
        return;
      }
      const back = Int8Model.decode(int8.encode());
      expect(qOut(back, x)).toEqual(qOut(int8, x));
      // the same node read at opset 13 is another function (softmax over C alone): the opset is stored and used
      const g = JSON.parse(JSON.stringify(int8.graph)) as Int8Graph;
      const softmax = g.nodes.find((n) => n.op === "float" && n.fn === "Softmax") as Extract<Int8Graph["nodes"][number], { op: "float" }>;
      expect((softmax.call!.args[0] as { opset: number }).opset).toBe(11);
      (softmax.call!.args[0] as { opset: number }).opset = 13;
      expect(qOut(new Int8Model(g, int8.tensors), x)).not.toEqual(qOut(int8, x));
    });
  }
});

describe("what a file cannot hold, and what the validator checks", () => {
  class RnnHead extends nn.Module {
    readonly rnn = this.registerModule("rnn", new nn.GRU(3, 4));
    readonly head = this.registerModule("head", new nn.Linear(4, 2));
    forward(x: Tensor): Tensor {
      return this.head.forward(this.rnn.forward(x));
    }
  }

  it("a module island with no stored form (nn.GRU) runs in memory; encode refuses it with a NotSupportedError naming it", () => {
    manualSeed(3);
    const x = randn([5, 2, 3]);
    const q = prepareQat(new RnnHead(), { qconfig: qconfigs.x86, example: x });
    noGrad(() => q.forward(x));
    const { model: int8, report } = convertWithReport(q);
    expect(report.islands.map((i) => i.fn)).toContain("GRU");
    expect(int8.run(x).shape).toEqual([5, 2, 2]);
    expect(() => int8.encode()).toThrow(NotSupportedError);
    expect(() => int8.encode()).toThrow(/module\.rnn#float' \(GRU\)/);
  });

  it("a stored ONNX node that is malformed is a FormatError naming the island, from the validator or at decode", () => {
    const p = new Pipeline(torchvisionDoc.models.shufflenet_v2);
    const int8 = p.int8();
    const bad = (edit: (g: Int8Graph) => void): Int8Graph => {
      const g = JSON.parse(JSON.stringify(int8.graph)) as Int8Graph;
      edit(g);
      return g;
    };
    const firstOnnx = (g: Int8Graph) => g.nodes.find((n) => n.op === "float" && n.call?.op === "onnx") as Extract<Int8Graph["nodes"][number], { op: "float" }>;
    const noSlots = bad((g) => delete (firstOnnx(g).call!.args[0] as { slots?: unknown }).slots);
    expect(() => validateInt8Graph(noSlots, int8.tensors)).toThrow(/call an ONNX op's call must start with \{ opType, attributes\[\], slots\[\] \}/);
    const unknownOp = bad((g) => Object.assign(firstOnnx(g).call!.args[0] as object, { opType: "NoSuchOp" }));
    expect(() => new Int8Model(unknownOp, int8.tensors)).toThrow(FormatError);
    expect(() => new Int8Model(unknownOp, int8.tensors)).toThrow(/stored ONNX op 'NoSuchOp' has no kernel/);
  });
});
