/**
 * Shared pieces of the int8 engine's wasm kernels (assembly/qconv.ts, assembly/qdepthwise.ts):
 * the geometry struct written by src/backend/wasm/int8.ts, the padded int16 image, the
 * per-channel requantization table and the requantizing epilogues (vector and saturating
 * scalar), and the linear layers' row epilogue. Numerics: see assembly/qconv.ts and
 * docs/NUMERICS.md §7b.
 */

export const NR: i32 = 8;

// Geometry struct (i32[24]) written by src/int8/kernels/gemm-path.ts.
export const G_C = 0, G_H = 1, G_W = 2, G_OC = 3, G_KH = 4, G_KW = 5, G_OH = 6, G_OW = 7;
export const G_SH = 8, G_SW = 9, G_PH = 10, G_PW = 11, G_DH = 12, G_DW = 13;
export const G_XUNSIGNED = 14, G_XZP = 15, G_YSIGNED = 16, G_YZP = 17, G_LO = 18, G_HI = 19;
export const G_PERCHANNEL = 20, G_EXACT = 21, G_POOL2 = 22;

// @ts-ignore: decorator
@inline export function geo(g: usize, f: i32): i32 {
  return load<i32>(g + (<usize>f << 2));
}

// Per-call epilogue constants (module globals are per instance, i.e. per thread).
let gYZp: i32 = 0;
let gLo: i32 = 0;
let gHi: i32 = 0;
let gPerChannel: bool = false;
let gExact: bool = true;
let gYSigned: bool = false;

export function loadEpilogue(g: usize): void {
  gYZp = geo(g, G_YZP);
  gLo = geo(g, G_LO);
  gHi = geo(g, G_HI);
  gPerChannel = geo(g, G_PERCHANNEL) != 0;
  gExact = geo(g, G_EXACT) != 0;
  gYSigned = geo(g, G_YSIGNED) != 0;
}

/** Padded int16 image bytes (with slack for the widest vector read past a row). */
export function padBytes(c: i32, h: i32, w: i32, ph: i32, pw: i32, sw: i32): i32 {
  return (c * (h + 2 * ph) * (w + 2 * pw) + 32 * sw + 32) * 2;
}

/**
 * Per output channel o, 80 bytes at ct + 80·o: bias (i32x4 splat), M0 (i32x4 splat), the
 * rounding constant 2^(t−1) + 2^62 (i64x2), yZp − low32(2^(62−t)) (i32x4), then t (i32).
 */
export function channelTable(oc: i32, bias: usize, mult: usize, shift: usize, ct: usize): void {
  for (let o = 0; o < oc; o++) {
    const ch = gPerChannel ? o : 0;
    const m0 = load<i32>(mult + (<usize>ch << 2));
    const t = 31 - load<i32>(shift + (<usize>ch << 2));
    const e = ct + <usize>(o * 80);
    v128.store(e, i32x4.splat(bias != 0 ? load<i32>(bias + (<usize>o << 2)) : 0));
    v128.store(e, i32x4.splat(m0), 16);
    v128.store(e, i64x2.splat(((<i64>1) << (t - 1)) + ((<i64>1) << 62)), 32);
    v128.store(e, i32x4.splat(gYZp - <i32>((<i64>1) << (62 - t))), 48);
    store<i32>(e, t, 64);
    store<i32>(e, m0, 68);
  }
}

/** pad[ci, yy, xx] = x[ci, yy − ph, xx − pw] − xZp inside, 0 in the border and the slack. */
export function padImage(x: usize, unsigned: bool, zp: i32, c: i32, h: i32, w: i32, ph: i32, pw: i32, pad: usize, padLen: i32): void {
  memory.fill(pad, 0, <usize>padLen);
  const wp = w + 2 * pw, hp = h + 2 * ph;
  const zv = i16x8.splat(<i16>zp);
  for (let ci = 0; ci < c; ci++) {
    for (let iy = 0; iy < h; iy++) {
      const src = x + <usize>((ci * h + iy) * w);
      const dst = pad + (<usize>((ci * hp + iy + ph) * wp + pw) << 1);
      let ix = 0;
      for (; ix + 8 <= w; ix += 8) {
        const v = unsigned ? v128.load8x8_u(src + <usize>ix) : v128.load8x8_s(src + <usize>ix);
        v128.store(dst + (<usize>ix << 1), i16x8.sub(v, zv));
      }
      for (; ix < w; ix++) {
        const v = unsigned ? <i32>load<u8>(src + <usize>ix) : <i32>load<i8>(src + <usize>ix);
        store<i16>(dst + (<usize>ix << 1), <i16>(v - zp));
      }
    }
  }
}

