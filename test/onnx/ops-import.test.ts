/**
 * Float import of the generic ONNX ops of issue #14 (src/onnx/onnx-ops-math.ts, -reduce.ts,
 * -shape.ts): for each op a tiny ONNX model built with protobuf, imported, and compared with
 * onnxruntime-node on the same bytes (float outputs within 1e-5 relative, integer / bool
 * outputs exactly). Then gradients: a backward of Σ w·y through the imported module is checked
 * against a central difference along a random direction (so a wrong or missing vjp fails), and
 * parameters (float initializers: PRelu slopes, Pow exponents) receive finite gradients. Single-input models
 * are also exported again and rerun in onnxruntime. Ops without a gradient (rounding, sign,
 * comparisons, argmax) are checked to produce outputs that do not require grad.
 */
import { describe, expect, it } from "vitest";
import { manualSeed } from "../../src/tensor/random.js";
import { randn, tensor } from "../../src/tensor/creation.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { cast } from "../../src/ops/layout.js";
import { mul } from "../../src/ops/binary.js";
import { sum } from "../../src/ops/reduce.js";
import {
  DataType, attr, encodeModel, exportModel, floatTensorProto, importFloatModel, importModel, int64TensorProto, makeModel, makeNode, makeValueInfo,
  type OnnxModule,
} from "../../src/onnx/index.js";
import { AttrType, type NodeProto, type TensorProto } from "../../src/onnx/proto.js";
import { erfScalar } from "../../src/onnx/onnx-ops-math.js";
import { loadOrt, ortUnavailable } from "./helpers.js";

const ort = await loadOrt();
const itOrt = ort ? it : it.skip;
if (!ort) console.warn(`[ops-import] onnxruntime comparisons skipped: ${ortUnavailable}`);

interface InputSpec {
  name: string;
  shape: number[];
  /** Explicit values; default N(0, 1) (made positive + 0.5 when `positive`). */
  data?: number[];
  positive?: boolean;
}

interface OutputSpec {
  name: string;
  type?: "float" | "int64" | "bool";
}

interface Case {
  title: string;
  nodes: NodeProto[];
  inputs: InputSpec[];
  inits?: TensorProto[];
  outputs?: OutputSpec[];
  opset?: number;
  /** false: the op has no gradient (the output must not require grad). */
  grad?: boolean;
  /** Every float initializer must receive a gradient. */
  trainsParams?: boolean;
  /** The imported module must have no parameters (its float initializers are settings). */
  noParams?: boolean;
}

const INT64_MAX = 2 ** 63 - 1;
const X = (shape: number[] = [2, 3, 4], more: Partial<InputSpec> = {}): InputSpec => ({ name: "x", shape, ...more });
const Z = (shape: number[] = [2, 3, 4], more: Partial<InputSpec> = {}): InputSpec => ({ name: "z", shape, ...more });
const node = (op: string, inputs: string[], outputs = ["y"], attributes: ReturnType<typeof attr.int>[] = []) => makeNode(op, inputs, outputs, { name: `${op.toLowerCase()}_0`, attributes });
/** An INT64 initializer; ±INT64_MAX (not a safe integer) is written exactly through BigInt. */
function i64(name: string, values: number[], dims: number[] = [values.length]): TensorProto {
  if (values.every(Number.isSafeInteger)) return int64TensorProto(name, values, dims);
  const raw = new Uint8Array(8 * values.length);
  const view = new DataView(raw.buffer);
  values.forEach((v, k) => view.setBigInt64(8 * k, Math.abs(v) === INT64_MAX ? BigInt.asIntN(64, (v > 0 ? 1n : -1n) * (2n ** 63n - 1n)) : BigInt(v), true));
  return { name, dims, dataType: DataType.INT64, rawData: raw };
}
const unaryCase = (op: string, more: Partial<Case> = {}, attributes: ReturnType<typeof attr.int>[] = []): Case => ({ title: op, nodes: [node(op, ["x"], ["y"], attributes)], inputs: [X()], ...more });

