/**
 * Semantic validation of an Int8Model graph and its tensor table, before anything runs:
 * value declarations (ids, shapes, quantization parameters), every node's attributes
 * (strides, dilations, kernels ≥ 1; paddings ≥ 0 and bounded; clamps ordered and inside the
 * dtype; fixed-point multipliers M0 ∈ [2^30, 2^31 − 1] with shift ∈ [−31, 30], or exactly
 * (0, 0), as fixed-point.ts quantizeMultiplier writes them), tensor references (present, of
 * the right dtype and length), input ranks and the shapes each node produces (checked
 * against the declared ones; −1 is an unknown dim, e.g. the batch).
 * One rule per op in RULES, so a new node kind is one entry (and a compile error until it
 * has one); an unknown op is a FormatError listing the known ones.
 * Called by Int8Model.decode (every loaded file) and usable on in-memory graphs by anyone.
 */
import { FormatError } from "../tensor/errors.js";
import { type Int8Graph, type Int8Node, LUT_FUNCTIONS, type ValueInfo } from "./graph.js";
import { MAX_RANK, type NodeOf, type Op, type Rule, type RuleContext, type Shape, broadcast, clampOf, dtypeRange, fmt, intPair, isInt, isMultiplier, multiplierPair, rankOf, sameDType, windowOut } from "./validate-helpers.js";
import { dynamicLinear, dynamicRnn, linearNBits } from "./validate-dynamic.js";
import { layerNormIntRule, softmaxIntRule } from "./integer-nodes.js";
import { expandRule, maximumRule, minimumRule, meanRule, padRule, resizeRule } from "./validate-layout.js";

/** The tensor table of an Int8Model: key → int8 weights or int32 biases/multipliers/tables. */
export type Int8TensorTable = ReadonlyMap<string, Int8Array | Int32Array>;

/** Checks conv / linear requantization tensors, bias, weight zero points and scales for `oc` channels. */
function weightLayer(c: RuleContext<NodeOf<"conv2d"> | NodeOf<"linear">>, wRank: number): number[] {
  const n = c.node;
  if (!Array.isArray(n.wShape) || n.wShape.length !== wRank || !n.wShape.every((d) => isInt(d) && d >= 1)) {
    c.fail("wShape", `must be ${wRank} positive integers, got ${fmt(n.wShape)}`);
  }
  const oc = n.wShape[0];
  const count = n.wShape.reduce((a, b) => a * b, 1);
  c.tensor("weight", n.weight, "int8", count);
  if (n.bias !== null) c.tensor("bias", n.bias, "int32", oc);
  if (n.requant === null || typeof n.requant !== "object") c.fail("requant", `must be {multiplier, shift}, got ${fmt(n.requant)}`);
  const m = c.tensor("requant.multiplier", n.requant.multiplier, "int32");
  const s = c.tensor("requant.shift", n.requant.shift, "int32");
  if ((m.length !== oc && m.length !== 1) || s.length !== m.length) {
    c.fail("requant", `needs ${oc} (or 1) multipliers and as many shifts, got ${m.length} and ${s.length}`);
  }
  for (let i = 0; i < m.length; i++) {
    if (!isMultiplier(m[i], s[i])) c.fail("requant", `channel ${i}: M0 ${m[i]}, shift ${s[i]} is not M0 ∈ [2^30, 2^31 − 1] with shift ∈ [−31, 30] (or 0, 0)`);
  }
  if (n.wZeroPoints !== undefined) {
    const z = c.tensor("wZeroPoints", n.wZeroPoints, "int32", oc);
    if (z.some((v) => v < -128 || v > 127)) c.fail("wZeroPoints", "must lie in the int8 range [−128, 127]");
  }
  if (!Array.isArray(n.wScales) || (n.wScales.length !== oc && n.wScales.length !== 1) || !n.wScales.every((v) => typeof v === "number" && Number.isFinite(v) && v > 0)) {
    c.fail("wScales", `must be ${oc} (or 1) positive finite numbers`);
  }
  if (!isInt(n.weightBits) || n.weightBits < 2 || n.weightBits > 8) c.fail("weightBits", `must be an integer in [2, 8], got ${fmt(n.weightBits)}`);
  clampOf(c, n.clamp);
  return n.wShape;
}

