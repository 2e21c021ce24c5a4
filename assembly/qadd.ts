/**
 * Quantized addition of the int8 engine (TFLite's Add, as src/int8/kernels/elementwise.ts's
 * qadd, which is the definition): each input is centred, scaled up by 2^leftShift, brought to a
 * common scale with gemmlowp's two-rounding MultiplyByQuantizedMultiplier (SRDHM, then
 * RoundingDivideByPOT), summed, and requantized to the output once (single rounding):
 *   a' = MBQM((a − aZp)·2^ls, aM)   b' = MBQM((b − bZp)·2^ls, bM)
 *   y  = clamp(yZp + sat32(round((a' + b')·outM)), lo, hi)
 * Integer-only; i64 holds the products (|·| < 2^62) and the sum a' + b' (< 2^32).
 */

import { requant4 } from "./qepilogue";

// @ts-ignore: decorator
@inline function srdhm(a: i32, b: i32): i32 {
  if (a == i32.MIN_VALUE && b == i32.MIN_VALUE) return i32.MAX_VALUE;
  const ab = <i64>a * <i64>b;
  const nudge: i64 = ab >= 0 ? 1073741824 : 1 - 1073741824;
  return <i32>((ab + nudge) / 2147483648); // i64 division truncates toward zero, as gemmlowp's
}

// @ts-ignore: decorator
@inline function rdbpot(x: i32, e: i32): i32 {
  const mask = e >= 31 ? i32.MAX_VALUE : (1 << e) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

/** TFLite MultiplyByQuantizedMultiplier (double rounding), left shift saturated. */
// @ts-ignore: decorator
@inline function mbqmDouble(x: i32, m: i32, shift: i32): i32 {
  let t = x;
  if (shift > 0) {
    const v = <i64>x << shift;
    t = v > 2147483647 ? i32.MAX_VALUE : v < -2147483648 ? i32.MIN_VALUE : <i32>v;
  }
  const h = srdhm(t, m);
  return shift < 0 ? rdbpot(h, -shift) : h;
}

/** A[a[i]] + B[b[i]] (the caller proved it fits int32). */
// @ts-ignore: decorator
@inline function lane(ta: usize, tb: usize, a: usize, b: usize, i: i32, aFlip: i32, bFlip: i32): i32 {
  const ia = <i32>load<u8>(a + <usize>i) ^ aFlip, ib = <i32>load<u8>(b + <usize>i) ^ bFlip;
  return load<i32>(ta + (<usize>ia << 2)) + load<i32>(tb + (<usize>ib << 2));
}

/**
 * out[i] for i < n. p: i32[10] = aM, aShift, bM, bShift, outM, outShift, yZp, lo, hi, leftShift.
 * Flags: aSigned, bSigned, ySigned (int8 storage when 1, uint8 otherwise). Each rescaled input
 * depends on its 8-bit value alone, so both are tabulated first (tables: 2 × 256 i32 of scratch).
 */
export function qaddKernel(a: usize, aSigned: i32, aZp: i32, b: usize, bSigned: i32, bZp: i32, y: usize, ySigned: i32, n: i32, p: usize, tables: usize): void {
  const am = load<i32>(p), as = load<i32>(p, 4), bm = load<i32>(p, 8), bs = load<i32>(p, 12);
  const om = load<i32>(p, 16), t = 31 - load<i32>(p, 20), yZp = load<i32>(p, 24);
  const lo = load<i32>(p, 28), hi = load<i32>(p, 32), ls = load<i32>(p, 36);
  const ta = tables, tb = tables + 1024;
  // Table index = the stored byte read unsigned, XOR 0x80 for int8 (so index = value + 128).
  const aFlip = aSigned ? 0x80 : 0, bFlip = bSigned ? 0x80 : 0;
  for (let v = 0; v < 256; v++) {
    store<i32>(ta + (<usize>v << 2), mbqmDouble(((aSigned ? v - 128 : v) - aZp) << ls, am, as));
    store<i32>(tb + (<usize>v << 2), mbqmDouble(((bSigned ? v - 128 : v) - bZp) << ls, bm, bs));
  }
  const rnd = (<i64>1) << (t - 1);
  // Vector path when it is provably exact: |A| + |B| fits int32 and the requantized sum, with
  // its zero point, cannot leave int32 (then requant4's logical-shift form is exact).
  let maxA: i64 = 0, maxB: i64 = 0;
  for (let v = 0; v < 256; v++) {
    const x = <i64>abs(load<i32>(ta + (<usize>v << 2))), z = <i64>abs(load<i32>(tb + (<usize>v << 2)));
    if (x > maxA) maxA = x;
    if (z > maxB) maxB = z;
  }
  const bound = <f64>(maxA + maxB);
  let i = 0;
  const pow2NegT = reinterpret<f64>(<i64>(1023 - t) << 52); // 2^−t, t ∈ [1, 62]
  if (bound < 2147483647.0 && bound * <f64>om * pow2NegT < 1073741824.0) {
    const mv = i32x4.splat(om);
    const rv = i64x2.splat(rnd + ((<i64>1) << 62));
    const zv = i32x4.splat(yZp - <i32>((<i64>1) << (62 - t)));
    const lov = i32x4.splat(lo), hiv = i32x4.splat(hi);
    for (; i + 4 <= n; i += 4) {
      let s4 = i32x4.splat(0);
      s4 = i32x4.replace_lane(s4, 0, lane(ta, tb, a, b, i, aFlip, bFlip));
      s4 = i32x4.replace_lane(s4, 1, lane(ta, tb, a, b, i + 1, aFlip, bFlip));
      s4 = i32x4.replace_lane(s4, 2, lane(ta, tb, a, b, i + 2, aFlip, bFlip));
      s4 = i32x4.replace_lane(s4, 3, lane(ta, tb, a, b, i + 3, aFlip, bFlip));
      const r = i32x4.min_s(i32x4.max_s(i32x4.add(requant4(s4, mv, rv, t), zv), lov), hiv);
      const h = i16x8.narrow_i32x4_s(r, r);
      v128.store32_lane(y + <usize>i, ySigned ? i8x16.narrow_i16x8_s(h, h) : i8x16.narrow_i16x8_u(h, h), 0);
    }
  }
  for (; i < n; i++) {
    const ia = <i32>load<u8>(a + <usize>i) ^ aFlip, ib = <i32>load<u8>(b + <usize>i) ^ bFlip;
    const sum = <i64>load<i32>(ta + (<usize>ia << 2)) + <i64>load<i32>(tb + (<usize>ib << 2));
    let r = (sum * <i64>om + rnd) >> t;
    if (r > 2147483647) r = 2147483647;
    if (r < -2147483648) r = -2147483648;
    r += yZp;
    if (r < <i64>lo) r = lo;
    if (r > <i64>hi) r = hi;
    if (ySigned) store<i8>(y + <usize>i, <i8>r);
    else store<u8>(y + <usize>i, <u8>r);
  }
}

/**
 * y[i] = table[x[i] ^ flip] for i < n: a requantization of 8-bit values tabulated by the caller
 * (src/int8/kernels/elementwise.ts builds the 256 entries with the reference requantizeOne;
 * flip = 0x80 for int8 input so that the index is value + 128). table: 256 bytes.
 */
export function lut8(x: usize, flip: i32, table: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u8>(y + <usize>i, load<u8>(table + <usize>(<i32>load<u8>(x + <usize>i) ^ flip)));
}
