/**
 * Generic ONNX op kernels for imported graphs: each entry validates a node's attributes (and
 * any constant inputs) once at import and returns a kernel over our differentiable ops, so an
 * imported module trains. Used for nodes that do not become standard layers (MatMul, Mul,
 * Reshape, Transpose, Softmax, HardSwish, …), for the Shape→Gather→Unsqueeze→Concat→Reshape
 * chains PyTorch emits for `x.view(x.size(0), -1)` (run on small int32 tensors, so the batch
 * stays dynamic), and to constant-fold nodes whose inputs are all constants. This file holds
 * the table (GENERIC_OPS) and the matrix / layout ops; the families of issue #14 live in
 * onnx-ops-math.ts (elementwise, logic, Where, Erf), onnx-ops-reduce.ts (Reduce*, ArgMax,
 * GlobalMaxPool), onnx-ops-shape.ts (Slice, Split, Expand, Tile, Range, ConstantOfShape),
 * onnx-ops-conv.ts (functional Conv / ConvTranspose / pooling, InstanceNormalization) and
 * onnx-ops-transformer.ts (LayerNormalization, Gelu), onnx-ops-resize.ts (Resize, Upsample), onnx-ops-rnn.ts (LSTM, GRU); shared helpers in onnx-ops-util.ts. Called by import-build.ts (OnnxOp kernels, folding) and
 * import-quantized.ts (float islands).
 */
import { FormatError, NotSupportedError, ShapeError, fmtShape } from "../tensor/errors.js";
import { type DType, isFloatDType, promoteTypes } from "../tensor/dtype.js";
import { normalizeAxis, numel } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { add, div, lt, mul, sub, where } from "../ops/binary.js";
import { broadcastTo, cast, concat, pad, permute, reshape, slice, transpose } from "../ops/layout.js";
import { matmul } from "../ops/matmul.js";
import { logSoftmax, softmax } from "../ops/softmax.js";
import { ceil, clamp, floor, relu, sigmoid } from "../ops/unary.js";
import { DataType } from "./proto.js";
import { MAX_TENSOR_ELEMENTS } from "./tensor-proto.js";
import { type Compiler, type Kernel, type OpContext, binary, get, intValues, need, unary } from "./onnx-ops-util.js";
import { MATH_OPS } from "./onnx-ops-math.js";
import { REDUCE_OPS } from "./onnx-ops-reduce.js";
import { SHAPE_OPS } from "./onnx-ops-shape.js";
import { CONV_OPS } from "./onnx-ops-conv.js";
import { resize, upsample } from "./onnx-ops-resize.js";
import { TRANSFORMER_OPS, gatherFloat } from "./onnx-ops-transformer.js";
import { RNN_OPS } from "./onnx-ops-rnn.js";

export type { Compiler, Kernel, OpContext } from "./onnx-ops-util.js";
export { intValues } from "./onnx-ops-util.js";

/** ONNX Div: integer inputs divide with truncation toward zero (shape arithmetic), floats truly. */
function divOp(a: Tensor, b: Tensor): Tensor {
  if (isFloatDType(a.dtype) || isFloatDType(b.dtype)) return div(a, b);
  return cast(trunc(div(a, b)), promoteTypes(a.dtype, b.dtype));
}

function trunc(x: Tensor): Tensor {
  return where(lt(x, 0), ceil(x), floor(x));
}