const conv2d: Rule<"conv2d"> = (c) => {
  const n = c.node;
  const [oc, cg, kh, kw] = weightLayer(c, 4);
  const [stride, dilation] = [intPair(c, "stride", n.stride, 1), intPair(c, "dilation", n.dilation, 1)];
  // Padding beyond the dilated kernel's extent only adds outputs that read nothing but padding.
  const padding = intPair(c, "padding", n.padding, 0);
  const [eh, ew] = [dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1];
  if (padding[0] > eh || padding[1] > ew) c.fail("padding", `${fmt(n.padding)} exceeds the dilated kernel extent [${eh}, ${ew}]`);
  if (!isInt(n.groups) || n.groups < 1 || oc % n.groups !== 0) c.fail("groups", `must be a positive integer dividing ${oc} output channels, got ${fmt(n.groups)}`);
  const [b, ch, h, w] = rankOf(c, 0, 4, "conv2d (NCHW)");
  if (ch >= 0 && ch !== n.groups * cg) c.fail("wShape", `[${n.wShape.join(", ")}] with groups ${n.groups} needs ${n.groups * cg} input channels, the input has ${ch}`);
  const oh = windowOut(c, h, kh, stride[0], padding[0], dilation[0], false);
  const ow = windowOut(c, w, kw, stride[1], padding[1], dilation[1], false);
  return [b, oc, oh, ow];
};

const linear: Rule<"linear"> = (c) => {
  const [o, k] = weightLayer(c, 2);
  const s = c.inputs[0].shape;
  if (s.length < 2) c.fail("inputs[0]", `value '${c.inputs[0].id}' has shape [${s.join(", ")}] but linear needs rank ≥ 2 ([…, K])`);
  const f = s[s.length - 1];
  if (f >= 0 && f !== k) c.fail("wShape", `[${o}, ${k}] needs ${k} input features, the input has ${f}`);
  return [...s.slice(0, -1), o];
};

const add: Rule<"add"> = (c) => {
  const n = c.node;
  multiplierPair(c, "aMultiplier", n.aMultiplier);
  multiplierPair(c, "bMultiplier", n.bMultiplier);
  multiplierPair(c, "outMultiplier", n.outMultiplier);
  if (!isInt(n.leftShift) || n.leftShift < 0 || n.leftShift > 22) c.fail("leftShift", `must be an integer in [0, 22], got ${fmt(n.leftShift)}`);
  clampOf(c, n.clamp);
  const [a, b] = [c.inputs[0].shape, c.inputs[1].shape];
  if (a.length !== b.length || a.some((d, i) => d >= 0 && b[i] >= 0 && d !== b[i])) {
    c.fail("inputs", `shapes [${a.join(", ")}] and [${b.join(", ")}] differ (add does not broadcast)`);
  }
  return a.map((d, i) => (d >= 0 ? d : b[i]));
};

const concat: Rule<"concat"> = (c) => {
  const n = c.node;
  const rank = c.inputs[0].shape.length;
  if (!isInt(n.axis) || n.axis < 0 || n.axis >= rank) c.fail("axis", `must be an integer in [0, ${rank}), got ${fmt(n.axis)}`);
  if (!Array.isArray(n.multipliers) || n.multipliers.length !== c.inputs.length) c.fail("multipliers", `needs one entry per input (${c.inputs.length})`);
  n.multipliers.forEach((m, i) => m !== null && multiplierPair(c, `multipliers[${i}]`, m));
  const out = [...c.inputs[0].shape];
  c.inputs.forEach((v, i) => {
    if (v.shape.length !== rank) c.fail(`inputs[${i}]`, `has rank ${v.shape.length}, inputs[0] has ${rank}`);
    v.shape.forEach((d, k) => {
      if (k === n.axis || d < 0 || out[k] < 0) return;
      if (d !== out[k]) c.fail(`inputs[${i}]`, `shape [${v.shape.join(", ")}] differs from inputs[0] outside axis ${n.axis}`);
    });
    if (i > 0) out[n.axis] = out[n.axis] < 0 || v.shape[n.axis] < 0 ? -1 : out[n.axis] + v.shape[n.axis];
  });
  return out;
};

