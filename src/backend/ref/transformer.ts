/**
 * Reference kernels of the transformer ops (the Kernels entries gelu, geluBackward, layerNorm,
 * layerNormBackward): the definition the wasm and native kernels are tested against, and the
 * float64 erf they use. Called through `kernels()` by src/ops/nn-functional.ts (which also
 * re-exports erfScalar / erfFast for the erf op and the ONNX importer).
 *
 *   gelu(x)      = x·Φ(x) = ½x(1 + erf(x/√2));            dy/dx = Φ(x) + x·φ(x)
 *   gelu_tanh(x) = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³)
 *   layerNorm (per row of n values):  μ = Σx/n, σ² = Σ(x − μ)²/n (biased), r = 1/√(σ² + ε),
 *               x̂ = (x − μ)·r, y = x̂·w + b
 *               dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = g·w;  dw = Σ_rows g·x̂;  db = Σ_rows g
 * Every value is computed in float64 from the (float32 or float64) inputs and rounded once when
 * stored; the row statistics and the weight / bias gradient sums are float64.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { GeluApproximate } from "../kernels.js";

/** erf(x) in float64: Maclaurin series for |x| < 3, 1 − erfc(x) by its continued fraction above, ±1 beyond 6 (≤ 1e-12 absolute error). */
export function erfScalar(x: number): number {
  const a = Math.abs(x);
  if (Number.isNaN(x)) return x;
  if (a >= 6) return Math.sign(x);
  if (a < 3) {
    // erf(x) = 2/√π Σ (−1)ⁿ x^(2n+1) / (n!(2n+1)); terms shrink below 1e-17 of the sum by n = 60.
    let term = x;
    let sum = x;
    const x2 = x * x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …)))), evaluated bottom-up.
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + k / 2 / f;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/**
 * erf by cubic Hermite interpolation of erfScalar on a 1/512 grid over [0, 6] (values and the
 * exact derivative 2/√π·e^(−x²) at the knots): measured ≤ 1.7e-13 absolute error on a 1e-6
 * grid over [−7, 7] (checked in test/nn/transformer-ops.test.ts), 6–11× faster than the series.
 * native/transformer.c interpolates the same grid (its knots from the C library's erf).
 */
const ERF_STEPS = 512;
const ERF_KNOTS = 6 * ERF_STEPS + 2;
const ERF_Y = new Float64Array(ERF_KNOTS);
const ERF_DH = new Float64Array(ERF_KNOTS); // derivative × step
for (let i = 0; i < ERF_KNOTS; i++) {
  const v = i / ERF_STEPS;
  ERF_Y[i] = erfScalar(v);
  ERF_DH[i] = ((2 / Math.sqrt(Math.PI)) * Math.exp(-v * v)) / ERF_STEPS;
}

/** The table interleaved as [y₀, dh₀, y₁, dh₁, …] (the wasm kernels read it so). */
export function erfTableInterleaved(): Float64Array {
  const t = new Float64Array(2 * ERF_KNOTS);
  for (let i = 0; i < ERF_KNOTS; i++) {
    t[2 * i] = ERF_Y[i];
    t[2 * i + 1] = ERF_DH[i];
  }
  return t;
}

/** erf(x) from the table above (≤ ~1e-13 absolute error); NaN stays NaN, ±1 beyond |x| ≥ 6. */
export function erfFast(x: number): number {
  const a = Math.abs(x);
  if (!(a < 6)) return Number.isNaN(x) ? x : Math.sign(x);
  const u = a * ERF_STEPS;
  const i = u | 0;
  const t = u - i;
  const t2 = t * t;
  const t3 = t2 * t;
  const r = (2 * t3 - 3 * t2 + 1) * ERF_Y[i] + (t3 - 2 * t2 + t) * ERF_DH[i] + (3 * t2 - 2 * t3) * ERF_Y[i + 1] + (t3 - t2) * ERF_DH[i + 1];
  return x < 0 ? -r : r;
}

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/** out[i] = gelu(x[i]) (erf form, or the tanh approximation). */
export function gelu(x: FloatArray, out: FloatArray, approximate: GeluApproximate): void {
  const n = out.length;
  if (approximate === "tanh") {
    for (let i = 0; i < n; i++) {
      const v = x[i];
      out[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = 0.5 * v * (1 + erfFast(v * INV_SQRT2));
  }
}

/** dx[i] = g[i] · gelu'(x[i]). */
export function geluBackward(g: FloatArray, x: FloatArray, dx: FloatArray, approximate: GeluApproximate): void {
  const n = dx.length;
  if (approximate === "tanh") {
    for (let i = 0; i < n; i++) {
      const v = x[i];
      const t = Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
      dx[i] = g[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_C * v * v));
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const v = x[i];
    dx[i] = g[i] * (0.5 * (1 + erfFast(v * INV_SQRT2)) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
  }
}

/**
 * y = layerNorm of x viewed as [rows, n] (weight, bias: n values or null); writes each row's
 * mean and 1/√(σ² + ε) to mean[r], rstd[r] (float64) for the backward pass.
 */
export function layerNorm(
  x: FloatArray, weight: FloatArray | null, bias: FloatArray | null, y: FloatArray,
  mean: Float64Array, rstd: Float64Array, rows: number, n: number, eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    let s = 0;
    for (let j = 0; j < n; j++) s += x[base + j];
    const mu = s / n;
    let v = 0;
    for (let j = 0; j < n; j++) {
      const c = x[base + j] - mu;
      v += c * c;
    }
    const rs = 1 / Math.sqrt(v / n + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let j = 0; j < n; j++) {
      let o = (x[base + j] - mu) * rs;
      if (weight) o *= weight[j];
      if (bias) o += bias[j];
      y[base + j] = o;
    }
  }
}

/**
 * Gradients of layerNorm from g (x's shape) and the saved mean / rstd: dx (overwritten), and
 * dweight[j] = Σ_r g·x̂, dbias[j] = Σ_r g (summed over rows in order in float64, then stored;
 * overwritten). Any of dx, dweight, dbias may be null (not wanted).
 */
export function layerNormBackward(
  g: FloatArray, x: FloatArray, weight: FloatArray | null, mean: Float64Array, rstd: Float64Array,
  dx: FloatArray | null, dweight: FloatArray | null, dbias: FloatArray | null, rows: number, n: number,
): void {
  const dw = dweight ? new Float64Array(n) : null;
  const db = dbias ? new Float64Array(n) : null;
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    const mu = mean[r];
    const rs = rstd[r];
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < n; j++) {
      const xh = (x[base + j] - mu) * rs;
      const gh = weight ? g[base + j] * weight[j] : g[base + j];
      sg += gh;
      sgx += gh * xh;
      if (dw) dw[j] += g[base + j] * xh;
      if (db) db[j] += g[base + j];
    }
    if (!dx) continue;
    sg /= n;
    sgx /= n;
    for (let j = 0; j < n; j++) {
      const xh = (x[base + j] - mu) * rs;
      const gh = weight ? g[base + j] * weight[j] : g[base + j];
      dx[base + j] = rs * (gh - sg - xh * sgx);
    }
  }
  if (dweight && dw) dweight.set(dw);
  if (dbias && db) dbias.set(db);
}
