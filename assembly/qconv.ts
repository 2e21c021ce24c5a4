/**
 * Integer convolution (groups = 1) of the int8 engine's fast path
 * (src/int8/kernels/gemm-path.ts) on uint8/int8 activations, with the requantization
 * (Jacob et al. eq. 7, single rounding) fused into the GEMM epilogue (assembly/qepilogue.ts),
 * optionally followed by a fused 2×2 stride-2 max pool.
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
import {
  G_C, G_DH, G_DW, G_H, G_KH, G_KW, G_OC, G_OH, G_OW, G_PH, G_POOL2, G_PW, G_SH, G_SW, G_W, G_XUNSIGNED, G_XZP, NR,
  channelTable, geo, load8, loadEpilogue, padBytes, padImage, pooledStore, requantStore,
} from "./qepilogue";

const MR: i32 = 4;

/** Bytes of a packed weight block for `oc` output channels of reduction length k. */
export function qconvPackedBytes(oc: i32, k: i32): i32 {
  const kp = (k + 1) & ~1;
  return (oc + MR - 1) / MR * MR * kp * 2;
}

/**
 * Packs int8 weights w[oc, k] minus their zero point (wZp: i32 per channel, or 0 = all zero)
 * as panels of 4 output channels:
 *   dst[((p·pairs + q)·4 + r)] (i32) = v(4p + r, 2q) | v(4p + r, 2q + 1) << 16,  v(o, t) = w[o, t] − wZp[o]
 * (int16 halves, v ∈ [−255, 255]), with 0 past k and past oc.
 */
export function qconvPackWeights(w: usize, oc: i32, k: i32, dst: usize, wZp: usize): void {
  const pairs = ((k + 1) & ~1) >> 1;
  const panels = (oc + MR - 1) / MR;
  for (let p = 0; p < panels; p++) {
    for (let r = 0; r < MR; r++) {
      const o = p * MR + r;
      const row = w + <usize>(o * k);
      const zp = o < oc && wZp != 0 ? load<i32>(wZp + (<usize>o << 2)) : 0;
      for (let q = 0; q < pairs; q++) {
        let lo = 0, hi = 0;
        if (o < oc) {
          lo = <i32>load<i8>(row + <usize>(2 * q)) - zp;
          if (2 * q + 1 < k) hi = <i32>load<i8>(row + <usize>(2 * q + 1)) - zp;
        }
        store<i32>(dst + (<usize>((p * pairs + q) * MR + r) << 2), (lo & 0xffff) | (hi << 16));
      }
    }
  }
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

