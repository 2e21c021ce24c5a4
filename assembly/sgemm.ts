/**
 * Float32 GEMM in WebAssembly SIMD128 (AssemblyScript). Called through the JS wrappers in
 * src/backend/wasm/gemm.ts (matmul) and by ./conv.ts (im2col convolutions, which pack their
 * weights once per call with sgemmPackAll and multiply with sgemmPrepackedA).
 *
 *   C[i, j] = (accumulate ? C[i, j] : 0) + Σ_p A[i, p]·B[p, j],   i < m, j < n, p < k
 *
 * A and B are strided views (element (i, p) of A at a + 4·(i·ars + p·acs)), so transposes
 * cost nothing; C is row-major with leading dimension ldc. Goto/BLIS blocking: B is packed
 * in KC×NC blocks as NR-wide column panels, A in MC×KC blocks as MR-tall row panels (both
 * zero-padded), then an MR×NR = 4×8 register tile (8 f32x4 accumulators) runs over each
 * pair of panels. The B micro-panel (KC·NR·4 B = 8 KiB) stays in L1 while the A block
 * (≤ 128 KiB) streams from L2. Every pointer is a byte address in the shared memory; the
 * caller provides `scratch` (sgemmScratchBytes() bytes, one region per thread).
 */
import { epilogueF32 } from "./epilogue";

export const MR: i32 = 4;
export const NR: i32 = 8;
export const KC: i32 = 256;
export const MC: i32 = 128;
export const NC: i32 = 1024;

const PACK_A_BYTES: usize = <usize>(MC * KC) << 2;
const PACK_B_BYTES: usize = <usize>(KC * NC) << 2;

/** Bytes of scratch one sgemm call needs: packed A block, packed B block, one edge tile. */
export function sgemmScratchBytes(): i32 {
  return <i32>(PACK_A_BYTES + PACK_B_BYTES) + MR * NR * 4;
}

export function sgemm(
  m: i32, n: i32, k: i32,
  a: usize, ars: i32, acs: i32,
  b: usize, brs: i32, bcs: i32,
  c: usize, ldc: i32, accumulate: i32, scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) for (let i = 0; i < m; i++) memory.fill(c + (<usize>(i * ldc) << 2), 0, <usize>n << 2);
    return;
  }
  const pA = scratch;
  const pB = scratch + PACK_A_BYTES;
  const edge = pB + PACK_B_BYTES;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packB(b + (<usize>(pc * brs + jc * bcs) << 2), brs, bcs, kc, nc, pB);
      const beta = pc > 0 || accumulate != 0;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        packA(a + (<usize>(ic * ars + pc * acs) << 2), ars, acs, mc, kc, pA);
        macroKernel(mc, nc, kc, pA, pB, c + (<usize>(ic * ldc + jc) << 2), ldc, beta, edge);
      }
    }
  }
}

/** Bytes sgemmPackAll writes for an m×k A operand (rows padded to MR). */
export function sgemmPackedABytes(m: i32, k: i32): i32 {
  return ((m + MR - 1) / MR) * MR * k * 4;
}

/**
 * Packs all of A[m, k] (strided as in sgemm) the way sgemm packs it block by block: block
 * (pc, ic) at float offset pc·mPad + ic·kc of dst (mPad = m rounded up to MR). For operands
 * multiplied many times (convolution weights, once per image): see sgemmPrepackedA.
 */
export function sgemmPackAll(m: i32, k: i32, a: usize, ars: i32, acs: i32, dst: usize): void {
  const mPad = ((m + MR - 1) / MR) * MR;
  for (let pc = 0; pc < k; pc += KC) {
    const kc = min(KC, k - pc);
    for (let ic = 0; ic < m; ic += MC) {
      packA(a + (<usize>(ic * ars + pc * acs) << 2), ars, acs, min(MC, m - ic), kc, dst + (<usize>(pc * mPad + ic * kc) << 2));
    }
  }
}

/**
 * sgemm with A already packed by sgemmPackAll(m, k, …) at pA: the same blocks, packed values
 * and micro-kernel, so the same result bit for bit, without repacking A on every call.
 */
export function sgemmPrepackedA(
  m: i32, n: i32, k: i32, pA: usize,
  b: usize, brs: i32, bcs: i32,
  c: usize, ldc: i32, accumulate: i32, scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) for (let i = 0; i < m; i++) memory.fill(c + (<usize>(i * ldc) << 2), 0, <usize>n << 2);
    return;
  }
  const mPad = ((m + MR - 1) / MR) * MR;
  const pB = scratch + PACK_A_BYTES;
  const edge = pB + PACK_B_BYTES;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packB(b + (<usize>(pc * brs + jc * bcs) << 2), brs, bcs, kc, nc, pB);
      const beta = pc > 0 || accumulate != 0;
      for (let ic = 0; ic < m; ic += MC) {
        const blockA = pA + (<usize>(pc * mPad + ic * kc) << 2);
        macroKernel(min(MC, m - ic), nc, kc, blockA, pB, c + (<usize>(ic * ldc + jc) << 2), ldc, beta, edge);
      }
    }
  }
}

