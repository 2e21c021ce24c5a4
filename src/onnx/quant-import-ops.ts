/**
 * Handlers of the quantized importer for QuantizeLinear / DequantizeLinear, the float ops of
 * QDQ graphs (DQ → op → Q chains: Conv, Gemm, MatMul (+ Add bias), Add, Concat, MaxPool,
 * AveragePool, GlobalAveragePool, Flatten, Reshape, Relu / Clip folded into clamps) and the
 * shape-only ops that also run on quantized tensors in QOperator graphs (MaxPool, Flatten,
 * Reshape, Identity, Cast to the same type, integer Clip); Max / Min, ReduceMean, Pad, Expand,
 * Resize and Split come from quant-import-layout.ts. Each handler reads its inputs
 * from the importer state and records its output there (see quant-import-state.ts).
 * Called by import-quantized.ts.
 */
import { NotSupportedError } from "../tensor/errors.js";
import { quantizePerChannel, quantizeTensor } from "../int8/kernels/quantize.js";
import { Tensor } from "../tensor/tensor.js";
import type { ValueInfo } from "../int8/graph.js";
import type { IrNode } from "./graph.js";
import { actParams, vectorParams } from "./quant-import-consts.js";
import { LAYOUT_HANDLERS } from "./quant-import-layout.js";
import { importIntegerSubgraph } from "./quant-import-integer.js";
import { broadcastShape, convGeometry, flattenNode, materialize, maxPoolNode, poolGeometry, windowShape } from "./quant-import-nodes.js";
import { type Act, type Bias, type FloatRef, type Handler, type Pending, type QuantImporter, type WConst, where } from "./quant-import-state.js";

/** Shape of the graph's float input, batch dim −1. */
function graphInputShape(imp: QuantImporter, n: IrNode): number[] {
  const dims = imp.g.inputs[0].dims;
  if (!dims || dims.slice(1).some((d) => typeof d !== "number")) throw new NotSupportedError(`${where(n)}: the graph input needs static dims after the batch`);
  return [-1, ...(dims.slice(1) as number[])];
}

const quantizeLinear: Handler = (imp, n) => {
  const [x, s, z] = n.inputs;
  const out = n.outputs[0];
  const c = imp.consts.get(x);
  if (c && c.dtype === "float32") return quantizeConstant(imp, n, c);
  const p = actParams(imp.consts, s, z, where(n));
  const f = imp.float(x, n);
  if (f.kind === "input") {
    imp.produce(out, p, "input", (q) => {
      if (imp.input) throw new NotSupportedError(`${where(n)} quantizes the graph input a second time with other parameters`);
      imp.input = imp.newValue(graphInputShape(imp, n), q, "input");
      return imp.input;
    });
  } else if (f.kind === "dq") {
    imp.produce(out, p, `dq:${f.v.id}`, (q) => imp.requantize(f.v, q, [q.qmin, q.qmax], n.name || `requantize_${n.index}`));
  } else if (f.kind === "pending") {
    imp.produce(out, p, `pending:${x}`, (q) => materialize(imp, f.p, f.act, q, n));
  } else {
    throw new NotSupportedError(`${where(n)} quantizes '${x}', which is not the graph input or a float op on quantized tensors`);
  }
};

/** QuantizeLinear of a float constant (a fake-quantized weight): folded to the integer constant. */
function quantizeConstant(imp: QuantImporter, n: IrNode, t: Tensor): void {
  const p = vectorParams(imp.consts, n.inputs[1], n.inputs[2], where(n));
  if (p.dtype !== "int8" && p.dtype !== "uint8") throw new NotSupportedError(`${where(n)}: zero point type ${p.dtype} is not supported`);
  const [qmin, qmax] = p.dtype === "uint8" ? [0, 255] : [-128, 127];
  const data = t.data as Float32Array;
  const q = p.scales.length === 1
    ? quantizeTensor(data, p.scales[0], p.zeroPoints[0], qmin, qmax, p.dtype)
    : quantizePerChannel(data, t.shape, axisOf(n, t.ndim), p.scales, p.zeroPoints, qmin, qmax, p.dtype);
  imp.consts.set(n.outputs[0], new Tensor(q, [...t.shape]));
}