function poolCommon(c: RuleContext<NodeOf<"maxpool2d"> | NodeOf<"avgpool2d">>, dilation: [number, number]): Shape {
  const n = c.node;
  const kernel = intPair(c, "kernel", n.kernel, 1, 1 << 16);
  const stride = intPair(c, "stride", n.stride, 1);
  const padding = intPair(c, "padding", n.padding, 0);
  if (2 * padding[0] > kernel[0] || 2 * padding[1] > kernel[1]) c.fail("padding", `${fmt(n.padding)} must be at most half the kernel ${fmt(n.kernel)}`);
  if (typeof n.ceilMode !== "boolean") c.fail("ceilMode", `must be a boolean, got ${fmt(n.ceilMode)}`);
  sameDType(c);
  const [b, ch, h, w] = rankOf(c, 0, 4, `${n.op} (NCHW)`);
  return [b, ch, windowOut(c, h, kernel[0], stride[0], padding[0], dilation[0], n.ceilMode), windowOut(c, w, kernel[1], stride[1], padding[1], dilation[1], n.ceilMode)];
}

const maxpool2d: Rule<"maxpool2d"> = (c) => poolCommon(c, intPair(c, "dilation", c.node.dilation, 1));

const avgpool2d: Rule<"avgpool2d"> = (c) => {
  if (typeof c.node.countIncludePad !== "boolean") c.fail("countIncludePad", `must be a boolean, got ${fmt(c.node.countIncludePad)}`);
  return poolCommon(c, [1, 1]);
};

const globalavgpool: Rule<"globalavgpool"> = (c) => {
  if (c.node.multiplier !== null) multiplierPair(c, "multiplier", c.node.multiplier);
  clampOf(c, c.node.clamp);
  const [b, ch] = rankOf(c, 0, 4, "globalavgpool (NCHW)");
  return [b, ch, 1, 1];
};

const requantize: Rule<"requantize"> = (c) => {
  multiplierPair(c, "multiplier", c.node.multiplier);
  const f = c.node.factor;
  if (f !== undefined && !(typeof f === "number" && f > 0 && Number.isFinite(f))) c.fail("factor", `must be a positive finite number, got ${fmt(f)}`);
  clampOf(c, c.node.clamp);
  return [...c.inputs[0].shape];
};

const lut: Rule<"lut"> = (c) => {
  if (!LUT_FUNCTIONS.includes(c.node.fn)) c.fail("fn", `must be one of ${LUT_FUNCTIONS.join(", ")}, got ${fmt(c.node.fn)}`);
  if (c.node.fn === "onnx" && (typeof c.node.opType !== "string" || c.node.opType === "")) c.fail("opType", `must name the ONNX op of an 'onnx' table, got ${fmt(c.node.opType)}`);
  if (c.node.call !== undefined) storedCall(c, "call", c.node.call);
  clampOf(c, c.node.clamp);
  const table = c.tensor("table", c.node.table, "int32", 256);
  const [lo, hi] = dtypeRange(c.output.q.dtype);
  const bad = table.findIndex((v) => v < lo || v > hi);
  if (bad >= 0) c.fail("table", `entry ${bad} = ${table[bad]} is outside the ${c.output.q.dtype} range`);
  return [...c.inputs[0].shape];
};

const flatten: Rule<"flatten"> = (c) => {
  const s = c.inputs[0].shape;
  const d = c.node.startDim;
  if (!isInt(d) || d < 0 || d >= s.length) c.fail("startDim", `must be an integer in [0, ${s.length}), got ${fmt(d)}`);
  sameDType(c);
  const tail = s.slice(d);
  return [...s.slice(0, d), tail.some((x) => x < 0) ? -1 : tail.reduce((a, b) => a * b, 1)];
};

