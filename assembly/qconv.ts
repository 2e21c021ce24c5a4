/**
 * Integer kernels of the int8 engine's fast path (src/int8/kernels/gemm-path.ts): convolution
 * (groups = 1), linear and max pooling on uint8/int8 activations, with the requantization
 * (Jacob et al. eq. 7, single rounding) fused into the GEMM epilogue.
 *
 * Convolution is computed transposed, Cᵀ[oc, pixel] = W[oc, :] · cols[:, pixel], so the tile
 * rows are output channels (one multiplier, shift and bias per row) and the tile columns are
 * 8 neighbouring output pixels of one output row, stored straight into NCHW:
 *   1. the image is copied once into an int16 buffer with its zero point subtracted and the
 *      padding materialised as 0 (a real zero), so every tap of every window is in bounds;
 *   2. per group of 8 output pixels, the B panel (k-pairs × 8 pixels, int16 pairs) is built
 *      with two vector loads and two shuffles per k-pair (stride 1 and 2; other strides gather);
 *   3. the weights, packed once per layer (qconvPackWeights), are the A operand in panels of
 *      4 output channels; the 4×8 tile accumulates with i32x4.dot_i16x8_s (two k per step);
 *   4. the epilogue adds the int32 bias and requantizes each row:
 *        y = clamp(yZp + ((acc·M0 + 2^(t−1)) >> t), lo, hi),   t = 31 − shift ∈ [1, 62]
 *      in i64x2 lanes; exact, and equal to src/int8/fixed-point.ts's
 *      multiplyByQuantizedMultiplierSingleRounding, whenever the result fits int32 — the caller
 *      passes `exact = 1` only when it proved that from the accumulator bound, else each lane
 *      saturates to int32 first in scalar i64 code.
 * Lanes of a last partial pixel group compute on whatever lies beyond the row (in bounds of
 * the buffer) and are never stored.
 *
 * Ranges: x − xZp ∈ [−255, 255], w ∈ [−128, 127]: each dot lane adds two products
 * (|·| ≤ 65 280) to an int32 accumulator bounded by the caller's accumulator check.
 */

import { dotTile } from "./igemm";

const MR: i32 = 4;
const NR: i32 = 8;

/** Bytes of a packed weight block for `oc` output channels of reduction length k. */
export function qconvPackedBytes(oc: i32, k: i32): i32 {
  const kp = (k + 1) & ~1;
  return (oc + MR - 1) / MR * MR * kp * 2;
}

/**
 * Packs int8 weights w[oc, k] (symmetric: zero point 0) as panels of 4 output channels:
 *   dst[((p·pairs + q)·4 + r)] (i32) = w[4p + r, 2q] | w[4p + r, 2q + 1] << 16   (int16 halves)
 * with 0 past k and past oc.
 */
export function qconvPackWeights(w: usize, oc: i32, k: i32, dst: usize): void {
  const pairs = ((k + 1) & ~1) >> 1;
  const panels = (oc + MR - 1) / MR;
  for (let p = 0; p < panels; p++) {
    for (let r = 0; r < MR; r++) {
      const o = p * MR + r;
      const row = w + <usize>(o * k);
      for (let q = 0; q < pairs; q++) {
        let lo = 0, hi = 0;
        if (o < oc) {
          lo = <i32>load<i8>(row + <usize>(2 * q));
          if (2 * q + 1 < k) hi = <i32>load<i8>(row + <usize>(2 * q + 1));
        }
        store<i32>(dst + (<usize>((p * pairs + q) * MR + r) << 2), (lo & 0xffff) | (hi << 16));
      }
    }
  }
}

// Geometry struct (i32[24]) written by src/int8/kernels/gemm-path.ts.
const G_C = 0, G_H = 1, G_W = 2, G_OC = 3, G_KH = 4, G_KW = 5, G_OH = 6, G_OW = 7;
const G_SH = 8, G_SW = 9, G_PH = 10, G_PW = 11, G_DH = 12, G_DW = 13;
const G_XUNSIGNED = 14, G_XZP = 15, G_YSIGNED = 16, G_YZP = 17, G_LO = 18, G_HI = 19;
const G_PERCHANNEL = 20, G_EXACT = 21, G_POOL2 = 22;

