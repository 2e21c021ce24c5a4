/**
 * Reference 2-D convolution (NCHW input, OIHW weight, any stride/padding/dilation/groups) and
 * its two backward kernels. Called through the kernel table by src/ops/conv.ts.
 *
 * General path, per image b and group g (Cg = C/groups, OCg = OC/groups, K = Cg·KH·KW,
 * P = OH·OW), over column chunks [p0, p0 + pc) of P so that the scratch stays bounded:
 *   col[k = (ci, ky, kx), p = (oy, ox)] = x[b, g·Cg + ci, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw]
 *                                         (0 outside the input)                       (im2col)
 *   forward          Y_g[OCg, pc]  = W_g[OCg, K] · col[K, pc]
 *   backward input   dcol[K, pc]   = W_gᵀ · dY_g[OCg, pc],  then dx += col2im(dcol)
 *   backward weight  dW_g[OCg, K] += dY_g[OCg, pc] · colᵀ       (accumulated over the batch)
 * Every product runs on the packed GEMM of ./gemm.ts. Two fast paths skip the scratch:
 * 1×1 stride-1 unpadded convolutions (col is x itself) and depthwise ones (Cg = 1, OCg ≤ 2),
 * computed as direct per-tap row updates.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Conv2dGeom, Epilogue } from "../kernels.js";
import { epilogue } from "./epilogue.js";
import { gemm } from "./gemm.js";

/** Upper bound on the im2col scratch, in elements (float64): 4 MiB. */
const COL_LIMIT = 1 << 19;

let colBuf = new Float64Array(0);

/** The im2col scratch with room for `size` elements (grown, never shrunk). */
function scratch(size: number): Float64Array {
  if (colBuf.length < size) colBuf = new Float64Array(size);
  return colBuf;
}

interface Layout {
  cg: number; ocg: number; K: number; P: number;
  /** Columns per chunk. */
  pc: number;
  /** 1×1, stride 1, no padding: x itself is the column matrix. */
  pointwise: boolean;
  /** Cg = 1 and OCg ≤ 2 (depthwise): direct per-tap loops beat a GEMM with 1–2 rows. */
  direct: boolean;
}

function layoutOf(g: Conv2dGeom): Layout {
  const cg = g.c / g.groups;
  const ocg = g.oc / g.groups;
  const K = cg * g.kh * g.kw;
  const P = g.oh * g.ow;
  const pointwise = g.kh === 1 && g.kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;
  const pc = Math.max(1, Math.min(P, Math.floor(COL_LIMIT / Math.max(K, 1))));
  const direct = cg === 1 && ocg <= 2 && !pointwise;
  return { cg, ocg, K, P, pc, pointwise, direct };
}

/** First output index o with o·s + off ≥ 0, clamped to [0, n]. */
function firstValid(off: number, s: number, n: number): number {
  return Math.min(n, Math.max(0, Math.ceil(-off / s)));
}

/** One past the last output index o with o·s + off < size, clamped to [0, n]. */
function endValid(off: number, s: number, size: number, n: number): number {
  return Math.min(n, Math.max(0, Math.ceil((size - off) / s)));
}

/**
 * Copies (scatter = false) x's receptive fields for output pixels [p0, p0 + pc) into
 * col [K, pc], or adds (scatter = true) col back into x (col2im). xOff: start of the group's
 * first input channel.
 */
function im2col(x: FloatArray, xOff: number, g: Conv2dGeom, cg: number, p0: number, pc: number, col: Float64Array, scatter: boolean): void {
  const { h, w, kh, kw, ow, strideH: sh, strideW: sw, dilationH: dh, dilationW: dw } = g;
  const oy0 = Math.floor(p0 / ow);
  const oy1 = Math.floor((p0 + pc - 1) / ow);
  let rowBase = 0;
  for (let ci = 0; ci < cg; ci++) {
    const xc = xOff + ci * h * w;
    for (let ky = 0; ky < kh; ky++) {
      const yShift = ky * dh - g.padH;
      for (let kx = 0; kx < kw; kx++) {
        const xShift = kx * dw - g.padW;
        const oxLo = firstValid(xShift, sw, ow);
        const oxHi = endValid(xShift, sw, w, ow);
        for (let oy = oy0; oy <= oy1; oy++) {
          const a = oy === oy0 ? p0 - oy * ow : 0;
          const b = oy === oy1 ? p0 + pc - oy * ow : ow;
          const d = rowBase + oy * ow - p0;
          const iy = oy * sh + yShift;
          let lo = b;
          let hi = b;
          if (iy >= 0 && iy < h) {
            lo = Math.min(Math.max(a, oxLo), b);
            hi = Math.max(Math.min(b, oxHi), lo);
          }
          let s = xc + iy * w + lo * sw + xShift;
          if (scatter) {
            for (let ox = lo; ox < hi; ox++, s += sw) x[s] += col[d + ox];
          } else {
            for (let ox = a; ox < lo; ox++) col[d + ox] = 0;
            for (let ox = lo; ox < hi; ox++, s += sw) col[d + ox] = x[s];
            for (let ox = hi; ox < b; ox++) col[d + ox] = 0;
          }
        }
        rowBase += pc;
      }
    }
  }
}

