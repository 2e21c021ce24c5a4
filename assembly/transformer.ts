/**
 * GELU and LayerNorm (the Kernels entries gelu, geluBackward, layerNorm, layerNormBackward;
 * src/backend/ref/transformer.ts is the definition), on f32 data with every value computed in
 * f64 and rounded once when stored, as the reference:
 *   erf: the reference's own Hermite table, passed in interleaved (y₀, dh₀, y₁, dh₁, …), with
 *        the same expression and order, so erf-form GELU is the reference's value bit for bit;
 *        exp by Cody–Waite reduction and a degree-13 Taylor polynomial (within a few f64 ulps;
 *        no lookup table, so the module keeps no data segment; Estrin's scheme in the f64x2
 *        lanes, Horner for a tail), tanh(u) = ±(1 − 2/(e^{2|u|} + 1)) (absolute error ~1e-16) —
 *        as native/transformer.c's AVX2 path. Four elements per step in two f64x2 pairs.
 *   LayerNorm: row sums in two f64 lanes (the reference sums in order), per-element outputs
 *        in f64 lanes with the reference's operations; the weight / bias gradients are summed
 *        over rows in order per column — bit for bit the reference's for the same mean / rstd.
 * Also softmaxBackwardF32, the softmax / log-softmax vjp (Kernels.softmaxBackward; definition
 * src/backend/ref/softmax-backward.ts).
 * Rows / columns / element ranges come from src/backend/wasm/transformer.ts, which splits
 * large calls among the worker threads.
 */
import { hi64, lo64, to32 } from "./f64lanes";

const INV_SQRT2: f64 = Math.SQRT1_2;
const INV_SQRT_2PI: f64 = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2_OVER_PI: f64 = Math.sqrt(2 / Math.PI);
const GELU_C: f64 = 0.044715;

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

// @ts-ignore: decorator
@inline function at64(base: usize, i: i32): usize {
  return base + (<usize>i << 3);
}

/** e^x: 0 below −708 (and for −∞), e^709 above 709, NaN stays NaN. */
// @ts-ignore: decorator
@inline function exp64(x: f64): f64 {
  if (!(x >= -708)) return isNaN<f64>(x) ? x : 0;
  const xc = x > 709 ? 709 : x;
  const n = nearest<f64>(xc * 1.4426950408889634);
  const r = xc - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10; // n·ln2_hi is exact
  let p: f64 = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  return p * reinterpret<f64>(<i64>(<i32>n + 1023) << 52);
}

/** tanh(u) = ±(1 − 2/(e^{2|u|} + 1)). */
// @ts-ignore: decorator
@inline function tanh64(u: f64): f64 {
  const a = Math.abs(u);
  const t = 1 - 2 / (exp64(a + a) + 1);
  return u < 0 ? -t : isNaN<f64>(u) ? u : t === 0 ? u : t;
}

/** erf(x) by the reference's table (512 steps per unit over [0, 6]); ±1 beyond, NaN stays NaN. */
// @ts-ignore: decorator
@inline function erfTab(tab: usize, x: f64): f64 {
  const a = Math.abs(x);
  if (!(a < 6)) return isNaN<f64>(x) ? x : x > 0 ? 1.0 : -1.0;
  const u = a * 512;
  const i = <i32>u;
  const t = u - <f64>i;
  const t2 = t * t;
  const t3 = t2 * t;
  const p = tab + (<usize>i << 4);
  const r = (2 * t3 - 3 * t2 + 1) * load<f64>(p) + (t3 - 2 * t2 + t) * load<f64>(p, 8) + (3 * t2 - 2 * t3) * load<f64>(p, 16) + (t3 - t2) * load<f64>(p, 24);
  return x < 0 ? -r : r;
}

const SIGN = f64x2.splat(-0.0);