const reshape: Rule<"reshape"> = (c) => {
  const shape = c.node.shape;
  if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !isInt(d) || d < -2 || d === 0)) c.fail("shape", `must be a non-empty array of positive integers, -1 (batch) or -2 (inferred), got ${fmt(shape)}`);
  if (shape.filter((d) => d === -2).length > 1) c.fail("shape", `may infer at most one dim (-2), got ${fmt(shape)}`);
  sameDType(c);
  return shape.map((d) => (d < 0 ? -1 : d));
};

const transpose: Rule<"transpose"> = (c) => {
  const s = c.inputs[0].shape;
  const perm = c.node.perm;
  const ok = Array.isArray(perm) && perm.length === s.length && perm.every((d) => isInt(d) && d >= 0 && d < s.length) && new Set(perm).size === perm.length;
  if (!ok) c.fail("perm", `must be a permutation of 0…${s.length - 1}, got ${fmt(perm)}`);
  sameDType(c);
  return perm.map((d) => s[d]);
};

const slice: Rule<"slice"> = (c) => {
  const { axis, start, end, step } = c.node;
  const s = c.inputs[0].shape;
  if (!isInt(axis) || axis < 1 || axis >= s.length) c.fail("axis", `must be an integer in [1, ${s.length}) (not the batch axis), got ${fmt(axis)}`);
  if (!isInt(step) || step < 1) c.fail("step", `must be a positive integer, got ${fmt(step)}`);
  const dim = s[axis];
  if (!isInt(start) || !isInt(end) || start < 0 || end < start || (dim >= 0 && end > dim)) c.fail("start", `[${fmt(start)}, ${fmt(end)}) must satisfy 0 ≤ start ≤ end ≤ ${dim}`);
  sameDType(c);
  const out = [...s];
  out[axis] = Math.ceil((end - start) / step);
  return out;
};

const matmul: Rule<"matmul"> = (c) => {
  multiplierPair(c, "multiplier", c.node.multiplier);
  clampOf(c, c.node.clamp);
  const [a, b] = [c.inputs[0].shape, c.inputs[1].shape];
  if (a.length < 2 || b.length < 2) c.fail("inputs", `matmul needs rank ≥ 2 on both inputs, got [${a.join(", ")}] and [${b.join(", ")}]`);
  const [k, k2] = [a[a.length - 1], b[b.length - 2]];
  if (k >= 0 && k2 >= 0 && k !== k2) c.fail("inputs", `[${a.join(", ")}] @ [${b.join(", ")}] disagree on K`);
  return [...broadcast(c, a.slice(0, -2), b.slice(0, -2)), a[a.length - 2], b[b.length - 1]];
};

const mul: Rule<"mul"> = (c) => {
  multiplierPair(c, "multiplier", c.node.multiplier);
  clampOf(c, c.node.clamp);
  return broadcast(c, c.inputs[0].shape, c.inputs[1].shape);
};

/** Ops that read or write float values (dynamic models); every other op works on quantized values only. */
const FLOAT_VALUE_OPS = new Set<string>(["dynamic_linear", "linear_nbits", "dynamic_lstm", "dynamic_gru", "float"]);

/**
 * A stored island call `{ op, args[] }` (a float island's, or the imported op a table was made
 * from): the parameters it reads are `{ tensor, shape, dtype }` entries of the tensor table
 * (int32; float32 as bits); an "onnx" call starts with its node (opType, attributes[], slots[]).
 */