/** 8 int16 values at p, p + s, …, p + 7s (elements). */
// @ts-ignore: decorator
@inline export function load8(p: usize, s: i32): v128 {
  if (s == 1) return v128.load(p);
  if (s == 2) return v128.shuffle<i16>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6, 8, 10, 12, 14);
  const bs = <usize>s << 1;
  let v = i16x8.splat(load<i16>(p));
  v = i16x8.replace_lane(v, 1, load<i16>(p + bs));
  v = i16x8.replace_lane(v, 2, load<i16>(p + 2 * bs));
  v = i16x8.replace_lane(v, 3, load<i16>(p + 3 * bs));
  v = i16x8.replace_lane(v, 4, load<i16>(p + 4 * bs));
  v = i16x8.replace_lane(v, 5, load<i16>(p + 5 * bs));
  v = i16x8.replace_lane(v, 6, load<i16>(p + 6 * bs));
  return i16x8.replace_lane(v, 7, load<i16>(p + 7 * bs));
}

/**
 * Pooled epilogue of one output channel: the max of the two conv rows (tiles at t and
 * t + 128), then of horizontal pixel pairs, requantized — exact, because requantization
 * (acc ↦ clamp(yZp + round((acc + bias)·M))) is non-decreasing for M ≥ 0, so the max of
 * requantized values is the requantized max. Stores `nvalid` ≤ 4 pooled values at y.
 */
export function pooledStore(t: usize, o: i32, y: usize, nvalid: i32, ct: usize, tmp: usize): void {
  const va = i32x4.max_s(v128.load(t), v128.load(t, 128));
  const vb = i32x4.max_s(v128.load(t, 16), v128.load(t, 144));
  let m = i32x4.max_s(v128.shuffle<i32>(va, vb, 0, 2, 4, 6), v128.shuffle<i32>(va, vb, 1, 3, 5, 7));
  const e = ct + <usize>(o * 80);
  m = i32x4.add(m, v128.load(e));
  if (gExact) {
    m = i32x4.add(requant4(m, v128.load(e, 16), v128.load(e, 32), load<i32>(e, 64)), v128.load(e, 48));
  } else {
    v128.store(tmp, m);
    requantScalar(tmp, 4, e);
    m = v128.load(tmp);
  }
  m = i32x4.min_s(i32x4.max_s(m, i32x4.splat(gLo)), i32x4.splat(gHi));
  const h16 = i16x8.narrow_i32x4_s(m, m);
  const v8 = gYSigned ? i8x16.narrow_i16x8_s(h16, h16) : i8x16.narrow_i16x8_u(h16, h16);
  if (nvalid == 4) {
    v128.store32_lane(y, v8, 0);
  } else {
    const bits = i32x4.extract_lane(v8, 0);
    for (let j = 0; j < nvalid; j++) store<u8>(y + <usize>j, <u8>(bits >> (8 * j)));
  }
}

/** Single-rounding requantization of one int32, saturated to int32 (scalar reference path). */
// @ts-ignore: decorator
@inline function mbqm(acc: i32, m0: i32, t: i32): i64 {
  let r = (<i64>acc * <i64>m0 + ((<i64>1) << (t - 1))) >> t;
  if (r > 2147483647) r = 2147483647;
  if (r < -2147483648) r = -2147483648;
  return r;
}

/**
 * The saturating path: n int32 accumulators at p (bias added) become
 * clamp(yZp + sat32(single-rounding requant), lo, hi) in place, channel constants at e.
 */
function requantScalar(p: usize, n: i32, e: usize): void {
  const t = load<i32>(e, 64), m0 = load<i32>(e, 68);
  for (let j = 0; j < n; j++) {
    const q = p + (<usize>j << 2);
    let r = <i64>gYZp + mbqm(load<i32>(q), m0, t);
    if (r < <i64>gLo) r = gLo;
    if (r > <i64>gHi) r = gHi;
    store<i32>(q, <i32>r);
  }
}

