/**
 * The native backend's unary and binary entries (native/elementwise.c) for float32: unary
 * neg, abs, relu, square, sqrt, reciprocal, floor, ceil, round, sign; binary add, sub, mul,
 * div, maximum, minimum with a full left operand and b full, one value, one value per channel
 * of a contiguous block of the output's axes (a bias, a per-channel scale), or a full
 * Uint8Array (QAT's straight-through mask). Bit-identical to the reference (one float32
 * operation per element) and threaded from 2^17 elements. Other ops (exp, log, tanh, sigmoid,
 * pow, comparisons), dtypes and broadcasts, calls under MIN_ELEMENTS and operands that
 * partly overlap go to the fallback table. Used by ./kernels.ts.
 */
import type { AnyArray } from "../../tensor/dtype.js";
import { type Shape, numel } from "../../tensor/shape.js";
import type { BinaryOp, Kernels, UnaryOp } from "../kernels.js";
import type { NativeAddon } from "./addon.js";

/** Below this many elements the JavaScript/wasm kernels are as fast as a call into C. */
const MIN_ELEMENTS = 256;
const UNARY: Partial<Record<UnaryOp, number>> = { neg: 0, abs: 1, relu: 2, square: 3, sqrt: 4, reciprocal: 5, floor: 6, ceil: 7, round: 8, sign: 9 };
const BINARY: Partial<Record<BinaryOp, number>> = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5 };

/** True when two views share bytes without being the same elements (in place is fine; shifted is not). */
function shifted(a: AnyArray, b: AnyArray): boolean {
  if (a.buffer !== b.buffer || a.byteOffset === b.byteOffset) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/**
 * b's place in the output: [channels, inner] when b (bShape, broadcast to outShape) varies along
 * one contiguous block of the output's axes only (channels = the block's size, inner = the size
 * of the axes after it); null otherwise.
 */
function channelsOf(bShape: Shape, outShape: Shape): [number, number] | null {
  const lead = outShape.length - bShape.length;
  if (lead < 0) return null;
  let first = -1, last = -1;
  for (let d = 0; d < bShape.length; d++) {
    if (bShape[d] === 1) continue;
    if (bShape[d] !== outShape[lead + d] || (last >= 0 && last !== d - 1)) return null;
    if (first < 0) first = d;
    last = d;
  }
  if (first < 0) return [1, numel(outShape)];
  const channels = numel(bShape.slice(first, last + 1));
  return [channels, numel(outShape.slice(lead + last + 1))];
}

export function nativeElementwiseKernels(addon: NativeAddon, fallback: Kernels, sync: () => void): Pick<Kernels, "unary" | "binary"> {
  return {
    unary(op: UnaryOp, x: AnyArray, out: AnyArray): void {
      const code = UNARY[op], n = x.length;
      if (code === undefined || !(x instanceof Float32Array) || !(out instanceof Float32Array) || n < MIN_ELEMENTS || out.length < n || shifted(x, out)) {
        return fallback.unary(op, x, out);
      }
      sync();
      addon.unary(code, x, out, n);
    },
    binary(op: BinaryOp, a: AnyArray, aShape: Shape, b: AnyArray, bShape: Shape, out: AnyArray, outShape: Shape): void {
      const code = BINARY[op], n = out.length;
      if (code === undefined || !(out instanceof Float32Array) || n < MIN_ELEMENTS || numel(outShape) !== n) {
        return fallback.binary(op, a, aShape, b, bShape, out, outShape);
      }
      // add and mul commute exactly: the full float32 operand goes on the left.
      if ((op === "add" || op === "mul") && !(a instanceof Float32Array && a.length === n) && b instanceof Float32Array && b.length === n) {
        [a, aShape, b, bShape] = [b, bShape, a, aShape];
      }
      const full = (v: AnyArray, s: Shape): boolean => v.length === n && numel(s) === n;
      const place = b instanceof Uint8Array ? (full(b, bShape) ? [0, 0] : null) : b instanceof Float32Array ? (full(b, bShape) ? [0, 0] : b.length === 1 ? [1, n] : channelsOf(bShape, outShape)) : null;
      if (!(a instanceof Float32Array) || !full(a, aShape) || place === null || (place[0] > 0 && b.length !== place[0]) || shifted(a, out) || shifted(b, out)) {
        return fallback.binary(op, a, aShape, b, bShape, out, outShape);
      }
      sync();
      addon.binary(code, a, b as Float32Array | Uint8Array, out, n, place[0], place[1]);
    },
  };
}
