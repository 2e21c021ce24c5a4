/**
 * Reference batch normalisation kernels over x viewed as [n, c, hw] (hw = 1 for [N, C]
 * input): per-channel statistics, the affine normalisation, and its backward pass in both
 * training and evaluation form. Accumulation is in float64. Called by src/ops/batchnorm.ts.
 */
import type { FloatArray } from "../../tensor/dtype.js";

/**
 * mean[c] = Σ x / M and variance[c] = Σ (x − mean)² / M (biased), M = n·hw, with two passes
 * in float64 (no catastrophic cancellation of the one-pass E[x²] − E[x]² formula).
 */
export function batchNormStats(x: FloatArray, n: number, c: number, hw: number, mean: FloatArray, variance: FloatArray): void {
  const count = n * hw;
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) s += x[base + i];
    }
    const m = s / count;
    let ss = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) {
        const d = x[base + i] - m;
        ss += d * d;
      }
    }
    mean[ch] = m;
    variance[ch] = ss / count;
  }
}

/** y = (x − mean[c])·invStd[c]·γ[c] + β[c]; γ = 1 and β = 0 when null. */
export function batchNormApply(
  x: FloatArray, mean: FloatArray, invStd: FloatArray, gamma: FloatArray | null, beta: FloatArray | null,
  y: FloatArray, n: number, c: number, hw: number,
): void {
  for (let ch = 0; ch < c; ch++) {
    const m = mean[ch];
    const scale = invStd[ch] * (gamma ? gamma[ch] : 1);
    const shift = beta ? beta[ch] : 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) y[base + i] = (x[base + i] - m) * scale + shift;
    }
  }
}

/**
 * With x̂ = (x − mean)·invStd, M = n·hw, per channel:
 *   dβ = Σ dy,   dγ = Σ dy·x̂,
 *   training:  dx = γ·invStd·(dy − dβ/M − x̂·dγ/M)   (mean and invStd depend on x)
 *   eval:      dx = γ·invStd·dy                     (mean and invStd are constants)
 */
export function batchNormBackward(
  dy: FloatArray, x: FloatArray, mean: FloatArray, invStd: FloatArray, gamma: FloatArray | null,
  dx: FloatArray, dgamma: FloatArray | null, dbeta: FloatArray | null,
  n: number, c: number, hw: number, training: boolean,
): void {
  const count = n * hw;
  for (let ch = 0; ch < c; ch++) {
    const m = mean[ch];
    const is = invStd[ch];
    let sdy = 0;
    let sdyx = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) {
        const g = dy[base + i];
        sdy += g;
        sdyx += g * (x[base + i] - m);
      }
    }
    const dg = sdyx * is;
    if (dgamma) dgamma[ch] = dg;
    if (dbeta) dbeta[ch] = sdy;
    const scale = is * (gamma ? gamma[ch] : 1);
    // training: dx = scale·(dy − a − (x − mean)·k) with a = Σdy/M and k = invStd·dγ/M.
    const a = training ? sdy / count : 0;
    const k = training ? (is * dg) / count : 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) dx[base + i] = scale * (dy[base + i] - a - (x[base + i] - m) * k);
    }
  }
}
