/**
 * Integer-only LayerNorm over the last dim of an 8-bit tensor (Int8Model node `layernorm_int`,
 * ../graph-integer.ts; I-BERT's integer LayerNorm made exact, docs/NUMERICS.md §8c): centred
 * sums, an exact integer square root and one rounding division with the affine parameters
 * folded in. `layerNormIntParams` chooses the bit widths at conversion so that every
 * intermediate is an integer below 2^53 (float64 exact here, int64 in the ONNX export,
 * onnx/export-integer-ops.ts); `qlayerNormInt` runs it (Int8Model).
 */
import { NotSupportedError, ShapeError, ValueError } from "../../tensor/errors.js";
import { type QuantArray, type QuantDType, type QuantResult, checkQuantDType, outputArray, quantDTypeOf } from "./common.js";
import { floorDiv } from "./softmax-int.js";

/** Largest row length: V = Σd² ≤ n³·16257 stays below 2^53 and n·W below 2^62 (the ONNX int64 product). */
export const LAYERNORM_MAX_N = 4096;
/** Bound on W (√ of a float64 integer below 2^52 is exact after ⌊·⌋) and on num, den. */
const W_BOUND = 2 ** 51;
const NUM_BOUND = 2 ** 50;

export interface LayerNormIntParams {
  p: number;
  epsTerm: number;
  g: number;
  gamma: Int32Array;
  beta: Int32Array;
}

/**
 * Bit widths and folded parameters for rows of `n`, input scale `sx`, output scale `sy`,
 * γ / β (null: 1 / 0) and eps.
 */
export function layerNormIntParams(n: number, sx: number, sy: number, gamma: ArrayLike<number> | null, beta: ArrayLike<number> | null, eps: number): LayerNormIntParams {
  if (!(Number.isInteger(n) && n >= 1 && n <= LAYERNORM_MAX_N)) throw new NotSupportedError(`layernorm_int: rows of ${n} values; the integer LayerNorm takes 1 to ${LAYERNORM_MAX_N}`);
  if (!(sx > 0 && Number.isFinite(sx)) || !(sy > 0 && Number.isFinite(sy))) throw new ValueError(`layernorm_int: scales must be positive and finite, got ${sx}, ${sy}`);
  if (!(eps >= 0 && Number.isFinite(eps))) throw new ValueError(`layernorm_int: eps must be finite and ≥ 0, got ${eps}`);
  if ((gamma && gamma.length !== n) || (beta && beta.length !== n)) throw new ShapeError(`layernorm_int: γ and β must have ${n} values`);
  const epsQ = eps / (sx * sx);
  const nW = Math.min(W_BOUND, 2 ** 62 / n);
  // p: W ≤ n²·4^p·(16257 + eps/S_x²) + 1 below the bound, c < 2^52; at most 16 bits
  let p = 16;
  const wMax = (pp: number) => n * n * 4 ** pp * (16257 + epsQ) + 1;
  while (p > 0 && !(wMax(p) < nW && n ** 3 * 4 ** p * epsQ < 2 ** 52)) p--;
  if (!(wMax(p) < nW && n ** 3 * 4 ** p * epsQ < 2 ** 52)) throw new NotSupportedError(`layernorm_int: eps ${eps} is too large against the input scale ${sx} for an exact integer LayerNorm`);
  const epsTerm = Math.round(n ** 3 * 4 ** p * epsQ);
  const gs = Array.from({ length: n }, (_, i) => (gamma ? gamma[i] : 1) / sy);
  const bs = Array.from({ length: n }, (_, i) => (beta ? beta[i] : 0) / sy);
  const gMax = Math.max(1e-30, ...gs.map(Math.abs));
  const bMax = Math.max(1e-30, ...bs.map(Math.abs));
  const dMax = n * 255;
  const sigmaMax = Math.sqrt(wMax(p));
  // g: |num| ≤ G·dMax·2^p + B·σ and den = σ·2^g below 2^50; G, B within int32
  let g = 30;
  const fits = (gg: number) => 2 ** gg * (gMax * dMax * 2 ** p + bMax * sigmaMax) + dMax * 2 ** p + sigmaMax < NUM_BOUND && sigmaMax * 2 ** gg < NUM_BOUND && Math.max(gMax, bMax) * 2 ** gg < 2 ** 31 - 1;
  while (g > 0 && !fits(g)) g--;
  if (!fits(g) || g < 4) throw new NotSupportedError(`layernorm_int: γ/S_y up to ${gMax.toPrecision(3)} and β/S_y up to ${bMax.toPrecision(3)} leave too few bits (${g}) for an exact integer LayerNorm`);
  return { p, epsTerm, g, gamma: Int32Array.from(gs, (v) => Math.round(v * 2 ** g)), beta: Int32Array.from(bs, (v) => Math.round(v * 2 ** g)) };
}

export interface QLayerNormIntArgs {
  x: QuantArray;
  shape: readonly number[];
  p: number;
  epsTerm: number;
  g: number;
  gamma: Int32Array;
  beta: Int32Array;
  yZp: number;
  outDType: QuantDType;
  clampMin: number;
  clampMax: number;
}

/** ⌊(V·4^p + c) / n⌋ exactly, without forming V·4^p (which may pass 2^53). */
export function layerNormW(V: number, p: number, c: number, n: number): number {
  const qa = floorDiv(V, n), rb = V - qa * n;
  const cc = floorDiv(c, n), ce = c - cc * n;
  return qa * 4 ** p + cc + floorDiv(rb * 4 ** p + ce, n);
}

/** Integer LayerNorm of each row of the last dim (see ../graph-integer.ts LayerNormIntNode). */
export function qlayerNormInt(a: QLayerNormIntArgs): QuantResult {
  const OP = "qlayerNormInt";
  quantDTypeOf(OP, "x", a.x);
  const outType = checkQuantDType(OP, "outDType", a.outDType);
  const n = a.shape[a.shape.length - 1];
  const total = a.x.length;
  if (!(n >= 1) || total % n !== 0) throw new ShapeError(`${OP}: input of ${total} values is not whole rows of ${n}`);
  if (a.gamma.length !== n || a.beta.length !== n) throw new ShapeError(`${OP}: γ and β must have ${n} values, got ${a.gamma.length} and ${a.beta.length}`);
  const { x, gamma, beta } = a;
  const two_p = 2 ** a.p, two_g = 2 ** a.g;
  const out = outputArray(OP, undefined, outType, total);
  const d = new Float64Array(n);
  for (let row = 0; row < total; row += n) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[row + i];
    let V = 0;
    for (let i = 0; i < n; i++) {
      const di = n * x[row + i] - s;
      d[i] = di;
      V += di * di;
    }
    const sigma = Math.max(1, Math.floor(Math.sqrt(layerNormW(V, a.p, a.epsTerm, n))));
    const den = sigma * two_g;
    for (let i = 0; i < n; i++) {
      const num = d[i] * two_p * gamma[i] + beta[i] * sigma;
      const q = a.yZp + floorDiv(2 * num + den, 2 * den);
      out[row + i] = q < a.clampMin ? a.clampMin : q > a.clampMax ? a.clampMax : q;
    }
  }
  return { data: out, shape: [...a.shape] };
}
