/**
 * Integer elementwise kernels: qadd (TFLite's quantized Add), qrequantize (scale/zero-point
 * change between two quantized tensors) and qconcat (requantize each input to the output's
 * parameters; a plain copy when they already agree). Integer-only; multipliers are computed
 * offline by params.ts. Called by Int8Model (residual adds, concatenation, dtype changes) and
 * the ONNX QLinearAdd / QLinearConcat importers.
 */
import { ShapeError, ValueError, fmtShape } from "../../tensor/errors.js";
import { type QuantizedMultiplier, multiplyByQuantizedMultiplier } from "../fixed-point.js";
import {
  type QuantArray, type QuantDType, type QuantResult,
  checkQuantDType, checkZeroPoint, clampRange, outputArray, quantDTypeOf, requantizeOne,
} from "./common.js";
import { wasmPathsActive } from "../../backend/index.js";
import { lut8Wasm, qaddWasm } from "../../backend/wasm/int8.js";
import { WASM_MIN_ELEMENTS as WASM_MIN } from "../../backend/wasm/runtime.js";

/** A per-tensor multiplier M = multiplier·2^(shift − 31) (see quantizeMultiplier). */
function checkMultiplier(op: string, name: string, m: QuantizedMultiplier): void {
  if (!Number.isInteger(m.multiplier) || m.multiplier < 0 || m.multiplier > 2147483647 ||
      !Number.isInteger(m.shift) || m.shift < -31 || m.shift > 30) {
    throw new ValueError(`${op}: ${name} must have multiplier ∈ [0, 2^31 − 1] and shift ∈ [−31, 30], got ${m.multiplier}, ${m.shift}`);
  }
}

export interface QAddArgs {
  a: QuantArray; aZp: number;
  b: QuantArray; bZp: number;
  /** Sa / (2·max(Sa, Sb)), Sb / (2·max(Sa, Sb)) and 2·max(Sa, Sb) / (2^leftShift·Sout): see qaddParams. */
  aMultiplier: QuantizedMultiplier;
  bMultiplier: QuantizedMultiplier;
  outMultiplier: QuantizedMultiplier;
  outZp: number;
  outDType: QuantDType;
  /** Headroom shift applied to both inputs before rescaling (TFLite: 20 for 8-bit). */
  leftShift?: number;
  clampMin?: number;
  clampMax?: number;
  /** Optional shape, only echoed in the result (a and b must have equal lengths). */
  shape?: readonly number[];
  out?: QuantArray;
}

/**
 * TFLite quantized Add (reference_ops::AddElementwise), elementwise over equal shapes:
 *   a' = (a − aZp)·2^20                  |a'| ≤ 255·2^20 < 2^28
 *   â  = MBQM(a', Ma)                    |â| ≤ |a'|/2  (Ma ≤ 1/2)       likewise b̂
 *   s  = â + b̂                           |s| < 2^28
 *   y  = clamp(outZp + MBQM(s, Mout), clampMin, clampMax)
 * The 2^20 headroom keeps ~20 fractional bits through the rescale to the common scale
 * 2·max(Sa, Sb)/2^20, so rounding happens (almost) only once, at the output.
 */
export function qadd(args: QAddArgs): QuantResult {
  const OP = "qadd";
  const aType = quantDTypeOf(OP, "a", args.a);
  const bType = quantDTypeOf(OP, "b", args.b);
  const outType = checkQuantDType(OP, "outDType", args.outDType);
  if (args.a.length !== args.b.length) throw new ShapeError(`${OP}: a and b must have the same number of elements, got ${args.a.length} and ${args.b.length}`);
  checkZeroPoint(OP, "aZp", args.aZp, aType);
  checkZeroPoint(OP, "bZp", args.bZp, bType);
  checkZeroPoint(OP, "outZp", args.outZp, outType);
  checkMultiplier(OP, "aMultiplier", args.aMultiplier);
  checkMultiplier(OP, "bMultiplier", args.bMultiplier);
  checkMultiplier(OP, "outMultiplier", args.outMultiplier);
  const leftShift = args.leftShift ?? 20;
  if (!Number.isInteger(leftShift) || leftShift < 0 || leftShift > 22) throw new ValueError(`${OP}: leftShift must be an integer in [0, 22] (255·2^22 < 2^31), got ${leftShift}`);
  const [lo, hi] = clampRange(OP, outType, args.clampMin, args.clampMax);
  const n = args.a.length;
  const out = outputArray(OP, args.out, outType, n);
  const { a, b, aZp, bZp, outZp } = args;
  const am = args.aMultiplier.multiplier, as = args.aMultiplier.shift;
  const bm = args.bMultiplier.multiplier, bs = args.bMultiplier.shift;
  const om = args.outMultiplier.multiplier, os = args.outMultiplier.shift;
  if (n >= WASM_MIN && wasmPathsActive()) {
    qaddWasm(a, aZp, b, bZp, { a: [am, as], b: [bm, bs], out: [om, os], yZp: outZp, lo, hi, leftShift }, out);
    return { data: out, shape: args.shape ? [...args.shape] : [n] };
  }
  const scale = 1 << leftShift;
  for (let i = 0; i < n; i++) {
    const aScaled = multiplyByQuantizedMultiplier((a[i] - aZp) * scale, am, as);
    const bScaled = multiplyByQuantizedMultiplier((b[i] - bZp) * scale, bm, bs);
    out[i] = requantizeOne(aScaled + bScaled, om, os, outZp, lo, hi);
  }
  return { data: out, shape: args.shape ? [...args.shape] : [n] };
}

