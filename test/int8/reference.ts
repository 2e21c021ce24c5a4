/**
 * Independent references for the int8 tests: the gemmlowp/TFLite fixed-point primitives in
 * BigInt (no shared code with src/int8/fixed-point.ts), naive integer kernels written as the
 * textbook formulas with explicit bounds checks, and a seeded random source.
 * Imported only by test/int8/*.test.ts.
 */
import { Generator } from "../../src/tensor/random.js";

export const I32_MIN = -2147483648;
export const I32_MAX = 2147483647;

/** gemmlowp SaturatingRoundingDoublingHighMul over BigInt: trunc((a·b + nudge) / 2^31). */
export function srdhmRef(a: number, b: number): number {
  if (a === I32_MIN && b === I32_MIN) return I32_MAX;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return Number((ab + nudge) / (1n << 31n)); // BigInt division truncates toward zero, as C++
}

/** x / 2^e rounded half away from zero, from the exact rational (not gemmlowp's bit trick). */
export function rdbpotRef(x: number, e: number): number {
  const X = BigInt(x);
  const D = 1n << BigInt(e);
  const abs = X < 0n ? -X : X;
  const q = (2n * abs + D) / (2n * D); // floor(|x|/D + 1/2)
  return Number(X < 0n ? -q : q);
}

/** TFLite MultiplyByQuantizedMultiplier with a saturating left shift, over BigInt. */
export function mbqmRef(x: number, m0: number, shift: number): number {
  const left = shift > 0 ? shift : 0;
  let t = BigInt(x) << BigInt(left);
  if (t > BigInt(I32_MAX)) t = BigInt(I32_MAX);
  if (t < BigInt(I32_MIN)) t = BigInt(I32_MIN);
  return rdbpotRef(srdhmRef(Number(t), m0), shift > 0 ? 0 : -shift);
}

/** Single-rounding requantization over BigInt: floor((x·M0 + 2^(t−1)) / 2^t), t = 31 − shift, saturated. */
export function mbqmSingleRef(x: number, m0: number, shift: number): number {
  const t = BigInt(31 - shift);
  const n = BigInt(x) * BigInt(m0) + (1n << (t - 1n));
  let q = n >> t; // arithmetic shift = floor division for BigInt
  if (q > BigInt(I32_MAX)) q = BigInt(I32_MAX);
  if (q < BigInt(I32_MIN)) q = BigInt(I32_MIN);
  return Number(q);
}

/** The exact real x·M0·2^(shift−31), as a double (for ±1 comparisons). */
export function realProduct(x: number, m0: number, shift: number): number {
  return x * m0 * Math.pow(2, shift - 31);
}

/** Seeded random helpers over the library's xoshiro128** generator. */
export class Rng {
  readonly g: Generator;
  constructor(seed: number) {
    this.g = new Generator(seed);
  }
  int32(): number {
    return this.g.nextU32() | 0;
  }
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return this.g.int(lo, hi + 1);
  }
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.g.uniform();
  }
  /** int32 with a random magnitude scale (so small and large values both appear). */
  int32LogUniform(): number {
    const bits = this.int(0, 31);
    const v = Math.floor(this.g.uniform() * 2 ** bits);
    return this.g.uniform() < 0.5 ? -v : Math.min(v, I32_MAX);
  }
  fill<A extends Uint8Array | Int8Array | Int32Array>(a: A, lo: number, hi: number): A {
    for (let i = 0; i < a.length; i++) a[i] = this.int(lo, hi);
    return a;
  }
}

export interface ConvRefArgs {
  x: ArrayLike<number>; xZp: number; xShape: number[];
  w: ArrayLike<number>; wZp: number; wShape: number[];
  stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number;
}

/**
 * Naive integer convolution accumulators acc[n, oc, oy, ox] = Σ (x − xZp)(w − wZp) with
 * explicit bounds checks (padding skipped = contributes 0). Returns acc and the output shape.
 */
export function convAccRef(a: ConvRefArgs): { acc: Float64Array; shape: number[] } {
  const [N, C, H, W] = a.xShape;
  const [OC, CG, KH, KW] = a.wShape;
  const [sh, sw] = a.stride, [ph, pw] = a.padding, [dh, dw] = a.dilation;
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const OCG = OC / a.groups;
  const acc = new Float64Array(N * OC * OH * OW);
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let oc = 0; oc < OC; oc++) {
      const g = Math.floor(oc / OCG);
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let s = 0;
          for (let ci = 0; ci < CG; ci++) {
            for (let ky = 0; ky < KH; ky++) {
              for (let kx = 0; kx < KW; kx++) {
                const iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const xv = a.x[((n * C + g * CG + ci) * H + iy) * W + ix] - a.xZp;
                const wv = a.w[((oc * CG + ci) * KH + ky) * KW + kx] - a.wZp;
                s += xv * wv;
              }
            }
          }
          acc[o++] = s;
        }
      }
    }
  }
  return { acc, shape: [N, OC, OH, OW] };
}

/** y = clamp(yZp + mbqmSingleRef(acc + bias), lo, hi) per element; channel c = floor(i / inner) % channels. */
export function requantRef(
  acc: Float64Array, bias: Int32Array | null, m0: Int32Array, shift: Int32Array,
  channels: number, inner: number, yZp: number, lo: number, hi: number,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < acc.length; i++) {
    const c = Math.floor(i / inner) % channels;
    const k = m0.length === 1 ? 0 : c;
    const v = acc[i] + (bias ? bias[c] : 0);
    const y = yZp + mbqmSingleRef(v, m0[k], shift[k]);
    out.push(Math.min(hi, Math.max(lo, y)));
  }
  return out;
}

/** Float64 reference of the same math: clamp(yZp + round(M_real·(acc + bias))). */
export function requantFloat(
  acc: Float64Array, bias: Int32Array | null, realM: ArrayLike<number>,
  channels: number, inner: number, yZp: number, lo: number, hi: number,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < acc.length; i++) {
    const c = Math.floor(i / inner) % channels;
    const m = realM.length === 1 ? realM[0] : realM[c];
    const v = acc[i] + (bias ? bias[c] : 0);
    const r = m * v;
    const y = yZp + Math.sign(r) * Math.round(Math.abs(r));
    out.push(Math.min(hi, Math.max(lo, y)));
  }
  return out;
}

/** Fraction of exactly equal elements and the largest |difference|. */
export function agreement(got: ArrayLike<number>, want: ArrayLike<number>): { exact: number; maxDiff: number } {
  let same = 0, maxDiff = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (d === 0) same++;
    maxDiff = Math.max(maxDiff, d);
  }
  return { exact: want.length === 0 ? 1 : same / want.length, maxDiff };
}
