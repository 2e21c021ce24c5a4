/**
 * Integer 2-D convolution (NCHW uint8/int8 activations, OIHW int8 weights, int32 bias,
 * per-channel or per-tensor requantization, ReLU/ReLU6 as output clamps). Integer-only:
 *
 *   acc[n, oc, p] = Σ_{ci, ky, kx} (x[n, g·Cg + ci, iy, ix] − xZp) · (w[oc, ci, ky, kx] − wZp)
 *   y[n, oc, p]   = clamp(yZp + MBQM(acc + bias[oc], M0[oc], shift[oc]), clampMin, clampMax)
 *
 * with iy = oy·sh − ph + ky·dh, ix = ox·sw − pw + kx·dw. Padded cells hold the value xZp
 * (real zero), so they contribute exactly 0. Equivalently acc = Σ x·w − xZp·Σw − wZp·Σx +
 * K·xZp·wZp (gemmlowp's expansion); we subtract the zero points once while copying x into a
 * padded, centered scratch and while packing w, which costs no more and keeps every partial
 * sum a bounded integer.
 *
 * Accumulator bound (checked per output channel before any work, ValueError if violated):
 *   |acc + bias| ≤ maxDev(x)·Σ_k |w[oc, k] − wZp| + |bias[oc]| ≤ 255·128·K + |bias|  (wZp = 0)
 * which fits int32 for K ≤ 65,793 (e.g. 3×3×512: 4608·255·128 ≈ 1.5e8 < 2^31 ≈ 2.1e9).
 *
 * Paths: general = direct convolution through offset tables, blocked 4 output pixels × 4
 * output channels (packed.ts); depthwise (Cg = 1, fewer than 4 outputs per group) = per
 * channel tap loop. Called by Int8Model conv layers and the ONNX QLinearConv importer.
 */
import { DTypeError, ShapeError, ValueError, fmtShape } from "../../tensor/errors.js";
import {
  type QuantArray, type QuantDType, type QuantResult, type Requant,
  checkAccumulatorBound, checkLayerArgs, checkPositiveInt, checkQuantDType, checkShapeOf, checkWeightZeroPoints,
  expandRequant, maxDeviation, outputArray, pair, quantDTypeOf, requantizeOne, weightLength,
} from "./common.js";
import { type PackedWeights, accumulatorBound, dot4x4, isPacked, packWeights } from "./packed.js";