/** erfTab in two lanes: each lane's knots loaded as (y, dh) pairs; the same operations, so the same values. */
// @ts-ignore: decorator
@inline function erf2(tab: usize, x: v128): v128 {
  const a = f64x2.abs(x);
  const inr = f64x2.lt(a, f64x2.splat(6));
  const u = f64x2.mul(v128.and(a, inr), f64x2.splat(512));
  const iv = i32x4.trunc_sat_f64x2_s_zero(u);
  const t = f64x2.sub(u, f64x2.convert_low_i32x4_s(iv));
  const t2 = f64x2.mul(t, t), t3 = f64x2.mul(t2, t);
  const two = f64x2.splat(2), three = f64x2.splat(3);
  const h00 = f64x2.add(f64x2.sub(f64x2.mul(two, t3), f64x2.mul(three, t2)), f64x2.splat(1));
  const h10 = f64x2.add(f64x2.sub(t3, f64x2.mul(two, t2)), t);
  const h01 = f64x2.sub(f64x2.mul(three, t2), f64x2.mul(two, t3));
  const h11 = f64x2.sub(t3, t2);
  const p0 = tab + (<usize>i32x4.extract_lane(iv, 0) << 4), p1 = tab + (<usize>i32x4.extract_lane(iv, 1) << 4);
  const a0 = v128.load(p0), a1 = v128.load(p1), b0 = v128.load(p0, 16), b1 = v128.load(p1, 16);
  let r = f64x2.mul(h00, v128.shuffle<f64>(a0, a1, 0, 2));
  r = f64x2.add(r, f64x2.mul(h10, v128.shuffle<f64>(a0, a1, 1, 3)));
  r = f64x2.add(r, f64x2.mul(h01, v128.shuffle<f64>(b0, b1, 0, 2)));
  r = f64x2.add(r, f64x2.mul(h11, v128.shuffle<f64>(b0, b1, 1, 3)));
  r = v128.bitselect(f64x2.neg(r), r, f64x2.lt(x, f64x2.splat(0)));
  const out = v128.bitselect(x, v128.or(v128.and(x, SIGN), f64x2.splat(1)), f64x2.ne(x, x));
  return v128.bitselect(r, out, inr);
}

/** exp64 in two lanes (the degree-13 polynomial by Estrin's scheme). */
// @ts-ignore: decorator
@inline function exp2v(x: v128): v128 {
  const tiny = f64x2.lt(x, f64x2.splat(-708));
  const xc = f64x2.min(f64x2.max(x, f64x2.splat(-708)), f64x2.splat(709)); // NaN stays NaN
  const n = f64x2.nearest(f64x2.mul(xc, f64x2.splat(1.4426950408889634)));
  const r = f64x2.sub(f64x2.sub(xc, f64x2.mul(n, f64x2.splat(6.93147180369123816490e-01))), f64x2.mul(n, f64x2.splat(1.90821492927058770002e-10)));
  const r2 = f64x2.mul(r, r), r4 = f64x2.mul(r2, r2), r8 = f64x2.mul(r4, r4);
  const q0 = f64x2.add(f64x2.splat(1), r);
  const q1 = f64x2.add(f64x2.splat(0.5), f64x2.mul(f64x2.splat(1.0 / 6), r));
  const q2 = f64x2.add(f64x2.splat(1.0 / 24), f64x2.mul(f64x2.splat(1.0 / 120), r));
  const q3 = f64x2.add(f64x2.splat(1.0 / 720), f64x2.mul(f64x2.splat(1.0 / 5040), r));
  const q4 = f64x2.add(f64x2.splat(1.0 / 40320), f64x2.mul(f64x2.splat(1.0 / 362880), r));
  const q5 = f64x2.add(f64x2.splat(1.0 / 3628800), f64x2.mul(f64x2.splat(1.0 / 39916800), r));
  const q6 = f64x2.add(f64x2.splat(1.0 / 479001600), f64x2.mul(f64x2.splat(1.0 / 6227020800.0), r));
  const lo = f64x2.add(f64x2.add(q0, f64x2.mul(r2, q1)), f64x2.mul(r4, f64x2.add(q2, f64x2.mul(r2, q3))));
  const hi = f64x2.add(f64x2.add(q4, f64x2.mul(r2, q5)), f64x2.mul(r4, q6));
  const p = f64x2.add(lo, f64x2.mul(r8, hi));
  const e = i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(n)), i64x2.splat(1023)), 52);
  return v128.andnot(f64x2.mul(p, e), tiny);
}

/** tanh64 in two lanes. */
// @ts-ignore: decorator
@inline function tanh2(u: v128): v128 {
  const a = f64x2.abs(u);
  const t = f64x2.sub(f64x2.splat(1), f64x2.div(f64x2.splat(2), f64x2.add(exp2v(f64x2.add(a, a)), f64x2.splat(1))));
  return v128.or(t, v128.and(u, SIGN));
}

/** √(2/π)·(v + 0.044715·v·v·v), the reference's order. */
// @ts-ignore: decorator
@inline function tanhArg(v: v128): v128 {
  const c = f64x2.mul(f64x2.mul(f64x2.mul(f64x2.splat(GELU_C), v), v), v);
  return f64x2.mul(f64x2.splat(SQRT_2_OVER_PI), f64x2.add(v, c));
}

