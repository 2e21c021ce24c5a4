/**
 * Fixed-point requantization primitives of the integer engine, bit-exact with gemmlowp's
 * `fixedpoint.h` and TFLite's `QuantizeMultiplier` / `MultiplyByQuantizedMultiplier`
 * (Jacob et al. 2018, §2.2). A real multiplier M > 0 is stored as a Q31 integer M0 and a
 * power-of-two exponent: M ≈ M0 · 2^(shift − 31), M0 ∈ [2^30, 2^31 − 1].
 *
 * Every function takes and returns int32 values held in JS numbers. Intermediates that do
 * not fit int32 (the 64-bit product a·b of SRDHM) are computed exactly from a double
 * product and its low 32 bits (Math.imul) — no BigInt, no precision loss.
 *
 * Offline (`quantizeMultiplier`) may use float; the per-element functions never do.
 * Called by src/int8/kernels/* (per output element) and by model conversion (offline).
 */
import { ValueError } from "../tensor/errors.js";

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;

const TWO_31 = 2147483648;
const TWO_32 = 4294967296;
/** |a·b| below this is an exact double, and so is a·b ± 2^30. */
const TWO_52 = 4503599627370496;
/** gemmlowp's rounding nudges: 2^30 for a·b ≥ 0, 1 − 2^30 for a·b < 0. */
const NUDGE_POS = 1073741824;
const NUDGE_NEG = 1 - 1073741824;

/** A real multiplier M in fixed point: M = multiplier · 2^(shift − 31). */
export interface QuantizedMultiplier {
  /** Q31 mantissa M0 ∈ [2^30, 2^31 − 1], or 0 for M = 0 (or M < 2^-32, which rounds away). */
  multiplier: number;
  /** Power-of-two exponent ∈ [−31, 30]; > 0 is a left shift applied before SRDHM. */
  shift: number;
}

/**
 * TFLite QuantizeMultiplier: M = q · 2^shift with q = frexp(M) ∈ [0.5, 1); M0 = round(q · 2^31)
 * (round half away from zero, std::round). If rounding gives M0 = 2^31, halve it and shift + 1.
 * Then M0 · 2^(shift − 31) = M · (1 + ε) with |ε| ≤ 2^-31 (half an ulp of a 31-bit mantissa
 * relative to q ≥ 1/2). Exponents below −31 flush to (0, 0) — every result would be 0;
 * exponents above 30 saturate to (2^31 − 1, 30), as TFLite does for single rounding.
 * Accepts M ∈ [0, ∞) finite; M > 1 gives shift > 0 (left shift), M < 1/2 gives shift < 0.
 */
