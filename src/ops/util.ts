/**
 * Helpers shared by the op definitions: output allocation, scalar operands, input checks.
 * Not part of the public API.
 */
import { type DType, allocArray, allocArrayUninit, isFloatDType } from "../tensor/dtype.js";
import { DTypeError, ValueError, fmtShape } from "../tensor/errors.js";
import type { Shape } from "../tensor/shape.js";
import { numel } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

/** A tensor or a plain number (a scalar operand). */
export type TensorLike = Tensor | number;

/** A fresh zero-filled tensor to receive a kernel's output. */
export function empty(shape: Shape, dtype: DType): Tensor {
  return new Tensor(allocArray(dtype, numel(shape)), shape);
}

/**
 * A fresh tensor with unspecified contents (allocArrayUninit: no zero-fill of a reused wasm
 * block), for the output of a kernel that writes every element on every backend (ref, wasm,
 * native) — never for one that accumulates into its output or writes only part of it.
 */
export function uninit(shape: Shape, dtype: DType): Tensor {
  return new Tensor(allocArrayUninit(dtype, numel(shape)), shape);
}

/**
 * Turns a number into a 0-d tensor that combines with `like` without changing its dtype
 * (an integer tensor with a fractional scalar becomes float32, as in PyTorch).
 */
export function asTensor(x: TensorLike, like: Tensor): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== "number") throw new ValueError(`expected a Tensor or a number, got ${typeof x}`);
  const dtype: DType = isFloatDType(like.dtype) || Number.isInteger(x) ? like.dtype : "float32";
  const arr = allocArray(dtype, 1);
  arr[0] = x;
  return new Tensor(arr, []);
}

/** Throws a DTypeError unless `t` is float32 or float64. */
export function requireFloat(t: Tensor, op: string, arg = "input"): void {
  if (!isFloatDType(t.dtype)) throw new DTypeError(`${op}: ${arg} must be float32 or float64, got ${t.dtype} ${fmtShape(t.shape)}`);
}

/** Throws unless `t` has rank `rank`. */
export function requireRank(t: Tensor, rank: number, op: string, arg = "input", layout = ""): void {
  if (t.ndim !== rank) {
    throw new ValueError(`${op}: ${arg} must have rank ${rank}${layout ? ` (${layout})` : ""}, got shape ${fmtShape(t.shape)}`);
  }
}

/** Throws unless every element of `t` is finite. */
export function requireFinite(t: Tensor, op: string, arg = "input"): void {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) throw new ValueError(`${op}: ${arg} has a non-finite value ${d[i]} at flat index ${i}`);
  }
}

/** Expands a number or pair into a pair, checking it is a positive (or non-negative) integer. */
export function pair(v: number | readonly [number, number], name: string, op: string, min = 1): [number, number] {
  const p: [number, number] = typeof v === "number" ? [v, v] : [v[0], v[1]];
  for (const x of p) {
    if (!Number.isInteger(x) || x < min) throw new ValueError(`${op}: ${name} must be integer(s) ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return p;
}
