/**
 * Offline parameter computation for the integer kernels (conversion time, float allowed):
 * requantization multipliers, int32 bias, TFLite Add parameters and activation clamps.
 * Nothing here runs per element at inference. Called by model conversion (src/quant convert,
 * via src/int8), the ONNX importer and tests.
 */
import { ValueError } from "../../tensor/errors.js";
import { type QuantizedMultiplier, quantizeMultiplier, quantizeMultipliers } from "../fixed-point.js";
import { type QuantDType, type Requant, qrange } from "./common.js";
import { dequantizeTensor, quantizeTensor, roundHalfEven } from "./quantize.js";

function positive(op: string, name: string, v: number): number {
  if (!Number.isFinite(v) || !(v > 0)) throw new ValueError(`${op}: ${name} must be positive and finite, got ${v}`);
  return v;
}

/**
 * Conv / linear requantization: M[c] = Sx·Sw[c] / Sy (TFLite GetQuantizedConvolutionMultipler:
 * the product and the quotient in double), then quantizeMultiplier per channel.
 */
export function convRequant(xScale: number, wScales: ArrayLike<number>, yScale: number): Requant {
  const OP = "convRequant";
  positive(OP, "xScale", xScale);
  positive(OP, "yScale", yScale);
  const reals = new Float64Array(wScales.length);
  for (let c = 0; c < wScales.length; c++) reals[c] = (xScale * positive(OP, `wScales[${c}]`, wScales[c])) / yScale;
  return quantizeMultipliers(reals);
}

/**
 * Int32 bias with scale Sx·Sw[c] and zero point 0: b_q = roundHalfEven(b / fround(Sx·Sw[c])),
 * clamped to int32 (the bias scale is a float32 product, as onnxruntime's quantizer and the
 * QDQ bias DequantizeLinear store it). wScales of length 1 is per-tensor.
 */
export function quantizeBias(bias: ArrayLike<number>, xScale: number, wScales: ArrayLike<number>): Int32Array {
  const OP = "quantizeBias";
  if (wScales.length !== bias.length && wScales.length !== 1) {
    throw new ValueError(`${OP}: ${bias.length} biases but ${wScales.length} weight scales`);
  }
  const out = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const s = Math.fround(Math.fround(xScale) * Math.fround(wScales[wScales.length === 1 ? 0 : c]));
    positive(OP, `bias scale of channel ${c}`, s);
    if (!Number.isFinite(bias[c])) throw new ValueError(`${OP}: bias[${c}] = ${bias[c]} is not finite`);
    const q = roundHalfEven(bias[c] / s);
    out[c] = Math.max(-2147483648, Math.min(2147483647, q));
  }
  return out;
}

/** M = Sin / Sout for qrequantize and qconcat. */
export function requantMultiplier(inScale: number, outScale: number): QuantizedMultiplier {
  return quantizeMultiplier(positive("requantMultiplier", "inScale", inScale) / positive("requantMultiplier", "outScale", outScale));
}

/** M = Sx / (Sy·H·W) for qglobalAvgPool with its own output scale. */
export function globalAvgPoolMultiplier(xScale: number, yScale: number, hw: number): QuantizedMultiplier {
  const OP = "globalAvgPoolMultiplier";
  return quantizeMultiplier(positive(OP, "xScale", xScale) / (positive(OP, "yScale", yScale) * positive(OP, "hw", hw)));
}

export interface QAddParams {
  aMultiplier: QuantizedMultiplier;
  bMultiplier: QuantizedMultiplier;
  outMultiplier: QuantizedMultiplier;
  leftShift: number;
}

/**
 * TFLite Add Prepare (8-bit): with T = 2·max(Sa, Sb),
 *   Ma = Sa / T ≤ 1/2,   Mb = Sb / T ≤ 1/2,   Mout = T / (2^leftShift · Sout),   leftShift = 20.
 */
export function qaddParams(aScale: number, bScale: number, outScale: number, leftShift = 20): QAddParams {
  const OP = "qaddParams";
  const twiceMax = 2 * Math.max(positive(OP, "aScale", aScale), positive(OP, "bScale", bScale));
  return {
    aMultiplier: quantizeMultiplier(aScale / twiceMax),
    bMultiplier: quantizeMultiplier(bScale / twiceMax),
    outMultiplier: quantizeMultiplier(twiceMax / (2 ** leftShift * positive(OP, "outScale", outScale))),
    leftShift,
  };
}

/**
 * Output clamp of a fused activation (TFLite CalculateActivationRangeQuantized):
 *   none  → [qmin, qmax]
 *   relu  → [max(qmin, Z), qmax]                         (real 0 ↦ Z)
 *   relu6 → [max(qmin, Z), min(qmax, Z + round(6/S))]    (round half away from zero)
 */
export function activationClamp(kind: "none" | "relu" | "relu6", yScale: number, yZp: number, dtype: QuantDType): [number, number] {
  const [qmin, qmax] = qrange(dtype);
  if (kind === "none") return [qmin, qmax];
  const lo = Math.max(qmin, yZp);
  if (kind === "relu") return [lo, qmax];
  const six = Math.round(6 / positive("activationClamp", "yScale", yScale)); // positive: round = half away
  return [lo, Math.max(lo, Math.min(qmax, yZp + six))];
}

/**
 * The 256-entry table of an 8-bit → 8-bit elementwise function (Sigmoid): entry i is the
 * output for the input value i + qmin(x dtype), computed offline in float exactly as the
 * DequantizeLinear → f → QuantizeLinear chain does it: x = (v − Zx)·Sx in float32, y = f(x)
 * (the caller's float32 kernel), q = clamp(roundHalfEven(y ⊘ Sy) + Zy, lo, hi).
 */
export function lutTable(
  x: { scale: number; zeroPoint: number; dtype: QuantDType },
  y: { scale: number; zeroPoint: number; dtype: QuantDType },
  clamp: [number, number], f: (x: Float32Array) => Float32Array,
): Int32Array {
  const [qmin] = qrange(x.dtype);
  const codes = Int32Array.from({ length: 256 }, (_, i) => i + qmin);
  const ys = f(dequantizeTensor(codes, x.scale, x.zeroPoint));
  if (ys.length !== 256) throw new ValueError(`lutTable: the function returned ${ys.length} values for 256 inputs`);
  return Int32Array.from(quantizeTensor(ys, y.scale, y.zeroPoint, clamp[0], clamp[1], y.dtype));
}