export interface QRequantizeArgs {
  x: QuantArray; xZp: number;
  /** M = Sx / Sy. */
  multiplier: QuantizedMultiplier;
  yZp: number;
  outDType: QuantDType;
  clampMin?: number;
  clampMax?: number;
  shape?: readonly number[];
  out?: QuantArray;
}

/** Whether M = 1 exactly: multiplier 2^30 with shift 1 (2^30·2^(1−31) = 1). */
function isUnitMultiplier(m: QuantizedMultiplier): boolean {
  return m.multiplier === 1073741824 && m.shift === 1;
}

/**
 * y = clamp(yZp + MBQM(x − xZp, M), clampMin, clampMax): re-expresses r = Sx(x − xZp) on the
 * scale Sy. x − xZp ∈ [−255, 255]; for M ≥ 2^8 the left shift saturates, but then every
 * nonzero input already saturates the output range, so the clamp result is unchanged.
 * A plain copy when M = 1, the zero points and dtypes agree and the clamp is the full range.
 */
export function qrequantize(args: QRequantizeArgs): QuantResult {
  const OP = "qrequantize";
  const xType = quantDTypeOf(OP, "x", args.x);
  const outType = checkQuantDType(OP, "outDType", args.outDType);
  checkZeroPoint(OP, "xZp", args.xZp, xType);
  checkZeroPoint(OP, "yZp", args.yZp, outType);
  checkMultiplier(OP, "multiplier", args.multiplier);
  const [lo, hi] = clampRange(OP, outType, args.clampMin, args.clampMax);
  const n = args.x.length;
  const out = outputArray(OP, args.out, outType, n);
  const shape = args.shape ? [...args.shape] : [n];
  requantizeRange(args.x, 0, args.xZp, xType, args.multiplier, args.yZp, outType, lo, hi, out, 0, n);
  return { data: out, shape };
}

/** out[o + i] = requantized x[s + i] for i < len (the copy fast path when it is the identity). */
function requantizeRange(
  x: QuantArray, s: number, xZp: number, xType: QuantDType, m: QuantizedMultiplier,
  yZp: number, outType: QuantDType, lo: number, hi: number, out: QuantArray, o: number, len: number,
): void {
  const [qlo, qhi] = outType === "uint8" ? [0, 255] : [-128, 127];
  if (isUnitMultiplier(m) && xZp === yZp && xType === outType && lo === qlo && hi === qhi) {
    out.set(x.subarray(s, s + len), o);
    return;
  }
  if (len < 512) {
    for (let i = 0; i < len; i++) out[o + i] = requantizeOne(x[s + i] - xZp, m.multiplier, m.shift, yZp, lo, hi);
    return;
  }
  // The result depends on the 8-bit input alone: a 256-entry table of the same requantizeOne.
  const base = xType === "uint8" ? 0 : -128;
  const lut = new Int16Array(256);
  for (let v = 0; v < 256; v++) lut[v] = requantizeOne(v + base - xZp, m.multiplier, m.shift, yZp, lo, hi);
  if (wasmPathsActive() && s === 0 && o === 0 && len === x.length && len === out.length) {
    lut8Wasm(x, new Uint8Array(lut), out); // the output bytes (int8 values wrap to their two's complement)
    return;
  }
  for (let i = 0; i < len; i++) out[o + i] = lut[x[s + i] - base];
}

