/**
 * QAT helpers on float32 NCHW data:
 *   channelAffineF32          y = x·scale[c] + bias[c] for planes [p0, p1) of n·c, in f64x2
 *                             lanes and rounded once to float32 — bit-identical to the
 *                             reference kernel (src/backend/ref/channel-affine.ts), whose
 *                             JavaScript arithmetic is double precision
 *   channelAffineBackwardF32  dx = g·scale[c] (exact float32 product); dscale[c] = Σ g·x,
 *                             dbias[c] = Σ g in f64 lanes, for channels [c0, c1)
 *   minmaxF32 / minmaxPerChannelF32
 *                             running min and max with the reference's comparison semantics
 *                             (f32x4.pmin/pmax: a NaN never replaces a value) plus a NaN flag,
 *                             for the observers (src/quant/observer.ts)
 */

export function channelAffineF32(x: usize, scale: usize, bias: usize, y: usize, c: i32, inner: i32, p0: i32, p1: i32): void {
  for (let p = p0; p < p1; p++) {
    const ch = p % c;
    const s = <f64>load<f32>(scale + (<usize>ch << 2));
    const t = bias != 0 ? <f64>load<f32>(bias + (<usize>ch << 2)) : 0.0;
    const sv = f64x2.splat(s), tv = f64x2.splat(t);
    const xp = x + (<usize>(p * inner) << 2), yp = y + (<usize>(p * inner) << 2);
    let i = 0;
    for (; i + 4 <= inner; i += 4) {
      const v = v128.load(xp + (<usize>i << 2));
      const lo = f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(v), sv), tv);
      const hi = f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)), sv), tv);
      v128.store(yp + (<usize>i << 2), v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
    }
    for (; i < inner; i++) store<f32>(yp + (<usize>i << 2), <f32>(<f64>load<f32>(xp + (<usize>i << 2)) * s + t));
  }
}

export function channelAffineBackwardF32(
  g: usize, x: usize, scale: usize, dx: usize, dscale: usize, dbias: usize, n: i32, c: i32, inner: i32, c0: i32, c1: i32,
): void {
  for (let ch = c0; ch < c1; ch++) {
    const s = load<f32>(scale + (<usize>ch << 2));
    const sv = f32x4.splat(s);
    let gs = f64x2.splat(0), gx = f64x2.splat(0);
    let gsS: f64 = 0, gxS: f64 = 0;
    for (let b = 0; b < n; b++) {
      const off = <usize>((b * c + ch) * inner) << 2;
      const gp = g + off, xp = x + off;
      let i = 0;
      for (; i + 4 <= inner; i += 4) {
        const gv = v128.load(gp + (<usize>i << 2));
        if (dx != 0) v128.store(dx + off + (<usize>i << 2), f32x4.mul(gv, sv));
        const xv = v128.load(xp + (<usize>i << 2));
        const g0 = f64x2.promote_low_f32x4(gv), g1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(gv, gv, 2, 3, 2, 3));
        const x0 = f64x2.promote_low_f32x4(xv), x1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(xv, xv, 2, 3, 2, 3));
        gs = f64x2.add(gs, f64x2.add(g0, g1));
        gx = f64x2.add(gx, f64x2.add(f64x2.mul(g0, x0), f64x2.mul(g1, x1)));
      }
      for (; i < inner; i++) {
        const gi = load<f32>(gp + (<usize>i << 2));
        if (dx != 0) store<f32>(dx + off + (<usize>i << 2), gi * s);
        gsS += <f64>gi;
        gxS += <f64>gi * <f64>load<f32>(xp + (<usize>i << 2));
      }
    }
    if (dscale != 0) store<f32>(dscale + (<usize>ch << 2), <f32>(f64x2.extract_lane(gx, 0) + f64x2.extract_lane(gx, 1) + gxS));
    if (dbias != 0) store<f32>(dbias + (<usize>ch << 2), <f32>(f64x2.extract_lane(gs, 0) + f64x2.extract_lane(gs, 1) + gsS));
  }
}

/** out[0] = min, out[1] = max (±∞ when n = 0), out[2] = 1 if any NaN (f32 slots). */
export function minmaxF32(x: usize, n: i32, out: usize): void {
  store<f32>(out, Infinity);
  store<f32>(out, -Infinity, 4);
  store<f32>(out, foldMinMax(x, n, out, out + 4) ? 1 : 0, 8);
}

/**
 * Folds x[0, n) into the running min at *pMin and max at *pMax (in place); true if x holds a
 * NaN. Lane-wise f32x4.pmin/pmax keep the reference's `if (v < m) m = v` semantics.
 */
function foldMinMax(x: usize, n: i32, pMin: usize, pMax: usize): bool {
  let mn = f32x4.splat(load<f32>(pMin)), mx = f32x4.splat(load<f32>(pMax)), nan = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    mn = f32x4.pmin(mn, v);
    mx = f32x4.pmax(mx, v);
    nan = v128.or(nan, f32x4.ne(v, v));
  }
  let a = min4(mn), b = max4(mx);
  let hasNan = v128.any_true(nan);
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v < a) a = v;
    if (v > b) b = v;
    if (v != v) hasNan = true;
  }
  store<f32>(pMin, a);
  store<f32>(pMax, b);
  return hasNan;
}

// @ts-ignore: decorator
@inline function min4(v: v128): f32 {
  let a = f32x4.extract_lane(v, 0);
  const b = f32x4.extract_lane(v, 1), c = f32x4.extract_lane(v, 2), d = f32x4.extract_lane(v, 3);
  if (b < a) a = b;
  if (c < a) a = c;
  if (d < a) a = d;
  return a;
}

// @ts-ignore: decorator
@inline function max4(v: v128): f32 {
  let a = f32x4.extract_lane(v, 0);
  const b = f32x4.extract_lane(v, 1), c = f32x4.extract_lane(v, 2), d = f32x4.extract_lane(v, 3);
  if (b > a) a = b;
  if (c > a) a = c;
  if (d > a) a = d;
  return a;
}

/**
 * Per channel c of [outer, C, inner]: mins[c], maxs[c] updated in place (start them at ±∞),
 * nan[c] (u8) set when the channel holds a NaN.
 */
export function minmaxPerChannelF32(x: usize, outer: i32, c: i32, inner: i32, mins: usize, maxs: usize, nan: usize): void {
  for (let o = 0; o < outer; o++) {
    for (let ch = 0; ch < c; ch++) {
      const base = x + (<usize>((o * c + ch) * inner) << 2);
      if (foldMinMax(base, inner, mins + (<usize>ch << 2), maxs + (<usize>ch << 2))) store<u8>(nan + <usize>ch, 1);
    }
  }
}
