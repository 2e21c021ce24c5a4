/**
 * Quantized ONNX → Int8Model: our QDQ and QOperator exports of SmallCNN, ResNet-20 and
 * MobileNetV2 import back bit-exact (same nodes, weights, biases, multipliers, clamps and
 * quantized outputs); the QDQ file PyTorch 1.13 exports for a converted QAT model
 * (scripts/golden/onnx_qdq_torch.py) imports within ±1 quantum of onnxruntime; hand-built
 * MatMul patterns (QDQ MatMul + Add bias, QLinearMatMul with per-column scales) match
 * onnxruntime; unsupported patterns are NotSupportedErrors naming node and op type; mutated
 * quantized files raise only typed errors.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { resnet20 } from "../../src/nn/models/resnet.js";
import { mobilenetV2Small } from "../../src/nn/models/mobilenet.js";
import type { Module } from "../../src/nn/module.js";
import { tensor } from "../../src/tensor/creation.js";
import { NotSupportedError, QatError } from "../../src/tensor/errors.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { convert, qconfigs } from "../../src/quant/index.js";
import { Int8Model } from "../../src/int8/model.js";
import {
  DataType, attr, encodeModel, exportInt8Model, floatTensorProto, importModel, makeModel, makeNode, makeValueInfo, scalarTensorProto,
  tensorProto, type NodeProto, type TensorProto,
} from "../../src/onnx/index.js";
import { loadOrt, ortUnavailable } from "./helpers.js";
import { calibrated, fmtParity, parity, runOrtWith, sigmoidCnn, standaloneBnCnn, testImages } from "./quantized-helpers.js";

const ort = await loadOrt();
const itOrt = ort ? it : it.skip;
if (!ort) console.warn(`[quantized import tests] onnxruntime checks skipped: ${ortUnavailable}`);

const example = testImages(2);
const batch = testImages(12);

const MODELS: { name: string; make: () => Module; int8?: Int8Model; out?: Tensor }[] = [
  { name: "SmallCNN", make: () => smallCnn() },
  { name: "ResNet-20 (width 8)", make: () => resnet20({ width: 8 }) },
  { name: "MobileNetV2 (width 0.5)", make: () => mobilenetV2Small({ widthMult: 0.5 }) },
  { name: "CNN with a Sigmoid (table)", make: sigmoidCnn },
  { name: "CNN with a standalone BatchNorm2d", make: standaloneBnCnn },
];

beforeAll(() => {
  for (const m of MODELS) {
    m.int8 = convert(calibrated(m.make, qconfigs.x86), { example });
    m.out = m.int8.runQuantized(m.int8.quantizeInput(batch)).output;
  }
});

const importInt8 = (bytes: Uint8Array): Int8Model => {
  const m = importModel(bytes);
  expect(m).toBeInstanceOf(Int8Model);
  return m as Int8Model;
};

/** Everything run() depends on, by node: op, clamps, geometry, tensors by value. */
function semantics(m: Int8Model): unknown[] {
  return m.graph.nodes.map((n) => {
    const { name: _n, inputs: _i, output: _o, ...rest } = n as unknown as Record<string, unknown>;
    const tensors = Object.fromEntries(Object.entries(rest).filter(([, v]) => typeof v === "string" && m.tensors.has(v as string)).map(([k, v]) => [k, Array.from(m.tensors.get(v as string)!)]));
    const fields = Object.fromEntries(Object.entries(rest).filter(([k]) => !(k in tensors) && k !== "wScales" && k !== "weightBits"));
    return { ...fields, ...tensors, out: { ...m.value(n.output).q, qmin: 0, qmax: 0 } };
  });
}

describe("round trip: exportInt8Model → importModel is bit-exact", () => {
  for (const c of MODELS) {
    for (const format of ["qdq", "qoperator"] as const) {
      it(`${c.name} ${format}`, () => {
        const orig = c.int8!;
        const back = importInt8(exportInt8Model(orig, { format }));
        expect(back.graph.meta.format).toBe(format);
        expect(back.graph.input.q).toEqual(orig.graph.input.q);
        expect(semantics(back)).toEqual(semantics(orig));
        const b = back.runQuantized(back.quantizeInput(batch)).output;
        expect(b.shape).toEqual(c.out!.shape);
        expect(Array.from(b.data)).toEqual(Array.from(c.out!.data));
        expect(back.value(back.graph.output).q.scale).toBe(orig.value(orig.graph.output).q.scale);
      });
    }
  }

  it("the imported model saves, loads and inspects like a converted one", () => {
    const back = importInt8(exportInt8Model(MODELS[0].int8!, { format: "qdq" }));
    const again = Int8Model.decode(back.encode());
    expect(Array.from(again.run(batch).data)).toEqual(Array.from(back.run(batch).data));
    expect(back.inspect().map((l) => l.op)).toEqual(["conv2d", "maxpool2d", "conv2d", "maxpool2d", "flatten", "linear", "linear"]);
  });
});

