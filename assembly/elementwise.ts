/**
 * Float32 elementwise kernels with SIMD128: binary ops on same-shape operands, with a scalar
 * right operand, or with a row vector repeated over the rows of the left one (bias add);
 * float × uint8-mask products (the ReLU vjp); comparisons writing uint8 0/1; unary ops and
 * clamp. Results equal the reference kernels (src/backend/ref/elementwise.ts) exactly: +, −,
 * ×, ÷ and √ rounded once to f32 equal the reference's f64 result rounded to f32.
 * Op codes (shared with src/backend/wasm/elementwise.ts):
 *   binary  0 add, 1 sub, 2 mul, 3 div, 4 maximum, 5 minimum (NaN-propagating; on ties the
 *           right operand, as the reference's `a > b ? a : b`)
 *   compare 0 gt, 1 ge, 2 lt, 3 le, 4 eq, 5 ne
 *   unary   0 neg, 1 abs, 2 relu (x > 0 ? x : 0), 3 square, 4 sqrt, 5 reciprocal
 */

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** maximum (max = true) or minimum with the reference's NaN and tie rules. */
// @ts-ignore: decorator
@inline function maxMin(a: v128, b: v128, max: bool): v128 {
  const r = max ? f32x4.pmax(b, a) : f32x4.pmin(b, a);
  const nan = v128.or(f32x4.ne(a, a), f32x4.ne(b, b));
  return v128.bitselect(f32x4.add(a, b), r, nan);
}

// @ts-ignore: decorator
@inline function binop(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case 0: return f32x4.add(a, b);
    case 1: return f32x4.sub(a, b);
    case 2: return f32x4.mul(a, b);
    case 3: return f32x4.div(a, b);
    case 4: return maxMin(a, b, true);
    default: return maxMin(a, b, false);
  }
}

/** Scalar version of binop, lane-for-lane identical. */
function binop1(op: i32, a: f32, b: f32): f32 {
  return f32x4.extract_lane(binop(op, f32x4.splat(a), f32x4.splat(b)), 0);
}

/** out[i] = a[i] op b[i], i < n. */
export function binaryF32(op: i32, a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  switch (op) {
    case 0: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(0, v128.load(at(a, i)), v128.load(at(b, i)))); break;
    case 1: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(1, v128.load(at(a, i)), v128.load(at(b, i)))); break;
    case 2: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(2, v128.load(at(a, i)), v128.load(at(b, i)))); break;
    case 3: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(3, v128.load(at(a, i)), v128.load(at(b, i)))); break;
    case 4: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(4, v128.load(at(a, i)), v128.load(at(b, i)))); break;
    default: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(5, v128.load(at(a, i)), v128.load(at(b, i))));
  }
  for (; i < n; i++) store<f32>(at(out, i), binop1(op, load<f32>(at(a, i)), load<f32>(at(b, i))));
}

/** out[i] = a[i] op s. */
export function binaryScalarF32(op: i32, a: usize, s: f32, out: usize, n: i32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  switch (op) {
    case 0: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(0, v128.load(at(a, i)), sv)); break;
    case 1: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(1, v128.load(at(a, i)), sv)); break;
    case 2: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(2, v128.load(at(a, i)), sv)); break;
    case 3: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(3, v128.load(at(a, i)), sv)); break;
    case 4: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(4, v128.load(at(a, i)), sv)); break;
    default: for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(5, v128.load(at(a, i)), sv));
  }
  for (; i < n; i++) store<f32>(at(out, i), binop1(op, load<f32>(at(a, i)), s));
}

/** out[r, j] = a[r, j] op b[j] for r < rows, j < cols (b repeated over rows). */
export function binaryRowF32(op: i32, a: usize, b: usize, out: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    const ar = at(a, off), orow = at(out, off);
    let j = 0;
    for (; j + 4 <= cols; j += 4) v128.store(at(orow, j), binop(op, v128.load(at(ar, j)), v128.load(at(b, j))));
    for (; j < cols; j++) store<f32>(at(orow, j), binop1(op, load<f32>(at(ar, j)), load<f32>(at(b, j))));
  }
}

/** Four uint8 at p as f32x4. */
// @ts-ignore: decorator
@inline function u8x4(p: usize): v128 {
  return f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))));
}