const CASES: Case[] = [
  unaryCase("LeakyRelu", { title: "LeakyRelu (default alpha 0.01)" }),
  unaryCase("LeakyRelu", { title: "LeakyRelu alpha 0.2" }, [attr.float("alpha", 0.2)]),
  { title: "PRelu with a [3, 1] slope (trainable)", nodes: [node("PRelu", ["x", "prelu.weight"])], inputs: [X()], trainsParams: true, inits: [floatTensorProto("prelu.weight", [0.1, -0.3, 0.25], [3, 1])] },
  unaryCase("Elu", { title: "Elu alpha 0.7" }, [attr.float("alpha", 0.7)]),
  unaryCase("Selu"),
  unaryCase("Softplus", { inputs: [X([2, 3, 4], { data: [...Array(24).keys()].map((k) => (k - 12) * 3.1) })] }),
  unaryCase("Softsign"),
  unaryCase("ThresholdedRelu", { title: "ThresholdedRelu alpha 0.5" }, [attr.float("alpha", 0.5)]),
  unaryCase("Tanh"),
  unaryCase("Exp"),
  unaryCase("Log", { inputs: [X([2, 3, 4], { positive: true })] }),
  unaryCase("Sqrt", { inputs: [X([2, 3, 4], { positive: true })] }),
  unaryCase("Reciprocal", { inputs: [X([2, 3, 4], { positive: true })] }),
  unaryCase("Erf", { inputs: [X([2, 3, 4], { data: [...Array(24).keys()].map((k) => (k - 12) * 0.37) })] }),
  { title: "Pow by a scalar initializer 2 (negative bases)", noParams: true, nodes: [node("Pow", ["x", "e"])], inputs: [X()], inits: [floatTensorProto("e", [2], [])] },
  { title: "Pow by a broadcast [4] exponent (a constant, not trained)", nodes: [node("Pow", ["x", "pow.weight"])], inputs: [X([2, 3, 4], { positive: true })], noParams: true, inits: [floatTensorProto("pow.weight", [0.5, 1.5, -1, 3], [4])] },
  { title: "Pow by an int64 exponent 3", nodes: [node("Pow", ["x", "e"])], inputs: [X()], inits: [i64("e", [3], [])] },
  {
    title: "Pow of an int64 base (Cast) by a float exponent, cast back to float", grad: false,
    nodes: [makeNode("Cast", ["x"], ["xi"], { attributes: [attr.int("to", DataType.INT64)] }), node("Pow", ["xi", "e"], ["p"]), makeNode("Cast", ["p"], ["y"], { attributes: [attr.int("to", DataType.FLOAT)] })],
    inputs: [X([6], { data: [0, 1, 2, 3, 4, 7] })], inits: [floatTensorProto("e", [1.5], [])], // a negative base would give NaN, whose int64 cast is undefined
  },
  { title: "Pow of two computed tensors", nodes: [node("Pow", ["x", "z"])], inputs: [X([2, 3, 4], { positive: true }), Z([3, 4])] },
  unaryCase("Abs"),
  unaryCase("Neg"),
  unaryCase("Sign", { grad: false, inputs: [X([5], { data: [-2, -0, 0, 0.5, 3] })] }),
  unaryCase("Floor", { grad: false }),
  unaryCase("Ceil", { grad: false }),
  unaryCase("Round", { title: "Round (half to even)", grad: false, inputs: [X([8], { data: [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -3.51] })] }),
  { title: "Max of three (broadcast, a constant)", nodes: [node("Max", ["x", "z", "c"])], inputs: [X(), Z([3, 4])], inits: [floatTensorProto("c", [0.1], [1])] },
  { title: "Min of two", nodes: [node("Min", ["x", "z"])], inputs: [X(), Z([4])] },
  { title: "Sum of three", nodes: [node("Sum", ["x", "z", "x"])], inputs: [X(), Z([1, 4])] },
  { title: "Mean of two", nodes: [node("Mean", ["x", "z"])], inputs: [X(), Z()] },
  { title: "Mean of one", nodes: [node("Mean", ["x"])], inputs: [X()] },
  { title: "ReduceMean axes [1] (attribute, opset 13)", nodes: [node("ReduceMean", ["x"], ["y"], [attr.ints("axes", [1])])], inputs: [X()] },
  { title: "ReduceMean axes [-1] keepdims 0 (input, opset 18)", opset: 18, nodes: [node("ReduceMean", ["x", "ax"], ["y"], [attr.int("keepdims", 0)])], inputs: [X()], inits: [i64("ax", [-1])] },
  { title: "ReduceMean over every axis (no axes)", nodes: [node("ReduceMean", ["x"])], inputs: [X()] },
  { title: "ReduceSum axes [0, 2] (input, opset 13)", nodes: [node("ReduceSum", ["x", "ax"])], inputs: [X()], inits: [i64("ax", [0, 2])] },
  { title: "ReduceSum axes [1] keepdims 0 (attribute, opset 11)", opset: 11, nodes: [node("ReduceSum", ["x"], ["y"], [attr.ints("axes", [1]), attr.int("keepdims", 0)])], inputs: [X()] },
  { title: "ReduceSum noop_with_empty_axes", nodes: [node("ReduceSum", ["x"], ["y"], [attr.int("noop_with_empty_axes", 1)])], inputs: [X()] },
  { title: "ReduceMax axes [0, 2]", nodes: [node("ReduceMax", ["x"], ["y"], [attr.ints("axes", [0, 2])])], inputs: [X()] },
  { title: "ReduceMin axes [-2] keepdims 0", nodes: [node("ReduceMin", ["x"], ["y"], [attr.ints("axes", [-2]), attr.int("keepdims", 0)])], inputs: [X()] },
  { title: "ReduceMax axes [1] (input, opset 18)", opset: 18, nodes: [node("ReduceMax", ["x", "ax"])], inputs: [X()], inits: [i64("ax", [1])] },
  { title: "ReduceSumSquare axes [2]", nodes: [node("ReduceSumSquare", ["x"], ["y"], [attr.ints("axes", [2])])], inputs: [X()] },
  { title: "ReduceL1 axes [2]", nodes: [node("ReduceL1", ["x"], ["y"], [attr.ints("axes", [2])])], inputs: [X()] },
  { title: "ReduceL2 axes [2]", nodes: [node("ReduceL2", ["x"], ["y"], [attr.ints("axes", [2])])], inputs: [X()] },
  { title: "ReduceLogSumExp axes [1]", nodes: [node("ReduceLogSumExp", ["x"], ["y"], [attr.ints("axes", [1])])], inputs: [X([2, 3, 4], { data: [...Array(24).keys()].map((k) => k * 7 - 50) })] },
  { title: "ArgMax axis 1 keepdims 0", grad: false, outputs: [{ name: "y", type: "int64" }], nodes: [node("ArgMax", ["x"], ["y"], [attr.int("axis", 1), attr.int("keepdims", 0)])], inputs: [X()] },
  { title: "ArgMax select_last_index on ties", grad: false, outputs: [{ name: "y", type: "int64" }], nodes: [node("ArgMax", ["x"], ["y"], [attr.int("axis", -1), attr.int("select_last_index", 1)])], inputs: [X([2, 4], { data: [1, 3, 3, 0, 2, 2, 2, 2] })] },
  { title: "ArgMin (default axis 0, first on ties)", grad: false, outputs: [{ name: "y", type: "int64" }], nodes: [node("ArgMin", ["x"])], inputs: [X([2, 4], { data: [1, 3, 3, 0, 1, 2, 5, -1] })] },
  { title: "LogSoftmax axis -1 (opset 13)", nodes: [node("LogSoftmax", ["x"])], inputs: [X()] },
  { title: "LogSoftmax axis 1 (opset 11: coerced to 2-D)", opset: 11, nodes: [node("LogSoftmax", ["x"], ["y"], [attr.int("axis", 1)])], inputs: [X()] },
  { title: "GlobalMaxPool", nodes: [node("GlobalMaxPool", ["x"])], inputs: [X([2, 3, 4, 5])] },
  {
    title: "Slice: negative and out-of-range starts/ends, INT64_MAX end, axes, steps (opset 13)",
    nodes: [node("Slice", ["x", "s", "e", "a", "st"])], inputs: [X([3, 5, 6])],
    inits: [i64("s", [-4, 1, -100]), i64("e", [INT64_MAX, 100, 5]), i64("a", [1, 0, -1]), i64("st", [1, 1, 2])],
  },
  { title: "Slice with negative steps", nodes: [node("Slice", ["x", "s", "e", "a", "st"])], inputs: [X([3, 5, 6])], inits: [i64("s", [-1, 4]), i64("e", [-INT64_MAX, 0]), i64("a", [2, 1]), i64("st", [-2, -1])] },
  { title: "Slice without axes and steps, empty result on one axis", nodes: [node("Slice", ["x", "s", "e"])], inputs: [X([3, 5])], inits: [i64("s", [1, 3]), i64("e", [3, 3])] },
  { title: "Slice (opset 9 attributes)", opset: 9, nodes: [node("Slice", ["x"], ["y"], [attr.ints("starts", [1, -3]), attr.ints("ends", [3, 1000]), attr.ints("axes", [0, 2])])], inputs: [X([3, 5, 6])] },
  {
    title: "Slice (opset 9 attributes) with INT64_MAX ends",
    opset: 9,
    nodes: [node("Slice", ["x"], ["y"], [attr.ints("starts", [1, -3]), { name: "ends", type: AttrType.INTS, ints: ["9223372036854775807", "-9223372036854775807"] as unknown as number[] }, attr.ints("axes", [0, 2])])],
    inputs: [X([3, 5, 6])],
  },
  {
    title: "Slice with ends computed at run time (Shape → Gather → Div, as torch.chunk exports)",
    nodes: [
      node("Shape", ["x"], ["sh"]), node("Gather", ["sh", "one"], ["c"]), node("Div", ["c", "two"], ["half"]), node("Unsqueeze", ["half", "zero"], ["e"]),
      node("Slice", ["x", "s", "e", "a"]),
    ],
    inputs: [X([2, 6, 3])], inits: [i64("one", [1], []), i64("two", [2], []), i64("zero", [0]), i64("s", [0]), i64("a", [1])],
  },
  { title: "Split by sizes [1, 2] (input, opset 13), both outputs", outputs: [{ name: "y0" }, { name: "y1" }], nodes: [node("Split", ["x", "sp"], ["y0", "y1"], [attr.int("axis", 1)])], inputs: [X()], inits: [i64("sp", [1, 2])] },
  { title: "Split in equal parts (opset 11 attribute form, axis -1), middle output only", outputs: [{ name: "y1" }], nodes: [node("Split", ["x"], ["y0", "y1", "y2"], [attr.int("axis", -1)])], inputs: [X([2, 3, 6])] },
  { title: "Split by 'split' attribute (opset 11)", opset: 11, outputs: [{ name: "y0" }, { name: "y1" }], nodes: [node("Split", ["x"], ["y0", "y1"], [attr.int("axis", 2), attr.ints("split", [3, 1])])], inputs: [X()] },
  { title: "Split num_outputs 3 of 5 (opset 18: 2, 2, 1)", opset: 18, outputs: [{ name: "y0" }, { name: "y2" }], nodes: [node("Split", ["x"], ["y0", "y1", "y2"], [attr.int("axis", 1), attr.int("num_outputs", 3)])], inputs: [X([2, 5])] },
  { title: "Expand [3, 1] to [2, 3, 4]", nodes: [node("Expand", ["x", "sh"])], inputs: [X([3, 1])], inits: [i64("sh", [2, 1, 4])] },
  { title: "Expand to a smaller shape (bidirectional broadcast)", nodes: [node("Expand", ["x", "sh"])], inputs: [X([2, 3, 4])], inits: [i64("sh", [3, 1])] },
  { title: "Tile [2, 1, 3]", nodes: [node("Tile", ["x", "r"])], inputs: [X()], inits: [i64("r", [2, 1, 3])] },
  { title: "Where(Greater(x, z), x, z)", nodes: [node("Greater", ["x", "z"], ["c"]), node("Where", ["c", "x", "z"])], inputs: [X(), Z([4])] },
  ...(["Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"] as const).map((op): Case => ({
    title: `${op} (with ties)`, grad: false, outputs: [{ name: "y", type: "bool" }], nodes: [node(op, ["x", "z"])],
    inputs: [X([2, 3], { data: [1, 2, 3, -1, 0, 5] }), Z([3], { data: [1, 0, 3] })],
  })),
  ...(["And", "Or", "Xor"] as const).map((op): Case => ({
    title: `${op} of two masks`, grad: false, outputs: [{ name: "y", type: "bool" }],
    nodes: [node("Greater", ["x", "zero"], ["a"]), node("Less", ["z", "zero"], ["b"]), node(op, ["a", "b"])], inputs: [X([3, 4]), Z([4])], inits: [floatTensorProto("zero", [0], [])],
  })),
  { title: "Not", grad: false, outputs: [{ name: "y", type: "bool" }], nodes: [node("Greater", ["x", "zero"], ["a"]), node("Not", ["a"])], inputs: [X()], inits: [floatTensorProto("zero", [0], [])] },
  {
    title: "Range with a limit from the input's shape (int64)", grad: false, outputs: [{ name: "y", type: "int64" }],
    nodes: [node("Shape", ["x"], ["sh"]), node("Gather", ["sh", "two"], ["lim"]), node("Range", ["one", "lim", "d"])], inputs: [X([2, 3, 7])], inits: [i64("two", [2], []), i64("one", [1], []), i64("d", [2], [])],
  },
  { title: "Range of float initializers (folded at import) added to x", noParams: true, nodes: [node("Range", ["s", "l", "d"], ["r"]), node("Add", ["x", "r"])], inputs: [X([2, 4])], inits: [floatTensorProto("s", [0.5], []), floatTensorProto("l", [3.2], []), floatTensorProto("d", [0.7], [])] },
  {
    title: "ConstantOfShape(Shape(x)) with value 2.5, times x",
    nodes: [node("Shape", ["x"], ["sh"]), makeNode("ConstantOfShape", ["sh"], ["k"], { attributes: [attr.tensor("value", floatTensorProto("", [2.5], [1]))] }), node("Mul", ["x", "k"])], inputs: [X()],
  },
];