export interface QConv2dGeometry {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

export interface QConv2dArgs {
  /** Input activations, NCHW. */
  x: QuantArray;
  xZp: number;
  xShape: readonly number[];
  /** Int8 weights OIHW (I = C / groups), or the result of packQConv2dWeights for the same shape. */
  w: Int8Array | PackedWeights;
  wShape: readonly number[];
  /** Per-tensor weight zero point (default 0, symmetric). */
  wZp?: number;
  /** Int32 bias per output channel, scale Sx·Sw[oc], zero point 0. */
  bias: Int32Array | null;
  geometry?: QConv2dGeometry;
  /** M[oc] = Sx·Sw[oc]/Sy, per output channel or per tensor (length 1). */
  requant: Requant;
  yZp: number;
  /** Output clamp: ReLU = [yZp, qmax], ReLU6 = [yZp, yZp + round(6/Sy)] (clipped to the range). */
  clampMin?: number;
  clampMax?: number;
  outDType: QuantDType;
  /** Optional preallocated output of outDType and N·OC·OH·OW elements. */
  out?: QuantArray;
}

/** Everything the loops need, resolved and validated. */
interface ConvPlan {
  n: number; c: number; h: number; w: number; oc: number; kh: number; kw: number;
  oh: number; ow: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  groups: number; cg: number; hp: number; wp: number;
  xZp: number; yZp: number; lo: number; hi: number;
}

const OP = "qconv2d";

/** Packs conv weights once (e.g. at model load) so repeated calls skip the packing. */
export function packQConv2dWeights(w: Int8Array, wShape: readonly number[], groups = 1, wZp: number | Int32Array = 0): PackedWeights {
  if (!(w instanceof Int8Array)) throw new DTypeError(`${OP}: w must be an Int8Array (or packed weights), got ${(w as object)?.constructor?.name}`);
  checkShapeOf(OP, "wShape", wShape, 4, w.length);
  checkPositiveInt(OP, "groups", groups);
  if (wShape[0] % groups !== 0) throw new ShapeError(`${OP}: ${wShape[0]} output channels are not divisible by groups = ${groups}`);
  checkWeightZeroPoints(OP, wZp, wShape[0]);
  return packWeights(w, wShape[0], wShape[1] * wShape[2] * wShape[3], groups, wZp);
}

function planConv(a: QConv2dArgs): ConvPlan {
  const xDType = quantDTypeOf(OP, "x", a.x);
  const outDType = checkQuantDType(OP, "outDType", a.outDType);
  checkShapeOf(OP, "xShape (NCHW)", a.xShape, 4, a.x.length);
  const [n, c, h, w] = a.xShape;
  checkShapeOf(OP, "wShape (OIHW)", a.wShape, 4, weightLength(OP, a.w));
  const [oc, cg, kh, kw] = a.wShape;
  const geo = a.geometry ?? {};
  const groups = geo.groups ?? 1;
  checkPositiveInt(OP, "groups", groups);
  const [sh, sw] = pair(geo.stride, 1);
  const [ph, pw] = pair(geo.padding, 0);
  const [dh, dw] = pair(geo.dilation, 1);
  for (const [name, v] of [["stride", sh], ["stride", sw], ["dilation", dh], ["dilation", dw]] as const) checkPositiveInt(OP, name, v);
  if (!Number.isInteger(ph) || !Number.isInteger(pw) || ph < 0 || pw < 0) throw new ValueError(`${OP}: padding must be non-negative integers, got [${ph}, ${pw}]`);
  if (c % groups !== 0 || oc % groups !== 0 || cg !== c / groups) {
    throw new ShapeError(`${OP}: input ${fmtShape(a.xShape)} and weight ${fmtShape(a.wShape)} do not fit groups = ${groups} (need C = groups·I and OC % groups = 0)`);
  }
  const hp = h + 2 * ph, wp = w + 2 * pw;
  const oh = Math.floor((hp - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wp - dw * (kw - 1) - 1) / sw) + 1;
  if (!(oh >= 1 && ow >= 1)) throw new ShapeError(`${OP}: kernel ${kh}×${kw} (dilation ${dh}×${dw}) does not fit the padded input ${hp}×${wp}`);
  const [lo, hi] = checkLayerArgs(OP, a, xDType, outDType, oc);
  return { n, c, h, w, oc, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups, cg, hp, wp, xZp: a.xZp, yZp: a.yZp, lo, hi };
}

function resolveWeights(a: QConv2dArgs, p: ConvPlan): PackedWeights {
  if (isPacked(a.w)) {
    const w = a.w;
    if (w.outChannels !== p.oc || w.K !== p.cg * p.kh * p.kw || w.groups !== p.groups || (a.wZp !== undefined && w.wZp !== a.wZp)) {
      throw new ShapeError(`${OP}: packed weights (OC ${w.outChannels}, K ${w.K}, groups ${w.groups}, wZp ${w.wZp}) do not match wShape ${fmtShape(a.wShape)}, groups ${p.groups}, wZp ${a.wZp ?? 0}`);
    }
    return w;
  }
  return packQConv2dWeights(a.w, a.wShape, p.groups, a.wZp ?? 0);
}

/** Runs the convolution; see the file header for the exact integer formula. */
export function qconv2d(a: QConv2dArgs): QuantResult {
  const p = planConv(a);
  const packed = resolveWeights(a, p);
  checkAccumulatorBound(OP, accumulatorBound(packed, maxDeviation(quantDTypeOf(OP, "x", a.x), p.xZp), a.bias));
  const P = p.oh * p.ow;
  const out = outputArray(OP, a.out, a.outDType, p.n * p.oc * P);
  const rq = expandRequant(a.requant, p.oc);
  const tables = offsetTables(p);
  const xs = new Float64Array(p.c * p.hp * p.wp);
  const depthwise = p.cg === 1 && p.groups > 1 && packed.ocg < 4;
  for (let n = 0; n < p.n; n++) {
    fillCentered(xs, a.x, n, p);
    for (let g = 0; g < p.groups; g++) {
      const args: ImageGroup = { p, packed, xs, out, bias: a.bias, rq, n, g, ...tables };
      if (depthwise) depthwiseGroup(args);
      else convGroup(args);
    }
  }
  return { data: out, shape: [p.n, p.oc, p.oh, p.ow] };
}

/**
 * kOff[k] for k = (ci, ky, kx): offset of the tap inside one group's padded planes;
 * pOff[p] for output pixel p = (oy, ox): offset of its window origin, padded to a multiple of
 * 4 by repeating the last pixel (those lanes are computed and discarded).
 */
function offsetTables(p: ConvPlan): { kOff: Int32Array; pOff: Int32Array } {
  const plane = p.hp * p.wp;
  const kOff = new Int32Array(p.cg * p.kh * p.kw);
  let k = 0;
  for (let ci = 0; ci < p.cg; ci++) {
    for (let ky = 0; ky < p.kh; ky++) {
      for (let kx = 0; kx < p.kw; kx++) kOff[k++] = ci * plane + ky * p.dh * p.wp + kx * p.dw;
    }
  }
  const P = p.oh * p.ow;
  const pOff = new Int32Array(Math.ceil(P / 4) * 4);
  for (let i = 0; i < pOff.length; i++) {
    const q = Math.min(i, P - 1);
    const oy = Math.floor(q / p.ow);
    pOff[i] = oy * p.sh * p.wp + (q - oy * p.ow) * p.sw;
  }
  return { kOff, pOff };
}

/** xs[c, ph + y, pw + x] = x[n, c, y, x] − xZp; the padding ring stays 0 (real zero). ∈ [−255, 255]. */
function fillCentered(xs: Float64Array, x: QuantArray, n: number, p: ConvPlan): void {
  xs.fill(0);
  const { c, h, w, hp, wp, ph, pw, xZp } = p;
  let src = n * c * h * w;
  for (let ci = 0; ci < c; ci++) {
    for (let y = 0; y < h; y++) {
      let dst = (ci * hp + y + ph) * wp + pw;
      for (let i = 0; i < w; i++) xs[dst++] = x[src++] - xZp;
    }
  }
}

interface ImageGroup {
  p: ConvPlan; packed: PackedWeights; xs: Float64Array; out: QuantArray;
  bias: Int32Array | null; rq: Requant; n: number; g: number;
  kOff: Int32Array; pOff: Int32Array;
}

/** General path for image n, group g: 4 pixels × 4 channels per micro-kernel call. */
function convGroup(s: ImageGroup): void {
  const { p, packed, xs, out, bias, rq, kOff, pOff } = s;
  const P = p.oh * p.ow;
  const K = packed.K;
  const xBase = s.g * p.cg * p.hp * p.wp;
  const acc = new Float64Array(16);
  for (let q = 0; q < packed.quadsPerGroup; q++) {
    const c0 = s.g * packed.ocg + 4 * q;
    const nc = Math.min(4, (s.g + 1) * packed.ocg - c0);
    const wBase = (s.g * packed.quadsPerGroup + q) * K * 4;
    for (let px = 0; px < P; px += 4) {
      dot4x4(xs, xBase + pOff[px], xBase + pOff[px + 1], xBase + pOff[px + 2], xBase + pOff[px + 3], kOff, K, packed.wq, wBase, acc);
      const np = Math.min(4, P - px);
      for (let j = 0; j < nc; j++) {
        const c = c0 + j;
        const b = bias === null ? 0 : bias[c];
        const m0 = rq.multiplier[c], sh = rq.shift[c];
        const o = (s.n * p.oc + c) * P + px;
        for (let i = 0; i < np; i++) out[o + i] = requantizeOne(acc[4 * i + j] + b, m0, sh, p.yZp, p.lo, p.hi);
      }
    }
  }
}

/** Depthwise path (Cg = 1): y[c, p] from the KH·KW taps of input channel g. */
function depthwiseGroup(s: ImageGroup): void {
  const { p, packed, xs, out, bias, rq, kOff, pOff } = s;
  const P = p.oh * p.ow;
  const K = packed.K;
  const xBase = s.g * p.hp * p.wp;
  const wq = packed.wq;
  for (let j = 0; j < packed.ocg; j++) {
    const c = s.g * packed.ocg + j;
    const wBase = (s.g * packed.quadsPerGroup + (j >> 2)) * K * 4 + (j & 3);
    const b = bias === null ? 0 : bias[c];
    const m0 = rq.multiplier[c], sh = rq.shift[c];
    const o = (s.n * p.oc + c) * P;
    for (let px = 0; px < P; px++) {
      const base = xBase + pOff[px];
      let acc = 0; // |acc| ≤ maxDev·Σ|w − wZp| ≤ 255·255·K
      for (let k = 0; k < K; k++) acc += xs[base + kOff[k]] * wq[wBase + 4 * k];
      out[o + px] = requantizeOne(acc + b, m0, sh, p.yZp, p.lo, p.hi);
    }
  }
}