/** out[i] = a[i] op b[i] with b uint8 (op: add, sub, mul, div). */
export function binaryF32U8(op: i32, a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(out, i), binop(op, v128.load(at(a, i)), u8x4(b + <usize>i)));
  for (; i < n; i++) store<f32>(at(out, i), binop1(op, load<f32>(at(a, i)), <f32>load<u8>(b + <usize>i)));
}

// @ts-ignore: decorator
@inline function cmp(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case 0: return f32x4.gt(a, b);
    case 1: return f32x4.ge(a, b);
    case 2: return f32x4.lt(a, b);
    case 3: return f32x4.le(a, b);
    case 4: return f32x4.eq(a, b);
    default: return f32x4.ne(a, b);
  }
}

/** out[i] = (a[i] op b) ? 1 : 0 as uint8; b is b[i], or b[0] for every i when bScalar. */
export function compareF32(op: i32, a: usize, b: usize, bScalar: i32, out: usize, n: i32): void {
  const one = i8x16.splat(1);
  const bs = v128.load32_splat(b);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const m0 = cmp(op, v128.load(at(a, i)), bScalar ? bs : v128.load(at(b, i)));
    const m1 = cmp(op, v128.load(at(a, i + 4)), bScalar ? bs : v128.load(at(b, i + 4)));
    const m2 = cmp(op, v128.load(at(a, i + 8)), bScalar ? bs : v128.load(at(b, i + 8)));
    const m3 = cmp(op, v128.load(at(a, i + 12)), bScalar ? bs : v128.load(at(b, i + 12)));
    const bytes = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(m0, m1), i16x8.narrow_i32x4_s(m2, m3));
    v128.store(out + <usize>i, v128.and(bytes, one));
  }
  for (; i < n; i++) {
    const bv = bScalar ? bs : f32x4.splat(load<f32>(at(b, i)));
    store<u8>(out + <usize>i, <u8>(i32x4.extract_lane(cmp(op, f32x4.splat(load<f32>(at(a, i))), bv), 0) & 1));
  }
}

// @ts-ignore: decorator
@inline function unop(op: i32, x: v128): v128 {
  switch (op) {
    case 0: return f32x4.neg(x);
    case 1: return f32x4.abs(x);
    case 2: return f32x4.pmax(f32x4.splat(0), x);
    case 3: return f32x4.mul(x, x);
    case 4: return f32x4.sqrt(x);
    default: return f32x4.div(f32x4.splat(1), x);
  }
}

/** out[i] = op(x[i]). */
export function unaryF32(op: i32, x: usize, out: usize, n: i32): void {
  let i = 0;
  switch (op) {
    case 0: for (; i + 4 <= n; i += 4) v128.store(at(out, i), unop(0, v128.load(at(x, i)))); break;
    case 1: for (; i + 4 <= n; i += 4) v128.store(at(out, i), unop(1, v128.load(at(x, i)))); break;
    case 2: for (; i + 4 <= n; i += 4) v128.store(at(out, i), unop(2, v128.load(at(x, i)))); break;
    case 3: for (; i + 4 <= n; i += 4) v128.store(at(out, i), unop(3, v128.load(at(x, i)))); break;
    case 4: for (; i + 4 <= n; i += 4) v128.store(at(out, i), unop(4, v128.load(at(x, i)))); break;
    default: for (; i + 4 <= n; i += 4) v128.store(at(out, i), unop(5, v128.load(at(x, i))));
  }
  for (; i < n; i++) store<f32>(at(out, i), f32x4.extract_lane(unop(op, f32x4.splat(load<f32>(at(x, i)))), 0));
}

/** out[i] = x < lo ? lo : x > hi ? hi : x (NaN stays NaN). */
export function clampF32(x: usize, lo: f32, hi: f32, out: usize, n: i32): void {
  const lv = f32x4.splat(lo), hv = f32x4.splat(hi);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    const r = v128.bitselect(hv, v, f32x4.gt(v, hv));
    v128.store(at(out, i), v128.bitselect(lv, r, f32x4.lt(v, lv)));
  }
  for (; i < n; i++) {
    const v = load<f32>(at(x, i));
    store<f32>(at(out, i), v < lo ? lo : v > hi ? hi : v);
  }
}

/** dst[i] += src[i] (sums per-thread partial results). */
export function addInto(dst: usize, src: usize, n: i32): void {
  binaryF32(0, dst, src, dst, n);
}

/** Zeroes `bytes` bytes at p (allocator reuse). */
export function zeroBytes(p: usize, bytes: usize): void {
  memory.fill(p, 0, bytes);
}
