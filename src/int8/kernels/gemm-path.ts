/**
 * Integer conv / linear / max-pool on the wasm backend's integer kernels
 * (src/backend/wasm/int8.ts → assembly/qconv.ts, assembly/igemm.ts), used by Int8Model when
 * the wasm backend is active:
 *
 *   conv (groups = 1):  yᵀ[oc, pixels] = W · cols(x − xZp), tiles of 4 channels × 8 pixels,
 *                       requantized in the GEMM epilogue straight into NCHW (no im2col buffer)
 *   linear:             acc = (x − xZp) · Wᵀ (weights packed once), then the requantization
 *   conv + max pool:    a 2×2 stride-2 max pool right after a conv is fused into its epilogue
 *   depthwise conv:     per channel plane, 8 output pixels per step (i32x4.extmul), same epilogue
 *   max pool:           no padding/dilation windows, SIMD for 2×2 stride 2
 *
 * Accumulators are the same exact int32 sums as the direct kernels (qconv2d.ts, qlinear.ts)
 * and the requantization is the same single-rounding formula, so results are bit-identical
 * to them (test/int8/gemm-path.test.ts). Conv weights may have per-channel zero points
 * (subtracted when packing: w − wZp ∈ [−255, 255] is still int16); linear weights must be symmetric.
 * Weights are packed once per layer (`prepare*Weights`) and kept by the model; `into` (optional)
 * is the output array to write (the caller's buffer of the right dtype and length, reused across runs).
 * With the native backend active on an AVX2 CPU, conv (groups = 1, with or without the fused pool) and linear
 * run the native kernels instead (src/backend/native/int8.ts: the same sums and requantization, bit-identical);
 * their weights are packed too, once, when the addon is loaded.
 *
 * Validation layer: the wasm kernels trust their arguments (a negative padding there reads
 * outside the input), so every entry point here first runs the checks the direct kernels
 * run — same helpers from ./common.ts, same typed errors and messages — on the shapes,
 * geometry, zero points, bias, requantization and clamp it is given (checkConvCall,
 * checkLinearCall, checkRequantCall, and the max-pool window checks).
 */
import { type FastRequant, packConvWeights, packLinearWeights, qconv2dWasm, qdepthwiseWasm, qlinearWasm, qmaxPool2dWasm } from "../../backend/wasm/int8.js";
import { getBackend } from "../../backend/index.js";
import { nativeInt8Available, nativeInt8Preferred, packNativeWeights, qconv2dNative, qlinearNative } from "../../backend/native/int8.js";
import { allocArray } from "../../tensor/dtype.js";
import { ShapeError, ValueError, fmtShape } from "../../tensor/errors.js";
import type { QuantArray, QuantDType } from "./common.js";
import {
  allocQuant, checkAccumulatorBound, checkPositiveInt, checkQuantDType, checkRequant, checkShapeOf, checkZeroPoint,
  clampRange, maxDeviation, quantDTypeOf,
} from "./common.js";

/** A layer's requantization: the kernels' form, with the output dtype instead of the flags. */
export interface GemmRequant extends Omit<FastRequant, "ySigned" | "exact"> {
  outDType: QuantDType;
}

/** Packed weights plus Σ_k |w[c, k]| per output channel (for the accumulator bound). */
export interface FastWeights {
  readonly packed: Int8Array | Int32Array;
  readonly absSum: Float64Array;
  readonly outChannels: number;
  readonly K: number;
  /** The same weights packed for the native kernels (null without the native addon, and for depthwise). */
  readonly native?: Int32Array | null;
}

/** True when a layer with these weights takes the native kernels. */
function onNative(fw: FastWeights): fw is FastWeights & { native: Int32Array } {
  return fw.native != null && getBackend() === "native" && nativeInt8Preferred();
}

/** Σ_k |w[c, k] − wZp[c]| per output channel. */
function absSums(w: Int8Array, oc: number, k: number, wZp: Int32Array | null = null): Float64Array {
  const s = new Float64Array(oc);
  for (let c = 0; c < oc; c++) {
    const zp = wZp ? wZp[c] : 0;
    let t = 0;
    for (let i = c * k; i < (c + 1) * k; i++) t += Math.abs(w[i] - zp);
    s[c] = t;
  }
  return s;
}

/** Conv weights OIHW (groups = 1) as [OC, C·KH·KW] minus per-channel zero points, packed for the conv kernel. */
export function prepareConvWeights(w: Int8Array, oc: number, k: number, wZp: Int32Array | null = null): FastWeights {
  const native = nativeInt8Available() ? packNativeWeights(w, oc, k, wZp) : null;
  return { packed: packConvWeights(w, oc, k, wZp), absSum: absSums(w, oc, k, wZp), outChannels: oc, K: k, native };
}

/** Depthwise weights [C, 1, KH, KW] minus their zero points, as int32 (inside wasm memory when possible). */
export function prepareDepthwiseWeights(w: Int8Array, c: number, k: number, wZp: Int32Array | null = null): FastWeights {
  const centred = allocArray("int32", w.length);
  for (let i = 0; i < w.length; i++) centred[i] = w[i] - (wZp ? wZp[Math.floor(i / k)] : 0);
  return { packed: centred, absSum: absSums(w, c, k, wZp), outChannels: c, K: k };
}