function elemType(o: OutputSpec): number {
  return o.type === "int64" ? DataType.INT64 : o.type === "bool" ? DataType.BOOL : DataType.FLOAT;
}

function modelBytes(c: Case): Uint8Array {
  const outputs = c.outputs ?? [{ name: "y" }];
  return encodeModel(makeModel({
    name: "ops", node: c.nodes, initializer: c.inits ?? [],
    input: c.inputs.map((i) => makeValueInfo(i.name, DataType.FLOAT, i.shape)),
    output: outputs.map((o) => ({ name: o.name, type: { tensorType: { elemType: elemType(o) } } })),
  }, { opset: c.opset ?? 13 }));
}

function inputTensors(c: Case, seed: number): Tensor[] {
  manualSeed(seed);
  return c.inputs.map((spec) => {
    if (spec.data) return tensor(Float32Array.from(spec.data), { shape: spec.shape });
    const t = randn(spec.shape);
    if (spec.positive) for (let k = 0; k < t.size; k++) t.data[k] = Math.abs(t.data[k]) + 0.5;
    return t;
  });
}

async function runOrtAll(bytes: Uint8Array, xs: Tensor[], names: string[]): Promise<{ data: number[]; dims: number[] }[]> {
  const session = await ort!.InferenceSession.create(bytes);
  try {
    const feeds = Object.fromEntries(session.inputNames.map((n, k) => [n, new ort!.Tensor("float32", xs[k].toFloat32Array(), [...xs[k].shape])]));
    const out = await session.run(feeds);
    return names.map((n) => ({ data: Array.from(out[n].data as ArrayLike<number | bigint>, Number), dims: [...out[n].dims] }));
  } finally {
    await session.release();
  }
}

