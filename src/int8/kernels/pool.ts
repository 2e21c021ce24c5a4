/**
 * Integer pooling on NCHW uint8/int8 planes: max (order-preserving, so it works directly on
 * the stored integers), average (integer sum then rounded division, ties away from zero) and
 * global average (rounded division, or a fixed-point multiplier when the output scale
 * differs). Window rules and output sizes are PyTorch's (ceil_mode, count_include_pad,
 * divisor_override). Called by Int8Model pooling layers and the ONNX importers.
 */
import { ShapeError, ValueError } from "../../tensor/errors.js";
import { type QuantizedMultiplier } from "../fixed-point.js";
import {
  type QuantArray, type QuantDType, type QuantResult,
  checkPositiveInt, checkQuantDType, checkShapeOf, checkZeroPoint, clampRange, outputArray, pair,
  quantDTypeOf, requantizeOne, roundDiv,
} from "./common.js";

export interface QPool2dArgs {
  x: QuantArray;
  xShape: readonly number[];
  kernelSize: number | [number, number];
  /** Defaults to kernelSize (PyTorch). */
  stride?: number | [number, number];
  padding?: number | [number, number];
  ceilMode?: boolean;
  out?: QuantArray;
}

interface PoolPlan {
  n: number; c: number; h: number; w: number; oh: number; ow: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

/** PyTorch pooling_output_shape for one axis (with the ceil_mode last-window rule). */
function outSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let o = Math.floor((span + (ceil ? s - 1 : 0)) / s) + 1;
  if (ceil && (o - 1) * s >= size + p) o--;
  return o;
}

function planPool(op: string, a: QPool2dArgs, dilation: number | [number, number] | undefined): PoolPlan {
  checkShapeOf(op, "xShape (NCHW)", a.xShape, 4, a.x.length);
  const [n, c, h, w] = a.xShape;
  const [kh, kw] = pair(a.kernelSize, 1);
  const [sh, sw] = pair(a.stride ?? a.kernelSize, 1);
  const [ph, pw] = pair(a.padding, 0);
  const [dh, dw] = pair(dilation, 1);
  for (const [name, v] of [["kernelSize", kh], ["kernelSize", kw], ["stride", sh], ["stride", sw], ["dilation", dh], ["dilation", dw]] as const) {
    checkPositiveInt(op, name, v);
  }
  if (!Number.isInteger(ph) || !Number.isInteger(pw) || ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw) {
    throw new ValueError(`${op}: padding [${ph}, ${pw}] must be integers in [0, kernel/2] (kernel ${kh}×${kw})`);
  }
  const oh = outSize(h, kh, sh, ph, dh, a.ceilMode ?? false);
  const ow = outSize(w, kw, sw, pw, dw, a.ceilMode ?? false);
  if (oh < 1 || ow < 1) throw new ShapeError(`${op}: window ${kh}×${kw} does not fit input ${h}×${w} with padding [${ph}, ${pw}]`);
  return { n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw };
}

/** Index range [lo, hi) of the taps k (< kCount) with 0 ≤ start + k·d < size. */
function validTaps(start: number, d: number, kCount: number, size: number): [number, number] {
  const lo = start >= 0 ? 0 : Math.min(kCount, Math.ceil(-start / d));
  const hi = start >= size ? 0 : Math.min(kCount, Math.ceil((size - start) / d));
  return [lo, Math.max(lo, hi)];
}