// @ts-ignore: decorator
@inline function geo(g: usize, f: i32): i32 {
  return load<i32>(g + (<usize>f << 2));
}

// Per-call epilogue constants (module globals are per instance, i.e. per thread).
let gYZp: i32 = 0;
let gLo: i32 = 0;
let gHi: i32 = 0;
let gPerChannel: bool = false;
let gExact: bool = true;
let gYSigned: bool = false;

function loadEpilogue(g: usize): void {
  gYZp = geo(g, G_YZP);
  gLo = geo(g, G_LO);
  gHi = geo(g, G_HI);
  gPerChannel = geo(g, G_PERCHANNEL) != 0;
  gExact = geo(g, G_EXACT) != 0;
  gYSigned = geo(g, G_YSIGNED) != 0;
}

/** Padded int16 image bytes (with slack for the widest vector read past a row). */
function padBytes(c: i32, h: i32, w: i32, ph: i32, pw: i32, sw: i32): i32 {
  return (c * (h + 2 * ph) * (w + 2 * pw) + 32 * sw + 32) * 2;
}

/** Scratch bytes qconv2d needs per thread. */
export function qconv2dScratchBytes(g: usize): i32 {
  const k = geo(g, G_C) * geo(g, G_KH) * geo(g, G_KW);
  const kp = (k + 1) & ~1;
  const pad = (padBytes(geo(g, G_C), geo(g, G_H), geo(g, G_W), geo(g, G_PH), geo(g, G_PW), geo(g, G_SW)) + 15) & ~15;
  const oc4 = (geo(g, G_OC) + 3) & ~3;
  return pad + kp * 4 + 2 * kp * 16 + 64 + 32 + oc4 * 80 + 16 + 2 * 128 + 16;
}

/**
 * Per output channel o, 80 bytes at ct + 80·o: bias (i32x4 splat), M0 (i32x4 splat), the
 * rounding constant 2^(t−1) + 2^62 (i64x2), yZp − low32(2^(62−t)) (i32x4), then t (i32).
 */
function channelTable(oc: i32, bias: usize, mult: usize, shift: usize, ct: usize): void {
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

/**
 * y[b] for images b ∈ [b0, b1): NCHW uint8/int8 x → NCHW y, weights packed by
 * qconvPackWeights, bias int32[oc] (0 = none), multiplier/shift int32[oc] (or [1]).
 */
export function qconv2d(
  x: usize, pw8: usize, bias: usize, mult: usize, shift: usize, y: usize, g: usize,
  b0: i32, b1: i32, scratch: usize,
): void {
  const c = geo(g, G_C), h = geo(g, G_H), w = geo(g, G_W), oc = geo(g, G_OC);
  const kh = geo(g, G_KH), kw = geo(g, G_KW), oh = geo(g, G_OH), ow = geo(g, G_OW);
  const sh = geo(g, G_SH), sw = geo(g, G_SW), ph = geo(g, G_PH), pw = geo(g, G_PW);
  const dh = geo(g, G_DH), dw = geo(g, G_DW);
  const k = c * kh * kw;
  const kp = (k + 1) & ~1;
  const pairs = kp >> 1;
  const hp = h + 2 * ph, wp = w + 2 * pw;
  const padLen = padBytes(c, h, w, ph, pw, sw);
  const pad = (scratch + 15) & ~15;
  const offs = pad + ((<usize>padLen + 15) & ~15);
  const panel = (offs + <usize>(kp * 4) + 15) & ~15;
  const tmp = panel + <usize>(kp * 16);
  const ct = (tmp + 64 + 15) & ~15;
  const panel2 = ct + <usize>(((oc + 3) & ~3) * 80);
  const tiles = panel2 + <usize>(kp * 16);
  // Offsets (in int16 elements) of each tap relative to the window's top-left corner.
  for (let ci = 0, t = 0; ci < c; ci++) {
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++, t++) store<i32>(offs + (<usize>t << 2), (ci * hp + ky * dh) * wp + kx * dw);
    }
  }
  const xUnsigned = geo(g, G_XUNSIGNED) != 0, xZp = geo(g, G_XZP);
  loadEpilogue(g);
  channelTable(oc, bias, mult, shift, ct);
  const panels = (oc + MR - 1) / MR;
  if (geo(g, G_POOL2) != 0) {
    // Fused 2×2 stride-2 max pool: y is [N, OC, ⌊oh/2⌋, ⌊ow/2⌋].
    const poh = oh >> 1, pow = ow >> 1, pplane = poh * pow;
    for (let b = b0; b < b1; b++) {
      padImage(x + <usize>(b * c * h * w), xUnsigned, xZp, c, h, w, ph, pw, pad, padLen);
      const yImage = y + <usize>(b * oc * pplane);
      for (let py = 0; py < poh; py++) {
        for (let ox0 = 0; ox0 < 2 * pow; ox0 += NR) {
          const nvalid = min(NR >> 1, pow - (ox0 >> 1));
          buildPanel(pad + (<usize>(2 * py * sh * wp + ox0 * sw) << 1), offs, k, pairs, sw, panel);
          buildPanel(pad + (<usize>((2 * py + 1) * sh * wp + ox0 * sw) << 1), offs, k, pairs, sw, panel2);
          const yPix = yImage + <usize>(py * pow + (ox0 >> 1));
          for (let p = 0; p < panels; p++) {
            const a = pw8 + <usize>(p * pairs * MR * 4);
            dotTile(a, panel, pairs, tiles);
            dotTile(a, panel2, pairs, tiles + 128);
            const rows = min(MR, oc - p * MR);
            for (let r = 0; r < rows; r++) {
              const o = p * MR + r;
              pooledStore(tiles + <usize>(r * 32), o, yPix + <usize>(o * pplane), nvalid, ct, tmp);
            }
          }
        }
      }
    }
    return;
  }
  const plane = oh * ow;
  for (let b = b0; b < b1; b++) {
    padImage(x + <usize>(b * c * h * w), xUnsigned, xZp, c, h, w, ph, pw, pad, padLen);
    const yImage = y + <usize>(b * oc * plane);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox0 = 0; ox0 < ow; ox0 += NR) {
        const nvalid = min(NR, ow - ox0);
        buildPanel(pad + (<usize>(oy * sh * wp + ox0 * sw) << 1), offs, k, pairs, sw, panel);
        const yPix = yImage + <usize>(oy * ow + ox0);
        for (let p = 0; p < panels; p++) {
          tileRequant(pw8 + <usize>(p * pairs * MR * 4), panel, pairs, p * MR, oc, yPix, plane, nvalid, ct, tiles, tmp);
        }
      }
    }
  }
}

