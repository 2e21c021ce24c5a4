/**
 * Quantized addition of the int8 engine (TFLite's Add, as src/int8/kernels/elementwise.ts's
 * qadd, which is the definition): each input is centred, scaled up by 2^leftShift, brought to a
 * common scale with gemmlowp's two-rounding MultiplyByQuantizedMultiplier (SRDHM, then
 * RoundingDivideByPOT), summed, and requantized to the output once (single rounding):
 *   a' = MBQM((a − aZp)·2^ls, aM)   b' = MBQM((b − bZp)·2^ls, bM)
 *   y  = clamp(yZp + sat32(round((a' + b')·outM)), lo, hi)
 * Integer-only; i64 holds the products (|·| < 2^62) and the sum a' + b' (< 2^32).
 */

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

/**
 * out[i] for i < n. p: i32[10] = aM, aShift, bM, bShift, outM, outShift, yZp, lo, hi, leftShift.
 * Flags: aSigned, bSigned, ySigned (int8 storage when 1, uint8 otherwise).
 */
export function qaddKernel(a: usize, aSigned: i32, aZp: i32, b: usize, bSigned: i32, bZp: i32, y: usize, ySigned: i32, n: i32, p: usize): void {
  const am = load<i32>(p), as = load<i32>(p, 4), bm = load<i32>(p, 8), bs = load<i32>(p, 12);
  const om = load<i32>(p, 16), t = 31 - load<i32>(p, 20), yZp = load<i32>(p, 24);
  const lo = load<i32>(p, 28), hi = load<i32>(p, 32), ls = load<i32>(p, 36);
  const rnd = (<i64>1) << (t - 1);
  for (let i = 0; i < n; i++) {
    const av = aSigned ? <i32>load<i8>(a + <usize>i) : <i32>load<u8>(a + <usize>i);
    const bv = bSigned ? <i32>load<i8>(b + <usize>i) : <i32>load<u8>(b + <usize>i);
    const sum = <i64>mbqmDouble((av - aZp) << ls, am, as) + <i64>mbqmDouble((bv - bZp) << ls, bm, bs);
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
