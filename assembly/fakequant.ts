/**
 * Fused fake quantization for QAT (PyTorch 1.13's fake_quantize_*_affine_cachemask, float32):
 * one pass writes x̂ and the straight-through mask.
 *   p = fl32(x · fl32(1/S)),  q = fl32(Z + rint(p))        (rint: ties to even, f32x4.nearest)
 *   q = −∞ when p is NaN or |p| ≥ 2^63 (ATen's int64 conversion gives INT64_MIN there)
 *   x̂ = fl32((clamp(q, qmin, qmax) − Z) · S),   mask = qmin ≤ q ≤ qmax
 * Bit-exact with the reference loop in src/quant/fake-quantize.ts: the product of two f32 is
 * exact in f64, so rounding it once to f32 equals the f32 multiply; q − Z is a small integer.
 * Called through src/backend/wasm/fakequant.ts.
 */

const INT64_LIMIT: f32 = 9223372036854775808.0;

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** x̂ and mask for n elements with one (S, Z). */
function quantizeRange(x: usize, out: usize, mask: usize, n: i32, scale: f32, zp: f32, qmin: f32, qmax: f32): void {
  const inv = f32x4.splat(<f32>1 / scale);
  const sv = f32x4.splat(scale), zv = f32x4.splat(zp), lo = f32x4.splat(qmin), hi = f32x4.splat(qmax);
  const limit = f32x4.splat(INT64_LIMIT), ninf = f32x4.splat(-Infinity);
  const one = i32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = f32x4.mul(v128.load(at(x, i)), inv);
    const bad = v128.or(f32x4.ne(p, p), f32x4.ge(f32x4.abs(p), limit));
    const q = v128.bitselect(ninf, f32x4.add(zv, f32x4.nearest(p)), bad);
    const inRange = v128.and(f32x4.ge(q, lo), f32x4.le(q, hi));
    const qc = f32x4.min(f32x4.max(q, lo), hi);
    v128.store(at(out, i), f32x4.mul(f32x4.sub(qc, zv), sv));
    const m = v128.and(inRange, one);
    store<u8>(mask + <usize>i, <u8>i32x4.extract_lane(m, 0));
    store<u8>(mask + <usize>i + 1, <u8>i32x4.extract_lane(m, 1));
    store<u8>(mask + <usize>i + 2, <u8>i32x4.extract_lane(m, 2));
    store<u8>(mask + <usize>i + 3, <u8>i32x4.extract_lane(m, 3));
  }
  const invs: f32 = <f32>1 / scale;
  for (; i < n; i++) {
    const p = load<f32>(at(x, i)) * invs;
    const q: f32 = p != p || abs(p) >= INT64_LIMIT ? -Infinity : zp + nearest(p);
    const inRange = q >= qmin && q <= qmax;
    const qc = q < qmin ? qmin : q > qmax ? qmax : q;
    store<f32>(at(out, i), (qc - zp) * scale);
    store<u8>(mask + <usize>i, inRange ? 1 : 0);
  }
}

/** Per-tensor: elements [0, n). */
export function fakeQuantPerTensorF32(x: usize, out: usize, mask: usize, n: i32, scale: f32, zp: f32, qmin: f32, qmax: f32): void {
  quantizeRange(x, out, mask, n, scale, zp, qmin, qmax);
}

/**
 * Per-channel over x viewed as [outer, channels, inner] (the channel axis in the middle):
 * block (o, c) uses scales[c], zps[c] (f32 arrays). Only outer blocks [o0, o1).
 */
export function fakeQuantPerChannelF32(
  x: usize, out: usize, mask: usize, channels: i32, inner: i32, scales: usize, zps: usize,
  qmin: f32, qmax: f32, o0: i32, o1: i32,
): void {
  for (let o = o0; o < o1; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      quantizeRange(at(x, base), at(out, base), mask + <usize>base, inner, load<f32>(at(scales, c)), load<f32>(at(zps, c)), qmin, qmax);
    }
  }
}
