/**
 * Integer GEMM for the int8 engine: C[i, j] (+)= Σ_p (A[i, p] − za)·(B[j, p] − zb), exact
 * in int32. A is [m, k] row-major int8 or uint8 (activations), B is [n, k] row-major int8
 * (weights in OI layout, i.e. Bᵀ), C is [m, n] row-major int32.
 *
 * Ranges: a − za and b − zb lie in [−255, 255], so they fit int16; i32x4.dot_i16x8_s sums two
 * products (|·| ≤ 2·255² = 130 050), so C cannot overflow int32 for k < 33 000.
 * Packing: both operands become int16 with the zero point subtracted and k padded to even;
 * A as 4-row panels holding, per k-pair, the pair (a[i, 2q], a[i, 2q+1]) of each row as one
 * i32 (broadcast with load32_splat); B as 8-column panels holding, per k-pair, the pairs of 8
 * columns in two vectors. The 4×8 tile keeps 8 i32x4 accumulators; each dot adds two k.
 */

const MR: i32 = 4;
const NR: i32 = 8;

/** Scratch bytes igemm needs for these sizes (packed B, one packed A panel, an edge tile). */
export function igemmScratchBytes(m: i32, n: i32, k: i32): i32 {
  return igemmPackedBBytes(n, k) + igemmPackedScratchBytes(k) + 0 * m;
}

/** Scratch igemmPacked needs: one packed A panel and an edge tile. */
export function igemmPackedScratchBytes(k: i32): i32 {
  return MR * ((k + 1) & ~1) * 2 + MR * NR * 4 + 16;
}

export function igemm(
  m: i32, n: i32, k: i32, a: usize, aUnsigned: i32, za: i32, b: usize, zb: i32,
  c: usize, accumulate: i32, scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  const kp = (k + 1) & ~1;
  const np = (n + NR - 1) / NR * NR;
  const pB = scratch;
  packB(b, n, k, kp, zb, pB);
  igemmPacked(m, n, k, a, aUnsigned, za, pB, c, accumulate, pB + (<usize>(np * kp) << 1));
}

/** Bytes of B packed by igemmPackB (reusable across calls: weights are packed once per layer). */
export function igemmPackedBBytes(n: i32, k: i32): i32 {
  return (n + NR - 1) / NR * NR * ((k + 1) & ~1) * 2;
}

/** Packs B [n, k] (int8, zero point zb) into 8-column panels; see the file header. */
export function igemmPackB(b: usize, n: i32, k: i32, zb: i32, dst: usize): void {
  packB(b, n, k, (k + 1) & ~1, zb, dst);
}

/** igemm with B already packed by igemmPackB; scratch: igemmPackedScratchBytes(k) bytes. */
export function igemmPacked(
  m: i32, n: i32, k: i32, a: usize, aUnsigned: i32, za: i32, pB: usize,
  c: usize, accumulate: i32, scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  const kp = (k + 1) & ~1;
  const pA = scratch;
  const edge = pA + (<usize>(MR * kp) << 1);
  for (let i0 = 0; i0 < m; i0 += MR) {
    const h = min(MR, m - i0);
    packA(a + <usize>(i0 * k), h, k, kp, aUnsigned, za, pA);
    for (let j0 = 0; j0 < n; j0 += NR) {
      const w = min(NR, n - j0);
      const pb = pB + (<usize>(j0 * kp) << 1);
      const cp = c + (<usize>(i0 * n + j0) << 2);
      dotTile(pA, pb, kp >> 1, edge);
      if (h == MR && w == NR) storeTile(edge, cp, <usize>n << 2, accumulate != 0);
      else storeEdge(edge, cp, n, h, w, accumulate != 0);
    }
  }
}

/** int16 of element p of a row (0 past k), zero point subtracted. */
// @ts-ignore: decorator
@inline function elemA(row: usize, p: i32, k: i32, unsigned: i32, z: i32): i32 {
  if (p >= k) return 0;
  return (unsigned ? <i32>load<u8>(row + <usize>p) : <i32>load<i8>(row + <usize>p)) - z;
}