// @ts-ignore: decorator
@inline function gelu2(v: v128, tanhForm: i32, tab: usize): v128 {
  const f = tanhForm != 0 ? tanh2(tanhArg(v)) : erf2(tab, f64x2.mul(v, f64x2.splat(INV_SQRT2)));
  return f64x2.mul(f64x2.mul(f64x2.splat(0.5), v), f64x2.add(f64x2.splat(1), f));
}

// @ts-ignore: decorator
@inline function geluGrad2(v: v128, tanhForm: i32, tab: usize): v128 {
  const one = f64x2.splat(1), half = f64x2.splat(0.5);
  if (tanhForm != 0) {
    const t = tanh2(tanhArg(v));
    const a = f64x2.mul(half, f64x2.add(one, t));
    const b = f64x2.mul(f64x2.mul(f64x2.mul(half, v), f64x2.sub(one, f64x2.mul(t, t))), f64x2.splat(SQRT_2_OVER_PI));
    const q = f64x2.add(one, f64x2.mul(f64x2.mul(f64x2.splat(3 * GELU_C), v), v));
    return f64x2.add(a, f64x2.mul(b, q));
  }
  const a = f64x2.mul(half, f64x2.add(one, erf2(tab, f64x2.mul(v, f64x2.splat(INV_SQRT2)))));
  const e = exp2v(f64x2.mul(f64x2.mul(f64x2.splat(-0.5), v), v));
  return f64x2.add(a, f64x2.mul(f64x2.mul(v, f64x2.splat(INV_SQRT_2PI)), e));
}

/** y[i] = gelu(x[i]) for i < n (tanhForm ≠ 0: the tanh approximation); four at a time, a tail of < 4 one by one. */
export function geluF32(x: usize, y: usize, n: i32, tanhForm: i32, tab: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    v128.store(at(y, i), to32(gelu2(lo64(v), tanhForm, tab), gelu2(hi64(v), tanhForm, tab)));
  }
  for (; i < n; i++) {
    const v = <f64>load<f32>(at(x, i));
    const f = tanhForm != 0 ? tanh64(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)) : erfTab(tab, v * INV_SQRT2);
    store<f32>(at(y, i), <f32>(0.5 * v * (1 + f)));
  }
}

/** dx[i] = g[i]·gelu'(x[i]) for i < n. */
export function geluBackwardF32(g: usize, x: usize, dx: usize, n: i32, tanhForm: i32, tab: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i)), gv = v128.load(at(g, i));
    const lo = f64x2.mul(lo64(gv), geluGrad2(lo64(v), tanhForm, tab));
    const hi = f64x2.mul(hi64(gv), geluGrad2(hi64(v), tanhForm, tab));
    v128.store(at(dx, i), to32(lo, hi));
  }
  for (; i < n; i++) {
    const v = <f64>load<f32>(at(x, i));
    let d: f64;
    if (tanhForm != 0) {
      const t = tanh64(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
      d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_C * v * v);
    } else {
      d = 0.5 * (1 + erfTab(tab, v * INV_SQRT2)) + v * INV_SQRT_2PI * exp64(-0.5 * v * v);
    }
    store<f32>(at(dx, i), <f32>(<f64>load<f32>(at(g, i)) * d));
  }
}

/** Σ x (mu ignored, sq 0) or Σ (x − mu)² (sq 1) over n f32 values, in two f64 lanes. */
function rowSum(x: usize, n: i32, mu: f64, sq: i32): f64 {
  let acc = f64x2.splat(0);
  const m = f64x2.splat(mu);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const v = v128.load(at(x, j));
    let a = lo64(v), b = hi64(v);
    if (sq != 0) {
      a = f64x2.sub(a, m);
      b = f64x2.sub(b, m);
      a = f64x2.mul(a, a);
      b = f64x2.mul(b, b);
    }
    acc = f64x2.add(acc, f64x2.add(a, b));
  }
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; j < n; j++) {
    const c = sq != 0 ? <f64>load<f32>(at(x, j)) - mu : <f64>load<f32>(at(x, j));
    s += sq != 0 ? c * c : c;
  }
  return s;
}