function expectMatches(ours: Tensor, theirs: { data: number[]; dims: number[] }, what: string): void {
  expect([...ours.shape], `${what} shape`).toEqual(theirs.dims);
  const a = ours.toList().flat(Infinity as 1) as number[];
  const isFloat = ours.dtype === "float32" || ours.dtype === "float64";
  for (let k = 0; k < a.length; k++) {
    const [u, v] = [a[k], theirs.data[k]];
    const ok = isFloat ? (Number.isNaN(v) ? Number.isNaN(u) : Math.abs(u - v) <= 1e-5 * (1 + Math.abs(v))) : u === v;
    if (!ok) throw new Error(`${what} element ${k}: ours ${u}, onnxruntime ${v}`);
  }
}

/** Σ w·y over every output. */
function weightedLoss(ys: Tensor[], ws: Tensor[]): Tensor {
  return ys.map((y, k) => sum(mul(cast(y, ws[k].dtype), ws[k]))).reduce((a, b) => a.add(b));
}

/**
 * Backward of Σ w·y, then ∇L·v against (L(x + hv) − L(x − hv)) / 2h along a random v. In float64
 * (h 1e-5, tolerance 1e-5) unless the model has float32 parameters, which the tape does not mix
 * with float64 gradients (then float32, h 1e-2, tolerance 1e-2).
 */
