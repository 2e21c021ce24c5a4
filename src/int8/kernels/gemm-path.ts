/**
 * Integer conv / linear through the fast backend's int8 GEMM (wasm `gemmInt8`,
 * i32x4.dot_i16x8_s), used by Int8Model when the wasm backend is active:
 *
 *   linear:  acc[n, o] = Σ_k (x[n, k] − xZp)·w[o, k]                 (one GEMM)
 *   conv:    cols[(n, oy, ox), (ci, ky, kx)] = x[n, ci, iy, ix]  (xZp in padded cells, i.e. real 0)
 *            acc = cols · wᵀ  → [N·OH·OW, OC], requantized into NCHW
 *
 * Accumulators are the same exact int32 sums as the direct kernels (qconv2d.ts, qlinear.ts),
 * and requantization is the same `requantizeOne`, so results are bit-identical to them (a
 * test asserts it). Only groups = 1 with symmetric (zero-point 0) weights takes this path;
 * everything else stays on the direct kernels. Called by src/int8/model.ts.
 */
import { gemmInt8 } from "../../backend/wasm/gemm.js";
import type { QuantArray, QuantDType } from "./common.js";
import { allocQuant, requantizeOne } from "./common.js";

export interface GemmRequant {
  bias: Int32Array | null;
  multiplier: Int32Array;
  shift: Int32Array;
  yZp: number;
  lo: number;
  hi: number;
  outDType: QuantDType;
}

/** y[n, o] for x [N, K] and int8 w [O, K]. */
export function qlinearGemm(x: QuantArray, xZp: number, n: number, k: number, w: Int8Array, o: number, r: GemmRequant): QuantArray {
  const acc = new Int32Array(n * o);
  gemmInt8(n, o, k, x, xZp, w, 0, acc);
  const out = allocQuant(r.outDType, n * o);
  const perChannel = r.multiplier.length > 1;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < o; c++) {
      const m = perChannel ? c : 0;
      out[i * o + c] = requantizeOne(acc[i * o + c] + (r.bias ? r.bias[c] : 0), r.multiplier[m], r.shift[m], r.yZp, r.lo, r.hi);
    }
  }
  return out;
}

export interface ConvShape {
  n: number; c: number; h: number; w: number;
  oc: number; kh: number; kw: number; oh: number; ow: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

/** cols [OH·OW, C·KH·KW] of image `b` (padded cells hold xZp). */
function im2col(x: QuantArray, xZp: number, s: ConvShape, b: number, cols: QuantArray): void {
  const K = s.c * s.kh * s.kw;
  for (let oy = 0; oy < s.oh; oy++) {
    for (let ox = 0; ox < s.ow; ox++) {
      let p = (oy * s.ow + ox) * K;
      for (let ci = 0; ci < s.c; ci++) {
        const plane = (b * s.c + ci) * s.h * s.w;
        for (let ky = 0; ky < s.kh; ky++) {
          const iy = oy * s.sh - s.ph + ky * s.dh;
          for (let kx = 0; kx < s.kw; kx++) {
            const ix = ox * s.sw - s.pw + kx * s.dw;
            cols[p++] = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w ? x[plane + iy * s.w + ix] : xZp;
          }
        }
      }
    }
  }
}

/** NCHW output of a groups = 1 convolution with int8 weights OIHW (one GEMM for the batch). */
export function qconv2dGemm(x: QuantArray, xZp: number, s: ConvShape, w: Int8Array, r: GemmRequant): QuantArray {
  const K = s.c * s.kh * s.kw;
  const P = s.oh * s.ow;
  const cols = allocQuant(x instanceof Uint8Array ? "uint8" : "int8", s.n * P * K);
  for (let b = 0; b < s.n; b++) im2col(x, xZp, s, b, cols.subarray(b * P * K, (b + 1) * P * K));
  const acc = new Int32Array(s.n * P * s.oc);
  gemmInt8(s.n * P, s.oc, K, cols, xZp, w, 0, acc);
  const out = allocQuant(r.outDType, s.n * s.oc * P);
  const perChannel = r.multiplier.length > 1;
  for (let b = 0; b < s.n; b++) {
    for (let c = 0; c < s.oc; c++) {
      const m = perChannel ? c : 0;
      const m0 = r.multiplier[m];
      const sh = r.shift[m];
      const bias = r.bias ? r.bias[c] : 0;
      const base = (b * s.oc + c) * P;
      const a0 = b * P * s.oc + c;
      for (let p = 0; p < P; p++) out[base + p] = requantizeOne(acc[a0 + p * s.oc] + bias, m0, sh, r.yZp, r.lo, r.hi);
    }
  }
  return out;
}
