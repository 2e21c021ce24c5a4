/**
 * Integer max / min of quantized activations and integer means over any axes.
 *
 *   qmaxmin: y = max|min over inputs of clamp(yZp + MBQM(x_i − Z_i, M_i), lo, hi)
 *            (M_i = S_i/S_y; an input already on the output grid is only clamped) and of
 *            an optional constant already on the output grid — exact, because Q_y is
 *            monotone: Q_y(max(a, b)) = max(Q_y(a), Q_y(b)).
 *   qmean:   acc = Σ (x − Zx) over the reduced axes (int32), y = clamp(yZp + MBQM(acc, M)),
 *            M = Sx/(Sy·count) — qglobalAvgPool's arithmetic on any axes.
 * Inputs broadcast as NumPy. Called by Int8Model "maximum" / "minimum" / "mean" nodes.
 */
import { ValueError } from "../../tensor/errors.js";
import { type QuantArray, type QuantDType, type QuantResult, checkQuantDType, checkZeroPoint, clampRange, outputArray, quantDTypeOf, requantizeOne } from "./common.js";
import { broadcastOffsets, broadcastShapes } from "./qmatmul.js";

export interface QMaxMinInput {
  x: QuantArray | Int32Array;
  shape: readonly number[];
  zp: number;
  /** [M0, shift] of S_i/S_y, or null when x is on the output grid already (then only clamped). */
  multiplier: readonly [number, number] | null;
}

export interface QMaxMinArgs {
  op: "maximum" | "minimum";
  inputs: QMaxMinInput[];
  yZp: number;
  outDType: QuantDType;
  clampMin?: number;
  clampMax?: number;
}

export function qmaxmin(a: QMaxMinArgs): QuantResult {
  const OP = `q${a.op}`;
  if (a.inputs.length === 0) throw new ValueError(`${OP}: needs at least one input`);
  const outD = checkQuantDType(OP, "outDType", a.outDType);
  checkZeroPoint(OP, "yZp", a.yZp, outD);
  const [lo, hi] = clampRange(OP, outD, a.clampMin, a.clampMax);
  const shape = a.inputs.slice(1).reduce<number[]>((s, i) => broadcastShapes(OP, s, i.shape), [...a.inputs[0].shape]);
  const total = shape.reduce((p, d) => p * d, 1);
  const out = outputArray(OP, undefined, outD, total);
  const isMax = a.op === "maximum";
  a.inputs.forEach((inp, k) => {
    if (!(inp.x instanceof Int32Array)) checkZeroPoint(OP, `inputs[${k}].zp`, inp.zp, quantDTypeOf(OP, `inputs[${k}].x`, inp.x));
    const off = broadcastOffsets(inp.shape, shape);
    const m = inp.multiplier;
    for (let i = 0; i < total; i++) {
      const q = inp.x[off[i]];
      let v: number;
      if (m) v = requantizeOne(q - inp.zp, m[0], m[1], a.yZp, lo, hi);
      else v = q < lo ? lo : q > hi ? hi : q;
      if (k === 0 || (isMax ? v > out[i] : v < out[i])) out[i] = v;
    }
  });
  return { data: out, shape };
}

export interface QMeanArgs {
  x: QuantArray;
  xZp: number;
  xShape: readonly number[];
  /** Reduced axes (any order, in range). */
  axes: readonly number[];
  keepdims: boolean;
  /** [M0, shift] of Sx/(Sy·count). */
  multiplier: readonly [number, number];
  yZp: number;
  outDType: QuantDType;
  clampMin?: number;
  clampMax?: number;
}

export function qmean(a: QMeanArgs): QuantResult {
  const OP = "qmean";
  const xD = quantDTypeOf(OP, "x", a.x);
  checkZeroPoint(OP, "xZp", a.xZp, xD);
  const outD = checkQuantDType(OP, "outDType", a.outDType);
  checkZeroPoint(OP, "yZp", a.yZp, outD);
  const [lo, hi] = clampRange(OP, outD, a.clampMin, a.clampMax);
  const rank = a.xShape.length;
  const reduced = new Array<boolean>(rank).fill(false);
  for (const ax of a.axes) {
    if (!Number.isInteger(ax) || ax < 0 || ax >= rank) throw new ValueError(`${OP}: axis ${ax} is out of range for rank ${rank}`);
    reduced[ax] = true;
  }
  const count = a.xShape.reduce((p, d, i) => (reduced[i] ? p * d : p), 1);
  if (255 * count > 2147483647) throw new ValueError(`${OP}: a mean over ${count} elements could overflow the int32 sum`);
  const outShape = a.xShape.map((d, i) => (reduced[i] ? 1 : d));
  const outStrides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    outStrides[i] = reduced[i] ? 0 : s;
    s *= outShape[i];
  }
  const acc = new Int32Array(s);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < a.x.length; i++) {
    let o = 0;
    for (let d = 0; d < rank; d++) o += idx[d] * outStrides[d];
    acc[o] += a.x[i] - a.xZp;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < a.xShape[d]) break;
      idx[d] = 0;
    }
  }
  const out = outputArray(OP, undefined, outD, s);
  const [m0, shift] = a.multiplier;
  for (let i = 0; i < s; i++) out[i] = requantizeOne(acc[i], m0, shift, a.yZp, lo, hi);
  return { data: out, shape: a.keepdims ? outShape : a.xShape.filter((_, i) => !reduced[i]) };
}