function checkGradients(m: OnnxModule, xs: Tensor[], c: Case): void {
  const params = m.parameters();
  const dtype = params.length > 0 ? "float32" : "float64";
  const [h, tol] = dtype === "float64" ? [1e-5, 1e-5] : [1e-2, 1e-2];
  const xd = xs.map((x) => cast(x, dtype).detach());
  for (const x of xd) x.requiresGrad = true;
  const ys = m.forwardAll(...xd);
  manualSeed(99);
  const ws = ys.map((y) => cast(randn([...y.shape]), dtype));
  weightedLoss(ys, ws).backward();
  if (c.noParams) expect(params.map((p) => [...p.shape]), `${c.title}: parameters`).toEqual([]);
  if (c.trainsParams) expect(params.every((p) => p.grad !== null), `${c.title}: every parameter gets a gradient`).toBe(true);
  for (const p of params) if (p.grad) expect(p.grad.toList().flat(Infinity as 1).every(Number.isFinite), `${c.title}: finite parameter gradient`).toBe(true);
  const dirs = xd.map((x) => cast(randn([...x.shape]), dtype));
  let analytic = 0;
  xd.forEach((x, k) => {
    expect(x.grad, `${c.title}: input ${k} gradient`).toBeTruthy();
    for (let j = 0; j < x.size; j++) analytic += x.grad!.data[j] * dirs[k].data[j];
  });
  const at = (sgn: number) => noGrad(() => weightedLoss(m.forwardAll(...xd.map((x, k) => x.detach().add(mul(dirs[k], sgn * h)))), ws).item());
  const numeric = (at(1) - at(-1)) / (2 * h);
  expect(Math.abs(analytic - numeric), `${c.title}: ∇L·v ${analytic} vs central difference ${numeric}`).toBeLessThanOrEqual(tol * (1 + Math.abs(numeric)));
}

