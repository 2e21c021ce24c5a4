/**
 * Integer products of two quantized activations (both inputs carry their own scale and zero
 * point; no weights): attention's Q·Kᵀ and P·V, gating x·σ(x). Integer-only, per-tensor
 * requantization with M = Sa·Sb/Sy = M0·2^(shift−31), one rounding:
 *
 *   qmatmul:  acc[..., m, n] = Σ_k (a[..., m, k] − aZp) · (b[..., k, n] − bZp)
 *   qmul:     acc[i]         = (a[i] − aZp) · (b[i] − bZp)          (NumPy broadcasting)
 *   y = clamp(yZp + MBQM(acc, M0, shift), clampMin, clampMax)
 *
 * Batch dims broadcast as NumPy / torch.matmul (rank ≥ 2 on both sides). Accumulator bound:
 * |acc| ≤ K·maxDev(a)·maxDev(b) ≤ K·255² — checked before any work (int32 holds K ≤ 33,025).
 * onnxruntime's QLinearMatMul / QLinearMul compute the same accumulators and requantize in
 * float; results agree within one quantum (ties). Called by Int8Model "matmul" / "mul" nodes.
 */
import { ShapeError, ValueError, fmtShape } from "../../tensor/errors.js";
import { INT32_MAX } from "../fixed-point.js";
import { type QuantArray, type QuantDType, type QuantResult, checkQuantDType, checkZeroPoint, clampRange, maxDeviation, outputArray, quantDTypeOf, requantizeOne } from "./common.js";

export interface QProductArgs {
  a: QuantArray;
  aZp: number;
  aShape: readonly number[];
  b: QuantArray;
  bZp: number;
  bShape: readonly number[];
  /** [M0, shift] of Sa·Sb/Sy. */
  multiplier: readonly [number, number];
  yZp: number;
  outDType: QuantDType;
  clampMin?: number;
  clampMax?: number;
}

/** The broadcast of two shapes (NumPy rules), or a ShapeError naming `op`. */
export function broadcastShapes(op: string, s: readonly number[], t: readonly number[]): number[] {
  const rank = Math.max(s.length, t.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const a = s[s.length - rank + i] ?? 1;
    const b = t[t.length - rank + i] ?? 1;
    if (a !== b && a !== 1 && b !== 1) throw new ShapeError(`${op}: shapes ${fmtShape(s)} and ${fmtShape(t)} do not broadcast`);
    out[i] = a === 1 ? b : a;
  }
  return out;
}

/** Element offsets into a tensor of `shape` for every index of the broadcast `outShape`. */
export function broadcastOffsets(shape: readonly number[], outShape: readonly number[]): Int32Array {
  const rank = outShape.length;
  const total = outShape.reduce((p, d) => p * d, 1);
  const strides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[rank - shape.length + i] = shape[i] === 1 ? 0 : s;
    s *= shape[i];
  }
  const offs = new Int32Array(total);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < total; o++) {
    let off = 0;
    for (let i = 0; i < rank; i++) off += idx[i] * strides[i];
    offs[o] = off;
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < outShape[i]) break;
      idx[i] = 0;
    }
  }
  return offs;
}

function checkCommon(op: string, x: QProductArgs): { lo: number; hi: number; m0: number; shift: number } {
  const aD = quantDTypeOf(op, "a", x.a);
  const bD = quantDTypeOf(op, "b", x.b);
  const outD = checkQuantDType(op, "outDType", x.outDType);
  checkZeroPoint(op, "aZp", x.aZp, aD);
  checkZeroPoint(op, "bZp", x.bZp, bD);
  checkZeroPoint(op, "yZp", x.yZp, outD);
  for (const [name, shape, arr] of [["aShape", x.aShape, x.a], ["bShape", x.bShape, x.b]] as const) {
    const n = shape.reduce((p, d) => p * d, 1);
    if (shape.some((d) => !Number.isInteger(d) || d < 0) || n !== arr.length) throw new ShapeError(`${op}: ${name} ${fmtShape(shape)} does not describe ${arr.length} elements`);
  }
  const [m0, shift] = x.multiplier;
  if (!Number.isInteger(m0) || m0 < 0 || m0 > INT32_MAX) throw new ValueError(`${op}: multiplier M0 = ${m0} must be an integer in [0, 2^31 − 1]`);
  if (!Number.isInteger(shift) || shift < -31 || shift > 30) throw new ValueError(`${op}: shift = ${shift} must be an integer in [−31, 30]`);
  const [lo, hi] = clampRange(op, outD, x.clampMin, x.clampMax);
  return { lo, hi, m0, shift };
}

