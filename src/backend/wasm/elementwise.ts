/**
 * Wasm elementwise kernels (unary, binary, clamp) over assembly/elementwise.ts, for float32
 * arrays that already live in wasm memory and are large enough to beat the call overhead;
 * everything else (small arrays, other dtypes, ops without a SIMD version, general
 * broadcasting, arrays outside wasm memory — copying them would cost as much as the op)
 * runs the reference kernel. Covered: same-shape operands, a scalar right operand, a row
 * vector broadcast over rows (bias add), float × uint8 mask (the ReLU vjp), comparisons to
 * uint8, and the unary ops listed in UNARY. Results equal the reference exactly.
 */
import type { AnyArray } from "../../tensor/dtype.js";
import type { Shape } from "../../tensor/shape.js";
import type { BinaryOp, UnaryOp } from "../kernels.js";
import * as ref from "../ref/elementwise.js";
import { type Runtime, WASM_MIN_ELEMENTS as MIN_ELEMENTS, runJobs, runtime, splitRange, threadCount } from "./runtime.js";
import type { Job } from "./threads.js";

/** Arrays at least this large are split across threads. */
const PARALLEL_MIN_ELEMENTS = 1 << 19;

const BINARY: Partial<Record<BinaryOp, number>> = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5 };
const COMPARE: Partial<Record<BinaryOp, number>> = { gt: 0, ge: 1, lt: 2, le: 3, eq: 4, ne: 5 };
const UNARY: Partial<Record<UnaryOp, number>> = { neg: 0, abs: 1, relu: 2, square: 3, sqrt: 4, reciprocal: 5 };

/** The runtime when every array is in wasm memory, else null. */
function inPlace(...arrays: AnyArray[]): Runtime | null {
  const r = runtime();
  for (const a of arrays) if (!r.heap.owns(a)) return null;
  return r;
}

/** Runs fn over [0, n) in element ranges (multiples of 16) on one or more threads. */
function runSplit(r: Runtime, n: number, job: (lo: number, hi: number) => Job): void {
  const threads = n >= PARALLEL_MIN_ELEMENTS ? threadCount() : 1;
  runJobs(r, splitRange(n, threads, 16).map(([lo, hi]) => job(lo, hi)));
}

export function unary(op: UnaryOp, x: AnyArray, out: AnyArray): void {
  const code = UNARY[op];
  const r = code !== undefined && x.length >= MIN_ELEMENTS && x instanceof Float32Array && out instanceof Float32Array ? inPlace(x, out) : null;
  if (!r) return ref.unary(op, x, out);
  const px = x.byteOffset, po = out.byteOffset;
  runSplit(r, x.length, (lo, hi) => ({ fn: "unaryF32", args: [code!, px + 4 * lo, po + 4 * lo, hi - lo] }));
}

export function clamp(x: AnyArray, lo: number, hi: number, out: AnyArray): void {
  const r = x.length >= MIN_ELEMENTS && x instanceof Float32Array && out instanceof Float32Array ? inPlace(x, out) : null;
  if (!r) return ref.clamp(x, lo, hi, out);
  const px = x.byteOffset, po = out.byteOffset;
  runSplit(r, x.length, (a, b) => ({ fn: "clampF32", args: [px + 4 * a, lo, hi, po + 4 * a, b - a] }));
}

/** Trailing-dims length when b (shape) broadcasts as a row repeated over outShape's leading dims, else 0. */
function rowLength(bShape: Shape, outShape: Shape): number {
  let i = 0;
  while (i < bShape.length && bShape[i] === 1) i++;
  const tail = bShape.slice(i);
  if (tail.length === 0 || tail.length > outShape.length) return 0;
  const off = outShape.length - tail.length;
  for (let j = 0; j < tail.length; j++) if (tail[j] !== outShape[off + j]) return 0;
  return tail.reduce((p, d) => p * d, 1);
}

