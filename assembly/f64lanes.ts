/**
 * f32x4 ↔ f64x2 lane conversions for kernels that accumulate float32 data in float64
 * (batchnorm.ts, transformer.ts). Inlined at every use.
 */

/** The low two f32 lanes of v as f64x2. */
// @ts-ignore: decorator
@inline export function lo64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}

/** The high two f32 lanes of v as f64x2. */
// @ts-ignore: decorator
@inline export function hi64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
}

/** Two f64x2 rounded into one f32x4 (lo lanes first). */
// @ts-ignore: decorator
@inline export function to32(lo: v128, hi: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}
