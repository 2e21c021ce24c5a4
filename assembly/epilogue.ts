/**
 * The fused epilogue of the float conv and GEMM (Kernels.epilogue, src/backend/kernels.ts):
 * y = act(y + bias) over a block of rows, applied by conv2dForward and sgemmBatch right after
 * the product of the block (still in cache), and by the standalone epilogue kernel. The
 * expressions are those of the unary relu and clamp kernels (assembly/elementwise.ts), so a
 * fused result equals the unfused op chain bit for bit:
 *   act 0 none, 1 relu (v > 0 ? v : 0), 2 clamp (v < lo ? lo : v > hi ? hi : v)
 * Called from ./conv.ts and ./sgemm.ts, and through the export by src/backend/wasm/epilogue.ts.
 * Also maskMulF32, those activations' gradient (Kernels.maskMul).
 */

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

// @ts-ignore: decorator
@inline function activate(v: v128, act: i32, lo: v128, hi: v128): v128 {
  if (act == 1) return v128.bitselect(v, f32x4.splat(0), f32x4.gt(v, f32x4.splat(0)));
  if (act == 2) return v128.bitselect(lo, v128.bitselect(hi, v, f32x4.gt(v, hi)), f32x4.lt(v, lo));
  return v;
}

// @ts-ignore: decorator
@inline function activate1(v: f32, act: i32, lo: f32, hi: f32): f32 {
  if (act == 1) return v > 0 ? v : 0;
  if (act == 2) return v < lo ? lo : v > hi ? hi : v;
  return v;
}

/**
 * y[r·ld + j] = act(y[r·ld + j] + bias) for r < rows, j < cols; bias = 0 (address) for none,
 * else bias[r] (perRow ≠ 0) or bias[j].
 */
export function epilogueF32(y: usize, rows: i32, cols: i32, ld: i32, bias: usize, perRow: i32, act: i32, lo: f32, hi: f32): void {
  if (bias == 0 && act == 0) return;
  const lv = f32x4.splat(lo), hv = f32x4.splat(hi);
  for (let r = 0; r < rows; r++) {
    const row = at(y, r * ld);
    let j = 0;
    if (bias == 0) {
      for (; j + 4 <= cols; j += 4) v128.store(at(row, j), activate(v128.load(at(row, j)), act, lv, hv));
      for (; j < cols; j++) store<f32>(at(row, j), activate1(load<f32>(at(row, j)), act, lo, hi));
    } else if (perRow != 0) {
      const b = load<f32>(at(bias, r));
      const bv = f32x4.splat(b);
      for (; j + 4 <= cols; j += 4) v128.store(at(row, j), activate(f32x4.add(v128.load(at(row, j)), bv), act, lv, hv));
      for (; j < cols; j++) store<f32>(at(row, j), activate1(load<f32>(at(row, j)) + b, act, lo, hi));
    } else {
      for (; j + 4 <= cols; j += 4) v128.store(at(row, j), activate(f32x4.add(v128.load(at(row, j)), v128.load(at(bias, j))), act, lv, hv));
      for (; j < cols; j++) store<f32>(at(row, j), activate1(load<f32>(at(row, j)) + load<f32>(at(bias, j)), act, lo, hi));
    }
  }
}

/** Rows [r0, r1) of y viewed as [outer·c, inner]: the epilogue with bias[r mod c] (address 0 for none). */
export function epilogueChannelsF32(y: usize, r0: i32, r1: i32, c: i32, inner: i32, bias: usize, act: i32, lo: f32, hi: f32): void {
  for (let r = r0; r < r1; r++) {
    epilogueF32(at(y, r * inner), 1, inner, inner, bias == 0 ? 0 : at(bias, r % c), 1, act, lo, hi);
  }
}

/**
 * out[i] = g[i] · (lo < y[i] < hi ? 1 : 0) for i < n, hi = +∞ meaning no upper bound: the
 * relu / hardtanh vjp in one pass.
 */
export function maskMulF32(g: usize, y: usize, lo: f32, hi: f32, out: usize, n: i32): void {
  const unbounded = hi == Infinity;
  const lv = f32x4.splat(lo), hv = f32x4.splat(hi), one = f32x4.splat(1), zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(y, i));
    const above = f32x4.gt(v, lv);
    const m = unbounded ? above : v128.and(above, f32x4.lt(v, hv));
    v128.store(at(out, i), f32x4.mul(v128.load(at(g, i)), v128.bitselect(one, zero, m)));
  }
  for (; i < n; i++) {
    const v = load<f32>(at(y, i));
    store<f32>(at(out, i), load<f32>(at(g, i)) * (v > lo && (unbounded || v < hi) ? <f32>1 : <f32>0));
  }
}
