/**
 * The float boundary of the integer engine: quantizeTensor / quantizePerChannel at the model
 * entry (and for weights at conversion), dequantizeTensor / dequantizePerChannel at the exit.
 * These are the only kernels that touch float values.
 *
 *   q = clamp(roundHalfEven(x / S) + Z, qmin, qmax)      (ONNX QuantizeLinear, PyTorch)
 *   r = S · (q − Z)                                      (DequantizeLinear, dequantize())
 *
 * S is a float32 in every reference (ONNX stores float32 scales, PyTorch's qparams are float
 * on CPU), so we round it with Math.fround and divide in float32 (the double quotient of two
 * float32 values rounded once to float32 is the correctly rounded float32 quotient), which is
 * onnxruntime's `x / scale` bit for bit. PyTorch's fbgemm multiplies by the float32 reciprocal
 * 1/S instead, which can move a value across a rounding tie: ±1 quantum (docs/NUMERICS.md).
 * With the wasm backend active, float32 tensors of ≥ 1024 elements go through the SIMD
 * loops of assembly/quantize.ts (the same arithmetic: f32x4.div, nearest, clamp).
 * Called by Int8Model (input/output), model conversion (weights) and tests.
 */
import { DTypeError, ShapeError, ValueError, fmtShape } from "../../tensor/errors.js";
import { allocArray } from "../../tensor/dtype.js";
import { wasmPathsActive } from "../../backend/index.js";
import { dequantizeF32Wasm, quantizeF32Wasm } from "../../backend/wasm/int8.js";
import { WASM_MIN_ELEMENTS as WASM_MIN } from "../../backend/wasm/runtime.js";
import { type QuantArray, type QuantDType, allocQuant, checkQuantDType, qrange, quantDTypeOf } from "./common.js";

type FloatInput = Float32Array | Float64Array | readonly number[];

/** Round to nearest, ties to even (numpy.round / std::nearbyint in the default mode). */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f; // exact for |v| < 2^52; larger doubles are integers already (d = 0)
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function checkScale(op: string, name: string, s: number): number {
  const s32 = Math.fround(s);
  if (!Number.isFinite(s32) || !(s32 > 0)) throw new ValueError(`${op}: ${name} must be a positive finite float32, got ${s}`);
  return s32;
}

/** Checks [qmin, qmax] and zp ∈ [qmin, qmax], both inside the storage dtype. */
function checkQRange(op: string, qmin: number, qmax: number, dtype: QuantDType, zp?: number): void {
  const [lo, hi] = qrange(dtype);
  if (!Number.isInteger(qmin) || !Number.isInteger(qmax) || qmin < lo || qmax > hi || qmin >= qmax) {
    throw new ValueError(`${op}: [qmin, qmax] = [${qmin}, ${qmax}] must be integers with ${lo} ≤ qmin < qmax ≤ ${hi} (${dtype})`);
  }
  if (zp !== undefined && (!Number.isInteger(zp) || zp < qmin || zp > qmax)) {
    throw new ValueError(`${op}: zero point ${zp} must be an integer in [${qmin}, ${qmax}]`);
  }
}

/** The storage dtype: explicit, or uint8 when qmin ≥ 0 and int8 otherwise. */
function storageOf(op: string, qmin: number, dtype: QuantDType | undefined): QuantDType {
  return dtype === undefined ? (qmin >= 0 ? "uint8" : "int8") : checkQuantDType(op, "dtype", dtype);
}

/** q = clamp(x ⊘ S + Z) for one value, with ⊘ the float32 division rounded half to even. */
function quantizeOne(op: string, v: number, index: number, s32: number, zp: number, qmin: number, qmax: number): number {
  if (v !== v) throw new ValueError(`${op}: NaN at index ${index} cannot be quantized`);
  const q = roundHalfEven(Math.fround(v / s32)) + zp;
  return q < qmin ? qmin : q > qmax ? qmax : q;
}

/**
 * Per-tensor affine quantization of float values (model entry). ±Infinity saturate to
 * qmin/qmax; NaN throws ValueError. dtype defaults to uint8 when qmin ≥ 0, else int8.
 */