export function binary(op: BinaryOp, a: AnyArray, aShape: Shape, b: AnyArray, bShape: Shape, out: AnyArray, outShape: Shape): void {
  if (!fastBinary(op, a, aShape, b, bShape, out, outShape)) ref.binary(op, a, aShape, b, bShape, out, outShape);
}

/** Runs a SIMD binary kernel when one applies; false otherwise. */
function fastBinary(op: BinaryOp, a: AnyArray, aShape: Shape, b: AnyArray, bShape: Shape, out: AnyArray, outShape: Shape): boolean {
  const n = out.length;
  if (n < MIN_ELEMENTS) return false;
  // add and mul commute exactly: put the full float32 operand on the left.
  const swap = (op === "add" || op === "mul") && b.length === n && b instanceof Float32Array && !(a.length === n && a instanceof Float32Array);
  if (swap) return fastBinary(op, b, bShape, a, aShape, out, outShape);
  if (a.length !== n) return false;
  const code = BINARY[op];
  if (out instanceof Float32Array && a instanceof Float32Array && code !== undefined) {
    if (b instanceof Float32Array) return floatBinary(code, a, b, bShape, out, outShape);
    if (b instanceof Uint8Array && b.length === n && code <= 3) return run(inPlace(a, b, out), n, (lo, hi) => job("binaryF32U8", code, a, b, out, lo, hi));
    return false;
  }
  const cmp = COMPARE[op];
  if (out instanceof Uint8Array && a instanceof Float32Array && b instanceof Float32Array && cmp !== undefined) {
    if (b.length === n) return run(inPlace(a, b, out), n, (lo, hi) => compareJob(cmp, a, b, 0, out, lo, hi));
    if (b.length === 1) return run(inPlace(a, out), n, (lo, hi) => compareJob(cmp, a, Float32Array.of(b[0]), 1, out, lo, hi));
  }
  return false;
}

function floatBinary(code: number, a: Float32Array, b: Float32Array, bShape: Shape, out: Float32Array, outShape: Shape): boolean {
  const n = out.length;
  if (b.length === n) return run(inPlace(a, b, out), n, (lo, hi) => job("binaryF32", code, a, b, out, lo, hi));
  if (b.length === 1) {
    const s = b[0];
    return run(inPlace(a, out), n, (lo, hi) => ({ fn: "binaryScalarF32", args: [code, a.byteOffset + 4 * lo, s, out.byteOffset + 4 * lo, hi - lo] }));
  }
  const cols = rowLength(bShape, outShape);
  if (cols === 0 || cols !== b.length) return false;
  const r = inPlace(a, b, out);
  if (!r) return false;
  runJobs(r, [{ fn: "binaryRowF32", args: [code, a.byteOffset, b.byteOffset, out.byteOffset, n / cols, cols] }]);
  return true;
}

function job(fn: "binaryF32" | "binaryF32U8", code: number, a: AnyArray, b: AnyArray, out: AnyArray, lo: number, hi: number): Job {
  return { fn, args: [code, a.byteOffset + 4 * lo, b.byteOffset + b.BYTES_PER_ELEMENT * lo, out.byteOffset + 4 * lo, hi - lo] };
}

function compareJob(code: number, a: Float32Array, b: Float32Array, scalar: number, out: Uint8Array, lo: number, hi: number): Job {
  const pb = scalar ? stageScalar(b[0]) : b.byteOffset + 4 * lo;
  return { fn: "compareF32", args: [code, a.byteOffset + 4 * lo, pb, scalar, out.byteOffset + lo, hi - lo] };
}

/** A persistent 16-byte cell holding one f32 (the scalar operand of comparisons). */
let scalarCell = -1;
function stageScalar(v: number): number {
  const r = runtime();
  if (scalarCell < 0) scalarCell = r.heap.bump(16, r.heap.maxBytes);
  new Float32Array(r.heap.buffer, scalarCell, 1)[0] = v;
  return scalarCell;
}

function run(r: Runtime | null, n: number, job: (lo: number, hi: number) => Job): boolean {
  if (!r) return false;
  runSplit(r, n, job);
  return true;
}