/**
 * y[n, oc, oh, ow] = Σ_{ci, ky, kx} w[oc, ci, ky, kx] · x[n, g·Cg + ci, iy, ix] (y overwritten),
 * then the epilogue (bias, activation) when given.
 */
export function conv2d(x: FloatArray, w: FloatArray, y: FloatArray, g: Conv2dGeom, epi?: Epilogue | null): void {
  convProducts(x, w, y, g);
  if (epi) epilogue(y, g.n, g.oc, g.oh * g.ow, epi);
}

function convProducts(x: FloatArray, w: FloatArray, y: FloatArray, g: Conv2dGeom): void {
  const L = layoutOf(g);
  if (L.direct) return directForward(x, w, y, g, L);
  const { cg, ocg, K, P, pc } = L;
  const col = L.pointwise ? colBuf : scratch(K * pc);
  for (let b = 0; b < g.n; b++) {
    for (let gi = 0; gi < g.groups; gi++) {
      const xOff = (b * g.c + gi * cg) * g.h * g.w;
      const yOff = (b * g.oc + gi * ocg) * P;
      const A = { data: w, off: gi * ocg * K, rs: K, cs: 1 };
      if (L.pointwise) {
        gemm(ocg, P, K, A, { data: x, off: xOff, rs: P, cs: 1 }, { data: y, off: yOff, rs: P, cs: 1 }, false);
        continue;
      }
      for (let p0 = 0; p0 < P; p0 += pc) {
        const n = Math.min(pc, P - p0);
        im2col(x, xOff, g, cg, p0, n, col, false);
        gemm(ocg, n, K, A, { data: col, off: 0, rs: n, cs: 1 }, { data: y, off: yOff + p0, rs: P, cs: 1 }, false);
      }
    }
  }
}

/** dx[n, c, h, w] = Σ over the windows covering (h, w) of w · dy (dx overwritten). */
export function conv2dBackwardInput(dy: FloatArray, w: FloatArray, dx: FloatArray, g: Conv2dGeom): void {
  const L = layoutOf(g);
  dx.fill(0);
  if (L.direct) return directBackwardInput(dy, w, dx, g, L);
  const { cg, ocg, K, P, pc } = L;
  const col = L.pointwise ? colBuf : scratch(K * pc);
  for (let b = 0; b < g.n; b++) {
    for (let gi = 0; gi < g.groups; gi++) {
      const xOff = (b * g.c + gi * cg) * g.h * g.w;
      const yOff = (b * g.oc + gi * ocg) * P;
      // Wᵀ: the group's [OCg, K] block read column-wise.
      const At = { data: w, off: gi * ocg * K, rs: 1, cs: K };
      if (L.pointwise) {
        gemm(K, P, ocg, At, { data: dy, off: yOff, rs: P, cs: 1 }, { data: dx, off: xOff, rs: P, cs: 1 }, false);
        continue;
      }
      for (let p0 = 0; p0 < P; p0 += pc) {
        const n = Math.min(pc, P - p0);
        gemm(K, n, ocg, At, { data: dy, off: yOff + p0, rs: P, cs: 1 }, { data: col, off: 0, rs: n, cs: 1 }, false);
        im2col(dx, xOff, g, cg, p0, n, col, true);
      }
    }
  }
}

/** dw[oc, ci, ky, kx] = Σ_{n, oy, ox} dy[n, oc, oy, ox] · x[n, g·Cg + ci, iy, ix] (dw overwritten). */
export function conv2dBackwardWeight(x: FloatArray, dy: FloatArray, dw: FloatArray, g: Conv2dGeom): void {
  const L = layoutOf(g);
  dw.fill(0);
  if (L.direct) return directBackwardWeight(x, dy, dw, g, L);
  const { cg, ocg, K, P, pc } = L;
  const col = L.pointwise ? colBuf : scratch(K * pc);
  for (let b = 0; b < g.n; b++) {
    for (let gi = 0; gi < g.groups; gi++) {
      const xOff = (b * g.c + gi * cg) * g.h * g.w;
      const yOff = (b * g.oc + gi * ocg) * P;
      const C = { data: dw, off: gi * ocg * K, rs: K, cs: 1 };
      if (L.pointwise) {
        gemm(ocg, K, P, { data: dy, off: yOff, rs: P, cs: 1 }, { data: x, off: xOff, rs: 1, cs: P }, C, true);
        continue;
      }
      for (let p0 = 0; p0 < P; p0 += pc) {
        const n = Math.min(pc, P - p0);
        im2col(x, xOff, g, cg, p0, n, col, false);
        gemm(ocg, K, n, { data: dy, off: yOff + p0, rs: P, cs: 1 }, { data: col, off: 0, rs: 1, cs: n }, C, true);
      }
    }
  }
}

