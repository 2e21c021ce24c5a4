/**
 * Reference elementwise kernels: unary, binary (with broadcasting), clamp, where, cast.
 * Each op has its own tight loop (a switch chooses the loop, never a call per element).
 * Broadcast operands are first expanded to the output shape with copyStrided.
 */
import type { AnyArray } from "../../tensor/dtype.js";
import { type Shape, broadcastStrides, numel, shapesEqual, stridesOf } from "../../tensor/shape.js";
import type { BinaryOp, UnaryOp } from "../kernels.js";
import { copyStrided } from "./layout.js";

/** Round half to even (banker's rounding), as PyTorch and ONNX round. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function unary(op: UnaryOp, x: AnyArray, out: AnyArray): void {
  const n = x.length;
  switch (op) {
    case "neg": for (let i = 0; i < n; i++) out[i] = -x[i]; break;
    case "exp": for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]); break;
    case "log": for (let i = 0; i < n; i++) out[i] = Math.log(x[i]); break;
    case "sqrt": for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]); break;
    case "abs": for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]); break;
    case "relu": for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0; break;
    case "sigmoid": for (let i = 0; i < n; i++) out[i] = sigmoid(x[i]); break;
    case "tanh": for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]); break;
    case "round": for (let i = 0; i < n; i++) out[i] = roundHalfEven(x[i]); break;
    case "floor": for (let i = 0; i < n; i++) out[i] = Math.floor(x[i]); break;
    case "ceil": for (let i = 0; i < n; i++) out[i] = Math.ceil(x[i]); break;
    case "sign": for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? 1 : x[i] < 0 ? -1 : 0; break;
    case "reciprocal": for (let i = 0; i < n; i++) out[i] = 1 / x[i]; break;
    case "square": for (let i = 0; i < n; i++) out[i] = x[i] * x[i]; break;
    default: {
      const never: never = op;
      throw new Error(`unary: unknown op ${String(never)}`);
    }
  }
}

/** Overflow-free logistic function. */
function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/** Expands `x` (shape) to a contiguous array of outShape, or returns it when no expansion is needed. */
function expandTo(x: AnyArray, shape: Shape, outShape: Shape): AnyArray {
  if (shapesEqual(shape, outShape) || (x.length === 1 && numel(outShape) === 1)) return x;
  const full = new (x.constructor as new (n: number) => AnyArray)(numel(outShape));
  copyStrided(x, 0, broadcastStrides(shape, outShape), full, 0, stridesOf(outShape), outShape);
  return full;
}

export function binary(op: BinaryOp, a: AnyArray, aShape: Shape, b: AnyArray, bShape: Shape, out: AnyArray, outShape: Shape): void {
  const n = out.length;
  if (b.length === 1 && n !== 1) {
    binaryScalarB(op, expandTo(a, aShape, outShape), b[0], out);
    return;
  }
  const x = expandTo(a, aShape, outShape);
  const y = expandTo(b, bShape, outShape);
  switch (op) {
    case "add": for (let i = 0; i < n; i++) out[i] = x[i] + y[i]; break;
    case "sub": for (let i = 0; i < n; i++) out[i] = x[i] - y[i]; break;
    case "mul": for (let i = 0; i < n; i++) out[i] = x[i] * y[i]; break;
    case "div": for (let i = 0; i < n; i++) out[i] = x[i] / y[i]; break;
    case "pow": for (let i = 0; i < n; i++) out[i] = Math.pow(x[i], y[i]); break;
    case "maximum": for (let i = 0; i < n; i++) out[i] = maxNan(x[i], y[i]); break;
    case "minimum": for (let i = 0; i < n; i++) out[i] = minNan(x[i], y[i]); break;
    case "gt": for (let i = 0; i < n; i++) out[i] = x[i] > y[i] ? 1 : 0; break;
    case "ge": for (let i = 0; i < n; i++) out[i] = x[i] >= y[i] ? 1 : 0; break;
    case "lt": for (let i = 0; i < n; i++) out[i] = x[i] < y[i] ? 1 : 0; break;
    case "le": for (let i = 0; i < n; i++) out[i] = x[i] <= y[i] ? 1 : 0; break;
    case "eq": for (let i = 0; i < n; i++) out[i] = x[i] === y[i] ? 1 : 0; break;
    case "ne": for (let i = 0; i < n; i++) out[i] = x[i] !== y[i] ? 1 : 0; break;
    default: {
      const never: never = op;
      throw new Error(`binary: unknown op ${String(never)}`);
    }
  }
}

/** The common tensor-with-scalar case without materialising the scalar. */
function binaryScalarB(op: BinaryOp, x: AnyArray, s: number, out: AnyArray): void {
  const n = out.length;
  switch (op) {
    case "add": for (let i = 0; i < n; i++) out[i] = x[i] + s; break;
    case "sub": for (let i = 0; i < n; i++) out[i] = x[i] - s; break;
    case "mul": for (let i = 0; i < n; i++) out[i] = x[i] * s; break;
    case "div": for (let i = 0; i < n; i++) out[i] = x[i] / s; break;
    case "pow": for (let i = 0; i < n; i++) out[i] = Math.pow(x[i], s); break;
    case "maximum": for (let i = 0; i < n; i++) out[i] = maxNan(x[i], s); break;
    case "minimum": for (let i = 0; i < n; i++) out[i] = minNan(x[i], s); break;
    case "gt": for (let i = 0; i < n; i++) out[i] = x[i] > s ? 1 : 0; break;
    case "ge": for (let i = 0; i < n; i++) out[i] = x[i] >= s ? 1 : 0; break;
    case "lt": for (let i = 0; i < n; i++) out[i] = x[i] < s ? 1 : 0; break;
    case "le": for (let i = 0; i < n; i++) out[i] = x[i] <= s ? 1 : 0; break;
    case "eq": for (let i = 0; i < n; i++) out[i] = x[i] === s ? 1 : 0; break;
    case "ne": for (let i = 0; i < n; i++) out[i] = x[i] !== s ? 1 : 0; break;
    default: {
      const never: never = op;
      throw new Error(`binary: unknown op ${String(never)}`);
    }
  }
}

/** NaN-propagating max/min (PyTorch's maximum/minimum propagate NaN). */
function maxNan(a: number, b: number): number {
  return a !== a || b !== b ? NaN : a > b ? a : b;
}

function minNan(a: number, b: number): number {
  return a !== a || b !== b ? NaN : a < b ? a : b;
}

export function clamp(x: AnyArray, lo: number, hi: number, out: AnyArray): void {
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
}

export function where(cond: AnyArray, condShape: Shape, a: AnyArray, aShape: Shape, b: AnyArray, bShape: Shape, out: AnyArray, outShape: Shape): void {
  const c = expandTo(cond, condShape, outShape);
  const x = expandTo(a, aShape, outShape);
  const y = expandTo(b, bShape, outShape);
  const n = out.length;
  const cs = c.length === 1 ? 0 : 1;
  const xs = x.length === 1 ? 0 : 1;
  const ys = y.length === 1 ? 0 : 1;
  for (let i = 0; i < n; i++) out[i] = c[i * cs] !== 0 ? x[i * xs] : y[i * ys];
}

/** Conversion into out's dtype; float → int truncates toward zero (typed-array semantics wrap). */
export function cast(x: AnyArray, out: AnyArray): void {
  const n = x.length;
  if (out instanceof Float32Array || out instanceof Float64Array) {
    for (let i = 0; i < n; i++) out[i] = x[i];
  } else {
    for (let i = 0; i < n; i++) out[i] = Math.trunc(x[i]);
  }
}