/**
 * Requantizes 4 lanes: low 32 bits of (acc·M0 + 2^(t−1) + 2^62) >>> t, a logical shift (SSE
 * has no 64-bit arithmetic one). The 2^62 offset keeps the sum non-negative, so the logical
 * shift is floor division, and adds 2^(62−t) to the quotient; the caller subtracts it in
 * wrapping int32 arithmetic, exact because the true result fits int32 (`exact` path only).
 */
// @ts-ignore: decorator
@inline export function requant4(v: v128, mv: v128, rnd: v128, t: i32): v128 {
  const lo = i64x2.shr_u(i64x2.add(i64x2.extmul_low_i32x4_s(v, mv), rnd), t);
  const hi = i64x2.shr_u(i64x2.add(i64x2.extmul_high_i32x4_s(v, mv), rnd), t);
  return v128.shuffle<i32>(lo, hi, 0, 2, 4, 6);
}

/** y[0..nvalid) = clamp(yZp + requant(acc + bias[o]), lo, hi) for the 8 accumulators (va, vb). */
// @ts-ignore: decorator
@inline export function requantStore(va: v128, vb: v128, o: i32, y: usize, nvalid: i32, ct: usize, tmp: usize): void {
  const e = ct + <usize>(o * 80);
  const bv = v128.load(e);
  va = i32x4.add(va, bv);
  vb = i32x4.add(vb, bv);
  const lo = gLo, hi = gHi;
  let ra: v128, rb: v128;
  if (gExact) {
    const mv = v128.load(e, 16), rnd = v128.load(e, 32), zv = v128.load(e, 48);
    const t = load<i32>(e, 64);
    ra = i32x4.add(requant4(va, mv, rnd, t), zv);
    rb = i32x4.add(requant4(vb, mv, rnd, t), zv);
  } else {
    v128.store(tmp, va);
    v128.store(tmp, vb, 16);
    requantScalar(tmp, NR, e);
    ra = v128.load(tmp);
    rb = v128.load(tmp, 16);
  }
  const lov = i32x4.splat(lo), hiv = i32x4.splat(hi);
  ra = i32x4.min_s(i32x4.max_s(ra, lov), hiv);
  rb = i32x4.min_s(i32x4.max_s(rb, lov), hiv);
  const h16 = i16x8.narrow_i32x4_s(ra, rb);
  const v8 = gYSigned ? i8x16.narrow_i16x8_s(h16, h16) : i8x16.narrow_i16x8_u(h16, h16);
  if (nvalid == NR) {
    v128.store64_lane(y, v8, 0);
  } else {
    v128.store(tmp, v8);
    for (let j = 0; j < nvalid; j++) store<u8>(y + <usize>j, load<u8>(tmp + <usize>j));
  }
}

/**
 * Linear rows [0, m) of a prepacked int8 GEMM (igemmPacked) followed by the requantization
 * epilogue (per-column multiplier when per-channel): y[i, j] = clamp(yZp + requant(acc + bias[j])).
 * `acc` is int32 scratch of m·n. Geometry fields used: G_XUNSIGNED, G_XZP, G_YSIGNED, G_YZP,
 * G_LO, G_HI, G_PERCHANNEL.
 */
export function requantRows(acc: usize, m: i32, n: i32, bias: usize, mult: usize, shift: usize, y: usize, g: usize): void {
  const perChannel = geo(g, G_PERCHANNEL) != 0, ySigned = geo(g, G_YSIGNED) != 0;
  const yZp = geo(g, G_YZP), lo = geo(g, G_LO), hi = geo(g, G_HI);
  for (let j = 0; j < n; j++) {
    const ch = perChannel ? j : 0;
    const m0 = load<i32>(mult + (<usize>ch << 2));
    const t = 31 - load<i32>(shift + (<usize>ch << 2));
    const bj = bias != 0 ? load<i32>(bias + (<usize>j << 2)) : 0;
    for (let i = 0; i < m; i++) {
      const idx = i * n + j;
      let r = <i64>yZp + mbqm(load<i32>(acc + (<usize>idx << 2)) + bj, m0, t);
      if (r < <i64>lo) r = lo;
      if (r > <i64>hi) r = hi;
      if (ySigned) store<i8>(y + <usize>idx, <i8>r);
      else store<u8>(y + <usize>idx, <u8>r);
    }
  }
}

