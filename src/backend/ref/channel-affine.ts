/**
 * Reference kernels for the per-channel affine map y = x·scale[c] + bias[c] on [n, c, inner]
 * and its backward, one pass each. Used by ops.channelAffine (the BN-folding QAT modules'
 * "divide by s, add bias" step, which would otherwise be three broadcasting ops).
 */
import type { FloatArray } from "../../tensor/dtype.js";

export function channelAffine(x: FloatArray, scale: FloatArray, bias: FloatArray | null, y: FloatArray, n: number, c: number, inner: number): void {
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const s = scale[ch];
      const t = bias ? bias[ch] : 0;
      const o = (b * c + ch) * inner;
      for (let i = o; i < o + inner; i++) y[i] = x[i] * s + t;
    }
  }
}

export function channelAffineBackward(
  g: FloatArray, x: FloatArray, scale: FloatArray, dx: FloatArray | null, dscale: FloatArray | null, dbias: FloatArray | null,
  n: number, c: number, inner: number,
): void {
  if (dscale) dscale.fill(0);
  if (dbias) dbias.fill(0);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const s = scale[ch];
      const o = (b * c + ch) * inner;
      let gs = 0;
      let gx = 0;
      for (let i = o; i < o + inner; i++) {
        const gi = g[i];
        if (dx) dx[i] = gi * s;
        gs += gi;
        gx += gi * x[i];
      }
      if (dscale) dscale[ch] += gx;
      if (dbias) dbias[ch] += gs;
    }
  }
}
