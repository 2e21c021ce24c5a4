/**
 * Quantization parameters, pure math on numbers and typed arrays (no Tensor): choosing
 * (scale, zero point) from a float range as PyTorch 1.13 does, and the scalar affine maps
 *
 *   quantize:    q = clamp(rint(x · fl(1/S)) + Z, qmin, qmax)     (rint = round half to even)
 *   dequantize:  r = S · (q − Z)
 *   fake-quant:  x̂ = S · (clamp(rint(x · fl(1/S)) + Z, qmin, qmax) − Z)
 *
 * PyTorch multiplies by the float32 reciprocal fl(1/S) rather than dividing by S (the two
 * differ in the last bit for a few inputs); we do the same so codes match bit for bit.
 * All arithmetic that PyTorch performs in float32 is rounded with Math.fround at the same
 * places. Called by observer.ts, fake-quantize.ts, lsq.ts, convert and the int8 engine.
 */
import { ValueError } from "../tensor/errors.js";
import { type QuantDType, type QScheme, isSymmetric } from "./quant-spec.js";

const f32 = Math.fround;

/** A per-tensor scale (a float32 value) and integer zero point. */
export interface QParams {
  scale: number;
  zeroPoint: number;
}

/** Per-channel scales and zero points. */
export interface PerChannelQParams {
  scales: Float32Array;
  zeroPoints: Int32Array;
}

/** The part of a QuantSpec the qparams choice depends on. */
export interface QParamsSpec {
  readonly dtype: QuantDType;
  readonly qscheme: QScheme;
  readonly qmin: number;
  readonly qmax: number;
  readonly customRange: boolean;
  readonly eps: number;
}

