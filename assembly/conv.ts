/**
 * 2-D convolution (NCHW input, OIHW weight, any stride/padding/dilation/groups) and its two
 * backward passes, as im2col + the SIMD GEMM of ./sgemm.ts. Forward and backward-input handle
 * the images [b0, b1), backward-weight the dw columns [k0, k1), so the worker pool can split
 * them; the geometry is an i32[16] struct at `g`
 * (field order below, written by src/backend/wasm/conv.ts). Same formulas as the reference
 * kernel src/backend/ref/conv.ts, per image b and group gi (Cg = C/groups, OCg = OC/groups,
 * K = Cg·KH·KW, P = OH·OW), over column chunks [p0, p0 + pc):
 *   col[(ci, ky, kx), p] = x[b, gi·Cg + ci, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw] (0 outside)
 *   forward          Y_g[OCg, pc]  = W_g[OCg, K] · col[K, pc]
 *   backward input   dcol[K, pc]   = W_gᵀ · dY_g[OCg, pc],  then dx += col2im(dcol)
 *   backward weight  dW_gᵀ[K, OCg] += col[K, pc] · dY_g[OCg, pc]ᵀ  (then transposed into dw)
 * 1×1 stride-1 unpadded convolutions use x itself as the column matrix. With one group the
 * weights (Wᵀ for backward input) are packed once per call, not once per image.
 * Scratch per call: sgemmScratchBytes() followed by the column buffer (conv2dScratchBytes);
 * backward weight adds the dwᵀ block after those (conv2dWeightScratchBytes).
 */
import { epilogueF32 } from "./epilogue";
import { sgemm, sgemmPackAll, sgemmPackedABytes, sgemmPrepackedA, sgemmScratchBytes } from "./sgemm";

const G_N = 0, G_C = 1, G_H = 2, G_W = 3, G_OC = 4, G_KH = 5, G_KW = 6, G_OH = 7, G_OW = 8;
const G_SH = 9, G_SW = 10, G_PH = 11, G_PW = 12, G_DH = 13, G_DW = 14, G_GROUPS = 15;

/** Upper bound on the column buffer, in floats (2 MiB). */
const COL_LIMIT: i32 = 1 << 19;

// @ts-ignore: decorator
@inline function geom(g: usize, field: i32): i32 {
  return load<i32>(g + (<usize>field << 2));
}