/** Linear weights [O, K] (symmetric), packed for the GEMM. */
export function prepareLinearWeights(w: Int8Array, o: number, k: number): FastWeights {
  const native = nativeInt8Available() ? packNativeWeights(w, o, k) : null;
  return { packed: packLinearWeights(w, o, k), absSum: absSums(w, o, k), outChannels: o, K: k, native };
}

/** 2^30: below it, |round(acc·M)| + |yZp| cannot leave int32 (the vector epilogue's condition). */
const EXACT_LIMIT = 1073741824;

/**
 * Checks the accumulator bound (same error as the direct kernels) and decides whether the
 * vector epilogue is exact: max_c bound[c] · M_c < 2^30, with M_c = M0 · 2^(shift − 31).
 */
function fastRequant(op: string, fw: FastWeights, x: QuantArray, xZp: number, r: GemmRequant): FastRequant {
  // Memoized per (requantization, weights, input dtype and zero point): a model reuses them every run.
  const key = `${x instanceof Uint8Array ? "u" : "s"}${xZp}`;
  const hit = memo.get(r);
  if (hit && hit.fw === fw && hit.key === key) return hit.value;
  const value = computeFastRequant(op, fw, x, xZp, r);
  memo.set(r, { fw, key, value });
  return value;
}

const memo = new WeakMap<GemmRequant, { fw: FastWeights; key: string; value: FastRequant }>();

/** The direct kernels' checks of a layer's output side: yZp, bias, requantization, clamp. */
function checkRequantCall(op: string, fw: FastWeights, r: GemmRequant): void {
  const outDType = checkQuantDType(op, "outDType", r.outDType);
  checkZeroPoint(op, "yZp", r.yZp, outDType);
  if (r.bias !== null && (!(r.bias instanceof Int32Array) || r.bias.length !== fw.outChannels)) {
    throw new ShapeError(`${op}: bias must be null or an Int32Array of ${fw.outChannels} elements`);
  }
  checkRequant(op, "requant", { multiplier: r.multiplier, shift: r.shift }, fw.outChannels);
  clampRange(op, outDType, r.lo, r.hi);
}

function computeFastRequant(op: string, fw: FastWeights, x: QuantArray, xZp: number, r: GemmRequant): FastRequant {
  checkRequantCall(op, fw, r);
  const dev = maxDeviation(x instanceof Uint8Array ? "uint8" : "int8", xZp);
  const bound = new Float64Array(fw.outChannels);
  let exact = true;
  for (let c = 0; c < fw.outChannels; c++) {
    bound[c] = dev * fw.absSum[c] + (r.bias ? Math.abs(r.bias[c]) : 0);
    const m = r.multiplier.length > 1 ? c : 0;
    if (bound[c] * r.multiplier[m] * 2 ** (r.shift[m] - 31) >= EXACT_LIMIT) exact = false;
  }
  checkAccumulatorBound(op, bound);
  return { bias: r.bias, multiplier: r.multiplier, shift: r.shift, yZp: r.yZp, lo: r.lo, hi: r.hi, ySigned: r.outDType === "int8", exact };
}

/** y[n, o] for x [N, K]. */
export function qlinearGemm(x: QuantArray, xZp: number, n: number, k: number, fw: FastWeights, r: GemmRequant, into?: QuantArray): QuantArray {
  checkLinearCall(x, xZp, n, k, fw);
  const out = into ?? allocQuant(r.outDType, n * fw.outChannels);
  const rq = fastRequant("qlinear", fw, x, xZp, r);
  if (onNative(fw)) qlinearNative(x, xZp, n, k, fw.native, fw.outChannels, rq, out);
  else qlinearWasm(x, xZp, n, k, fw.packed as Int8Array, fw.outChannels, rq, out);
  return out;
}

/** The direct qlinear's checks of x [n, k] against the packed weights. */
function checkLinearCall(x: QuantArray, xZp: number, n: number, k: number, fw: FastWeights): void {
  const op = "qlinear";
  checkZeroPoint(op, "xZp", xZp, quantDTypeOf(op, "x", x));
  checkShapeOf(op, "xShape [N, K]", [n, k], 2, x.length);
  if (k !== fw.K) throw new ShapeError(`${op}: x [${n}, ${k}] and w [${fw.outChannels}, ${fw.K}] disagree on K`);
}