/** pad[ci, yy, xx] = x[ci, yy − ph, xx − pw] − xZp inside, 0 in the border and the slack. */
function padImage(x: usize, unsigned: bool, zp: i32, c: i32, h: i32, w: i32, ph: i32, pw: i32, pad: usize, padLen: i32): void {
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
@inline function load8(p: usize, s: i32): v128 {
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

/** panel[q] = the (tap 2q, tap 2q + 1) int16 pairs of the 8 pixels, as two vectors. */
function buildPanel(corner: usize, offs: usize, k: i32, pairs: i32, sw: i32, panel: usize): void {
  for (let q = 0; q < pairs; q++) {
    const t = 2 * q;
    const v0 = load8(corner + (<usize>load<i32>(offs + (<usize>t << 2)) << 1), sw);
    const v1 = t + 1 < k ? load8(corner + (<usize>load<i32>(offs + (<usize>(t + 1) << 2)) << 1), sw) : i16x8.splat(0);
    const d = panel + (<usize>q << 5);
    v128.store(d, v128.shuffle<i16>(v0, v1, 0, 8, 1, 9, 2, 10, 3, 11));
    v128.store(d, v128.shuffle<i16>(v0, v1, 4, 12, 5, 13, 6, 14, 7, 15), 16);
  }
}

/** Rows oc0..oc0+3 × the 8 pixels of the panel, requantized into y (row stride `plane`). */
// @ts-ignore: decorator
@inline function tileRequant(
  a: usize, bp: usize, pairs: i32, oc0: i32, oc: i32, y: usize, plane: i32, nvalid: i32,
  ct: usize, tiles: usize, tmp: usize,
): void {
  dotTile(a, bp, pairs, tiles);
  const rows = min(MR, oc - oc0);
  for (let r = 0; r < rows; r++) {
    const t = tiles + (<usize>r << 5);
    requantStore(v128.load(t), v128.load(t, 16), oc0 + r, y + <usize>((oc0 + r) * plane), nvalid, ct, tmp);
  }
}

/**
 * Pooled epilogue of one output channel: the max of the two conv rows (tiles at t and
 * t + 128), then of horizontal pixel pairs, requantized — exact, because requantization
 * (acc ↦ clamp(yZp + round((acc + bias)·M))) is non-decreasing for M ≥ 0, so the max of
 * requantized values is the requantized max. Stores `nvalid` ≤ 4 pooled values at y.
 */
function pooledStore(t: usize, o: i32, y: usize, nvalid: i32, ct: usize, tmp: usize): void {
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
@inline function requant4(v: v128, mv: v128, rnd: v128, t: i32): v128 {
  const lo = i64x2.shr_u(i64x2.add(i64x2.extmul_low_i32x4_s(v, mv), rnd), t);
  const hi = i64x2.shr_u(i64x2.add(i64x2.extmul_high_i32x4_s(v, mv), rnd), t);
  return v128.shuffle<i32>(lo, hi, 0, 2, 4, 6);
}

/** y[0..nvalid) = clamp(yZp + requant(acc + bias[o]), lo, hi) for the 8 accumulators (va, vb). */
// @ts-ignore: decorator
@inline function requantStore(va: v128, vb: v128, o: i32, y: usize, nvalid: i32, ct: usize, tmp: usize): void {
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

/**
 * Max pooling of uint8/int8 planes [pl0, pl1) without padding or dilation (every window inside
 * the plane); 2×2 stride 2 takes a SIMD path (16 inputs of two rows → 8 outputs; vector reads
 * past a row stay inside x, whose length is `xLen`, and only valid lanes are stored).
 */
export function qmaxPool2d(x: usize, xLen: i32, y: usize, signed: i32, h: i32, w: i32, oh: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, pl0: i32, pl1: i32): void {
  if (signed) poolPlanes<i8>(x, xLen, y, h, w, oh, ow, kh, kw, sh, sw, pl0, pl1);
  else poolPlanes<u8>(x, xLen, y, h, w, oh, ow, kh, kw, sh, sw, pl0, pl1);
}

// @ts-ignore: decorator
@inline function max16<T>(a: v128, b: v128): v128 {
  return isSigned<T>() ? i8x16.max_s(a, b) : i8x16.max_u(a, b);
}

function poolPlanes<T>(x: usize, xLen: i32, y: usize, h: i32, w: i32, oh: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, pl0: i32, pl1: i32): void {
  const fast = kh == 2 && kw == 2 && sh == 2 && sw == 2;
  const xEnd = x + <usize>xLen;
  for (let pl = pl0; pl < pl1; pl++) {
    const xp = x + <usize>(pl * h * w);
    const yp = y + <usize>(pl * oh * ow);
    for (let oy = 0; oy < oh; oy++) {
      const r0 = xp + <usize>(oy * sh * w);
      const yr = yp + <usize>(oy * ow);
      let ox = 0;
      if (fast) {
        const r1 = r0 + <usize>w;
        for (; ox < ow && r1 + <usize>(2 * ox + 16) <= xEnd; ox += 8) {
          const v = max16<T>(v128.load(r0 + <usize>(2 * ox)), v128.load(r1 + <usize>(2 * ox)));
          const ev = v128.shuffle<u8>(v, v, 0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
          const od = v128.shuffle<u8>(v, v, 1, 3, 5, 7, 9, 11, 13, 15, 1, 3, 5, 7, 9, 11, 13, 15);
          const m = max16<T>(ev, od);
          const nvalid = min(8, ow - ox);
          if (nvalid == 8) {
            v128.store64_lane(yr + <usize>ox, m, 0);
          } else {
            const bits = i64x2.extract_lane(m, 0);
            for (let j = 0; j < nvalid; j++) store<u8>(yr + <usize>(ox + j), <u8>(bits >> (8 * j)));
          }
        }
      }
      for (; ox < ow; ox++) {
        const base = r0 + <usize>(ox * sw);
        let best = <i32>load<T>(base);
        for (let ky = 0; ky < kh; ky++) {
          const row = base + <usize>(ky * w);
          for (let kx = 0; kx < kw; kx++) best = max(best, <i32>load<T>(row + <usize>kx));
        }
        store<T>(yr + <usize>ox, <T>best);
      }
    }
  }
}