export function quantizeMultiplier(real: number): QuantizedMultiplier {
  if (!Number.isFinite(real) || real < 0) {
    throw new ValueError(`quantizeMultiplier: real multiplier must be finite and ≥ 0, got ${real}`);
  }
  // Far outside the representable exponents (also keeps frexp away from subnormals / 2^1024).
  if (real < 2 ** -40) return { multiplier: 0, shift: 0 };
  if (real > 2 ** 40) return { multiplier: INT32_MAX, shift: 30 };
  const [q, exponent] = frexp(real);
  let shift = exponent;
  let m0 = Math.round(q * TWO_31); // q·2^31 is exact (power-of-two scaling); q > 0 so round = half away
  if (m0 === TWO_31) {
    m0 = TWO_31 / 2;
    shift += 1;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  if (shift > 30) return { multiplier: INT32_MAX, shift: 30 };
  return { multiplier: m0, shift };
}

/** C frexp for finite x > 0: x = q · 2^e with q ∈ [0.5, 1). Exact (power-of-two scaling only). */
export function frexp(x: number): [number, number] {
  let e = Math.floor(Math.log2(x)) + 1;
  // 2^-e in two factors: for a subnormal x, 2^-e alone overflows to Infinity (and the loop below never ends)
  const half = Math.trunc(-e / 2);
  let q = x * Math.pow(2, half) * Math.pow(2, -e - half);
  // log2 may be off by one near powers of two or in the subnormal range; fix exactly.
  while (q >= 1) {
    q /= 2;
    e += 1;
  }
  while (q < 0.5) {
    q *= 2;
    e -= 1;
  }
  return [q, e];
}

/**
 * gemmlowp SaturatingRoundingDoublingHighMul: the high 32 bits of 2·a·b, rounded.
 *   overflow = a = b = INT32_MIN  →  INT32_MAX (the only case whose result exceeds int32)
 *   P = a·b (exact 64-bit, |P| ≤ 2^62), nudge = P ≥ 0 ? 2^30 : 1 − 2^30
 *   result = trunc((P + nudge) / 2^31)        (C++ int64 division truncates toward zero)
 * i.e. a·b / 2^31 rounded to nearest with ties toward +∞: a positive tie moves up (0.5 → 1),
 * and a negative one too, toward zero (−0.5 → (−2^30 + 1 − 2^30)/2^31 = −0.99… → 0; −1.5 → −1).
 * Result ∈ [INT32_MIN, INT32_MAX].
 *
 * Exact in doubles: when |a·b| < 2^52 the double product is exact and so is the rest.
 * Otherwise P = hi·2^32 + lo with lo = (Math.imul(a, b) >>> 0) ∈ [0, 2^32) the exact low
 * word, and hi = round((p − lo) / 2^32) where p = a·b rounded to double: |p − P| ≤ 2^8 ≪ 2^31,
 * so the quotient is within 2^-20 of the integer hi (|hi| ≤ 2^30). With lo' = lo + nudge ∈
 * (−2^30, 2^32 + 2^30): floor((P + nudge)/2^31) = 2·hi + floor(lo'/2^31), all exact.
 */
export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const p = a * b;
  const nudge = p >= 0 ? NUDGE_POS : NUDGE_NEG;
  // `| 0` truncates toward zero (the quotient fits int32) and never yields −0.
  if (p < TWO_52 && p > -TWO_52) return ((p + nudge) / TWO_31) | 0;
  const lo = Math.imul(a, b) >>> 0;
  const hi = Math.round((p - lo) / TWO_32);
  const lo2 = lo + nudge;
  const loQuot = Math.floor(lo2 / TWO_31);
  const floorQuot = 2 * hi + loQuot;
  // floor → trunc: a negative quotient with a nonzero remainder moves up by one.
  return (floorQuot < 0 && lo2 !== loQuot * TWO_31 ? floorQuot + 1 : floorQuot) | 0;
}

/**
 * gemmlowp RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero.
 *   mask = 2^e − 1, remainder = x & mask ∈ [0, 2^e), threshold = (mask >> 1) + (x < 0 ? 1 : 0)
 *   result = (x >> e) + (remainder > threshold ? 1 : 0)       (x >> e is floor division)
 * exponent ∈ [0, 31]; every intermediate is an int32 (mask ≤ 2^31 − 1, threshold ≤ 2^30).
 */
export function roundingDivideByPOT(x: number, exponent: number): number {
  const mask = exponent >= 31 ? INT32_MAX : (1 << exponent) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/**
 * Saturating x · 2^leftShift for leftShift ∈ [0, 30] (gemmlowp SaturatingRoundingMultiplyByPOT
 * with a positive exponent): the exact product clamped to [INT32_MIN, INT32_MAX]. TFLite leaves
 * the overflow undefined; we saturate so that the result is well defined and monotone.
 */
export function saturatingLeftShift(x: number, leftShift: number): number {
  const v = x * (1 << leftShift); // exact: |x| ≤ 2^31, 2^leftShift ≤ 2^30 → |v| ≤ 2^61 is a power-of-two scaling
  return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v;
}

/**
 * TFLite MultiplyByQuantizedMultiplier (double rounding): x · M0 · 2^(shift − 31) rounded.
 *   left  = max(shift, 0), right = max(−shift, 0)
 *   t = sat(x · 2^left)                  ∈ int32 (saturated; exact when |x| < 2^(31 − left))
 *   h = SRDHM(t, M0) = round(t·M0/2^31)  ∈ int32, |h| ≤ |t| for M0 ≤ 2^31 − 1
 *   result = RoundingDivideByPOT(h, right)
 * shift ∈ [−31, 30] as produced by quantizeMultiplier.
 */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number): number {
  const t = shift > 0 ? saturatingLeftShift(x, shift) : x;
  const h = saturatingRoundingDoublingHighMul(t, multiplier);
  return shift < 0 ? roundingDivideByPOT(h, -shift) : h;
}