interface Golden {
  torch_version: string;
  file: string;
  input: { shape: number[]; data: number[] };
  torch_output: { shape: number[]; data: number[] };
  output_scale: number;
}

describe("a QDQ file exported by PyTorch 1.13 (converted QAT model)", () => {
  const dir = join(import.meta.dirname, "..", "golden", "onnx");
  const doc = JSON.parse(readFileSync(join(dir, "qdq_torch.json"), "utf8")) as Golden;
  const bytes = new Uint8Array(readFileSync(join(dir, doc.file)));
  const x = tensor(Float32Array.from(doc.input.data), { shape: doc.input.shape });

  it("imports as an Int8Model with PyTorch's layers", () => {
    const m = importInt8(bytes);
    expect(m.graph.nodes.map((n) => n.op)).toEqual(["conv2d", "conv2d", "conv2d", "add", "requantize", "maxpool2d", "conv2d", "concat", "globalavgpool", "flatten", "linear"]);
    expect(m.value(m.graph.output).q.scale).toBe(Math.fround(doc.output_scale));
    expect(m.graph.input.shape).toEqual([-1, 1, 12, 12]);
  });

  itOrt(`matches onnxruntime within ±1 quantum (and PyTorch ${doc.torch_version}'s own kernels)`, async () => {
    const m = importInt8(bytes);
    const ours = m.run(x).data;
    const theirs = await runOrtWith(ort!, bytes, x);
    const vsOrt = parity(ours, theirs, doc.output_scale, 10);
    const vsTorch = parity(ours, doc.torch_output.data, doc.output_scale, 10);
    console.log(`[onnx import] PyTorch QDQ file vs onnxruntime: ${fmtParity(vsOrt)}; vs PyTorch (onednn): ${fmtParity(vsTorch)}`);
    expect(vsOrt.maxQuanta).toBeLessThanOrEqual(1);
    expect(vsTorch.maxQuanta).toBeLessThanOrEqual(2);
  });
});

/** A one-input, one-output model [N, K] float → [N, O] float from nodes and initializers. */
function tinyModel(nodes: NodeProto[], inits: TensorProto[], k: number, o: number, extraMs = false): Uint8Array {
  const graph = { name: "tiny", node: nodes, initializer: inits, input: [makeValueInfo("x", DataType.FLOAT, ["N", k])], output: [makeValueInfo("y", DataType.FLOAT, ["N", o])] };
  return encodeModel(makeModel(graph, { opset: 13, extraOpsets: extraMs ? [{ domain: "com.microsoft", version: 1 }] : [] }));
}

const W = new Int8Array([12, -100, 7, 55, 3, -8, -128, 90, 31, 0, 127, -64]); // [K = 4, O = 3]
// Inputs stay in [4, 124] (7 bits): onnxruntime's u8s8 kernels saturate beyond that on AVX2 without VNNI.
const qparamInits = (): TensorProto[] => [
  scalarTensorProto("xs", 0.05), scalarTensorProto("xz", 64, "uint8"), scalarTensorProto("ys", 0.07), scalarTensorProto("yz", 131, "uint8"),
  tensorProto("w", { dtype: "int8", shape: [4, 3], data: W }), floatTensorProto("ws", [0.011, 0.007, 0.013]),
  tensorProto("wz", { dtype: "int8", shape: [3], data: new Int8Array(3) }),
];
const xs = (): Tensor => tensor(Float32Array.from({ length: 40 }, (_, i) => Math.sin(i * 1.7) * 3), { shape: [10, 4] });