function gemm(c: OpContext): Kernel {
  need(c, 2, 3);
  const transA = c.attrs.int("transA", 0);
  const transB = c.attrs.int("transB", 0);
  const alpha = c.attrs.float("alpha", 1);
  const beta = c.attrs.float("beta", 1);
  return (i) => {
    const [a, b, bias] = [get(i, 0), get(i, 1), i[2] ?? null];
    if (a.ndim !== 2 || b.ndim !== 2) throw new ShapeError(`${c.where}: Gemm needs 2-D A and B, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
    let y = matmul(transA ? transpose(a, 0, 1) : a, transB ? transpose(b, 0, 1) : b);
    if (alpha !== 1) y = mul(y, alpha);
    if (bias) y = add(y, beta !== 1 ? mul(bias, beta) : bias);
    return y;
  };
}

/** Clip bounds: attributes before opset 11, constant scalar inputs after. */
function clip(c: OpContext): Kernel {
  need(c, 1, 3);
  let lo = c.attrs.float("min", -Infinity);
  let hi = c.attrs.float("max", Infinity);
  if (c.opset >= 11) {
    const bound = (k: number, dflt: number): number => {
      const t = k < c.consts.length ? c.consts[k] : null;
      if (t === undefined) throw new NotSupportedError(`${c.where}: Clip bounds computed at run time are not supported (make them initializers)`);
      if (t === null) return dflt;
      if (t.size !== 1) throw new FormatError(`${c.where}: Clip bound ${k} must be a scalar, got ${fmtShape(t.shape)}`);
      return t.item();
    };
    lo = bound(1, -Infinity);
    hi = bound(2, Infinity);
  }
  return (i) => clamp(get(i, 0), lo, hi);
}

function hardSigmoidOf(x: Tensor, alpha: number, beta: number): Tensor {
  return clamp(add(mul(x, alpha), beta), 0, 1);
}

/** Softmax / LogSoftmax: along `axis` from opset 13, on the input coerced to 2-D at `axis` before. */
const softmaxOp = (fn: (x: Tensor, axis: number) => Tensor): Compiler => (c) => {
  need(c, 1);
  const axis = c.attrs.int("axis", c.opset >= 13 ? -1 : 1);
  if (c.opset >= 13) return (i) => fn(get(i, 0), axis);
  // Before opset 13 the input is coerced to 2-D at `axis`.
  return (i) => {
    const x = get(i, 0);
    const a = normalizeAxis(axis, x.ndim, c.where);
    const y = fn(reshape(x, [numel(x.shape.slice(0, a)), numel(x.shape.slice(a))]), -1);
    return reshape(y, x.shape);
  };
};

function flatten(c: OpContext): Kernel {
  need(c, 1);
  const axis = c.attrs.int("axis", 1);
  return (i) => {
    const x = get(i, 0);
    const a = axis < 0 ? axis + x.ndim : axis;
    if (a < 0 || a > x.ndim) throw new ShapeError(`${c.where}: axis ${axis} is out of range for ${fmtShape(x.shape)}`);
    return reshape(x, [numel(x.shape.slice(0, a)), numel(x.shape.slice(a))]);
  };
}

function reshapeOp(c: OpContext): Kernel {
  need(c, 2);
  const allowZero = c.attrs.int("allowzero", 0) === 1;
  return (i) => {
    const x = get(i, 0);
    const target = intValues(get(i, 1), c.where);
    if (target.length > 8) throw new FormatError(`${c.where}: target rank ${target.length} is over the limit of 8`);
    const shape = target.map((d, k) => {
      if (d === 0 && !allowZero) {
        if (k >= x.ndim) throw new ShapeError(`${c.where}: 0 at position ${k} copies a dimension ${fmtShape(x.shape)} does not have`);
        return x.shape[k];
      }
      return d;
    });
    return reshape(x, shape);
  };
}

function transposeOp(c: OpContext): Kernel {
  need(c, 1);
  const perm = c.attrs.ints("perm");
  return (i) => {
    const x = get(i, 0);
    return permute(x, perm ?? [...Array(x.ndim).keys()].reverse());
  };
}

function concatOp(c: OpContext): Kernel {
  if (c.consts.length < 1) throw new FormatError(`${c.where}: Concat needs at least one input`);
  const axis = c.attrs.int("axis");
  if (axis === undefined) throw new FormatError(`${c.where}: Concat needs an 'axis' attribute`);
  return (i) => concat(i.map((_, k) => get(i, k)), axis);
}

function shapeOp(c: OpContext): Kernel {
  need(c, 1);
  const start = c.attrs.saturatedInt("start", 0);
  const end = c.attrs.saturatedInt("end");
  return (i) => {
    const dims = get(i, 0).shape;
    const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + dims.length : v, 0), dims.length);
    const s = dims.slice(clampIdx(start), end === undefined ? dims.length : clampIdx(end));
    return new Tensor(Int32Array.from(s), [s.length]);
  };
}

/** Gather on integer tensors (shape arithmetic); float data would need a gradient we do not have. */
function gather(c: OpContext): Kernel {
  need(c, 2);
  const axis = c.attrs.int("axis", 0);
  return (i) => {
    const [data, indices] = [get(i, 0), get(i, 1)];
    const a = normalizeAxis(axis, data.ndim, c.where);
    const n = data.shape[a];
    const idx = intValues(indices, c.where).map((v) => {
      if (v < -n || v >= n) throw new ShapeError(`${c.where}: index ${v} is out of range for size ${n}`);
      return v < 0 ? v + n : v;
    });
    if (isFloatDType(data.dtype)) return gatherFloat(data, a, idx, indices.shape); // differentiable (onnx-ops-transformer.ts)
    const outer = numel(data.shape.slice(0, a));
    const inner = numel(data.shape.slice(a + 1));
    const out: number[] = [];
    for (let o = 0; o < outer; o++) for (const k of idx) for (let j = 0; j < inner; j++) out.push(data.data[(o * n + k) * inner + j]);
    const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
    return cast(new Tensor(Float64Array.from(out), shape), data.dtype);
  };
}

/** Unsqueeze / Squeeze: axes from the attribute (opset < 13) or the second input. */
function axesOf(c: OpContext, i: readonly (Tensor | null)[]): number[] | undefined {
  if (c.opset < 13) return c.attrs.ints("axes");
  const t = i[1];
  return t ? intValues(t, c.where) : undefined;
}

function unsqueezeOp(c: OpContext): Kernel {
  need(c, 1, 2);
  return (i) => {
    const x = get(i, 0);
    const axes = axesOf(c, i);
    if (!axes) throw new FormatError(`${c.where}: Unsqueeze needs axes`);
    const rank = x.ndim + axes.length;
    const norm = new Set(axes.map((a) => normalizeAxis(a, rank, c.where)));
    if (norm.size !== axes.length) throw new FormatError(`${c.where}: repeated axis in [${axes.join(", ")}]`);
    const shape: number[] = [];
    let k = 0;
    for (let d = 0; d < rank; d++) shape.push(norm.has(d) ? 1 : x.shape[k++]);
    return reshape(x, shape);
  };
}

function squeezeOp(c: OpContext): Kernel {
  need(c, 1, 2);
  return (i) => {
    const x = get(i, 0);
    const axes = axesOf(c, i);
    const drop = new Set(axes ? axes.map((a) => normalizeAxis(a, x.ndim, c.where)) : x.shape.flatMap((d, k) => (d === 1 ? [k] : [])));
    for (const a of drop) if (x.shape[a] !== 1) throw new ShapeError(`${c.where}: cannot squeeze axis ${a} of size ${x.shape[a]}`);
    return reshape(x, x.shape.filter((_, k) => !drop.has(k)));
  };
}

/** Pad (constant, edge and reflect modes): ONNX pads [b0, b1, …, e0, e1, …] → F.pad order [b_last, e_last, …]. */
function padOp(c: OpContext): Kernel {
  need(c, 1, 4);
  const mode = c.attrs.string("mode", "constant");
  if (mode !== "constant" && mode !== "edge" && mode !== "reflect") throw new NotSupportedError(`${c.where}: Pad mode '${mode}' is not supported (constant, edge, reflect)`);
  if (c.consts.length > 3 && c.consts[3] !== null) throw new NotSupportedError(`${c.where}: Pad with axes is not supported`);
  return (i) => {
    const x = get(i, 0);
    const pads = c.opset < 11 ? c.attrs.ints("pads") : i[1] ? intValues(i[1], c.where) : undefined;
    if (!pads || pads.length !== 2 * x.ndim) throw new FormatError(`${c.where}: pads must hold ${2 * x.ndim} values for input ${fmtShape(x.shape)}`);
    if (pads.some((p) => p < 0)) throw new NotSupportedError(`${c.where}: negative pads (cropping) are not supported`);
    const value = c.opset < 11 ? c.attrs.float("value", 0) : i[2] ? i[2].item() : 0;
    if (pads.every((p) => p === 0)) return x;
    const grown = x.shape.map((d, k) => d + pads[k] + pads[x.ndim + k]);
    if (numel(grown) > MAX_TENSOR_ELEMENTS) throw new ShapeError(`${c.where}: padding ${fmtShape(x.shape)} to ${fmtShape(grown)} is over the limit of ${MAX_TENSOR_ELEMENTS} elements`);
    if (mode !== "constant") return padBorder(x, pads, mode === "edge", c.where);
    const torchOrder: number[] = [];
    for (let d = x.ndim - 1; d >= 0; d--) torchOrder.push(pads[d], pads[x.ndim + d]);
    return pad(x, torchOrder, value);
  };
}

/** Edge (repeat the border) or reflect (mirror without the border) padding, one axis at a time; differentiable. */
function padBorder(x: Tensor, pads: readonly number[], edge: boolean, where: string): Tensor {
  let y = x;
  for (let d = 0; d < x.ndim; d++) {
    const [b, e] = [pads[d], pads[x.ndim + d]];
    if (b === 0 && e === 0) continue;
    const n = y.shape[d];
    if (n === 0 || (!edge && (b > n - 1 || e > n - 1))) throw new ShapeError(`${where}: ${edge ? "edge" : "reflect"} padding of ${b} / ${e} does not fit axis ${d} of size ${n}`);
    const one = (k: number) => slice(y, d, k, k + 1);
    const repeat = (k: number, times: number) => broadcastTo(one(k), y.shape.map((s, a) => (a === d ? times : s)));
    const before = b === 0 ? [] : edge ? [repeat(0, b)] : Array.from({ length: b }, (_, k) => one(b - k));
    const after = e === 0 ? [] : edge ? [repeat(n - 1, e)] : Array.from({ length: e }, (_, k) => one(n - 2 - k));
    y = concat([...before, y, ...after], d);
  }
  return y;
}

const CAST_TARGETS: Partial<Record<number, DType>> = {
  [DataType.FLOAT]: "float32", [DataType.DOUBLE]: "float64", [DataType.INT64]: "int32", [DataType.INT32]: "int32",
  [DataType.INT8]: "int8", [DataType.UINT8]: "uint8", [DataType.BOOL]: "uint8",
};

function castOp(c: OpContext): Kernel {
  need(c, 1);
  const to = CAST_TARGETS[c.attrs.int("to", 0)];
  if (!to) throw new NotSupportedError(`${c.where}: Cast to element type ${c.attrs.int("to", 0)} is not supported`);
  return (i) => cast(get(i, 0), to);
}

/**
 * Dropout as a generic kernel: inference semantics, the identity, and its mask output all
 * true. The mask of a training_mode that is true (with a ratio above 0) or computed at run
 * time would be random: refused. (When only the first output is read, import-build makes a
 * Dropout layer, which drops in training mode.)
 */
function dropoutOp(c: OpContext): Kernel {
  need(c, 1, 3);
  const known = (k: number): number | null | undefined => {
    if (k >= c.consts.length) return null;
    const t = c.consts[k];
    return t === undefined ? undefined : t === null || t.size === 0 ? null : t.item();
  };
  const ratio = c.opset >= 12 ? known(1) : c.attrs.float("ratio", 0.5);
  const training = c.opset >= 12 ? known(2) : 0;
  const mask = (c.outputIndex ?? 0) === 1;
  if (mask && (training === undefined || (training && ratio !== 0))) {
    throw new NotSupportedError(`${c.where}: the mask of a training-mode Dropout (training_mode true or computed at run time) is random; only an inference-mode mask imports`);
  }
  return (i) => {
    const x = get(i, 0);
    return mask ? new Tensor(new Uint8Array(x.size).fill(1), x.shape) : x;
  };
}

/** Kernel compilers by op type (default domain). */
export const GENERIC_OPS: Readonly<Record<string, Compiler>> = {
  Add: binary(add), Sub: binary(sub), Mul: binary(mul), Div: binary(divOp),
  MatMul: binary(matmul), Gemm: gemm,
  Relu: unary(relu), Sigmoid: unary(sigmoid), Clip: clip,
  HardSigmoid: (c) => {
    need(c, 1);
    const [alpha, beta] = [c.attrs.float("alpha", 0.2), c.attrs.float("beta", 0.5)];
    return (i) => hardSigmoidOf(get(i, 0), alpha, beta);
  },
  HardSwish: unary((x) => mul(x, hardSigmoidOf(x, 1 / 6, 0.5))),
  Softmax: softmaxOp(softmax), LogSoftmax: softmaxOp(logSoftmax), Flatten: flatten, Reshape: reshapeOp, Transpose: transposeOp, Concat: concatOp,
  Shape: shapeOp, Gather: gather, Unsqueeze: unsqueezeOp, Squeeze: squeezeOp, Cast: castOp, Pad: padOp,
  Identity: unary((x) => x),
  Dropout: dropoutOp,
  Resize: resize,
  Upsample: upsample,
  ...MATH_OPS, ...REDUCE_OPS, ...SHAPE_OPS, ...CONV_OPS, ...RNN_OPS, ...TRANSFORMER_OPS,
};