describe("ONNX generic ops: float import ≡ onnxruntime, gradients flow", () => {
  CASES.forEach((c, n) => {
    const outputs = (c.outputs ?? [{ name: "y" }]).map((o) => o.name);
    itOrt(`${c.title}: forward equals onnxruntime`, async () => {
      const bytes = modelBytes(c);
      const xs = inputTensors(c, 100 + n);
      const m = importFloatModel(bytes);
      const ours = noGrad(() => m.forwardAll(...xs));
      const theirs = await runOrtAll(bytes, xs, outputs);
      ours.forEach((y, k) => expectMatches(y, theirs[k], `${c.title} output ${outputs[k]}`));
      // Float export starts at opset 11.
      if (c.inputs.length === 1 && outputs.length === 1 && ours[0].dtype === "float32" && (c.opset ?? 13) >= 11) {
        // Kept nodes are re-emitted verbatim, so export at the opset the file was imported with.
        const again = exportModel(m, { example: xs[0], dynamicBatch: false, opset: c.opset ?? 13 });
        const [back] = await runOrtAll(again, xs, [(await ort!.InferenceSession.create(again)).outputNames[0]]);
        expectMatches(ours[0], back, `${c.title} re-exported`);
      }
    });
    it(`${c.title}: ${c.grad === false ? "no gradient (output does not require grad)" : "gradient equals a central difference"}`, () => {
      const m = importFloatModel(modelBytes(c));
      const xs = inputTensors(c, 100 + n);
      if (c.grad === false) {
        const x = xs.map((t) => t.detach());
        for (const t of x) t.requiresGrad = true;
        for (const y of m.forwardAll(...x)) expect(y.requiresGrad).toBe(false);
        return;
      }
      checkGradients(m, xs, c);
    });
  });
});