export function quantizeTensor(x: FloatInput, scale: number, zp: number, qmin: number, qmax: number, dtype?: QuantDType): QuantArray {
  const OP = "quantizeTensor";
  const d = storageOf(OP, qmin, dtype);
  checkQRange(OP, qmin, qmax, d, zp);
  const s32 = checkScale(OP, "scale", scale);
  const out = allocQuant(d, x.length);
  if (x instanceof Float32Array && x.length >= WASM_MIN && wasmPathsActive()) {
    const nan = quantizeF32Wasm(x, s32, zp, qmin, qmax, out);
    if (nan >= 0) quantizeOne(OP, x[nan], nan, s32, zp, qmin, qmax); // throws the NaN error
    return out;
  }
  for (let i = 0; i < x.length; i++) out[i] = quantizeOne(OP, x[i], i, s32, zp, qmin, qmax);
  return out;
}

/** Size of the dims before `axis`, along it, and after it; validates shape and axis. */
function axisSplit(op: string, shape: readonly number[], length: number, axis: number): [number, number, number] {
  const ax = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(ax) || ax < 0 || ax >= shape.length) throw new ValueError(`${op}: axis ${axis} out of range for shape ${fmtShape(shape)}`);
  const n = shape.reduce((p, v) => p * v, 1);
  if (n !== length) throw new ShapeError(`${op}: shape ${fmtShape(shape)} holds ${n} elements but the array has ${length}`);
  const outer = shape.slice(0, ax).reduce((p, v) => p * v, 1);
  const inner = shape.slice(ax + 1).reduce((p, v) => p * v, 1);
  return [outer, shape[ax], inner];
}

/** Per-channel quantization along `axis` (weights: axis 0), scales[c] and zps[c] per channel. */
export function quantizePerChannel(
  x: FloatInput, shape: readonly number[], axis: number,
  scales: ArrayLike<number>, zps: ArrayLike<number>, qmin: number, qmax: number, dtype?: QuantDType,
): QuantArray {
  const OP = "quantizePerChannel";
  const d = storageOf(OP, qmin, dtype);
  const [outer, channels, inner] = axisSplit(OP, shape, x.length, axis);
  if (scales.length !== channels || zps.length !== channels) {
    throw new ShapeError(`${OP}: ${channels} channels along axis ${axis} but ${scales.length} scales and ${zps.length} zero points`);
  }
  checkQRange(OP, qmin, qmax, d);
  const s32 = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    s32[c] = checkScale(OP, `scales[${c}]`, scales[c]);
    checkQRange(OP, qmin, qmax, d, zps[c]);
  }
  const out = allocQuant(d, x.length);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      for (let k = 0; k < inner; k++, i++) out[i] = quantizeOne(OP, x[i], i, s32[c], zps[c], qmin, qmax);
    }
  }
  return out;
}

/** r = S·(q − Z) as float32 (model exit): exact product in double, rounded once = float32 math. */
export function dequantizeTensor(q: QuantArray | Int32Array, scale: number, zp: number): Float32Array {
  const OP = "dequantizeTensor";
  if (!(q instanceof Int32Array)) quantDTypeOf(OP, "q", q);
  if (!Number.isInteger(zp)) throw new ValueError(`${OP}: zero point must be an integer, got ${zp}`);
  const s32 = checkScale(OP, "scale", scale);
  const out = allocArray("float32", q.length);
  if (!(q instanceof Int32Array) && q.length >= WASM_MIN && wasmPathsActive()) dequantizeF32Wasm(q, s32, zp, out);
  else for (let i = 0; i < q.length; i++) out[i] = (q[i] - zp) * s32;
  return out;
}

/** Per-channel dequantization along `axis`. */
export function dequantizePerChannel(
  q: QuantArray | Int32Array, shape: readonly number[], axis: number, scales: ArrayLike<number>, zps: ArrayLike<number>,
): Float32Array {
  const OP = "dequantizePerChannel";
  if (!(q instanceof Int32Array) && !(q instanceof Int8Array) && !(q instanceof Uint8Array)) {
    throw new DTypeError(`${OP}: q must be an Int8Array, Uint8Array or Int32Array`);
  }
  const [outer, channels, inner] = axisSplit(OP, shape, q.length, axis);
  if (scales.length !== channels || zps.length !== channels) {
    throw new ShapeError(`${OP}: ${channels} channels along axis ${axis} but ${scales.length} scales and ${zps.length} zero points`);
  }
  const out = new Float32Array(q.length);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s32 = checkScale(OP, `scales[${c}]`, scales[c]);
      for (let k = 0; k < inner; k++, i++) out[i] = (q[i] - zps[c]) * s32;
    }
  }
  return out;
}