function storedCall(c: RuleContext<Int8Node>, field: string, call: unknown): void {
  const cl = call as { op?: unknown; args?: unknown } | null;
  if (cl === null || typeof cl !== "object" || typeof cl.op !== "string" || !Array.isArray(cl.args)) return void c.fail(field, `must be { op, args[] }, got ${fmt(call)}`);
  const spec = cl.args[0] as { opType?: unknown; attributes?: unknown; slots?: unknown } | null;
  if (cl.op === "onnx" && (spec === null || typeof spec !== "object" || typeof spec.opType !== "string" || !Array.isArray(spec.attributes) || !Array.isArray(spec.slots))) {
    c.fail(field, `an ONNX op's call must start with { opType, attributes[], slots[] }, got ${fmt(spec)}`);
  }
  const refs = (a: unknown): void => {
    if (Array.isArray(a)) return a.forEach(refs);
    if (a === null || typeof a !== "object") return;
    const r = a as { tensor?: unknown; shape?: unknown; dtype?: unknown };
    if (typeof r.tensor === "string" && Array.isArray(r.shape)) {
      if (!r.shape.every((d) => isInt(d) && d >= 0)) c.fail(field, `tensor '${r.tensor}' has a bad shape ${fmt(r.shape)}`);
      if (!["float32", "int32", "uint8"].includes(r.dtype as string)) c.fail(field, `tensor '${r.tensor}' has dtype ${fmt(r.dtype)}; expected float32, int32 or uint8`);
      c.tensor(field, r.tensor, "int32", (r.shape as number[]).reduce((x, y) => x * y, 1));
      return;
    }
    Object.values(a).forEach(refs);
  };
  refs(cl.args);
}

const float: Rule<"float"> = (c) => {
  const { fn, source, call } = c.node;
  if (typeof fn !== "string" || fn === "") c.fail("fn", `must name the op or module, got ${fmt(fn)}`);
  if (typeof source !== "string") c.fail("source", `must be a string, got ${fmt(source)}`);
  if (call !== undefined) storedCall(c, "call", call);
  const steps = c.node.steps;
  if (steps !== undefined) {
    if (!Array.isArray(steps) || steps.length === 0 || steps.some((st) => st === null || typeof st !== "object" || typeof st.op !== "string" || !Array.isArray(st.args))) {
      c.fail("steps", `must be a non-empty array of { op, args[] }, got ${fmt(steps)}`);
    }
    steps.forEach((st, j) => storedCall(c, `steps[${j}]`, st));
  }
  return [...c.output.shape];
};

/** One rule per node kind, with its input count ([min, max]). */
const RULES = {
  conv2d: { arity: [1, 1], rule: conv2d },
  linear: { arity: [1, 1], rule: linear },
  add: { arity: [2, 2], rule: add },
  concat: { arity: [1, 1024], rule: concat },
  maxpool2d: { arity: [1, 1], rule: maxpool2d },
  avgpool2d: { arity: [1, 1], rule: avgpool2d },
  globalavgpool: { arity: [1, 1], rule: globalavgpool },
  requantize: { arity: [1, 1], rule: requantize },
  lut: { arity: [1, 1], rule: lut },
  flatten: { arity: [1, 1], rule: flatten },
  reshape: { arity: [1, 1], rule: reshape },
  transpose: { arity: [1, 1], rule: transpose },
  slice: { arity: [1, 1], rule: slice },
  matmul: { arity: [2, 2], rule: matmul },
  mul: { arity: [2, 2], rule: mul },
  maximum: { arity: [1, 1024], rule: maximumRule },
  minimum: { arity: [1, 1024], rule: minimumRule },
  mean: { arity: [1, 1], rule: meanRule },
  pad: { arity: [1, 1], rule: padRule },
  expand: { arity: [1, 1], rule: expandRule },
  resize: { arity: [1, 1], rule: resizeRule },
  float: { arity: [1, 1024], rule: float },
  softmax_int: { arity: [1, 1], rule: softmaxIntRule },
  layernorm_int: { arity: [1, 1], rule: layerNormIntRule },
  dynamic_linear: { arity: [1, 1], rule: dynamicLinear },
  linear_nbits: { arity: [1, 1], rule: linearNBits },
  dynamic_lstm: { arity: [1, 1], rule: dynamicRnn },
  dynamic_gru: { arity: [1, 1], rule: dynamicRnn },
} satisfies { [K in Op]: { arity: [number, number]; rule: Rule<K> } };

/** The node kinds the validator (and Int8Model) know. */
export const INT8_OPS = Object.keys(RULES) as Op[];