describe("erf", () => {
  it("matches reference values of erf to 1e-12 (A&S table 7.1 and the tails)", () => {
    const table: [number, number][] = [
      [0, 0], [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [1.5, 0.9661051464753108],
      [2, 0.9953222650189527], [2.9, 0.9999589021219005], [3, 0.9999779095030014], [3.5, 0.9999992569016276], [4.5, 0.9999999998033839], [6.5, 1],
    ];
    for (const [x, want] of table) {
      expect(Math.abs(erfScalar(x) - want), `erf(${x})`).toBeLessThanOrEqual(1e-12);
      expect(erfScalar(-x)).toBe(x === 0 ? 0 : -erfScalar(x));
    }
    expect(Number.isNaN(erfScalar(Number.NaN))).toBe(true);
  });
});

describe("bad input", () => {
  const run = (c: Case, xs = inputTensors(c, 1)) => importFloatModel(modelBytes(c)).forwardAll(...xs);
  it("Slice with a zero step, Split sizes that do not add up, Tile with the wrong rank: typed errors naming the node", () => {
    expect(() => run({ title: "", nodes: [node("Slice", ["x", "s", "e", "a", "st"])], inputs: [X([3])], inits: [i64("s", [0]), i64("e", [2]), i64("a", [0]), i64("st", [0])] })).toThrow(/Slice node 'slice_0'.*step of 0/);
    expect(() => run({ title: "", outputs: [{ name: "y0" }], nodes: [node("Split", ["x", "sp"], ["y0", "y1"], [attr.int("axis", 1)])], inputs: [X()], inits: [i64("sp", [1, 1])] })).toThrow(/Split node 'split_0'.*do not add up/);
    expect(() => run({ title: "", nodes: [node("Tile", ["x", "r"])], inputs: [X()], inits: [i64("r", [2, 2])] })).toThrow(/Tile node 'tile_0'.*repeats/);
  });
  it("Split between DequantizeLinear and QuantizeLinear (quantized import): one slice node per used output", () => {
    const bytes = encodeModel(makeModel({
      name: "q", initializer: [floatTensorProto("s", [0.05], []), i64("sp", [2, 2])],
      node: [node("QuantizeLinear", ["x", "s"], ["q"]), node("DequantizeLinear", ["q", "s"], ["d"]), node("Split", ["d", "sp"], ["a", "b"], [attr.int("axis", 1)]), node("QuantizeLinear", ["a", "s"], ["qa"]), node("DequantizeLinear", ["qa", "s"], ["y"])],
      input: [makeValueInfo("x", DataType.FLOAT, [1, 4])], output: [makeValueInfo("y", DataType.FLOAT, [1, 2])],
    }, { opset: 13 }));
    // since issue 14's integer layout nodes: each used output is a slice on the input grid (test/onnx/integer-ops.test.ts)
    const m = importModel(bytes) as unknown as { graph: { nodes: { op: string; start?: number; end?: number }[] } };
    expect(m.graph.nodes.map((n) => [n.op, n.start, n.end])).toEqual([["slice", 0, 2]]);
  });
  it("an imported node is not re-exported at an opset where its form changed (ReduceSum axes: attribute ≤ 12, input ≥ 13)", () => {
    const c: Case = { title: "", opset: 11, nodes: [node("ReduceSum", ["x"], ["y"], [attr.ints("axes", [1])])], inputs: [X()] };
    const m = importFloatModel(modelBytes(c));
    const [x] = inputTensors(c, 1);
    expect(() => exportModel(m, { example: x, opset: 13 })).toThrow(/'reducesum_0' is a ReduceSum node imported at opset 11, whose form changed at opset 13; export at opset 11/);
    expect(() => exportModel(m, { example: x, opset: 12 })).not.toThrow();
  });
  it("float-only ops refuse integer tensors by name", () => {
    const c: Case = { title: "", nodes: [node("Shape", ["x"], ["s"]), node("Sqrt", ["s"], ["y"])], inputs: [X()], outputs: [{ name: "y", type: "int64" }] };
    expect(() => run(c)).toThrow(/Sqrt node 'sqrt_0'.*int32/);
  });
});
