/**
 * Batch normalisation over x viewed as [n, c, hw], for the channels [c0, c1). Per-channel
 * parameters are f64 (mean, invStd — what src/ops/batchnorm.ts computes) or f32 (γ, β; a
 * null pointer 0 means γ = 1, β = 0). All arithmetic is in f64 like the reference kernels
 * (src/backend/ref/batchnorm.ts): each f32 lane is promoted, so per-element results match
 * the reference exactly and only the order of the channel sums differs.
 *   stats:     mean = Σx / M,  var = Σ(x − mean)² / M  (biased, two passes), M = n·hw
 *   apply:     y = (x − mean)·invStd·γ + β
 *   backward:  dβ = Σdy,  dγ = Σdy·x̂ with x̂ = (x − mean)·invStd;
 *              dx = γ·invStd·(dy − dβ/M − x̂·dγ/M)  (training)   or   γ·invStd·dy  (eval)
 */
import { hi64, lo64, to32 } from "./f64lanes";

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

// @ts-ignore: decorator
@inline function at64(base: usize, index: i32): usize {
  return base + (<usize>index << 3);
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** Σ x over channel ch (f64). */
function channelSum(x: usize, n: i32, c: i32, hw: i32, ch: i32): f64 {
  let acc = f64x2.splat(0);
  let tail: f64 = 0;
  for (let b = 0; b < n; b++) {
    const base = at(x, (b * c + ch) * hw);
    let i = 0;
    for (; i + 4 <= hw; i += 4) {
      const v = v128.load(at(base, i));
      acc = f64x2.add(acc, f64x2.add(lo64(v), hi64(v)));
    }
    for (; i < hw; i++) tail += <f64>load<f32>(at(base, i));
  }
  return hsum(acc) + tail;
}

/** Σ (x − m)² over channel ch (f64). */
function channelSquares(x: usize, n: i32, c: i32, hw: i32, ch: i32, m: f64): f64 {
  const mv = f64x2.splat(m);
  let acc = f64x2.splat(0);
  let tail: f64 = 0;
  for (let b = 0; b < n; b++) {
    const base = at(x, (b * c + ch) * hw);
    let i = 0;
    for (; i + 4 <= hw; i += 4) {
      const v = v128.load(at(base, i));
      const d0 = f64x2.sub(lo64(v), mv);
      const d1 = f64x2.sub(hi64(v), mv);
      acc = f64x2.add(acc, f64x2.add(f64x2.mul(d0, d0), f64x2.mul(d1, d1)));
    }
    for (; i < hw; i++) {
      const d = <f64>load<f32>(at(base, i)) - m;
      tail += d * d;
    }
  }
  return hsum(acc) + tail;
}

/** mean[ch], variance[ch] (f64 outputs) for ch in [c0, c1). */
export function batchNormStats(x: usize, n: i32, c: i32, hw: i32, mean: usize, variance: usize, c0: i32, c1: i32): void {
  const count = <f64>(n * hw);
  for (let ch = c0; ch < c1; ch++) {
    const m = channelSum(x, n, c, hw, ch) / count;
    store<f64>(at64(mean, ch), m);
    store<f64>(at64(variance, ch), channelSquares(x, n, c, hw, ch, m) / count);
  }
}

/** y = (x − mean[ch])·scale + shift over channel ch, scale = invStd·γ, shift = β. */
function applyChannel(x: usize, y: usize, n: i32, c: i32, hw: i32, ch: i32, m: f64, scale: f64, shift: f64): void {
  const mv = f64x2.splat(m), sv = f64x2.splat(scale), tv = f64x2.splat(shift);
  for (let b = 0; b < n; b++) {
    const off = (b * c + ch) * hw;
    const xs = at(x, off), ys = at(y, off);
    let i = 0;
    for (; i + 4 <= hw; i += 4) {
      const v = v128.load(at(xs, i));
      const r0 = f64x2.add(f64x2.mul(f64x2.sub(lo64(v), mv), sv), tv);
      const r1 = f64x2.add(f64x2.mul(f64x2.sub(hi64(v), mv), sv), tv);
      v128.store(at(ys, i), to32(r0, r1));
    }
    for (; i < hw; i++) store<f32>(at(ys, i), <f32>((<f64>load<f32>(at(xs, i)) - m) * scale + shift));
  }
}

export function batchNormApply(
  x: usize, mean: usize, invStd: usize, gamma: usize, beta: usize, y: usize,
  n: i32, c: i32, hw: i32, c0: i32, c1: i32,
): void {
  for (let ch = c0; ch < c1; ch++) {
    const g: f64 = gamma ? <f64>load<f32>(at(gamma, ch)) : 1;
    const scale = load<f64>(at64(invStd, ch)) * g;
    const shift: f64 = beta ? <f64>load<f32>(at(beta, ch)) : 0;
    applyChannel(x, y, n, c, hw, ch, load<f64>(at64(mean, ch)), scale, shift);
  }
}

/** Σ dy and Σ dy·(x − m) over channel ch, written to sums[0], sums[1] (f64). */
function gradSums(dy: usize, x: usize, n: i32, c: i32, hw: i32, ch: i32, m: f64, sums: usize): void {
  const mv = f64x2.splat(m);
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
  let t0: f64 = 0, t1: f64 = 0;
  for (let b = 0; b < n; b++) {
    const off = (b * c + ch) * hw;
    const gs = at(dy, off), xs = at(x, off);
    let i = 0;
    for (; i + 4 <= hw; i += 4) {
      const gv = v128.load(at(gs, i)), xv = v128.load(at(xs, i));
      const g0 = lo64(gv), g1 = hi64(gv);
      s0 = f64x2.add(s0, f64x2.add(g0, g1));
      const p0 = f64x2.mul(g0, f64x2.sub(lo64(xv), mv));
      const p1 = f64x2.mul(g1, f64x2.sub(hi64(xv), mv));
      s1 = f64x2.add(s1, f64x2.add(p0, p1));
    }
    for (; i < hw; i++) {
      const gi = <f64>load<f32>(at(gs, i));
      t0 += gi;
      t1 += gi * (<f64>load<f32>(at(xs, i)) - m);
    }
  }
  store<f64>(sums, hsum(s0) + t0);
  store<f64>(sums, hsum(s1) + t1, 8);
}

/** dx = scale·(dy − a − (x − m)·k) over channel ch. */
function backwardChannel(dy: usize, x: usize, dx: usize, n: i32, c: i32, hw: i32, ch: i32, m: f64, scale: f64, a: f64, k: f64): void {
  const mv = f64x2.splat(m), sv = f64x2.splat(scale), av = f64x2.splat(a), kv = f64x2.splat(k);
  for (let b = 0; b < n; b++) {
    const off = (b * c + ch) * hw;
    const gs = at(dy, off), xs = at(x, off), ds = at(dx, off);
    let i = 0;
    for (; i + 4 <= hw; i += 4) {
      const gv = v128.load(at(gs, i)), xv = v128.load(at(xs, i));
      const r0 = f64x2.mul(sv, f64x2.sub(f64x2.sub(lo64(gv), av), f64x2.mul(f64x2.sub(lo64(xv), mv), kv)));
      const r1 = f64x2.mul(sv, f64x2.sub(f64x2.sub(hi64(gv), av), f64x2.mul(f64x2.sub(hi64(xv), mv), kv)));
      v128.store(at(ds, i), to32(r0, r1));
    }
    for (; i < hw; i++) {
      const r = scale * (<f64>load<f32>(at(gs, i)) - a - (<f64>load<f32>(at(xs, i)) - m) * k);
      store<f32>(at(ds, i), <f32>r);
    }
  }
}

/**
 * dx for channels [c0, c1); dgamma/dbeta (f32, 0 = not wanted) per channel. `sums` is 16
 * bytes of scratch per calling thread.
 */
export function batchNormBackward(
  dy: usize, x: usize, mean: usize, invStd: usize, gamma: usize, dx: usize, dgamma: usize, dbeta: usize,
  n: i32, c: i32, hw: i32, training: i32, c0: i32, c1: i32, sums: usize,
): void {
  const count = <f64>(n * hw);
  for (let ch = c0; ch < c1; ch++) {
    const m = load<f64>(at64(mean, ch));
    const is = load<f64>(at64(invStd, ch));
    gradSums(dy, x, n, c, hw, ch, m, sums);
    const sdy = load<f64>(sums), sdyx = load<f64>(sums, 8);
    const dg = sdyx * is;
    if (dgamma) store<f32>(at(dgamma, ch), <f32>dg);
    if (dbeta) store<f32>(at(dbeta, ch), <f32>sdy);
    const scale = is * (gamma ? <f64>load<f32>(at(gamma, ch)) : 1);
    const a = training ? sdy / count : 0;
    const k = training ? (is * dg) / count : 0;
    backwardChannel(dy, x, dx, n, c, hw, ch, m, scale, a, k);
  }
}