function axisOf(n: IrNode, rank: number): number {
  const a = n.attrs.int("axis", 1);
  return a < 0 ? a + rank : a;
}

const dequantizeLinear: Handler = (imp, n) => {
  const [x, s, z] = n.inputs;
  const out = n.outputs[0];
  const v = imp.ints.get(x);
  if (v) {
    const p = actParams(imp.consts, s, z, where(n));
    if (Math.fround(p.scale) !== v.q.scale || p.zeroPoint !== v.q.zeroPoint || p.dtype !== v.q.dtype) {
      throw new NotSupportedError(`${where(n)} dequantizes '${x}' with parameters (${p.scale}, ${p.zeroPoint}) other than it was quantized with (${v.q.scale}, ${v.q.zeroPoint})`);
    }
    imp.floats.set(out, { kind: "dq", v });
    return;
  }
  const t = imp.consts.get(x);
  if (!t || !(t.data instanceof Int8Array || t.data instanceof Uint8Array || t.data instanceof Int32Array)) {
    throw new NotSupportedError(`${where(n)} dequantizes '${x}', which is neither a quantized activation nor an INT8 / UINT8 / INT32 constant`);
  }
  const p = vectorParams(imp.consts, s, z, where(n));
  const w: WConst = { data: t.data, shape: [...t.shape], scales: p.scales, zeroPoints: p.zeroPoints, axis: p.scales.length > 1 ? axisOf(n, t.ndim) : null };
  imp.floats.set(out, { kind: "wconst", w });
};

function wconst(imp: QuantImporter, name: string, n: IrNode, what: string): WConst {
  const f = imp.float(name, n);
  if (f.kind !== "wconst") throw new NotSupportedError(`${where(n)}: the ${what} must be a DequantizeLinear of an INT8 constant (float weights cannot run in the integer engine)`);
  return f.w;
}

function biasOf(imp: QuantImporter, name: string | undefined, n: IrNode): Bias | null {
  if (!name) return null;
  const f = imp.float(name, n);
  if (f.kind === "wconst") return { kind: "int", w: { ...f.w, shape: [f.w.data.length] } };
  if (f.kind === "fconst") return { kind: "float", data: f.t.data };
  throw new NotSupportedError(`${where(n)}: the bias must be a constant (INT32 through DequantizeLinear, or FLOAT)`);
}

function pending(imp: QuantImporter, n: IrNode, p: Pending): void {
  imp.floats.set(n.outputs[0], { kind: "pending", p, act: null });
}

const conv: Handler = (imp, n) => {
  const x = imp.dq(n.inputs[0], n);
  const w = wconst(imp, n.inputs[1], n, "weight");
  const geo = convGeometry(n, w.shape);
  const shape = windowShape(x.shape, w.shape[0], [w.shape[2], w.shape[3]], geo, n);
  pending(imp, n, { op: "conv", name: n.name || `Conv_${n.index}`, shape, x, w, b: biasOf(imp, n.inputs[2], n), ...geo });
};

/** [K, O] weights with per-column parameters (axis 1) → [O, K] with per-row ones (axis 0). */
export function transposeWeight(w: WConst, n: IrNode): WConst {
  if (!(w.data instanceof Int8Array || w.data instanceof Uint8Array) || w.shape.length !== 2) throw new NotSupportedError(`${where(n)}: the weight must be a 2-D INT8 or UINT8 constant`);
  if (w.scales.length > 1 && w.axis !== 1) throw new NotSupportedError(`${where(n)}: per-axis scales of a [K, O] weight must be on axis 1`);
  const [k, o] = w.shape;
  const data = w.data instanceof Uint8Array ? new Uint8Array(k * o) : new Int8Array(k * o);
  for (let i = 0; i < k; i++) for (let j = 0; j < o; j++) data[j * k + i] = w.data[i * o + j];
  return { ...w, data, shape: [o, k], axis: w.scales.length > 1 ? 0 : null };
}