describe("MatMul patterns", () => {
  itOrt("QDQ MatMul with per-column weights and a float bias Add → linear, ±1 quantum of onnxruntime", async () => {
    const nodes = [
      makeNode("QuantizeLinear", ["x", "xs", "xz"], ["xq"]), makeNode("DequantizeLinear", ["xq", "xs", "xz"], ["xf"]),
      makeNode("DequantizeLinear", ["w", "ws", "wz"], ["wf"], { attributes: [attr.int("axis", 1)] }),
      makeNode("MatMul", ["xf", "wf"], ["mm"], { name: "fc" }), makeNode("Add", ["mm", "bias"], ["b"]), makeNode("Relu", ["b"], ["r"]),
      makeNode("QuantizeLinear", ["r", "ys", "yz"], ["yq"]), makeNode("DequantizeLinear", ["yq", "ys", "yz"], ["y"]),
    ];
    const bytes = tinyModel(nodes, [...qparamInits(), floatTensorProto("bias", [0.5, -0.25, 1.5])], 4, 3);
    const m = importInt8(bytes);
    expect(m.graph.nodes.map((n) => n.op)).toEqual(["linear"]);
    const p = parity(m.run(xs()).data, await runOrtWith(ort!, bytes, xs()), 0.07, 3);
    expect(p.maxQuanta).toBeLessThanOrEqual(1);
  });

  itOrt("QLinearMatMul (per-column b_scale) → linear, ±1 quantum of onnxruntime", async () => {
    const nodes = [
      makeNode("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
      makeNode("QLinearMatMul", ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["yq"], { name: "qmm" }),
      makeNode("DequantizeLinear", ["yq", "ys", "yz"], ["y"]),
    ];
    const bytes = tinyModel(nodes, qparamInits(), 4, 3);
    const m = importInt8(bytes);
    expect(m.graph.meta.format).toBe("qoperator");
    const p = parity(m.run(xs()).data, await runOrtWith(ort!, bytes, xs()), 0.07, 3);
    expect(p.maxQuanta).toBeLessThanOrEqual(1);
  });
});

describe("unsupported patterns and damaged files", () => {
  const wrap = (mid: NodeProto[], inits: TensorProto[] = []) => tinyModel([
    makeNode("QuantizeLinear", ["x", "xs", "xz"], ["xq"]), makeNode("DequantizeLinear", ["xq", "xs", "xz"], ["xf"]), ...mid,
    makeNode("QuantizeLinear", ["h", "ys", "yz"], ["yq"]), makeNode("DequantizeLinear", ["yq", "ys", "yz"], ["y"]),
  ], [...qparamInits(), ...inits], 4, 4);

  it("a float op between DequantizeLinear and QuantizeLinear becomes a float island that computes what onnxruntime computes", async () => {
    const bytes = wrap([makeNode("Sqrt", ["xf"], ["a"], { name: "root" }), makeNode("Neg", ["a"], ["h"], { name: "gate" })]);
    const m = importInt8(bytes);
    expect(m.floatIslands.map((i) => i.fn)).toEqual(["Neg"]); // the chain Sqrt → Neg is one island, named by its last op
    if (!ort) return;
    const x = new Tensor(Float32Array.from({ length: 12 }, (_, i) => (i % 5) * 0.3), [3, 4]);
    const p = parity(m.run(x).data, await runOrtWith(ort, bytes, x), 0.07, 3);
    expect(p.maxQuanta).toBeLessThanOrEqual(1);
  });

  it("an op neither pattern nor float kernel knows names the node, the op type and the supported ops", () => {
    const bytes = wrap([makeNode("Gate", ["xf"], ["h"], { name: "gate", domain: "com.example" })]);
    expect(() => importModel(bytes)).toThrow(NotSupportedError);
    expect(() => importModel(bytes)).toThrow(/Gate node 'gate'.*com\.example::Gate is not supported.*supported: QuantizeLinear/);
  });

  it("float weights (no DequantizeLinear), re-interpreting DequantizeLinear, float graph outputs", () => {
    const fw = wrap([makeNode("MatMul", ["xf", "wfloat"], ["h"], { name: "mm" })], [floatTensorProto("wfloat", new Array(16).fill(0.1), [4, 4])]);
    expect(() => importModel(fw)).toThrow(/MatMul node 'mm'.*weight must be a DequantizeLinear of an INT8 constant/);
    const reinterpret = tinyModel([
      makeNode("QuantizeLinear", ["x", "xs", "xz"], ["xq"]), makeNode("DequantizeLinear", ["xq", "ys", "yz"], ["y"], { name: "dq" }),
    ], qparamInits(), 4, 4);
    expect(() => importModel(reinterpret)).toThrow(/DequantizeLinear node 'dq' dequantizes 'xq' with parameters/);
    const floatOut = tinyModel([
      makeNode("QuantizeLinear", ["x", "xs", "xz"], ["xq"]), makeNode("DequantizeLinear", ["xq", "xs", "xz"], ["xf"]), makeNode("Relu", ["xf"], ["y"]),
    ], qparamInits(), 4, 4);
    expect(() => importModel(floatOut)).toThrow(/graph output 'y' is computed in float/);
  });

  it("bit flips and truncations of quantized files raise typed errors only", () => {
    const bases = [exportInt8Model(MODELS[0].int8!, { format: "qdq" }), exportInt8Model(MODELS[0].int8!, { format: "qoperator" })];
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 120; i++) {
      const base = bases[i % 2];
      let bytes = Uint8Array.from(base);
      if (i % 3 === 0) bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
      else for (let f = 0; f < 1 + (i % 4); f++) bytes[Math.floor(rand() * bytes.length)] ^= 1 << Math.floor(rand() * 8);
      let outcome = "ok";
      try {
        const m = importModel(bytes);
        if (m instanceof Int8Model) m.run(example);
      } catch (e) {
        if (!(e instanceof QatError)) throw new Error(`iteration ${i}: ${(e as Error).constructor.name}: ${(e as Error).message}`);
        outcome = e.constructor.name;
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
    console.log("[onnx quantized fuzz] outcomes:", JSON.stringify(outcomes));
  });
});