/** y = max over each dilated window of the stored integers; padding never wins. Same dtype, scale and zp. */
export function qmaxPool2d(a: QPool2dArgs & { dilation?: number | [number, number] }): QuantResult {
  const OP = "qmaxPool2d";
  const dtype = quantDTypeOf(OP, "x", a.x);
  const p = planPool(OP, a, a.dilation);
  const out = outputArray(OP, a.out, dtype, p.n * p.c * p.oh * p.ow);
  const x = a.x;
  if (p.ph === 0 && p.pw === 0 && p.dh === 1 && p.dw === 1 && !(a.ceilMode ?? false)) return maxPoolInside(x, p, out);
  let o = 0;
  for (let plane = 0; plane < p.n * p.c; plane++) {
    const base = plane * p.h * p.w;
    for (let oy = 0; oy < p.oh; oy++) {
      const y0 = oy * p.sh - p.ph;
      const [kyLo, kyHi] = validTaps(y0, p.dh, p.kh, p.h);
      for (let ox = 0; ox < p.ow; ox++) {
        const x0 = ox * p.sw - p.pw;
        const [kxLo, kxHi] = validTaps(x0, p.dw, p.kw, p.w);
        let best = -Infinity;
        for (let ky = kyLo; ky < kyHi; ky++) {
          const row = base + (y0 + ky * p.dh) * p.w + x0;
          for (let kx = kxLo; kx < kxHi; kx++) {
            const v = x[row + kx * p.dw];
            if (v > best) best = v;
          }
        }
        out[o++] = best; // every window holds ≥ 1 input cell since padding ≤ kernel/2
      }
    }
  }
  return { data: out, shape: [p.n, p.c, p.oh, p.ow] };
}

/** qmaxPool2d when every window lies inside the plane (no padding, dilation 1, floor mode). */
function maxPoolInside(x: QuantArray, p: ReturnType<typeof planPool>, out: QuantArray): QuantResult {
  const { h, w, oh, ow, kh, kw, sh, sw } = p;
  let o = 0;
  for (let plane = 0; plane < p.n * p.c; plane++) {
    const base = plane * h * w;
    for (let oy = 0; oy < oh; oy++) {
      const row0 = base + oy * sh * w;
      for (let ox = 0; ox < ow; ox++) {
        const start = row0 + ox * sw;
        let best = x[start];
        for (let ky = 0; ky < kh; ky++) {
          const r = start + ky * w;
          for (let kx = 0; kx < kw; kx++) if (x[r + kx] > best) best = x[r + kx];
        }
        out[o++] = best;
      }
    }
  }
  return { data: out, shape: [p.n, p.c, oh, ow] };
}

export interface QAvgPool2dArgs extends QPool2dArgs {
  xZp: number;
  /** PyTorch count_include_pad (default true): padded cells count in the divisor as real zeros. */
  countIncludePad?: boolean;
  divisorOverride?: number;
}

/**
 * Average pooling in the integer domain, same scale and zero point in and out:
 *   s = Σ_{valid cells} (x − xZp)      |s| ≤ 255·KH·KW      (padded cells are real zeros)
 *   y = xZp + roundDiv(s, divisor)     ties away from zero (TFLite's (s ± divisor/2) / divisor)
 * divisor: divisorOverride, else PyTorch's pool size (window clipped to the padded input when
 * countIncludePad, to the input otherwise). Rounding is on the centered sum, so it is the same
 * for uint8 and int8 storage; PyTorch rounds s·(1/divisor) half-to-even in float: ±1 at ties.
 */
export function qavgPool2d(a: QAvgPool2dArgs): QuantResult {
  const OP = "qavgPool2d";
  const dtype = quantDTypeOf(OP, "x", a.x);
  checkZeroPoint(OP, "xZp", a.xZp, dtype);
  if (a.divisorOverride !== undefined) checkPositiveInt(OP, "divisorOverride", a.divisorOverride);
  const p = planPool(OP, a, undefined);
  const includePad = a.countIncludePad ?? true;
  const out = outputArray(OP, a.out, dtype, p.n * p.c * p.oh * p.ow);
  const { x, xZp } = a;
  let o = 0;
  for (let plane = 0; plane < p.n * p.c; plane++) {
    const base = plane * p.h * p.w;
    for (let oy = 0; oy < p.oh; oy++) {
      const ys = oy * p.sh - p.ph;
      const yePad = Math.min(ys + p.kh, p.h + p.ph);
      const y0 = Math.max(ys, 0), y1 = Math.min(yePad, p.h);
      for (let ox = 0; ox < p.ow; ox++) {
        const xs = ox * p.sw - p.pw;
        const xePad = Math.min(xs + p.kw, p.w + p.pw);
        const x0 = Math.max(xs, 0), x1 = Math.min(xePad, p.w);
        let s = 0;
        for (let iy = y0; iy < y1; iy++) {
          const row = base + iy * p.w;
          for (let ix = x0; ix < x1; ix++) s += x[row + ix] - xZp;
        }
        const divisor = a.divisorOverride ?? (includePad ? (yePad - ys) * (xePad - xs) : (y1 - y0) * (x1 - x0));
        out[o++] = clampTo(dtype, xZp + roundDiv(s, divisor));
      }
    }
  }
  return { data: out, shape: [p.n, p.c, p.oh, p.ow] };
}