export interface QConcatInput {
  x: QuantArray;
  shape: readonly number[];
  zp: number;
  /** M = S_input / S_out; omitted means the input already has the output's scale. */
  multiplier?: QuantizedMultiplier;
}

export interface QConcatArgs {
  inputs: readonly QConcatInput[];
  axis: number;
  outZp: number;
  outDType: QuantDType;
  out?: QuantArray;
}

/**
 * Concatenation along `axis`; each input is requantized to (S_out, outZp) exactly as
 * qrequantize (identity = copy). Shapes must agree except along axis.
 */
export function qconcat(args: QConcatArgs): QuantResult {
  const OP = "qconcat";
  const { inputs, outZp } = args;
  if (inputs.length === 0) throw new ValueError(`${OP}: needs at least one input`);
  const outType = checkQuantDType(OP, "outDType", args.outDType);
  checkZeroPoint(OP, "outZp", outZp, outType);
  const rank = inputs[0].shape.length;
  const axis = args.axis < 0 ? args.axis + rank : args.axis;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) throw new ValueError(`${OP}: axis ${args.axis} out of range for rank ${rank}`);
  const outShape = [...inputs[0].shape];
  outShape[axis] = 0;
  inputs.forEach((inp, i) => {
    const t = quantDTypeOf(OP, `inputs[${i}].x`, inp.x);
    checkZeroPoint(OP, `inputs[${i}].zp`, inp.zp, t);
    if (inp.multiplier) checkMultiplier(OP, `inputs[${i}].multiplier`, inp.multiplier);
    const n = inp.shape.reduce((p, d) => p * d, 1);
    const fits = inp.shape.length === rank && inp.shape.every((d, k) => k === axis || d === inputs[0].shape[k]);
    if (!fits || n !== inp.x.length) {
      throw new ShapeError(`${OP}: inputs[${i}] shape ${fmtShape(inp.shape)} (${inp.x.length} elements) does not fit ${fmtShape(inputs[0].shape)} along axis ${axis}`);
    }
    outShape[axis] += inp.shape[axis];
  });
  const outer = outShape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = outShape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const total = outer * outShape[axis] * inner;
  const out = outputArray(OP, args.out, outType, total);
  const [lo, hi] = outType === "uint8" ? [0, 255] : [-128, 127];
  let offset = 0;
  for (const inp of inputs) {
    const chunk = inp.shape[axis] * inner;
    const m = inp.multiplier ?? { multiplier: 1073741824, shift: 1 };
    const t = quantDTypeOf(OP, "x", inp.x);
    for (let o = 0; o < outer; o++) {
      requantizeRange(inp.x, o * chunk, inp.zp, t, m, outZp, outType, lo, hi, out, o * outShape[axis] * inner + offset, chunk);
    }
    offset += chunk;
  }
  return { data: out, shape: outShape };
}

export interface QLutArgs {
  x: QuantArray;
  /** 256 output values by input value − qmin(x dtype) (see lutTable). */
  table: Int32Array;
  outDType: QuantDType;
  shape?: readonly number[];
}

/** y[i] = table[x[i] − qmin]: an 8-bit elementwise function (Sigmoid) as a table lookup. */
export function qlut(args: QLutArgs): QuantResult {
  const OP = "qlut";
  const xType = quantDTypeOf(OP, "x", args.x);
  const outType = checkQuantDType(OP, "outDType", args.outDType);
  if (!(args.table instanceof Int32Array) || args.table.length !== 256) throw new ShapeError(`${OP}: table must be an Int32Array of 256 entries`);
  const [lo, hi] = outType === "uint8" ? [0, 255] : [-128, 127];
  for (const v of args.table) if (!(v >= lo && v <= hi)) throw new ValueError(`${OP}: table entry ${v} outside the ${outType} range`);
  const { x, table } = args;
  const n = x.length;
  const out = outputArray(OP, undefined, outType, n);
  const base = xType === "uint8" ? 0 : -128;
  if (n >= WASM_MIN && wasmPathsActive()) lut8Wasm(x, new Uint8Array(table), out);
  else for (let i = 0; i < n; i++) out[i] = table[x[i] - base];
  return { data: out, shape: args.shape ? [...args.shape] : [n] };
}