/** y = requantized a @ b; see the file header. */
export function qmatmul(x: QProductArgs): QuantResult {
  const OP = "qmatmul";
  const { lo, hi, m0, shift } = checkCommon(OP, x);
  const { aShape, bShape } = x;
  if (aShape.length < 2 || bShape.length < 2) throw new ShapeError(`${OP}: both inputs need rank ≥ 2, got ${fmtShape(aShape)} and ${fmtShape(bShape)}`);
  const M = aShape[aShape.length - 2], K = aShape[aShape.length - 1];
  const K2 = bShape[bShape.length - 2], N = bShape[bShape.length - 1];
  if (K !== K2) throw new ShapeError(`${OP}: a ${fmtShape(aShape)} and b ${fmtShape(bShape)} disagree on K (${K} vs ${K2})`);
  const bound = K * maxDeviation(quantDTypeOf(OP, "a", x.a), x.aZp) * maxDeviation(quantDTypeOf(OP, "b", x.b), x.bZp);
  if (bound > INT32_MAX) throw new ValueError(`${OP}: int32 accumulator could overflow (K = ${K}: worst case ${bound} > 2^31 − 1)`);
  const batch = broadcastShapes(OP, aShape.slice(0, -2), bShape.slice(0, -2));
  const aOff = broadcastOffsets(aShape.slice(0, -2), batch);
  const bOff = broadcastOffsets(bShape.slice(0, -2), batch);
  const out = outputArray(OP, undefined, x.outDType, aOff.length * M * N);
  // centred copies; b transposed so each output is a contiguous dot product
  const ac = new Int32Array(x.a.length);
  for (let i = 0; i < ac.length; i++) ac[i] = x.a[i] - x.aZp;
  const bt = new Int32Array(K * N);
  for (let p = 0; p < aOff.length; p++) {
    const aBase = aOff[p] * M * K, bBase = bOff[p] * K * N, oBase = p * M * N;
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) bt[n * K + k] = x.b[bBase + k * N + n] - x.bZp;
    for (let m = 0; m < M; m++) {
      const row = aBase + m * K;
      for (let n = 0; n < N; n++) {
        let acc = 0;
        const col = n * K;
        for (let k = 0; k < K; k++) acc += ac[row + k] * bt[col + k];
        out[oBase + m * N + n] = requantizeOne(acc, m0, shift, x.yZp, lo, hi);
      }
    }
  }
  return { data: out, shape: [...batch, M, N] };
}

/** y = requantized a ⊙ b with broadcasting; see the file header. */
export function qmul(x: QProductArgs): QuantResult {
  const OP = "qmul";
  const { lo, hi, m0, shift } = checkCommon(OP, x);
  const shape = broadcastShapes(OP, x.aShape, x.bShape);
  const aOff = broadcastOffsets(x.aShape, shape);
  const bOff = broadcastOffsets(x.bShape, shape);
  const out = outputArray(OP, undefined, x.outDType, aOff.length);
  for (let i = 0; i < out.length; i++) out[i] = requantizeOne((x.a[aOff[i]] - x.aZp) * (x.b[bOff[i]] - x.bZp), m0, shift, x.yZp, lo, hi);
  return { data: out, shape };
}