// @ts-ignore: decorator
@inline function fptr(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

function isPointwise(g: usize): bool {
  return geom(g, G_KH) == 1 && geom(g, G_KW) == 1 && geom(g, G_SH) == 1 && geom(g, G_SW) == 1
    && geom(g, G_PH) == 0 && geom(g, G_PW) == 0;
}

function colsPerChunk(g: usize): i32 {
  const k = (geom(g, G_C) / geom(g, G_GROUPS)) * geom(g, G_KH) * geom(g, G_KW);
  const p = geom(g, G_OH) * geom(g, G_OW);
  return max(1, min(p, COL_LIMIT / max(k, 1)));
}

/** Bytes of the column chunk (none for pointwise convolutions, which use x itself). */
function colBytes(g: usize): i32 {
  const k = (geom(g, G_C) / geom(g, G_GROUPS)) * geom(g, G_KH) * geom(g, G_KW);
  return isPointwise(g) ? 0 : k * colsPerChunk(g) * 4;
}

/** Bytes of the weights packed once per call (W for forward, Wᵀ for backward input; groups = 1). */
function packedWeightBytes(g: usize): i32 {
  if (geom(g, G_GROUPS) != 1) return 0;
  const k = geom(g, G_C) * geom(g, G_KH) * geom(g, G_KW), oc = geom(g, G_OC);
  return max(sgemmPackedABytes(oc, k), sgemmPackedABytes(k, oc));
}

/** Scratch bytes of a forward or backward-input call: GEMM packing, column chunk, packed weights. */
export function conv2dScratchBytes(g: usize): i32 {
  return sgemmScratchBytes() + colBytes(g) + packedWeightBytes(g);
}

/** First output index o with o·s + off ≥ 0, clamped to [0, n]. */
function firstValid(off: i32, s: i32, n: i32): i32 {
  if (off >= 0) return 0;
  return min(n, (-off + s - 1) / s);
}

/** One past the last output index o with o·s + off < size, clamped to [0, n]. */
function endValid(off: i32, s: i32, size: i32, n: i32): i32 {
  const r = size - off;
  if (r <= 0) return 0;
  return min(n, (r + s - 1) / s);
}

/**
 * Copies (scatter = false) the receptive fields of output pixels [p0, p0 + pc) of the group
 * starting at x into col [rowHi − rowLo, pc] (rows r = (ci·KH + ky)·KW + kx in [rowLo,
 * rowHi) of the full [K, pc] matrix), or adds col back into x (scatter = true, col2im).
 */
function im2col(x: usize, g: usize, cg: i32, p0: i32, pc: i32, col: usize, scatter: bool, rowLo: i32, rowHi: i32): void {
  const h = geom(g, G_H), w = geom(g, G_W), kh = geom(g, G_KH), kw = geom(g, G_KW), ow = geom(g, G_OW);
  const sh = geom(g, G_SH), sw = geom(g, G_SW), dh = geom(g, G_DH), dw = geom(g, G_DW);
  const oy0 = p0 / ow;
  const oy1 = (p0 + pc - 1) / ow;
  // Stride 1 and OW = W: output pixel p reads input pixel p + shift (gatherShifted, scatterShifted).
  const planar = sh == 1 && sw == 1 && ow == w;
  const oh = geom(g, G_OH);
  let r = 0;
  for (let ci = 0; ci < cg; ci++) {
    const xc = x + (<usize>(ci * h * w) << 2);
    for (let ky = 0; ky < kh; ky++) {
      const yShift = ky * dh - geom(g, G_PH);
      for (let kx = 0; kx < kw; kx++, r++) {
        if (r < rowLo || r >= rowHi) continue;
        const rowBase = (r - rowLo) * pc;
        const xShift = kx * dw - geom(g, G_PW);
        const oxLo = firstValid(xShift, sw, ow);
        const oxHi = endValid(xShift, sw, w, ow);
        if (planar) {
          const oyLo = firstValid(yShift, 1, oh), oyHi = endValid(yShift, 1, h, oh), shift = yShift * w + xShift;
          if (scatter) scatterShifted(xc, h * w, ow, oyLo, oyHi, shift, oxLo, oxHi, p0, pc, fptr(col, rowBase));
          else gatherShifted(xc, h * w, ow, oyLo, oyHi, shift, oxLo, oxHi, p0, pc, fptr(col, rowBase));
          continue;
        }
        for (let oy = oy0; oy <= oy1; oy++) {
          const a = oy == oy0 ? p0 - oy * ow : 0;
          const b = oy == oy1 ? p0 + pc - oy * ow : ow;
          const d = fptr(col, rowBase + oy * ow - p0);
          const iy = oy * sh + yShift;
          let lo = b, hi = b;
          if (iy >= 0 && iy < h) {
            lo = min(max(a, oxLo), b);
            hi = max(min(b, oxHi), lo);
          }
          const s = fptr(xc, iy * w + lo * sw + xShift);
          if (scatter) scatterRow(s, sw, fptr(d, lo), hi - lo);
          else gatherRow(s, sw, d, a, lo, hi, b);
        }
      }
    }
  }
}

/**
 * One column-matrix row for stride 1 and OW = W, where output pixel p = oy·W + ox reads input
 * pixel p + shift (shift = yShift·W + xShift) when oy ∈ [oyLo, oyHi) and ox ∈ [oxLo, oxHi), and
 * is 0 otherwise: d[p − p0] for p ∈ [p0, p0 + pc) as one SIMD copy of the plane, then zeroes
 * for the rows and the border columns outside the plane (whose copied values belong to a
 * neighbouring row, or were not copied because they lie outside the plane's [0, HW)).
 * The same values as the row-by-row gather, written with fewer, longer copies.
 */
function gatherShifted(xc: usize, hw: i32, ow: i32, oyLo: i32, oyHi: i32, shift: i32, oxLo: i32, oxHi: i32, p0: i32, pc: i32, d: usize): void {
  const lo = min(max(oyLo * ow, p0), p0 + pc);
  const hi = max(min(oyHi * ow, p0 + pc), lo);
  zeroFloats(d, 0, lo - p0);
  zeroFloats(d, hi - p0, pc);
  const cLo = max(lo, -shift), cHi = min(hi, hw - shift);
  if (cHi > cLo) {
    const src = fptr(xc, cLo + shift), dst = fptr(d, cLo - p0);
    const n = cHi - cLo;
    let i = 0;
    for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
    for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
  }
  if (hi <= lo || (oxLo == 0 && oxHi == ow)) return;
  for (let oy = lo / ow; oy <= (hi - 1) / ow; oy++) {
    const rowP = oy * ow - p0;
    const a = max(rowP, lo - p0), b = min(rowP + ow, hi - p0);
    zeroFloats(d, a, min(rowP + oxLo, b));
    zeroFloats(d, max(rowP + oxHi, a), b);
  }
}

/**
 * col2im of one column-matrix row for stride 1 and OW = W: x[p + shift] += d[p − p0] over the
 * valid rows as one SIMD add, after zeroing d's border columns (scratch, read once), so the
 * pixels those positions alias in a neighbouring row receive + 0. Each x element gets the same
 * contributions in the same order as the row-by-row scatter (a −0 in x may become +0).
 */
function scatterShifted(xc: usize, hw: i32, ow: i32, oyLo: i32, oyHi: i32, shift: i32, oxLo: i32, oxHi: i32, p0: i32, pc: i32, d: usize): void {
  const lo = min(max(oyLo * ow, p0), p0 + pc);
  const hi = max(min(oyHi * ow, p0 + pc), lo);
  if (hi <= lo) return;
  if (oxLo > 0 || oxHi < ow) {
    for (let oy = lo / ow; oy <= (hi - 1) / ow; oy++) {
      const rowP = oy * ow - p0;
      const a = max(rowP, lo - p0), b = min(rowP + ow, hi - p0);
      zeroFloats(d, a, min(rowP + oxLo, b));
      zeroFloats(d, max(rowP + oxHi, a), b);
    }
  }
  const cLo = max(lo, -shift), cHi = min(hi, hw - shift);
  if (cHi > cLo) scatterRow(fptr(xc, cLo + shift), 1, fptr(d, cLo - p0), cHi - cLo);
}

/** Zeroes floats [a, b) at d (inline: rows are short, a memory.fill call costs more). */
// @ts-ignore: decorator
@inline function zeroFloats(d: usize, a: i32, b: i32): void {
  for (let i = a; i < b; i++) store<f32>(fptr(d, i), 0);
}

/**
 * col[a:lo] = 0, col[lo:hi] = x[s + (ox − lo)·sw], col[hi:b] = 0. Inline SIMD copies: a row
 * is tens of floats, where memory.copy/fill (a call into the engine) would dominate.
 */
function gatherRow(s: usize, sw: i32, d: usize, a: i32, lo: i32, hi: i32, b: i32): void {
  zeroFloats(d, a, lo);
  let o = fptr(d, lo);
  const n = hi - lo;
  if (sw == 1) {
    let i = 0;
    for (; i + 4 <= n; i += 4) v128.store(o + (<usize>i << 2), v128.load(s + (<usize>i << 2)));
    for (; i < n; i++) store<f32>(o + (<usize>i << 2), load<f32>(s + (<usize>i << 2)));
  } else {
    const step = <usize>sw << 2;
    for (let i = 0; i < n; i++) {
      store<f32>(o, load<f32>(s));
      s += step;
      o += 4;
    }
  }
  zeroFloats(d, hi, b);
}

/** x[s + i·sw] += col[i] for i < len. */
function scatterRow(s: usize, sw: i32, c: usize, len: i32): void {
  if (sw == 1) {
    let i = 0;
    for (; i + 4 <= len; i += 4) {
      const o = <usize>i << 2;
      v128.store(s + o, f32x4.add(v128.load(s + o), v128.load(c + o)));
    }
    for (; i < len; i++) {
      const o = <usize>i << 2;
      store<f32>(s + o, load<f32>(s + o) + load<f32>(c + o));
    }
    return;
  }
  const step = <usize>sw << 2;
  for (let i = 0; i < len; i++) {
    store<f32>(s, load<f32>(s) + load<f32>(fptr(c, i)));
    s += step;
  }
}

/**
 * y[b] = conv(x[b], w) for images b in [b0, b1) (y overwritten), then the fused epilogue
 * (./epilogue.ts: bias per output channel, address 0 for none; act 0 none, 1 relu, 2 clamp
 * to [lo, hi]) over each column chunk right after its GEMM, while it is in cache.
 */
export function conv2dForward(x: usize, w: usize, y: usize, g: usize, b0: i32, b1: i32, scratch: usize, bias: usize, act: i32, lo: f32, hi: f32): void {
  const groups = geom(g, G_GROUPS), c = geom(g, G_C), oc = geom(g, G_OC);
  const cg = c / groups, ocg = oc / groups;
  const K = cg * geom(g, G_KH) * geom(g, G_KW);
  const P = geom(g, G_OH) * geom(g, G_OW);
  const HW = geom(g, G_H) * geom(g, G_W);
  const pw = isPointwise(g);
  const pcMax = colsPerChunk(g);
  const col = scratch + <usize>sgemmScratchBytes();
  if (groups == 1 && b1 > b0) {
    // One weight matrix for every image: pack it once (same blocks and values as sgemm's).
    const pW = col + <usize>colBytes(g);
    sgemmPackAll(oc, K, w, K, 1, pW);
    for (let b = b0; b < b1; b++) {
      const xb = fptr(x, b * c * HW), yb = fptr(y, b * oc * P);
      if (pw) {
        sgemmPrepackedA(oc, P, K, pW, xb, P, 1, yb, P, 0, scratch);
        epilogueF32(yb, oc, P, P, bias, 1, act, lo, hi);
        continue;
      }
      for (let p0 = 0; p0 < P; p0 += pcMax) {
        const pc = min(pcMax, P - p0);
        im2col(xb, g, cg, p0, pc, col, false, 0, K);
        sgemmPrepackedA(oc, pc, K, pW, col, pc, 1, fptr(yb, p0), P, 0, scratch);
        epilogueF32(fptr(yb, p0), oc, pc, P, bias, 1, act, lo, hi);
      }
    }
    return;
  }
  for (let b = b0; b < b1; b++) {
    for (let gi = 0; gi < groups; gi++) {
      const xg = fptr(x, (b * c + gi * cg) * HW);
      const yg = fptr(y, (b * oc + gi * ocg) * P);
      const wg = fptr(w, gi * ocg * K);
      const bg = bias == 0 ? 0 : fptr(bias, gi * ocg);
      if (pw) {
        sgemm(ocg, P, K, wg, K, 1, xg, P, 1, yg, P, 0, scratch);
        epilogueF32(yg, ocg, P, P, bg, 1, act, lo, hi);
        continue;
      }
      for (let p0 = 0; p0 < P; p0 += pcMax) {
        const pc = min(pcMax, P - p0);
        im2col(xg, g, cg, p0, pc, col, false, 0, K);
        sgemm(ocg, pc, K, wg, K, 1, col, pc, 1, fptr(yg, p0), P, 0, scratch);
        epilogueF32(fptr(yg, p0), ocg, pc, P, bg, 1, act, lo, hi);
      }
    }
  }
}

/** dx[b] = conv-transpose(dy[b], w) for images b in [b0, b1) (dx overwritten). */
export function conv2dBackwardInput(dy: usize, w: usize, dx: usize, g: usize, b0: i32, b1: i32, scratch: usize): void {
  const groups = geom(g, G_GROUPS), c = geom(g, G_C), oc = geom(g, G_OC);
  const cg = c / groups, ocg = oc / groups;
  const K = cg * geom(g, G_KH) * geom(g, G_KW);
  const P = geom(g, G_OH) * geom(g, G_OW);
  const HW = geom(g, G_H) * geom(g, G_W);
  const pw = isPointwise(g);
  const pcMax = colsPerChunk(g);
  const col = scratch + <usize>sgemmScratchBytes();
  if (b1 > b0) memory.fill(fptr(dx, b0 * c * HW), 0, <usize>((b1 - b0) * c * HW) << 2);
  if (groups == 1 && b1 > b0) {
    // Wᵀ[K, OC] for every image: pack it once.
    const pW = col + <usize>colBytes(g);
    sgemmPackAll(K, oc, w, 1, K, pW);
    for (let b = b0; b < b1; b++) {
      const xb = fptr(dx, b * c * HW), yb = fptr(dy, b * oc * P);
      if (pw) {
        sgemmPrepackedA(K, P, oc, pW, yb, P, 1, xb, P, 0, scratch);
        continue;
      }
      for (let p0 = 0; p0 < P; p0 += pcMax) {
        const pc = min(pcMax, P - p0);
        sgemmPrepackedA(K, pc, oc, pW, fptr(yb, p0), P, 1, col, pc, 0, scratch);
        im2col(xb, g, cg, p0, pc, col, true, 0, K);
      }
    }
    return;
  }
  for (let b = b0; b < b1; b++) {
    for (let gi = 0; gi < groups; gi++) {
      const xg = fptr(dx, (b * c + gi * cg) * HW);
      const yg = fptr(dy, (b * oc + gi * ocg) * P);
      const wg = fptr(w, gi * ocg * K);
      if (pw) {
        sgemm(K, P, ocg, wg, 1, K, yg, P, 1, xg, P, 0, scratch);
        continue;
      }
      for (let p0 = 0; p0 < P; p0 += pcMax) {
        const pc = min(pcMax, P - p0);
        sgemm(K, pc, ocg, wg, 1, K, fptr(yg, p0), P, 1, col, pc, 0, scratch);
        im2col(xg, g, cg, p0, pc, col, true, 0, K);
      }
    }
  }
}

/** Scratch bytes of one backward-weight call: GEMM packing, column chunk, the dwᵀ block [K, OCg]. */
export function conv2dWeightScratchBytes(g: usize): i32 {
  const k = (geom(g, G_C) / geom(g, G_GROUPS)) * geom(g, G_KH) * geom(g, G_KW);
  return sgemmScratchBytes() + colBytes(g) + k * (geom(g, G_OC) / geom(g, G_GROUPS)) * 4;
}

/**
 * Columns [k0, k1) of dw[OC, K] (K = Cg·KH·KW), overwritten: Σ over every image of the
 * correlation of x with dy. Splitting K (not the batch) lets threads share the work without
 * partial sums, so the result is bitwise the same for any split. Computed transposed,
 * dwᵀ[kn, OCg] = col[kn, pc] · dY_gᵀ[pc, OCg], into scratch and copied into dw at the end:
 * the column matrix is then the GEMM's row-contiguous A operand (packed 4 rows at a time)
 * and only dY is read transposed (OCg ≤ K columns), and the first product overwrites dwᵀ,
 * so nothing is zero-filled. Each element is the same sum in the same order as dY·colᵀ.
 */
export function conv2dBackwardWeight(x: usize, dy: usize, dw: usize, g: usize, k0: i32, k1: i32, scratch: usize): void {
  const groups = geom(g, G_GROUPS), c = geom(g, G_C), oc = geom(g, G_OC), n = geom(g, G_N);
  const cg = c / groups, ocg = oc / groups;
  const K = cg * geom(g, G_KH) * geom(g, G_KW);
  const P = geom(g, G_OH) * geom(g, G_OW);
  const HW = geom(g, G_H) * geom(g, G_W);
  const kn = k1 - k0;
  if (kn <= 0) return;
  const pw = isPointwise(g);
  const pcMax = colsPerChunk(g);
  const col = scratch + <usize>sgemmScratchBytes();
  const dwT = col + <usize>colBytes(g);
  for (let gi = 0; gi < groups; gi++) {
    let first = true;
    for (let b = 0; b < n; b++) {
      const xg = fptr(x, (b * c + gi * cg) * HW);
      const yg = fptr(dy, (b * oc + gi * ocg) * P);
      if (pw) {
        sgemm(kn, ocg, P, fptr(xg, k0 * P), P, 1, yg, 1, P, dwT, ocg, first ? 0 : 1, scratch);
        first = false;
        continue;
      }
      for (let p0 = 0; p0 < P; p0 += pcMax) {
        const pc = min(pcMax, P - p0);
        im2col(xg, g, cg, p0, pc, col, false, k0, k1);
        sgemm(kn, ocg, pc, col, pc, 1, fptr(yg, p0), 1, P, dwT, ocg, first ? 0 : 1, scratch);
        first = false;
      }
    }
    // dw[gi·OCg + o, k0 + r] = dwᵀ[r, o]
    const dwg = fptr(dw, gi * ocg * K + k0);
    for (let o = 0; o < ocg; o++) {
      const d = dwg + (<usize>(o * K) << 2);
      for (let r = 0; r < kn; r++) store<f32>(d + (<usize>r << 2), load<f32>(fptr(dwT, r * ocg + o)));
    }
  }
}