export interface ConvShape {
  n: number; c: number; h: number; w: number;
  oc: number; kh: number; kw: number; oh: number; ow: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

/**
 * NCHW output of a groups = 1 convolution; with `pool2`, of the 2×2 stride-2 max pool that
 * follows it ([N, OC, ⌊OH/2⌋, ⌊OW/2⌋]), computed in the same pass and bit-identical to the
 * two kernels in sequence (requantization is non-decreasing, so it commutes with max).
 */
export function qconv2dGemm(x: QuantArray, xZp: number, s: ConvShape, fw: FastWeights, r: GemmRequant, pool2 = false, into?: QuantArray): QuantArray {
  checkConvCall(x, xZp, s, fw, s.c);
  if (pool2 && (s.oh < 2 || s.ow < 2)) throw new ShapeError(`qconv2d: a fused 2×2 pool needs a conv output of at least 2×2, got ${s.oh}×${s.ow}`);
  const [oh, ow] = pool2 ? [s.oh >> 1, s.ow >> 1] : [s.oh, s.ow];
  const out = into ?? allocQuant(r.outDType, s.n * s.oc * oh * ow);
  const rq = fastRequant("qconv2d", fw, x, xZp, r);
  if (onNative(fw)) qconv2dNative(x, xZp, fw.native, s, rq, out, pool2);
  else qconv2dWasm(x, xZp, fw.packed as Int8Array, s, rq, out, pool2);
  return out;
}

/**
 * The direct qconv2d's checks (planConv) on a ConvShape: positive dims and strides/dilations,
 * non-negative padding, x holding N·C·H·W elements, OH/OW the conv's own output size (≥ 1),
 * and weights of `cg`·KH·KW taps per output channel (cg = C for groups 1, 1 for depthwise).
 */
function checkConvCall(x: QuantArray, xZp: number, s: ConvShape, fw: FastWeights, cg: number): void {
  const op = "qconv2d";
  checkZeroPoint(op, "xZp", xZp, quantDTypeOf(op, "x", x));
  checkShapeOf(op, "xShape (NCHW)", [s.n, s.c, s.h, s.w], 4, x.length);
  for (const [name, v] of [["kernel", s.kh], ["kernel", s.kw], ["stride", s.sh], ["stride", s.sw], ["dilation", s.dh], ["dilation", s.dw], ["out channels", s.oc]] as const) checkPositiveInt(op, name, v);
  if (!Number.isInteger(s.ph) || !Number.isInteger(s.pw) || s.ph < 0 || s.pw < 0) throw new ValueError(`${op}: padding must be non-negative integers, got [${s.ph}, ${s.pw}]`);
  const oh = Math.floor((s.h + 2 * s.ph - s.dh * (s.kh - 1) - 1) / s.sh) + 1;
  const ow = Math.floor((s.w + 2 * s.pw - s.dw * (s.kw - 1) - 1) / s.sw) + 1;
  if (!(oh >= 1 && ow >= 1)) throw new ShapeError(`${op}: kernel ${s.kh}×${s.kw} (dilation ${s.dh}×${s.dw}) does not fit the padded input ${s.h + 2 * s.ph}×${s.w + 2 * s.pw}`);
  if (s.oh !== oh || s.ow !== ow) throw new ShapeError(`${op}: output ${s.oh}×${s.ow} is not the conv's ${oh}×${ow}`);
  if (fw.outChannels !== s.oc || fw.K !== cg * s.kh * s.kw) {
    throw new ShapeError(`${op}: weights (OC ${fw.outChannels}, K ${fw.K}) do not match ${s.oc} output channels of ${cg}×${s.kh}×${s.kw} taps`);
  }
}

/** NCHW output of a depthwise convolution (groups = C = OC). */
export function qdepthwiseGemm(x: QuantArray, xZp: number, s: ConvShape, fw: FastWeights, r: GemmRequant, into?: QuantArray): QuantArray {
  checkConvCall(x, xZp, s, fw, 1);
  if (s.c !== s.oc) throw new ShapeError(`qconv2d: a depthwise conv needs as many output as input channels, got ${s.oc} and ${s.c}`);
  const out = into ?? allocQuant(r.outDType, s.n * s.oc * s.oh * s.ow);
  qdepthwiseWasm(x, xZp, fw.packed as Int32Array, s, fastRequant("qconv2d", fw, x, xZp, r), out);
  return out;
}

/** Max pooling whose windows all lie inside the input (no padding, dilation 1). */
export function qmaxPool2dFast(x: QuantArray, shape: readonly number[], kernel: [number, number], stride: [number, number], into?: QuantArray): { data: QuantArray; shape: number[] } {
  const op = "qmaxPool2d";
  quantDTypeOf(op, "x", x);
  checkShapeOf(op, "xShape (NCHW)", shape, 4, x.length);
  for (const [name, v] of [["kernelSize", kernel[0]], ["kernelSize", kernel[1]], ["stride", stride[0]], ["stride", stride[1]]] as const) checkPositiveInt(op, name, v);
  const [n, c, h, w] = shape;
  if (kernel[0] > h || kernel[1] > w) throw new ShapeError(`${op}: window ${kernel[0]}×${kernel[1]} does not fit input ${fmtShape(shape)}`);
  const oh = Math.floor((h - kernel[0]) / stride[0]) + 1;
  const ow = Math.floor((w - kernel[1]) / stride[1]) + 1;
  const out = into ?? allocQuant(x instanceof Uint8Array ? "uint8" : "int8", n * c * oh * ow);
  qmaxPool2dWasm(x, n * c, h, w, kernel[0], kernel[1], stride[0], stride[1], oh, ow, out);
  return { data: out, shape: [n, c, oh, ow] };
}