/** LayerNorm of rows [r0, r1) of x viewed as [rows, n]; w, b: 0 for none; writes mean / rstd (f64). */
export function layerNormF32(x: usize, w: usize, b: usize, y: usize, mean: usize, rstd: usize, r0: i32, r1: i32, n: i32, eps: f64): void {
  for (let r = r0; r < r1; r++) {
    const xr = at(x, r * n), yr = at(y, r * n);
    const mu = rowSum(xr, n, 0, 0) / <f64>n;
    const rs = 1 / Math.sqrt(rowSum(xr, n, mu, 1) / <f64>n + eps);
    store<f64>(at64(mean, r), mu);
    store<f64>(at64(rstd, r), rs);
    const m = f64x2.splat(mu), s = f64x2.splat(rs);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const v = v128.load(at(xr, j));
      let a = f64x2.mul(f64x2.sub(lo64(v), m), s), c = f64x2.mul(f64x2.sub(hi64(v), m), s);
      if (w != 0) {
        const wv = v128.load(at(w, j));
        a = f64x2.mul(a, lo64(wv));
        c = f64x2.mul(c, hi64(wv));
      }
      if (b != 0) {
        const bv = v128.load(at(b, j));
        a = f64x2.add(a, lo64(bv));
        c = f64x2.add(c, hi64(bv));
      }
      v128.store(at(yr, j), to32(a, c));
    }
    for (; j < n; j++) {
      let o = (<f64>load<f32>(at(xr, j)) - mu) * rs;
      if (w != 0) o *= <f64>load<f32>(at(w, j));
      if (b != 0) o += <f64>load<f32>(at(b, j));
      store<f32>(at(yr, j), <f32>o);
    }
  }
}

/** dx of rows [r0, r1): rstd·(ĝ − mean ĝ − x̂·mean(ĝ·x̂)), ĝ = g·w (w 0: none), x̂ = (x − mean)·rstd; sums in two f64 lanes. */
export function layerNormDxF32(g: usize, x: usize, w: usize, mean: usize, rstd: usize, dx: usize, r0: i32, r1: i32, n: i32): void {
  const one = f64x2.splat(1);
  for (let r = r0; r < r1; r++) {
    const gr = at(g, r * n), xr = at(x, r * n), dr = at(dx, r * n);
    const mu = load<f64>(at64(mean, r)), rs = load<f64>(at64(rstd, r));
    const m = f64x2.splat(mu), s = f64x2.splat(rs);
    let ag = f64x2.splat(0), agx = f64x2.splat(0);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const xv = v128.load(at(xr, j)), gv = v128.load(at(gr, j));
      const wv = w != 0 ? v128.load(at(w, j)) : v128.splat<f32>(1);
      const xl = f64x2.mul(f64x2.sub(lo64(xv), m), s), xh = f64x2.mul(f64x2.sub(hi64(xv), m), s);
      const gl = w != 0 ? f64x2.mul(lo64(gv), lo64(wv)) : f64x2.mul(lo64(gv), one);
      const gh = w != 0 ? f64x2.mul(hi64(gv), hi64(wv)) : f64x2.mul(hi64(gv), one);
      ag = f64x2.add(ag, f64x2.add(gl, gh));
      agx = f64x2.add(agx, f64x2.add(f64x2.mul(gl, xl), f64x2.mul(gh, xh)));
    }
    let sg = f64x2.extract_lane(ag, 0) + f64x2.extract_lane(ag, 1);
    let sgx = f64x2.extract_lane(agx, 0) + f64x2.extract_lane(agx, 1);
    for (let k = j; k < n; k++) {
      const xh = (<f64>load<f32>(at(xr, k)) - mu) * rs;
      const gh = w != 0 ? <f64>load<f32>(at(gr, k)) * <f64>load<f32>(at(w, k)) : <f64>load<f32>(at(gr, k));
      sg += gh;
      sgx += gh * xh;
    }
    sg /= <f64>n;
    sgx /= <f64>n;
    const vsg = f64x2.splat(sg), vsgx = f64x2.splat(sgx);
    for (j = 0; j + 4 <= n; j += 4) {
      const xv = v128.load(at(xr, j)), gv = v128.load(at(gr, j));
      const wv = w != 0 ? v128.load(at(w, j)) : v128.splat<f32>(1);
      const xl = f64x2.mul(f64x2.sub(lo64(xv), m), s), xh = f64x2.mul(f64x2.sub(hi64(xv), m), s);
      const gl = w != 0 ? f64x2.mul(lo64(gv), lo64(wv)) : lo64(gv);
      const gh = w != 0 ? f64x2.mul(hi64(gv), hi64(wv)) : hi64(gv);
      const dl = f64x2.mul(s, f64x2.sub(f64x2.sub(gl, vsg), f64x2.mul(xl, vsgx)));
      const dh = f64x2.mul(s, f64x2.sub(f64x2.sub(gh, vsg), f64x2.mul(xh, vsgx)));
      v128.store(at(dr, j), to32(dl, dh));
    }
    for (; j < n; j++) {
      const xh = (<f64>load<f32>(at(xr, j)) - mu) * rs;
      const gh = w != 0 ? <f64>load<f32>(at(gr, j)) * <f64>load<f32>(at(w, j)) : <f64>load<f32>(at(gr, j));
      store<f32>(at(dr, j), <f32>(rs * (gh - sg - xh * sgx)));
    }
  }
}

