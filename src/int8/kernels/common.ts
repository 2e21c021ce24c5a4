/**
 * Shared pieces of the integer kernels: the quantized array types, argument validation
 * (every kernel validates everything before computing, throwing a typed error that names the
 * kernel and the argument at fault), and the per-element requantize-and-clamp step.
 * Called by every file in src/int8/kernels/.
 */
import { DTypeError, ShapeError, ValueError, fmtShape } from "../../tensor/errors.js";
import { INT32_MAX, multiplyByQuantizedMultiplierSingleRounding } from "../fixed-point.js";
import { allocArray } from "../../tensor/dtype.js";
import { isPacked } from "./packed.js";

/** Storage dtypes of quantized activations. Weights are always int8. */
export type QuantDType = "uint8" | "int8";
export type QuantArray = Uint8Array | Int8Array;

/** Per-channel (length = channels) or per-tensor (length 1) fixed-point multipliers. */
export interface Requant {
  /** Q31 mantissas M0 ∈ [0, 2^31 − 1] (see fixed-point.ts quantizeMultiplier). */
  multiplier: Int32Array;
  /** Exponents ∈ [−31, 30]: M = M0 · 2^(shift − 31). */
  shift: Int32Array;
}

/** A quantized tensor as the kernels return it: NCHW / row-major data plus its shape. */
export interface QuantResult<A extends QuantArray = QuantArray> {
  data: A;
  shape: number[];
}

/** Inclusive storage range of a quantized dtype. */
export function qrange(dtype: QuantDType): [number, number] {
  return dtype === "uint8" ? [0, 255] : [-128, 127];
}

/** The dtype a quantized array stores; DTypeError for anything else. */
export function quantDTypeOf(op: string, name: string, a: unknown): QuantDType {
  if (a instanceof Uint8Array) return "uint8";
  if (a instanceof Int8Array) return "int8";
  const got = a === null || a === undefined ? String(a) : (a as object).constructor.name;
  throw new DTypeError(`${op}: ${name} must be a Uint8Array or Int8Array, got ${got}`);
}

/** Checks the dtype name requested for an output. */
export function checkQuantDType(op: string, name: string, d: string): QuantDType {
  if (d === "uint8" || d === "int8") return d;
  throw new DTypeError(`${op}: ${name} must be 'uint8' or 'int8', got '${d}'`);
}

/** Elements from which allocQuant places an array in wasm memory (when that backend is active). */
const WASM_RESIDENT_MIN = 1 << 16;

export function allocQuant(dtype: QuantDType, n: number): QuantArray {
  // Large activations live inside wasm memory while that backend is active (kernels use them in
  // place); small ones are plain arrays — copying a few KB costs less than a tracked block.
  if (n >= WASM_RESIDENT_MIN) return allocArray(dtype, n);
  return dtype === "uint8" ? new Uint8Array(n) : new Int8Array(n);
}