/** dst[(q·MR + ii)·2 + e] = A[ii, 2q + e] − za (0 for padding rows/columns). */
function packA(a: usize, h: i32, k: i32, kp: i32, unsigned: i32, za: i32, dst: usize): void {
  for (let ii = 0; ii < MR; ii++) {
    const row = a + <usize>(ii * k);
    let d = dst + (<usize>ii << 2);
    for (let q = 0; q < kp; q += 2) {
      const lo = ii < h ? elemA(row, q, k, unsigned, za) : 0;
      const hi = ii < h ? elemA(row, q + 1, k, unsigned, za) : 0;
      store<i32>(d, (lo & 0xffff) | (hi << 16));
      d += MR * 4;
    }
  }
}

/** Panel of columns j0..j0+7: dst[(q·NR + jj)·2 + e] = B[j0 + jj, 2q + e] − zb. */
function packB(b: usize, n: i32, k: i32, kp: i32, zb: i32, dst: usize): void {
  for (let j0 = 0; j0 < n; j0 += NR) {
    const panel = dst + (<usize>(j0 * kp) << 1);
    for (let jj = 0; jj < NR; jj++) {
      const j = j0 + jj;
      const row = b + <usize>(j * k);
      let d = panel + (<usize>jj << 2);
      for (let q = 0; q < kp; q += 2) {
        const lo = j < n ? elemA(row, q, k, 0, zb) : 0;
        const hi = j < n ? elemA(row, q + 1, k, 0, zb) : 0;
        store<i32>(d, (lo & 0xffff) | (hi << 16));
        d += NR * 4;
      }
    }
  }
}

/**
 * The 4×8 micro-kernel: acc[r, 0:8] = Σ_q dot(a pairs of row r, b pairs) over `pairs` k-pairs,
 * stored row by row at dst (row r at dst + 32r: columns 0–3, then 4–7). Shared with the
 * convolution kernels of assembly/qconv.ts (A = weights, B = pixels there).
 */
export function dotTile(a: usize, b: usize, pairs: i32, dst: usize): void {
  let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c10 = i32x4.splat(0), c11 = i32x4.splat(0);
  let c20 = i32x4.splat(0), c21 = i32x4.splat(0), c30 = i32x4.splat(0), c31 = i32x4.splat(0);
  for (let q = 0; q < pairs; q++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(av, b0));
    c01 = i32x4.add(c01, i32x4.dot_i16x8_s(av, b1));
    av = v128.load32_splat(a, 4);
    c10 = i32x4.add(c10, i32x4.dot_i16x8_s(av, b0));
    c11 = i32x4.add(c11, i32x4.dot_i16x8_s(av, b1));
    av = v128.load32_splat(a, 8);
    c20 = i32x4.add(c20, i32x4.dot_i16x8_s(av, b0));
    c21 = i32x4.add(c21, i32x4.dot_i16x8_s(av, b1));
    av = v128.load32_splat(a, 12);
    c30 = i32x4.add(c30, i32x4.dot_i16x8_s(av, b0));
    c31 = i32x4.add(c31, i32x4.dot_i16x8_s(av, b1));
    a += 16;
    b += 32;
  }
  v128.store(dst, c00);
  v128.store(dst, c01, 16);
  v128.store(dst, c10, 32);
  v128.store(dst, c11, 48);
  v128.store(dst, c20, 64);
  v128.store(dst, c21, 80);
  v128.store(dst, c30, 96);
  v128.store(dst, c31, 112);
}

/** Copies (or adds, beta) a full 4×8 tile from t into C (row stride ldcBytes). */
function storeTile(t: usize, c: usize, ldcBytes: usize, beta: bool): void {
  for (let r = 0; r < MR; r++) {
    const row = c + <usize>r * ldcBytes;
    let v0 = v128.load(t + (<usize>r << 5)), v1 = v128.load(t + (<usize>r << 5), 16);
    if (beta) {
      v0 = i32x4.add(v0, v128.load(row));
      v1 = i32x4.add(v1, v128.load(row, 16));
    }
    v128.store(row, v0);
    v128.store(row, v1, 16);
  }
}

/** Adds (beta) or copies the valid h×w corner of a 4×8 int32 tile into C (row length n). */
function storeEdge(edge: usize, c: usize, n: i32, h: i32, w: i32, beta: bool): void {
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const v = load<i32>(edge + (<usize>(i * NR + j) << 2));
      const p = c + (<usize>(i * n + j) << 2);
      store<i32>(p, beta ? load<i32>(p) + v : v);
    }
  }
}