/** dw[j] = Σ_r g·x̂ and db[j] = Σ_r g for columns [j0, j1), rows in order (dw, db: 0 for not wanted). */
export function layerNormDwDbF32(g: usize, x: usize, mean: usize, rstd: usize, dw: usize, db: usize, rows: i32, n: i32, j0: i32, j1: i32): void {
  let j = j0;
  for (; j + 2 <= j1; j += 2) {
    let sw = f64x2.splat(0), sb = f64x2.splat(0);
    for (let r = 0; r < rows; r++) {
      const xv = f64x2.promote_low_f32x4(v128.load64_zero(at(x, r * n + j)));
      const gv = f64x2.promote_low_f32x4(v128.load64_zero(at(g, r * n + j)));
      const xh = f64x2.mul(f64x2.sub(xv, f64x2.splat(load<f64>(at64(mean, r)))), f64x2.splat(load<f64>(at64(rstd, r))));
      sw = f64x2.add(sw, f64x2.mul(gv, xh));
      sb = f64x2.add(sb, gv);
    }
    if (dw != 0) {
      store<f32>(at(dw, j), <f32>f64x2.extract_lane(sw, 0));
      store<f32>(at(dw, j + 1), <f32>f64x2.extract_lane(sw, 1));
    }
    if (db != 0) {
      store<f32>(at(db, j), <f32>f64x2.extract_lane(sb, 0));
      store<f32>(at(db, j + 1), <f32>f64x2.extract_lane(sb, 1));
    }
  }
  for (; j < j1; j++) {
    let sw: f64 = 0, sb: f64 = 0;
    for (let r = 0; r < rows; r++) {
      const gv = <f64>load<f32>(at(g, r * n + j));
      sw += gv * ((<f64>load<f32>(at(x, r * n + j)) - load<f64>(at64(mean, r))) * load<f64>(at64(rstd, r)));
      sb += gv;
    }
    if (dw != 0) store<f32>(at(dw, j), <f32>sw);
    if (db != 0) store<f32>(at(db, j), <f32>sb);
  }
}

/**
 * Softmax (log 0) / log-softmax (log ≠ 0) backward for rows [r0, r1) of n values, from the
 * output y and the gradient g: y·(g − Σ g·y) or g − exp(y)·Σ g; row sums in two f64 lanes,
 * each dx in f64 (exp by the polynomial above).
 */
export function softmaxBackwardF32(y: usize, g: usize, dx: usize, r0: i32, r1: i32, n: i32, log: i32): void {
  for (let r = r0; r < r1; r++) {
    const yr = at(y, r * n), gr = at(g, r * n), dr = at(dx, r * n);
    let acc = f64x2.splat(0);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const gv = v128.load(at(gr, j));
      if (log != 0) {
        acc = f64x2.add(acc, f64x2.add(lo64(gv), hi64(gv)));
      } else {
        const yv = v128.load(at(yr, j));
        acc = f64x2.add(acc, f64x2.add(f64x2.mul(lo64(gv), lo64(yv)), f64x2.mul(hi64(gv), hi64(yv))));
      }
    }
    let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
    for (let k = j; k < n; k++) s += log != 0 ? <f64>load<f32>(at(gr, k)) : <f64>load<f32>(at(gr, k)) * <f64>load<f32>(at(yr, k));
    const sv = f64x2.splat(s);
    for (j = 0; j + 4 <= n; j += 4) {
      const gv = v128.load(at(gr, j)), yv = v128.load(at(yr, j));
      let lo: v128, hi: v128;
      if (log != 0) {
        lo = f64x2.sub(lo64(gv), f64x2.mul(exp2v(lo64(yv)), sv));
        hi = f64x2.sub(hi64(gv), f64x2.mul(exp2v(hi64(yv)), sv));
      } else {
        lo = f64x2.mul(lo64(yv), f64x2.sub(lo64(gv), sv));
        hi = f64x2.mul(hi64(yv), f64x2.sub(hi64(gv), sv));
      }
      v128.store(at(dr, j), to32(lo, hi));
    }
    for (; j < n; j++) {
      const gj = <f64>load<f32>(at(gr, j)), yj = <f64>load<f32>(at(yr, j));
      store<f32>(at(dr, j), <f32>(log != 0 ? gj - exp64(yj) * s : yj * (gj - s)));
    }
  }
}