/** Checks that `shape` has `rank` positive integer dims whose product is `length`. */
export function checkShapeOf(op: string, name: string, shape: readonly number[], rank: number, length: number): void {
  if (shape.length !== rank || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${op}: ${name} must have rank ${rank} with positive dims, got ${fmtShape(shape)}`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== length) {
    throw new ShapeError(`${op}: ${name} ${fmtShape(shape)} holds ${n} elements but the array has ${length}`);
  }
}

/** Checks a zero point: an integer inside the storage range of `dtype`. */
export function checkZeroPoint(op: string, name: string, zp: number, dtype: QuantDType): void {
  const [lo, hi] = qrange(dtype);
  if (!Number.isInteger(zp) || zp < lo || zp > hi) {
    throw new ValueError(`${op}: ${name} must be an integer in [${lo}, ${hi}] for ${dtype}, got ${zp}`);
  }
}

/** The output clamp range [lo, hi] (defaults: the dtype range); must lie inside it, lo ≤ hi. */
export function clampRange(op: string, dtype: QuantDType, clampMin?: number, clampMax?: number): [number, number] {
  const [qlo, qhi] = qrange(dtype);
  const lo = clampMin ?? qlo;
  const hi = clampMax ?? qhi;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < qlo || hi > qhi || lo > hi) {
    throw new ValueError(`${op}: clamp [${lo}, ${hi}] must be integers with ${qlo} ≤ clampMin ≤ clampMax ≤ ${qhi} (${dtype})`);
  }
  return [lo, hi];
}

/** Checks a Requant of length `channels` (or 1 when `allowPerTensor`): M0 ≥ 0, shift ∈ [−31, 30]. */
export function checkRequant(op: string, name: string, r: Requant, channels: number, allowPerTensor = true): void {
  if (!(r.multiplier instanceof Int32Array) || !(r.shift instanceof Int32Array)) {
    throw new DTypeError(`${op}: ${name}.multiplier and ${name}.shift must be Int32Arrays`);
  }
  const n = r.multiplier.length;
  if (n !== r.shift.length || (n !== channels && !(allowPerTensor && n === 1))) {
    throw new ShapeError(
      `${op}: ${name} needs ${channels}${allowPerTensor ? " (or 1)" : ""} multipliers and shifts, got ${n} and ${r.shift.length}`,
    );
  }
  for (let i = 0; i < n; i++) {
    if (r.multiplier[i] < 0) throw new ValueError(`${op}: ${name}.multiplier[${i}] = ${r.multiplier[i]} must be ≥ 0`);
    if (r.shift[i] < -31 || r.shift[i] > 30) throw new ValueError(`${op}: ${name}.shift[${i}] = ${r.shift[i]} must be in [−31, 30]`);
  }
}

/** A Requant expanded to exactly `channels` entries (a per-tensor one is repeated). */
export function expandRequant(r: Requant, channels: number): Requant {
  if (r.multiplier.length === channels) return r;
  return { multiplier: new Int32Array(channels).fill(r.multiplier[0]), shift: new Int32Array(channels).fill(r.shift[0]) };
}

/** Checks an optional preallocated output: right dtype and length. Returns it or a fresh one. */
export function outputArray(op: string, out: QuantArray | undefined, dtype: QuantDType, n: number): QuantArray {
  if (out === undefined) return allocQuant(dtype, n);
  if (quantDTypeOf(op, "out", out) !== dtype) throw new DTypeError(`${op}: out must be ${dtype}`);
  if (out.length !== n) throw new ShapeError(`${op}: out holds ${out.length} elements, expected ${n}`);
  return out;
}

/**
 * Throws unless every |accumulator| bound fits int32. `bound[c]` is the kernel's worst case
 * for output channel c (documented per kernel), computed from the weights before any work.
 */
export function checkAccumulatorBound(op: string, bound: Float64Array): void {
  for (let c = 0; c < bound.length; c++) {
    if (bound[c] > INT32_MAX) {
      throw new ValueError(`${op}: int32 accumulator of output channel ${c} could overflow (worst case ${bound[c]} > 2^31 − 1)`);
    }
  }
}

/**
 * The requantization of one accumulator (Jacob et al. eq. 7), rounding once:
 *   y = clamp(yZp + MultiplyByQuantizedMultiplierSingleRounding(acc, M0, shift), lo, hi)
 * acc ∈ int32; the MBQM result is an int32 and yZp + it is exact in a double.
 */
export function requantizeOne(acc: number, m0: number, shift: number, yZp: number, lo: number, hi: number): number {
  const y = yZp + multiplyByQuantizedMultiplierSingleRounding(acc, m0, shift);
  return y < lo ? lo : y > hi ? hi : y;
}

/** Largest |x − zp| over the storage range of x's dtype (255 at most). */
export function maxDeviation(dtype: QuantDType, zp: number): number {
  const [lo, hi] = qrange(dtype);
  return Math.max(zp - lo, hi - zp);
}

/**
 * Integer division rounded to nearest, ties away from zero (TFLite's average-pool rule):
 *   roundDiv(a, n) = sign(a) · floor((|a| + floor(n/2)) / n),  n ≥ 1, |a| < 2^31.
 * The double quotient is exact enough: its error (≤ 2^-22 / n) is below the 1/n gap to the
 * next integer, so Math.floor returns the true floor.
 */
export function roundDiv(a: number, n: number): number {
  const half = Math.floor(n / 2);
  return a >= 0 ? Math.floor((a + half) / n) : 0 - Math.floor((half - a) / n); // 0 − q: never −0
}

/** Checks a positive safe integer option. */
export function checkPositiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ValueError(`${op}: ${name} must be a positive integer, got ${v}`);
}

/** Normalises a scalar-or-pair option to [h, w]. */
export function pair(v: number | readonly [number, number] | undefined, dflt: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

/** Shared arguments of the weight layers (qconv2d, qlinear) checked by checkLayerArgs. */
export interface WeightLayerArgs {
  xZp: number;
  bias: Int32Array | null;
  requant: Requant;
  yZp: number;
  clampMin?: number;
  clampMax?: number;
}

/**
 * Checks what qconv2d and qlinear have in common — the zero points, an int32 bias per output
 * channel (or null), the requantization — and returns the output clamp [lo, hi].
 */
export function checkLayerArgs(op: string, a: WeightLayerArgs, xDType: QuantDType, outDType: QuantDType, outChannels: number): [number, number] {
  checkZeroPoint(op, "xZp", a.xZp, xDType);
  checkZeroPoint(op, "yZp", a.yZp, outDType);
  if (a.bias !== null && (!(a.bias instanceof Int32Array) || a.bias.length !== outChannels)) {
    throw new ShapeError(`${op}: bias must be null or an Int32Array of ${outChannels} elements`);
  }
  checkRequant(op, "requant", a.requant, outChannels);
  return clampRange(op, outDType, a.clampMin, a.clampMax);
}

/** Int8 weights (or packed ones): their element count; a typed error for anything else. */
export function weightLength(op: string, w: unknown): number {
  if (isPacked(w)) return w.outChannels * w.K;
  if (!(w instanceof Int8Array)) throw new DTypeError(`${op}: w must be an Int8Array (or packed weights), got ${(w as object)?.constructor?.name}`);
  return w.length;
}

/** Weight zero points: one int8-range value, or one per output channel. */
export function checkWeightZeroPoints(op: string, wZp: number | Int32Array, outChannels: number): void {
  for (const z of typeof wZp === "number" ? [wZp] : wZp) checkZeroPoint(op, "wZp", z, "int8");
  if (typeof wZp !== "number" && wZp.length !== outChannels) throw new ShapeError(`${op}: ${wZp.length} weight zero points for ${outChannels} output channels`);
}