/** Runs the MR×NR tiles of one (MC×KC)·(KC×NC) block product. */
function macroKernel(mc: i32, nc: i32, kc: i32, pA: usize, pB: usize, c: usize, ldc: i32, beta: bool, edge: usize): void {
  const ldcBytes = <usize>ldc << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const w = min(NR, nc - jr);
    const pb = pB + (<usize>(jr * kc) << 2);
    for (let ir = 0; ir < mc; ir += MR) {
      const h = min(MR, mc - ir);
      const pa = pA + (<usize>(ir * kc) << 2);
      const cp = c + (<usize>(ir * ldc + jr) << 2);
      if (h == MR && w == NR) {
        microKernel(pa, pb, kc, cp, ldcBytes, beta);
      } else {
        microKernel(pa, pb, kc, edge, <usize>NR << 2, false);
        storeEdge(edge, cp, ldcBytes, h, w, beta);
      }
    }
  }
}

/** Adds (beta) or copies the valid h×w corner of a 4×8 tile into C. */
function storeEdge(edge: usize, c: usize, ldcBytes: usize, h: i32, w: i32, beta: bool): void {
  for (let i = 0; i < h; i++) {
    const src = edge + (<usize>(i * NR) << 2);
    const dst = c + <usize>i * ldcBytes;
    for (let j = 0; j < w; j++) {
      const off = <usize>j << 2;
      const v = load<f32>(src + off);
      store<f32>(dst + off, beta ? load<f32>(dst + off) + v : v);
    }
  }
}

/**
 * c + a·b per lane. In the relaxed-SIMD build (scripts/build-wasm.mjs's "-relaxed" variants,
 * picked at load when the host validates them) this is `f32x4.relaxed_madd`, which V8 lowers
 * to a fused multiply-add where the CPU has one (one rounding instead of two); otherwise a
 * multiply then an add, exactly as before.
 */
// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/**
 * C[0:4, 0:8] (+)= Σ_p a[p]ᵀ·b[p] over packed panels: a holds 4 floats per p (one per row),
 * b 8 floats per p. Accumulator cRJ holds row R, columns 4J..4J+3.
 */