const gemm: Handler = (imp, n) => {
  const a = n.attrs;
  if (a.float("alpha", 1) !== 1 || a.float("beta", 1) !== 1 || a.int("transA", 0) !== 0) throw new NotSupportedError(`${where(n)}: only alpha = beta = 1 and transA = 0 are supported`);
  const x = imp.dq(n.inputs[0], n);
  let w = wconst(imp, n.inputs[1], n, "weight");
  if (w.shape.length !== 2 || x.shape.length !== 2) throw new NotSupportedError(`${where(n)}: input and weight must be 2-D`);
  if (a.int("transB", 0) === 0) w = transposeWeight(w, n);
  pending(imp, n, { op: "linear", name: n.name || `Gemm_${n.index}`, shape: [x.shape[0], w.shape[0]], x, w, b: biasOf(imp, n.inputs[2], n) });
};

/** MatMul: a linear layer when B is a quantized weight constant (x [..., K], W [K, O]), else a product of two dequantized activations. */
const matmul: Handler = (imp, n) => {
  const [fa, fb] = [imp.float(n.inputs[0], n), imp.floats.get(n.inputs[1])];
  if (fa.kind === "dq" && fb?.kind === "dq") {
    const [a, b] = [fa.v.shape, fb.v.shape];
    if (a.length < 2 || b.length < 2) throw new NotSupportedError(`${where(n)}: a product of activations needs rank ≥ 2 on both sides`);
    const shape = [...broadcastShape(a.slice(0, -2), b.slice(0, -2)), a[a.length - 2], b[b.length - 1]];
    return pending(imp, n, { op: "matmul", name: n.name || `MatMul_${n.index}`, shape, a: fa.v, b: fb.v });
  }
  const x = imp.dq(n.inputs[0], n);
  if (x.shape.length < 2) throw new NotSupportedError(`${where(n)}: the input must have rank ≥ 2`);
  const w = transposeWeight(wconst(imp, n.inputs[1], n, "weight"), n);
  pending(imp, n, { op: "linear", name: n.name || `MatMul_${n.index}`, shape: [...x.shape.slice(0, -1), w.shape[0]], x, w, b: null });
};

/** Mul of two dequantized activations (an integer product); Mul / Div of one by a positive scalar constant (a requantization); else a float island. */
function product(op: "Mul" | "Div"): Handler {
  return (imp, n) => {
    // an integer product or scaling only when a QuantizeLinear takes the result (else it is part of a float chain, e.g. GELU's x/√2)
    const readers = (imp.g.consumers.get(n.outputs[0]) ?? []).map((i) => imp.g.nodes[i]);
    if (readers.length === 0 || readers.some((r) => r.opType !== "QuantizeLinear")) return false;
    const [fa, fb] = n.inputs.map((i) => imp.floats.get(i) ?? null);
    if (op === "Mul" && fa?.kind === "dq" && fb?.kind === "dq") {
      return pending(imp, n, { op: "mul", name: n.name || `Mul_${n.index}`, shape: broadcastShape(fa.v.shape, fb.v.shape), a: fa.v, b: fb.v });
    }
    const scalarAt = (i: number) => {
      const t = imp.consts.get(n.inputs[i]);
      return t && t.size === 1 && t.dtype === "float32" ? t.data[0] : null;
    };
    const [x, c] = fa?.kind === "dq" ? [fa.v, scalarAt(1)] : op === "Mul" && fb?.kind === "dq" ? [fb.v, scalarAt(0)] : [null, null];
    const factor = c === null ? null : op === "Mul" ? c : Math.fround(1 / c);
    if (x && factor !== null && factor > 0 && Number.isFinite(factor)) return pending(imp, n, { op: "scale", name: n.name || `${op}_${n.index}`, shape: x.shape, x, factor });
    return false;
  };
}

const add: Handler = (imp, n) => {
  const [fa, fb] = [imp.float(n.inputs[0], n), imp.float(n.inputs[1], n)];
  if (fa.kind === "dq" && fb.kind === "dq") {
    if (fa.v.shape.join() !== fb.v.shape.join()) throw new NotSupportedError(`${where(n)}: broadcasting Add is not supported`);
    return pending(imp, n, { op: "add", name: n.name || `Add_${n.index}`, shape: fa.v.shape, a: fa.v, b: fb.v });
  }
  const [lin, bias] = fa.kind === "pending" ? [fa, n.inputs[1]] : [fb, n.inputs[0]];
  if (lin.kind === "pending" && lin.p.op === "linear" && !lin.p.b && !lin.act) {
    return pending(imp, n, { ...lin.p, b: biasOf(imp, bias, n) });
  }
  return false; // part of a float chain (e.g. GELU's 1 + erf(x/√2)): a float island
};

