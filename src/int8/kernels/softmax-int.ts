/**
 * Integer-only softmax over the last dim of an 8-bit tensor (Int8Model node `softmax_int`,
 * ../graph-integer.ts): an exp table indexed by max − q, an exact integer sum and one exact
 * rounding division to the output grid (docs/NUMERICS.md §8c). `softmaxIntParams` computes
 * the table and the output multiplier at conversion (quant/convert-integer.ts); `qsoftmaxInt`
 * runs it (Int8Model). Every intermediate is an integer below 2^53, so float64 holds it exactly
 * and the ONNX export's int64 ops (onnx/export-integer-ops.ts) give the same bits.
 */
import { NotSupportedError, ShapeError, ValueError } from "../../tensor/errors.js";
import { type QuantArray, type QuantDType, type QuantResult, checkQuantDType, outputArray, quantDTypeOf } from "./common.js";

/** Table length: indices 0…255 (max − q of any 8-bit input) and 256 (a masked position, 0). */
export const SOFTMAX_TABLE_SIZE = 257;
/** Fraction bits of the exp table: table[0] = 2^22. */
export const SOFTMAX_FRAC = 22;
const TWO_53 = 2 ** 53;

/** Exact ⌊a / b⌋ of integers |a| < 2^53, 0 < b < 2^53 (float division, corrected by the exact remainder). */
export function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  const r = a - q * b;
  if (r < 0) q -= 1;
  else if (r >= b) q += 1;
  return q;
}

/** The offline parameters of an integer softmax: exp table for input scale `sx`, 1/`sy` as R/2^r, for rows of `n`. */
export function softmaxIntParams(sx: number, sy: number, n: number): { table: Int32Array; frac: number; outMultiplier: [number, number] } {
  if (!(sx > 0 && Number.isFinite(sx)) || !(sy > 0 && Number.isFinite(sy))) throw new ValueError(`softmax_int: scales must be positive and finite, got ${sx}, ${sy}`);
  if (!(Number.isInteger(n) && n >= 1)) throw new ValueError(`softmax_int: row length must be a positive integer, got ${n}`);
  const frac = SOFTMAX_FRAC;
  const table = new Int32Array(SOFTMAX_TABLE_SIZE);
  for (let j = 0; j < 256; j++) table[j] = Math.round(Math.exp(-j * sx) * 2 ** frac);
  // the largest r with 2·den = 2·n·2^frac·2^r and 2·e·R + den below 2^53
  let r = 30;
  const fits = (rr: number) => 2 * n * 2 ** (frac + rr) < TWO_53 && 2 * 2 ** frac * Math.round(2 ** rr / sy) + n * 2 ** (frac + rr) < TWO_53;
  while (r > 0 && !fits(r)) r--;
  const R = Math.round(2 ** r / sy);
  if (!fits(r) || R < 2 ** 12) throw new NotSupportedError(`softmax_int: rows of ${n} with output scale ${sy} leave too few bits for an exact integer softmax (R = ${R})`);
  return { table, frac, outMultiplier: [R, r] };
}

export interface QSoftmaxIntArgs {
  x: QuantArray;
  shape: readonly number[];
  table: Int32Array;
  outMultiplier: readonly [number, number];
  yZp: number;
  outDType: QuantDType;
  clampMin: number;
  clampMax: number;
  /** 0/1 per position of the trailing dims (1 = masked), repeated over the leading dims. */
  mask?: Int32Array;
}

/** Integer softmax of each row of the last dim (see ../graph-integer.ts SoftmaxIntNode). */
export function qsoftmaxInt(a: QSoftmaxIntArgs): QuantResult {
  const OP = "qsoftmaxInt";
  quantDTypeOf(OP, "x", a.x);
  const outType = checkQuantDType(OP, "outDType", a.outDType);
  if (!(a.table instanceof Int32Array) || a.table.length !== SOFTMAX_TABLE_SIZE) throw new ShapeError(`${OP}: table must be an Int32Array of ${SOFTMAX_TABLE_SIZE} entries`);
  const n = a.shape[a.shape.length - 1];
  const total = a.x.length;
  if (!(n >= 1) || total % n !== 0) throw new ShapeError(`${OP}: input of ${total} values is not whole rows of ${n}`);
  const mask = a.mask;
  if (mask && (mask.length % n !== 0 || total % mask.length !== 0)) throw new ShapeError(`${OP}: mask of ${mask.length} values does not tile the input's rows of ${n}`);
  const [R, r] = a.outMultiplier;
  const two_r = 2 ** r;
  const { x, table } = a;
  const out = outputArray(OP, undefined, outType, total);
  const e = new Float64Array(n);
  for (let row = 0; row < total; row += n) {
    const mrow = mask ? row % mask.length : 0;
    let m = -Infinity;
    for (let i = 0; i < n; i++) if (!(mask && mask[mrow + i] !== 0) && x[row + i] > m) m = x[row + i];
    let s = 0;
    for (let i = 0; i < n; i++) {
      const v = mask && mask[mrow + i] !== 0 ? 0 : table[m - x[row + i]];
      e[i] = v;
      s += v;
    }
    const den = Math.max(1, s) * two_r;
    for (let i = 0; i < n; i++) {
      const q = a.yZp + floorDiv(2 * e[i] * R + den, 2 * den);
      out[row + i] = q < a.clampMin ? a.clampMin : q > a.clampMax ? a.clampMax : q;
    }
  }
  return { data: out, shape: [...a.shape] };
}
