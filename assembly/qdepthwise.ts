/**
 * Depthwise integer convolution (groups = C = OC, one filter per channel) of the int8 engine's
 * fast path (src/int8/kernels/gemm-path.ts): per image and channel, the plane is padded once
 * into int16 (x − xZp, padding = 0 = a real zero), then each group of 8 neighbouring output
 * pixels accumulates Σ_taps (w[c, tap] − wZp[c]) · plane[window] in two i32x4 lanes
 * (i32x4.extmul_*_i16x8_s: exact products, |·| ≤ 255·255), and the shared epilogue
 * (assembly/qepilogue.ts) requantizes them straight into NCHW. Same integers as the direct
 * kernel src/int8/kernels/qconv2d.ts.
 */
import {
  G_C, G_DH, G_DW, G_H, G_KH, G_KW, G_OH, G_OW, G_PH, G_PW, G_SH, G_SW, G_W, G_XUNSIGNED, G_XZP, NR,
  channelTable, geo, load8, loadEpilogue, padBytes, padImage, requantStore,
} from "./qepilogue";

/** Scratch bytes qdepthwise needs per thread. */
export function qdepthwiseScratchBytes(g: usize): i32 {
  const pad = (padBytes(1, geo(g, G_H), geo(g, G_W), geo(g, G_PH), geo(g, G_PW), geo(g, G_SW)) + 15) & ~15;
  return 16 + pad + ((geo(g, G_C) + 3) & ~3) * 80 + 64 + 32;
}

/**
 * y[b] for images b ∈ [b0, b1); w int32 [C, KH·KW] holding w − wZp (∈ [−255, 255]);
 * bias / multiplier / shift per channel (or [1]).
 */
export function qdepthwise(
  x: usize, w: usize, bias: usize, mult: usize, shift: usize, y: usize, g: usize,
  b0: i32, b1: i32, scratch: usize,
): void {
  const c = geo(g, G_C), h = geo(g, G_H), wd = geo(g, G_W);
  const kh = geo(g, G_KH), kw = geo(g, G_KW), oh = geo(g, G_OH), ow = geo(g, G_OW);
  const sh = geo(g, G_SH), sw = geo(g, G_SW), ph = geo(g, G_PH), pw = geo(g, G_PW);
  const dh = geo(g, G_DH), dw = geo(g, G_DW);
  const wp = wd + 2 * pw;
  const padLen = padBytes(1, h, wd, ph, pw, sw);
  const pad = (scratch + 15) & ~15;
  const ct = pad + ((<usize>padLen + 15) & ~15);
  const tmp = ct + <usize>(((c + 3) & ~3) * 80);
  const xUnsigned = geo(g, G_XUNSIGNED) != 0, xZp = geo(g, G_XZP);
  loadEpilogue(g);
  channelTable(c, bias, mult, shift, ct);
  const taps = kh * kw;
  for (let b = b0; b < b1; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = b * c + ch;
      padImage(x + <usize>(plane * h * wd), xUnsigned, xZp, 1, h, wd, ph, pw, pad, padLen);
      const yPlane = y + <usize>(plane * oh * ow);
      const wRow = w + (<usize>(ch * taps) << 2);
      for (let oy = 0; oy < oh; oy++) {
        for (let ox0 = 0; ox0 < ow; ox0 += NR) {
          let va = i32x4.splat(0), vb = i32x4.splat(0);
          for (let ky = 0; ky < kh; ky++) {
            const row = pad + (<usize>((oy * sh + ky * dh) * wp + ox0 * sw) << 1);
            for (let kx = 0; kx < kw; kx++) {
              const wv = i16x8.splat(<i16>load<i32>(wRow + (<usize>(ky * kw + kx) << 2)));
              const v = load8(row + (<usize>(kx * dw) << 1), sw);
              va = i32x4.add(va, i32x4.extmul_low_i16x8_s(v, wv));
              vb = i32x4.add(vb, i32x4.extmul_high_i16x8_s(v, wv));
            }
          }
          requantStore(va, vb, ch, yPlane + <usize>(oy * ow + ox0), min(NR, ow - ox0), ct, tmp);
        }
      }
    }
  }
}