/** Relu / Clip on a pending op or a dequantized tensor: narrows the clamp of the node the next Q makes. */
function activation(imp: QuantImporter, n: IrNode, act: Act): void {
  const f = imp.float(n.inputs[0], n);
  let ref: FloatRef;
  if (f.kind === "pending") ref = { ...f, act: f.act ? { min: Math.max(f.act.min, act.min), max: Math.min(f.act.max, act.max) } : act };
  else if (f.kind === "dq") ref = { kind: "pending", p: { op: "identity", name: n.name || `${n.opType}_${n.index}`, shape: f.v.shape, x: f.v }, act };
  else throw new NotSupportedError(`${where(n)} must follow a quantized op or a DequantizeLinear`);
  imp.floats.set(n.outputs[0], ref);
}

function floatBound(imp: QuantImporter, n: IrNode, i: number, dflt: number): number {
  const name = n.inputs[i];
  if (!name) return dflt;
  const t = imp.consts.get(name);
  if (!t || t.size !== 1) throw new NotSupportedError(`${where(n)}: Clip bounds must be constant scalars`);
  return t.data[0];
}

const clip: Handler = (imp, n) => {
  if (imp.ints.has(n.inputs[0])) return intClip(imp, n);
  const act = imp.g.opset >= 11
    ? { min: floatBound(imp, n, 1, -Infinity), max: floatBound(imp, n, 2, Infinity) }
    : { min: n.attrs.float("min", -3.4028234663852886e38), max: n.attrs.float("max", 3.4028234663852886e38) };
  activation(imp, n, act);
};

/** A Clip on a quantized tensor that did not fold into its producer: an identity requantize with that clamp. */
function intClip(imp: QuantImporter, n: IrNode): void {
  const x = imp.int(n.inputs[0], n);
  const b = imp.clipBounds(n);
  if (!b) throw new NotSupportedError(`${where(n)}: a Clip on a quantized tensor needs constant integer bounds (opset ≥ 12)`);
  const clamp: [number, number] = [Math.max(x.q.qmin, b[0]), Math.min(x.q.qmax, b[1])];
  imp.ints.set(n.outputs[0], imp.requantize(x, { ...x.q, qmin: clamp[0], qmax: clamp[1] }, clamp, n.name || `Clip_${n.index}`));
}

/** Ops that work the same on integers and on dequantized values: the result stays on the input grid. */
function gridOp(imp: QuantImporter, n: IrNode, make: (x: ValueInfo) => ValueInfo): void {
  const v = imp.ints.get(n.inputs[0]);
  if (v) {
    imp.ints.set(n.outputs[0], make(v));
    return;
  }
  const f = imp.float(n.inputs[0], n);
  if (f.kind !== "dq") throw new NotSupportedError(`${where(n)} must read a quantized tensor or a DequantizeLinear of one`);
  imp.floats.set(n.outputs[0], { kind: "dq", v: make(f.v) });
}

const maxPool: Handler = (imp, n) => {
  if (n.outputs.length > 1 && n.outputs[1] !== "") throw new NotSupportedError(`${where(n)}: the Indices output is not supported`);
  const g = poolGeometry(n);
  gridOp(imp, n, (x) => maxPoolNode(imp, x, g, n.name || `MaxPool_${n.index}`, windowShape(x.shape, x.shape[1], g.kernel, g, n)));
};

const flatten: Handler = (imp, n) => {
  gridOp(imp, n, (x) => {
    const axis = n.attrs.int("axis", 1);
    if (axis !== 1) throw new NotSupportedError(`${where(n)}: only Flatten with axis 1 is supported`);
    return flattenNode(imp, x, 1, n.name || `Flatten_${n.index}`);
  });
};