// @ts-ignore: decorator
@inline
function microKernel(a: usize, b: usize, kc: i32, c: usize, ldcBytes: usize, beta: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = madd(av, b0, c00);
    c01 = madd(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = madd(av, b0, c10);
    c11 = madd(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = madd(av, b0, c20);
    c21 = madd(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = madd(av, b0, c30);
    c31 = madd(av, b1, c31);
    a += 16;
    b += 32;
  }
  if (beta) {
    c00 = f32x4.add(c00, v128.load(c));
    c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(c + ldcBytes));
    c11 = f32x4.add(c11, v128.load(c + ldcBytes, 16));
    c20 = f32x4.add(c20, v128.load(c + 2 * ldcBytes));
    c21 = f32x4.add(c21, v128.load(c + 2 * ldcBytes, 16));
    c30 = f32x4.add(c30, v128.load(c + 3 * ldcBytes));
    c31 = f32x4.add(c31, v128.load(c + 3 * ldcBytes, 16));
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c + ldcBytes, c10);
  v128.store(c + ldcBytes, c11, 16);
  v128.store(c + 2 * ldcBytes, c20);
  v128.store(c + 2 * ldcBytes, c21, 16);
  v128.store(c + 3 * ldcBytes, c30);
  v128.store(c + 3 * ldcBytes, c31, 16);
}

/**
 * Packs the kc×nc block of B at `b` into NR-wide panels: dst[(jp·kc + p)·NR + jj] =
 * B[p, jp + jj] (0 past column nc).
 */
function packB(b: usize, brs: i32, bcs: i32, kc: i32, nc: i32, dst: usize): void {
  for (let jp = 0; jp < nc; jp += NR) {
    const w = min(NR, nc - jp);
    let d = dst + (<usize>(jp * kc) << 2);
    if (bcs == 1 && w == NR) {
      let s = b + (<usize>jp << 2);
      const rs = <usize>brs << 2;
      for (let p = 0; p < kc; p++) {
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
        s += rs;
        d += 32;
      }
    } else if (brs == 1) {
      // Column-contiguous B (a transposed operand): read each column sequentially.
      for (let jj = 0; jj < NR; jj++) {
        let o = d + (<usize>jj << 2);
        if (jj < w) {
          let s = b + (<usize>((jp + jj) * bcs) << 2);
          for (let p = 0; p < kc; p++) {
            store<f32>(o, load<f32>(s));
            s += 4;
            o += 32;
          }
        } else {
          for (let p = 0; p < kc; p++) {
            store<f32>(o, 0);
            o += 32;
          }
        }
      }
    } else {
      for (let p = 0; p < kc; p++) {
        const row = b + (<usize>(p * brs + jp * bcs) << 2);
        for (let jj = 0; jj < NR; jj++) {
          store<f32>(d + (<usize>jj << 2), jj < w ? load<f32>(row + (<usize>(jj * bcs) << 2)) : 0);
        }
        d += 32;
      }
    }
  }
}

/**
 * Packs the mc×kc block of A at `a` into MR-tall panels: dst[(ip·kc + p)·MR + ii] =
 * A[ip + ii, p] (0 past row mc).
 */
function packA(a: usize, ars: i32, acs: i32, mc: i32, kc: i32, dst: usize): void {
  for (let ip = 0; ip < mc; ip += MR) {
    const h = min(MR, mc - ip);
    const d = dst + (<usize>(ip * kc) << 2);
    const src = a + (<usize>(ip * ars) << 2);
    if (h == MR && ars == 1) {
      // Row-contiguous columns (a transposed operand): one vector per p.
      const cs = <usize>acs << 2;
      let s = src;
      let o = d;
      for (let p = 0; p < kc; p++) {
        v128.store(o, v128.load(s));
        s += cs;
        o += 16;
      }
    } else if (h == MR && acs == 1) {
      packRows4(src, <usize>ars << 2, kc, d);
    } else {
      for (let p = 0; p < kc; p++) {
        for (let ii = 0; ii < MR; ii++) {
          const v: f32 = ii < h ? load<f32>(src + (<usize>(ii * ars + p * acs) << 2)) : 0;
          store<f32>(d + (<usize>(p * MR + ii) << 2), v);
        }
      }
    }
  }
}

/** Interleaves 4 contiguous rows (row stride rsBytes) into [p][4], 4×4 transposes at a time. */
function packRows4(src: usize, rsBytes: usize, kc: i32, d: usize): void {
  const r0 = src, r1 = src + rsBytes, r2 = src + 2 * rsBytes, r3 = src + 3 * rsBytes;
  let p = 0;
  for (; p + 4 <= kc; p += 4) {
    const off = <usize>p << 2;
    const x0 = v128.load(r0 + off), x1 = v128.load(r1 + off);
    const x2 = v128.load(r2 + off), x3 = v128.load(r3 + off);
    const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
    const t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
    const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
    const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
    const o = d + (<usize>p << 4);
    v128.store(o, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
    v128.store(o, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 16);
    v128.store(o, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 32);
    v128.store(o, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 48);
  }
  for (; p < kc; p++) {
    const off = <usize>p << 2;
    const o = d + (<usize>p << 4);
    store<f32>(o, load<f32>(r0 + off));
    store<f32>(o, load<f32>(r1 + off), 4);
    store<f32>(o, load<f32>(r2 + off), 8);
    store<f32>(o, load<f32>(r3 + off), 12);
  }
}

/**
 * `count` independent products starting at item `first`: item t uses A at a + t·aStride,
 * B at b + t·bStride, C at c + t·cStride (strides in elements; 0 broadcasts). Then each
 * item's C block goes through the fused epilogue (./epilogue.ts; bias per column, address 0
 * for none; act 0 none, 1 relu, 2 clamp to [lo, hi]).
 */
export function sgemmBatch(
  first: i32, count: i32, m: i32, n: i32, k: i32,
  a: usize, aStride: i32, ars: i32, acs: i32,
  b: usize, bStride: i32, brs: i32, bcs: i32,
  c: usize, cStride: i32, ldc: i32, accumulate: i32, scratch: usize,
  bias: usize, act: i32, lo: f32, hi: f32,
): void {
  for (let t = first; t < first + count; t++) {
    const ct = c + (<usize>(t * cStride) << 2);
    sgemm(
      m, n, k,
      a + (<usize>(t * aStride) << 2), ars, acs,
      b + (<usize>(t * bStride) << 2), brs, bcs,
      ct, ldc, accumulate, scratch,
    );
    // the fused epilogue (bias per column) while this item's C block is still in cache
    epilogueF32(ct, m, n, ldc, bias, 0, act, lo, hi);
  }
}