/** C's nearbyint in the default rounding mode: round half to even. */
export function rint(v: number): number {
  const r = Math.round(v);
  // Math.round sends ties up; pull odd ties back down. `r & 1` keeps parity for any |r| < 2^53.
  return r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

function checkRange(minVal: number, maxVal: number, where: string): void {
  if (!(minVal <= maxVal)) throw new ValueError(`${where}: min ${minVal} should be less than max ${maxVal}`);
}

/**
 * PyTorch's UniformQuantizationObserverBase._calculate_qparams for one (min, max), in float32:
 *
 *   min⁻ = min(min, 0), max⁺ = max(max, 0)
 *   symmetric:  S = max(max(−min⁻, max⁺) / ((qmax − qmin)/2), eps),
 *               Z = 0 (int8/int32); uint8: 128, or ⌊(qmin+qmax)/2⌋ for a user range
 *   affine:     S = max((max⁺ − min⁻) / (qmax − qmin), eps),
 *               Z = clamp(qmin − rint(min⁻ / S), qmin, qmax)
 *
 * An unobserved range (min = +inf, max = −inf) gives S = 1, Z = 0, as PyTorch does.
 */
export function chooseQParams(minVal: number, maxVal: number, spec: QParamsSpec): QParams {
  if (minVal === Infinity && maxVal === -Infinity) return { scale: 1, zeroPoint: 0 };
  checkRange(minVal, maxVal, "chooseQParams");
  return chooseOne(f32(minVal), f32(maxVal), spec);
}

function chooseOne(minVal: number, maxVal: number, spec: QParamsSpec): QParams {
  const { qmin, qmax } = spec;
  const eps = f32(spec.eps);
  const minNeg = Math.min(minVal, 0);
  const maxPos = Math.max(maxVal, 0);
  if (isSymmetric(spec.qscheme)) {
    const amax = Math.max(-minNeg, maxPos);
    const scale = Math.max(f32(amax / f32((qmax - qmin) / 2)), eps);
    let zeroPoint = 0;
    if (spec.dtype === "uint8") zeroPoint = spec.customRange ? Math.floor((qmin + qmax) / 2) : 128;
    return { scale, zeroPoint };
  }
  const scale = Math.max(f32(f32(maxPos - minNeg) / f32(qmax - qmin)), eps);
  // PyTorch: quant_min − round(min⁻/S).to(torch.int), in wrapping int32 arithmetic, where an
  // out-of-range float → int32 conversion gives INT32_MIN (x86). Matters only for int32 ranges.
  const r = rint(f32(minNeg / scale));
  const rInt = r >= -(2 ** 31) && r < 2 ** 31 ? r : -(2 ** 31);
  const zp = (qmin - rInt) | 0;
  return { scale, zeroPoint: Math.min(Math.max(zp, qmin), qmax) };
}

/**
 * The per-channel form of chooseQParams (same formulas per channel). An empty range (an
 * observer that saw nothing) gives one channel with S = 1, Z = 0, as PyTorch does.
 */
export function chooseQParamsPerChannel(mins: ArrayLike<number>, maxs: ArrayLike<number>, spec: QParamsSpec): PerChannelQParams {
  if (mins.length !== maxs.length) throw new ValueError(`chooseQParamsPerChannel: ${mins.length} minimums but ${maxs.length} maximums`);
  if (mins.length === 0) return { scales: Float32Array.of(1), zeroPoints: Int32Array.of(0) };
  for (let c = 0; c < mins.length; c++) checkRange(mins[c], maxs[c], `chooseQParamsPerChannel (channel ${c})`);
  const scales = new Float32Array(mins.length);
  const zeroPoints = new Int32Array(mins.length);
  for (let c = 0; c < mins.length; c++) {
    const q = chooseOne(f32(mins[c]), f32(maxs[c]), spec);
    scales[c] = q.scale;
    zeroPoints[c] = q.zeroPoint;
  }
  return { scales, zeroPoints };
}

/** fbgemm's smallest scale (fp16's smallest normal), used by the fused observer kernel. */
const SMALL_SCALE_THRESHOLD = f32(6.1e-5);

/**
 * ATen quant_utils::ChooseQuantizationParams, which PyTorch's fused moving-average observer +
 * fake-quantize kernel (FusedMovingAvgObsFakeQuantize, the default QAT qconfigs) uses instead
 * of the Python formulas above. Differences: the scale is computed in float64 and has a floor
 * of 6.1e-5 (the range is widened to match), the zero point is nudged from the side with the
 * smaller rounding error, and symmetric ("preserve sparsity") ranges use
 * [−(n/2+1)·s, n/2·s] with n = qmax − qmin and Z = rint((qmin + qmax)/2).
 */
export function chooseQParamsFused(minVal: number, maxVal: number, qmin: number, qmax: number, preserveSparsity: boolean): QParams {
  checkRange(minVal, maxVal, "chooseQParamsFused");
  let min = f32(minVal);
  let max = f32(maxVal);
  if (min < 0 && max > 0 && preserveSparsity) {
    const half = Math.trunc((qmax - qmin) / 2);
    const symQmin = -(half + 1);
    const maxScale = Math.max(Math.abs(f32(min / symQmin)), Math.abs(f32(max / half)));
    min = f32(maxScale * symQmin);
    max = f32(maxScale * half);
  }
  min = Math.min(min, 0);
  max = Math.max(max, 0);
  let scale = (max - min) / (qmax - qmin);
  if (f32(scale) === 0 || !Number.isFinite(f32(1 / f32(scale)))) scale = 0.1;
  if (scale < SMALL_SCALE_THRESHOLD) {
    const orgScale = f32(scale);
    scale = SMALL_SCALE_THRESHOLD;
    if (min === 0) max = f32(SMALL_SCALE_THRESHOLD * (qmax - qmin));
    else if (max === 0) min = f32(-SMALL_SCALE_THRESHOLD * (qmax - qmin));
    else {
      const amplifier = f32(SMALL_SCALE_THRESHOLD / orgScale);
      min = f32(min * amplifier);
      max = f32(max * amplifier);
    }
  }
  const fromMin = qmin - min / scale;
  const fromMax = qmax - max / scale;
  const errMin = Math.abs(qmin) - Math.abs(min / scale);
  const errMax = Math.abs(qmax) - Math.abs(max / scale);
  let initial = errMin < errMax ? fromMin : fromMax;
  if (min < 0 && max > 0 && preserveSparsity) initial = (qmin + qmax) / 2;
  const zeroPoint = initial < qmin ? qmin : initial > qmax ? qmax : rint(initial) + 0;
  return { scale: f32(scale), zeroPoint };
}

/** The float32 reciprocal PyTorch's kernels multiply by: fl(1/S). */
export function inverseScale(scale: number): number {
  return f32(1 / f32(scale));
}

/** q = clamp(rint(fl(x · fl(1/S))) + Z, qmin, qmax) for a float32 x (ATen quantize_val). */
export function quantize(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  return clampCode(f32(zeroPoint + rint(f32(f32(x) * inverseScale(scale)))), qmin, qmax);
}

/**
 * clamp(q, qmin, qmax) after ATen's float → int64 conversion, where NaN and |q| ≥ 2^63
 * become INT64_MIN (x86), hence qmin — even for +inf.
 */
export function clampCode(q: number, qmin: number, qmax: number): number {
  if (!(q >= -(2 ** 63) && q < 2 ** 63)) return qmin;
  return q < qmin ? qmin : q > qmax ? qmax : q;
}

/** r = fl(S · (q − Z)). */
export function dequantize(q: number, scale: number, zeroPoint: number): number {
  return f32((q - zeroPoint) * f32(scale));
}

/** x̂ = dequantize(quantize(x)), PyTorch's fake_quantize_per_tensor_affine on one value. */
export function fakeQuantizeValue(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  return dequantize(quantize(x, scale, zeroPoint, qmin, qmax), scale, zeroPoint);
}

/** Quantizes a float array into integer codes (the output array's type holds them). */
export function quantizeArray<A extends Int8Array | Uint8Array | Int32Array>(
  x: ArrayLike<number>,
  scale: number,
  zeroPoint: number,
  qmin: number,
  qmax: number,
  out: A,
): A {
  if (out.length !== x.length) throw new ValueError(`quantizeArray: output holds ${out.length} values, input ${x.length}`);
  const inv = inverseScale(scale);
  for (let i = 0; i < x.length; i++) {
    out[i] = clampCode(f32(zeroPoint + rint(f32(f32(x[i]) * inv))), qmin, qmax);
  }
  return out;
}

/** Dequantizes integer codes into a Float32Array. */
export function dequantizeArray(q: ArrayLike<number>, scale: number, zeroPoint: number, out = new Float32Array(q.length)): Float32Array {
  if (out.length !== q.length) throw new ValueError(`dequantizeArray: output holds ${out.length} values, input ${q.length}`);
  const s = f32(scale);
  for (let i = 0; i < q.length; i++) out[i] = (q[i] - zeroPoint) * s;
  return out;
}