const reshape: Handler = (imp, n) => {
  const s = imp.consts.get(n.inputs[1]);
  if (!s) throw new NotSupportedError(`${where(n)}: the target shape must be a constant`);
  gridOp(imp, n, (x) => {
    const shape = Array.from(s.data);
    try {
      return flattenNode(imp, x, flattenStart(shape, x.shape, n), n.name || `Reshape_${n.index}`);
    } catch {
      return reshapeNode(imp, x, shape, n);
    }
  });
};

/**
 * Any other Reshape with a constant shape (0 copies the input dim, −1 is inferred; allowzero 0):
 * an int8 reshape node — −1 for a batch dim copied from the input, −2 for the inferred one.
 */
function reshapeNode(imp: QuantImporter, x: ValueInfo, shape: number[], n: IrNode): ValueInfo {
  if (n.attrs.int("allowzero", 0) !== 0) throw new NotSupportedError(`${where(n)}: allowzero 1 is not supported`);
  if (shape.filter((d) => d === -1).length > 1 || shape.some((d) => d < -1)) throw new NotSupportedError(`${where(n)}: shape [${shape.join(", ")}] is not a valid reshape`);
  const target = shape.map((d, i) => (d === 0 ? (i === 0 ? -1 : x.shape[i]) : d === -1 ? -2 : d));
  const known = target.reduce((a, d) => (d < 0 ? a : a * d), 1);
  const inner = x.shape.slice(1).reduce((a, d) => a * d, 1);
  // the output shape with the batch unknown: an inferred first dim is the batch when the rest keeps the row size
  const out = target.map((d, i) => (d === -1 ? -1 : d === -2 ? (i === 0 && known === inner ? -1 : target[0] === -1 ? inner / known : -1) : d));
  if (target[0] === -2 && known === inner) target[0] = -1;
  const y = imp.newValue(out, x.q, n.name || `Reshape_${n.index}`);
  imp.nodes.push({ op: "reshape", name: imp.nodeName(n), inputs: [x.id], output: y.id, shape: target });
  return y;
}

/** Slice with constant starts / ends / axes / steps on a quantized (or dequantized) tensor, along one non-batch axis. */
const slice: Handler = (imp, n) => {
  const vec = (i: number): number[] | null => {
    if (!n.inputs[i]) return null;
    const t = imp.consts.get(n.inputs[i]);
    if (!t) throw new NotSupportedError(`${where(n)}: starts / ends / axes / steps must be constants`);
    return Array.from(t.data, Number);
  };
  if (imp.g.opset < 10) throw new NotSupportedError(`${where(n)}: Slice before opset 10 (attributes) is not supported in quantized graphs`);
  const [starts, ends, axes, steps] = [vec(1)!, vec(2)!, vec(3), vec(4)];
  if (starts.length !== 1) throw new NotSupportedError(`${where(n)}: only a slice along one axis is supported`);
  gridOp(imp, n, (x) => {
    const rank = x.shape.length;
    const axis = ((axes?.[0] ?? 0) + rank) % rank;
    const step = steps?.[0] ?? 1;
    const dim = x.shape[axis];
    if (axis === 0 || step < 1 || dim < 0) throw new NotSupportedError(`${where(n)}: only forward slices of a known non-batch axis are supported`);
    const at = (i: number) => Math.min(Math.max(i < 0 ? i + dim : i, 0), dim);
    const start = at(starts[0]), end = Math.max(start, at(ends[0]));
    const shape = [...x.shape];
    shape[axis] = Math.ceil((end - start) / step);
    const y = imp.newValue(shape, x.q, n.name || `Slice_${n.index}`);
    imp.nodes.push({ op: "slice", name: imp.nodeName(n), inputs: [x.id], output: y.id, axis, start, end, step });
    return y;
  });
};

/** Transpose on a quantized (or dequantized) tensor: a byte-moving transpose node on the input grid. */
const transpose: Handler = (imp, n) => {
  gridOp(imp, n, (x) => {
    const rank = x.shape.length;
    const perm = n.attrs.ints("perm", Array.from({ length: rank }, (_, i) => rank - 1 - i));
    if (perm.length !== rank || perm[0] !== 0) throw new NotSupportedError(`${where(n)}: perm [${perm.join(", ")}] must keep the batch dim first`);
    const y = imp.newValue(perm.map((d) => x.shape[d]), x.q, n.name || `Transpose_${n.index}`);
    imp.nodes.push({ op: "transpose", name: imp.nodeName(n), inputs: [x.id], output: y.id, perm });
    return y;
  });
};