function clampTo(dtype: QuantDType, v: number): number {
  const lo = dtype === "uint8" ? 0 : -128;
  const hi = dtype === "uint8" ? 255 : 127;
  return v < lo ? lo : v > hi ? hi : v;
}

export interface QGlobalAvgPoolArgs {
  x: QuantArray;
  xZp: number;
  xShape: readonly number[];
  /**
   * M = Sx / (Sy·H·W) when the output has its own scale (ONNX QLinearGlobalAveragePool);
   * omitted: same scale and zero point as x, divided by rounded integer division.
   */
  multiplier?: QuantizedMultiplier;
  yZp?: number;
  outDType?: QuantDType;
  clampMin?: number;
  clampMax?: number;
  out?: QuantArray;
}

/**
 * Mean over H·W per (n, c) plane, output [N, C, 1, 1]:
 *   s = Σ_{h,w} (x − xZp)              |s| ≤ 255·H·W  (< 2^31 for H·W ≤ 8.4e6, checked)
 *   y = xZp + roundDiv(s, H·W)                     (same scale; ties away from zero)
 *   y = clamp(yZp + MBQM(s, M), lo, hi)            (own scale; M = Sx/(Sy·H·W))
 */
export function qglobalAvgPool(a: QGlobalAvgPoolArgs): QuantResult {
  const OP = "qglobalAvgPool";
  const dtype = quantDTypeOf(OP, "x", a.x);
  checkShapeOf(OP, "xShape (NCHW)", a.xShape, 4, a.x.length);
  checkZeroPoint(OP, "xZp", a.xZp, dtype);
  const [n, c, h, w] = a.xShape;
  const hw = h * w;
  if (255 * hw > 2147483647) throw new ValueError(`${OP}: ${h}×${w} planes could overflow the int32 sum`);
  const outType = a.multiplier ? checkQuantDType(OP, "outDType", a.outDType ?? dtype) : dtype;
  const yZp = a.multiplier ? (a.yZp ?? a.xZp) : a.xZp;
  checkZeroPoint(OP, "yZp", yZp, outType);
  const [lo, hi] = clampRange(OP, outType, a.clampMin, a.clampMax);
  const m = a.multiplier;
  if (m && (!Number.isInteger(m.multiplier) || m.multiplier < 0 || m.multiplier > 2147483647 || !Number.isInteger(m.shift) || m.shift < -31 || m.shift > 30)) {
    throw new ValueError(`${OP}: multiplier must have multiplier ∈ [0, 2^31 − 1] and shift ∈ [−31, 30]`);
  }
  const out = outputArray(OP, a.out, outType, n * c);
  const { x, xZp } = a;
  for (let plane = 0; plane < n * c; plane++) {
    let s = 0;
    const end = (plane + 1) * hw;
    for (let i = plane * hw; i < end; i++) s += x[i] - xZp;
    if (m) out[plane] = requantizeOne(s, m.multiplier, m.shift, yZp, lo, hi);
    else {
      const y = xZp + roundDiv(s, hw);
      out[plane] = y < lo ? lo : y > hi ? hi : y;
    }
  }
  return { data: out, shape: [n, c, 1, 1] };
}