/** 2^−t for t ∈ [0, 62]. */
const POW2_NEG = Float64Array.from({ length: 63 }, (_, t) => 2 ** -t);

/**
 * Single-rounding requantization (TFLite's TFLITE_SINGLE_ROUNDING MultiplyByQuantizedMultiplier):
 *   result = floor((x·M0 + 2^(t−1)) / 2^t),  t = 31 − shift ∈ [1, 62]
 * i.e. x·M0·2^(shift−31) rounded once, ties toward +∞, saturated to int32. The engine's
 * default: unlike the two-step SRDHM + RoundingDivideByPOT above, it never rounds twice, so
 * the integer model equals the fake-quant model's single round(x·M) except at exact ties.
 * Exact in doubles: with M0 = mh·2^16 + ml, p1 = x·mh (|p1| < 2^46) and p2 = x·ml (< 2^47)
 * are exact; for t ≥ 16, u = t − 16, c = floor(p2 / 2^16):
 *   result = floor((p1 + c + 2^(u−1)) / 2^u)  (u ≥ 1; the low 16 bits of p2 cannot carry)
 */
export function multiplyByQuantizedMultiplierSingleRounding(x: number, multiplier: number, shift: number): number {
  const t = 31 - shift;
  if (x < 2097152 && x > -2097152) {
    // Fast path, |x| < 2^21: x·M0 < 2^52 is exact, scaling by 2^−t is exact, and so is
    // y − floor(y); the result rounds once, ties toward +∞.
    const y = x * multiplier * POW2_NEG[t];
    const f = Math.floor(y);
    const r = y - f >= 0.5 ? f + 1 : f;
    return r > INT32_MAX ? INT32_MAX : r < INT32_MIN ? INT32_MIN : r;
  }
  const mh = Math.floor(multiplier / 65536);
  const ml = multiplier - mh * 65536;
  const p1 = x * mh;
  const p2 = x * ml;
  let q: number;
  if (t >= 17) {
    const u = t - 16;
    q = Math.floor((p1 + Math.floor(p2 / 65536) + 2 ** (u - 1)) / 2 ** u);
  } else if (t === 16) {
    const c = Math.floor(p2 / 65536);
    q = p1 + c + Math.floor((p2 - c * 65536 + 32768) / 65536);
  } else {
    q = p1 * 2 ** (16 - t) + Math.floor((p2 + 2 ** (t - 1)) / 2 ** t);
  }
  return q > INT32_MAX ? INT32_MAX : q < INT32_MIN ? INT32_MIN : q;
}

/**
 * Quantizes each real multiplier of a per-channel (or length-1 per-tensor) list into the
 * parallel int32 arrays the kernels take. Offline (float allowed).
 */
export function quantizeMultipliers(reals: ArrayLike<number>): { multiplier: Int32Array; shift: Int32Array } {
  const multiplier = new Int32Array(reals.length);
  const shift = new Int32Array(reals.length);
  for (let i = 0; i < reals.length; i++) {
    const qm = quantizeMultiplier(reals[i]);
    multiplier[i] = qm.multiplier;
    shift[i] = qm.shift;
  }
  return { multiplier, shift };
}