/** The start dim k of a Reshape that flattens dims k.. (shape [0 | d_0, …, 0 | d_{k−1}, −1 | prod]). */
function flattenStart(shape: number[], x: readonly number[], n: IrNode): number {
  const k = shape.length - 1;
  const rest = x.slice(k).reduce((a, b) => a * b, 1);
  const lead = shape.slice(0, k).every((d, i) => d === 0 || d === x[i] || (i === 0 && d === -1 && shape[k] !== -1));
  if (k >= 1 && k <= x.length && lead && (shape[k] === -1 || shape[k] === rest)) return k;
  throw new NotSupportedError(`${where(n)}: only reshapes that flatten trailing dims are supported, got shape [${shape.join(", ")}] for input [${x.join(", ")}]`);
}

/** Identity / Dropout / Cast to the same type: aliases. */
const alias: Handler = (imp, n) => {
  const x = n.inputs[0];
  const v = imp.ints.get(x);
  if (v) {
    if (n.opType === "Cast" && importIntegerSubgraph(imp, n)) return; // an integer softmax / LayerNorm (export-integer-ops.ts)
    if (n.opType === "Cast" && n.attrs.int("to", 0) !== (v.q.dtype === "uint8" ? 2 : 3)) throw new NotSupportedError(`${where(n)} changes the type of a quantized tensor`);
    imp.ints.set(n.outputs[0], v);
    return;
  }
  if (n.opType === "Cast") throw new NotSupportedError(`${where(n)}: Cast is only supported on quantized tensors (to their own type) and constants`);
  imp.floats.set(n.outputs[0], imp.float(x, n));
};

function pool(op: "gap" | "avgpool"): Handler {
  return (imp, n) => {
    const x = imp.dq(n.inputs[0], n);
    const name = n.name || `${n.opType}_${n.index}`;
    if (op === "gap") return pending(imp, n, { op, name, shape: [x.shape[0], x.shape[1], 1, 1], x });
    const g = poolGeometry(n);
    pending(imp, n, { op, name, shape: windowShape(x.shape, x.shape[1], g.kernel, g, n), x, pool: g });
  };
}

const concat: Handler = (imp, n) => {
  if (n.inputs.length === 0) throw new NotSupportedError(`${where(n)} has no inputs`);
  const inputs = n.inputs.map((i) => imp.dq(i, n));
  const rank = inputs[0].shape.length;
  const a = n.attrs.int("axis", 1);
  const axis = a < 0 ? a + rank : a;
  if (axis < 1 || axis >= rank) throw new NotSupportedError(`${where(n)}: concatenation along axis ${a} is not supported (batch axis or out of range)`);
  const shape = [...inputs[0].shape];
  shape[axis] = inputs.reduce((s, v) => s + v.shape[axis], 0);
  pending(imp, n, { op: "concat", name: n.name || `Concat_${n.index}`, shape, inputs, axis });
};

/** Handlers by op type (default domain). */
export const QDQ_HANDLERS: Record<string, Handler> = {
  QuantizeLinear: quantizeLinear, DequantizeLinear: dequantizeLinear, Conv: conv, Gemm: gemm, MatMul: matmul, Add: add, Mul: product("Mul"), Div: product("Div"), Slice: slice,
  Relu: (imp, n) => activation(imp, n, { min: 0, max: Infinity }), Clip: clip, MaxPool: maxPool, Flatten: flatten, Reshape: reshape, Transpose: transpose,
  Identity: alias, Dropout: alias, Cast: alias, GlobalAveragePool: pool("gap"), AveragePool: pool("avgpool"), Concat: concat,
  Sigmoid: (imp, n) => {
    const x = imp.dq(n.inputs[0], n);
    pending(imp, n, { op: "sigmoid", name: n.name || `Sigmoid_${n.index}`, shape: x.shape, x });
  },
  ...LAYOUT_HANDLERS,
};