function checkValue(v: unknown, where: string): ValueInfo {
  const bad = (why: string): never => {
    throw new FormatError(`Int8Model graph: ${where} ${why}`);
  };
  if (v === null || typeof v !== "object") bad(`must be an object, got ${fmt(v)}`);
  const { id, shape, q } = v as ValueInfo;
  if (typeof id !== "string" || id === "") bad(`needs a non-empty string id, got ${fmt(id)}`);
  const name = `${where} '${id}'`;
  if (!Array.isArray(shape) || shape.length < ((v as ValueInfo).int ? 0 : 1) || shape.length > MAX_RANK || !shape.every((d) => isInt(d) && (d >= 1 || d === -1))) {
    throw new FormatError(`Int8Model graph: ${name}: shape must be 1 to ${MAX_RANK} dims, each a positive integer or −1, got ${fmt(shape)}`);
  }
  if (q === null || typeof q !== "object") throw new FormatError(`Int8Model graph: ${name}: q must be an object, got ${fmt(q)}`);
  const fail = (field: string, why: string): never => {
    throw new FormatError(`Int8Model graph: ${name}: q.${field} ${why}`);
  };
  if (q.dtype !== "uint8" && q.dtype !== "int8") fail("dtype", `must be 'uint8' or 'int8', got ${fmt(q.dtype)}`);
  if (typeof q.scale !== "number" || !Number.isFinite(q.scale) || !(q.scale > 0)) fail("scale", `must be positive and finite, got ${fmt(q.scale)}`);
  const [lo, hi] = dtypeRange(q.dtype);
  if (!isInt(q.zeroPoint) || q.zeroPoint < lo || q.zeroPoint > hi) fail("zeroPoint", `must be an integer in [${lo}, ${hi}], got ${fmt(q.zeroPoint)}`);
  if (!isInt(q.qmin) || !isInt(q.qmax) || q.qmin < lo || q.qmin > q.qmax || q.qmax > hi) fail("qmin/qmax", `must be integers with ${lo} ≤ qmin ≤ qmax ≤ ${hi}, got ${fmt(q.qmin)}, ${fmt(q.qmax)}`);
  return v as ValueInfo;
}

/** Declared shape `want` agrees with the inferred `got` (−1 matches anything). */
function sameShape(got: Shape, want: Shape): boolean {
  return got.length === want.length && got.every((d, i) => d < 0 || want[i] < 0 || d === want[i]);
}

/**
 * Throws a FormatError naming the node (or value) and the field at fault unless `graph` is a
 * well-formed Int8Model graph over `tensors`. `graph` is untrusted (parsed JSON): nothing is
 * assumed about its structure.
 */
export function validateInt8Graph(graph: unknown, tensors: Int8TensorTable): asserts graph is Int8Graph {
  if (graph === null || typeof graph !== "object") throw new FormatError(`Int8Model graph: must be an object, got ${fmt(graph)}`);
  const g = graph as Partial<Int8Graph>;
  if (!Array.isArray(g.values)) throw new FormatError(`Int8Model graph: 'values' must be an array, got ${fmt(g.values)}`);
  if (!Array.isArray(g.nodes)) throw new FormatError(`Int8Model graph: 'nodes' must be an array, got ${fmt(g.nodes)}`);
  if (typeof g.output !== "string") throw new FormatError(`Int8Model graph: 'output' must be a value id, got ${fmt(g.output)}`);
  if (g.meta !== undefined && (g.meta === null || typeof g.meta !== "object")) throw new FormatError(`Int8Model graph: 'meta' must be an object`);
  const input = checkValue(g.input, "input");
  const values = new Map<string, ValueInfo>();
  g.values.forEach((v, i) => {
    const info = checkValue(v, `values[${i}]`);
    if (values.has(info.id)) throw new FormatError(`Int8Model graph: value id '${info.id}' is declared twice`);
    values.set(info.id, info);
  });
  const shapes = new Map<string, Shape>([[input.id, input.shape]]);
  if (g.extraInputs !== undefined) {
    if (!Array.isArray(g.extraInputs)) throw new FormatError(`Int8Model graph: 'extraInputs' must be an array, got ${fmt(g.extraInputs)}`);
    g.extraInputs.forEach((v, i) => {
      const info = checkValue(v, `extraInputs[${i}]`);
      if (!values.has(info.id)) throw new FormatError(`Int8Model graph: extraInputs[${i}] '${info.id}' is not among the declared values`);
      shapes.set(info.id, info.shape);
    });
  }
  g.nodes.forEach((node, i) => checkNode(node, i, { values, shapes, tensors, input }));
  if (!shapes.has(g.output)) throw new FormatError(`Int8Model graph: output '${g.output}' is never produced`);
}

