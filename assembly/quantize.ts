/**
 * Entry and exit of the int8 engine on float32 data (src/int8/kernels/quantize.ts uses these
 * when the wasm backend is active; the TypeScript loops there are the definition):
 *   quantize:    q = clamp(nearest(x ⊘ S) + Z, qmin, qmax)   ⊘ = float32 division, nearest =
 *                round half to even (PyTorch's quantize_per_tensor); the clamp is applied to
 *                the rounded quotient against [qmin − Z, qmax − Z], which is the same and
 *                keeps ±∞ from wrapping.
 *   dequantize:  x = (q − Z) · S in float32 (the product is exact before its one rounding).
 */

/** Returns −1, or the index of the first NaN (nothing is guaranteed about q then). */
export function quantizeF32(x: usize, q: usize, n: i32, scale: f32, zp: i32, qmin: i32, qmax: i32, signed: i32): i32 {
  const sv = f32x4.splat(scale);
  const lo = f32x4.splat(<f32>(qmin - zp)), hi = f32x4.splat(<f32>(qmax - zp));
  const zv = i32x4.splat(zp);
  let nan = i32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = f32x4.div(v128.load(x + (<usize>i << 2)), sv);
    const b = f32x4.div(v128.load(x + (<usize>i << 2), 16), sv);
    nan = v128.or(nan, v128.or(f32x4.ne(a, a), f32x4.ne(b, b)));
    const ra = i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.max(f32x4.nearest(a), lo), hi)), zv);
    const rb = i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.max(f32x4.nearest(b), lo), hi)), zv);
    const h = i16x8.narrow_i32x4_s(ra, rb);
    v128.store64_lane(q + <usize>i, signed ? i8x16.narrow_i16x8_s(h, h) : i8x16.narrow_i16x8_u(h, h), 0);
  }
  if (v128.any_true(nan)) return firstNaN(x, n);
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2)) / scale;
    if (v != v) return i;
    const r = <i32>min(max(nearest(v), <f32>(qmin - zp)), <f32>(qmax - zp)) + zp;
    store<u8>(q + <usize>i, <u8>r);
  }
  return -1;
}

function firstNaN(x: usize, n: i32): i32 {
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v != v) return i;
  }
  return -1;
}

export function dequantizeF32(q: usize, out: usize, n: i32, scale: f32, zp: i32, signed: i32): void {
  const sv = f32x4.splat(scale);
  const zv = i32x4.splat(zp);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = signed ? v128.load8x8_s(q + <usize>i) : v128.load8x8_u(q + <usize>i);
    const a = i32x4.sub(i32x4.extend_low_i16x8_s(h), zv);
    const b = i32x4.sub(i32x4.extend_high_i16x8_s(h), zv);
    v128.store(out + (<usize>i << 2), f32x4.mul(f32x4.convert_i32x4_s(a), sv));
    v128.store(out + (<usize>i << 2), f32x4.mul(f32x4.convert_i32x4_s(b), sv), 16);
  }
  for (; i < n; i++) {
    const v = signed ? <i32>load<i8>(q + <usize>i) : <i32>load<u8>(q + <usize>i);
    store<f32>(out + (<usize>i << 2), <f32>(v - zp) * scale);
  }
}