/*
 * Direct path for Cg = 1 (used when OCg ≤ 2): output channel oc reads only input channel ci = ⌊oc / OCg⌋, so each
 * tap (ky, kx) is a scaled, strided row update over its valid output range — no scratch, and
 * no GEMM with a one-row operand. The three kernels share the tap iteration below.
 */

/** Valid output ranges of tap (ky, kx): rows [oyLo, oyHi), columns [oxLo, oxHi), and the input shifts. */
interface Tap {
  oyLo: number; oyHi: number; oxLo: number; oxHi: number;
  yShift: number; xShift: number;
}

function tapOf(g: Conv2dGeom, ky: number, kx: number, t: Tap): boolean {
  t.yShift = ky * g.dilationH - g.padH;
  t.xShift = kx * g.dilationW - g.padW;
  t.oyLo = firstValid(t.yShift, g.strideH, g.oh);
  t.oyHi = endValid(t.yShift, g.strideH, g.h, g.oh);
  t.oxLo = firstValid(t.xShift, g.strideW, g.ow);
  t.oxHi = endValid(t.xShift, g.strideW, g.w, g.ow);
  return t.oyLo < t.oyHi && t.oxLo < t.oxHi;
}

const tap: Tap = { oyLo: 0, oyHi: 0, oxLo: 0, oxHi: 0, yShift: 0, xShift: 0 };

function directForward(x: FloatArray, w: FloatArray, y: FloatArray, g: Conv2dGeom, L: Layout): void {
  const { h, oh, ow, kh, kw, strideH: sh, strideW: sw } = g;
  const hw = h * g.w;
  y.fill(0);
  for (let b = 0; b < g.n; b++) {
    for (let oc = 0; oc < g.oc; oc++) {
      const xp = (b * g.c + Math.floor(oc / L.ocg)) * hw;
      const yp = (b * g.oc + oc) * oh * ow;
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          if (!tapOf(g, ky, kx, tap)) continue;
          const wv = w[(oc * kh + ky) * kw + kx];
          const { oxLo, oxHi } = tap;
          for (let oy = tap.oyLo; oy < tap.oyHi; oy++) {
            const yr = yp + oy * ow;
            let s = xp + (oy * sh + tap.yShift) * g.w + oxLo * sw + tap.xShift;
            for (let ox = oxLo; ox < oxHi; ox++, s += sw) y[yr + ox] += wv * x[s];
          }
        }
      }
    }
  }
}

function directBackwardInput(dy: FloatArray, w: FloatArray, dx: FloatArray, g: Conv2dGeom, L: Layout): void {
  const { h, oh, ow, kh, kw, strideH: sh, strideW: sw } = g;
  const hw = h * g.w;
  for (let b = 0; b < g.n; b++) {
    for (let oc = 0; oc < g.oc; oc++) {
      const xp = (b * g.c + Math.floor(oc / L.ocg)) * hw;
      const yp = (b * g.oc + oc) * oh * ow;
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          if (!tapOf(g, ky, kx, tap)) continue;
          const wv = w[(oc * kh + ky) * kw + kx];
          const { oxLo, oxHi } = tap;
          for (let oy = tap.oyLo; oy < tap.oyHi; oy++) {
            const yr = yp + oy * ow;
            let s = xp + (oy * sh + tap.yShift) * g.w + oxLo * sw + tap.xShift;
            for (let ox = oxLo; ox < oxHi; ox++, s += sw) dx[s] += wv * dy[yr + ox];
          }
        }
      }
    }
  }
}

function directBackwardWeight(x: FloatArray, dy: FloatArray, dw: FloatArray, g: Conv2dGeom, L: Layout): void {
  const { h, oh, ow, kh, kw, strideH: sh, strideW: sw } = g;
  const hw = h * g.w;
  for (let oc = 0; oc < g.oc; oc++) {
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        if (!tapOf(g, ky, kx, tap)) continue;
        const { oxLo, oxHi } = tap;
        let acc = 0;
        for (let b = 0; b < g.n; b++) {
          const xp = (b * g.c + Math.floor(oc / L.ocg)) * hw;
          const yp = (b * g.oc + oc) * oh * ow;
          for (let oy = tap.oyLo; oy < tap.oyHi; oy++) {
            const yr = yp + oy * ow;
            let s = xp + (oy * sh + tap.yShift) * g.w + oxLo * sw + tap.xShift;
            for (let ox = oxLo; ox < oxHi; ox++, s += sw) acc += dy[yr + ox] * x[s];
          }
        }
        dw[(oc * kh + ky) * kw + kx] = acc;
      }
    }
  }
}