interface GraphState {
  values: Map<string, ValueInfo>;
  shapes: Map<string, Shape>;
  tensors: Int8TensorTable;
  input: ValueInfo;
}

function checkNode(node: unknown, index: number, st: GraphState): void {
  if (node === null || typeof node !== "object") throw new FormatError(`Int8Model graph: nodes[${index}] must be an object, got ${fmt(node)}`);
  const n = node as Int8Node;
  const label = `node '${typeof n.name === "string" ? n.name : `#${index}`}' (${fmt(n.op)})`;
  const fail = (field: string, why: string): never => {
    throw new FormatError(`Int8Model graph: ${label}: ${field} ${why}`);
  };
  if (typeof n.name !== "string") fail("name", `must be a string, got ${fmt(n.name)}`);
  const entry = Object.prototype.hasOwnProperty.call(RULES, n.op) ? RULES[n.op] : undefined;
  if (!entry) fail("op", `is not a known Int8Model op (known: ${INT8_OPS.join(", ")})`);
  const [lo, hi] = entry!.arity;
  if (!Array.isArray(n.inputs) || n.inputs.length < lo || n.inputs.length > hi) fail("inputs", `must be an array of ${lo === hi ? lo : `${lo} to ${hi}`} value ids, got ${fmt(n.inputs)}`);
  const inputs = n.inputs.map((id, k) => {
    const shape = typeof id === "string" ? st.shapes.get(id) : undefined;
    if (!shape) fail(`inputs[${k}]`, `reads value ${fmt(id)} before it is produced`);
    const info = id === st.input.id ? st.input : st.values.get(id);
    if (!info) fail(`inputs[${k}]`, `reads undeclared value ${fmt(id)}`);
    return { ...info!, shape: shape! };
  });
  if (typeof n.output !== "string" || !st.values.has(n.output)) fail("output", `writes undeclared value ${fmt(n.output)}`);
  if (st.shapes.has(n.output)) fail("output", `writes value '${n.output}', which is already produced`);
  const output = st.values.get(n.output)!;
  if (!FLOAT_VALUE_OPS.has(n.op) && [...inputs, output].some((v) => v.float)) fail("inputs", "read or write a float value; only float islands and dynamic nodes do");
  if (n.op !== "float" && inputs.some((v) => v.int)) fail("inputs", "read an int32 input (token ids); only float islands (an embedding) do");
  if (output.int && n.op !== "float") fail("output", "writes an int32 value; only graph inputs and float islands (shape arithmetic) are int32");
  const ctx: RuleContext<Int8Node> = {
    node: n, inputs, output, fail,
    tensor(field, key, dtype, length) {
      if (typeof key !== "string") return fail(field, `must be a tensor key, got ${fmt(key)}`);
      const t = st.tensors.get(key);
      if (!t) return fail(field, `needs missing tensor '${key}'`);
      if (!(dtype === "int8" ? t instanceof Int8Array : t instanceof Int32Array)) fail(field, `tensor '${key}' must be ${dtype}`);
      if (length !== undefined && t.length !== length) fail(field, `tensor '${key}' has ${t.length} elements, expected ${length}`);
      return t;
    },
  };
  const shape = (entry!.rule as Rule<Op>)(ctx as RuleContext<never>);
  if (!sameShape(shape, output.shape)) fail("output", `value '${output.id}' is declared [${output.shape.join(", ")}] but the node produces [${shape.join(", ")}]`);
  st.shapes.set(n.output, shape.map((d, i) => (d >= 0 ? d : output.shape[i])));
}
