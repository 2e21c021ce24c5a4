/**
 * The checks the wasm and native GELU / LayerNorm / softmax-backward kernels share
 * (transformer-kernels.test.ts, native-transformer.test.ts): each runs a kernel table's entry at
 * 1, 2 and 3 threads (bitwise the same), with arrays outside and inside wasm memory, against the
 * reference kernel called directly, within the tolerance each test file's header states.
 */
import { expect } from "vitest";
import type { GeluApproximate, Kernels } from "../../src/backend/kernels.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { getNumThreads, setNumThreads } from "../../src/backend/wasm/index.js";
import { expectIdentical, expectNear, newGen, randomF32, wasmCopy } from "./helpers.js";

export const ULP2 = 2 ** -22; // two float32 ulps, relative
const PLACES: ((a: Float32Array) => Float32Array)[] = [(a) => a, wasmCopy];

/** Normal values ×3 with the edge cases: NaN, ±∞, ±0, beyond erf's table (|x/√2| ≥ 6), huge, tiny. */
export function geluInput(n: number, seed: number): Float32Array {
  const x = randomF32(newGen(seed), n, 3);
  [NaN, Infinity, -Infinity, 0, -0, 8.49, -8.49, 40, -40, 1e30, -1e30, 1e-30, -9.5].forEach((v, i) => (x[7 + 31 * i] = v));
  return x;
}

/** Runs f at 1, 2 and 3 threads; asserts the outputs are bitwise the same and returns them. */
export function atThreads<T extends Float32Array[]>(f: () => T, what: string): T {
  const before = getNumThreads();
  const outs = [1, 2, 3].map((t) => {
    setNumThreads(t);
    return f();
  });
  setNumThreads(before);
  for (const o of outs.slice(1)) o.forEach((a, i) => expectIdentical(a, outs[0][i], `${what}: output ${i}, threads`));
  return outs[0];
}

/** gelu and geluBackward of k on geluInput(n, seed): y bit for bit when exactY, else within 2 ulps; dx within 2 ulps; signed zeros kept. */
export function checkGelu(k: Pick<Kernels, "gelu" | "geluBackward">, form: GeluApproximate, n: number, seed: number, exactY: boolean): void {
  const x = geluInput(n, seed), g = randomF32(newGen(seed + 10), n);
  const want = new Float32Array(n), dwant = new Float32Array(n);
  refKernels.gelu(x, want, form);
  refKernels.geluBackward(g, x, dwant, form);
  for (const place of PLACES) {
    const [y, dx] = atThreads(() => {
      const y = place(new Float32Array(n).fill(7)), dx = place(new Float32Array(n).fill(7));
      k.gelu(place(x), y, form);
      k.geluBackward(place(g), place(x), dx, form);
      return [y, dx];
    }, `gelu ${form} n ${n}`);
    if (exactY) expectIdentical(y, want, `${form}-form gelu`);
    else expectNear(y, want, undefined, ULP2, 1e-38);
    expectNear(dx, dwant, undefined, ULP2, 1e-38);
    for (let i = 0; i < n; i++) if (want[i] === 0) expect(Object.is(y[i], want[i]), `sign of zero at ${i}`).toBe(true);
  }
}

export interface LnCase { rows: number; n: number; weight: boolean; bias: boolean }

/** Seeded LayerNorm inputs (x offset per element so the mean matters), optional weight / bias, and an output gradient. */
export function lnInputs(c: LnCase, seed: number): { x: Float32Array; w: Float32Array | null; b: Float32Array | null; g: Float32Array } {
  const gen = newGen(seed);
  const x = randomF32(gen, c.rows * c.n, 2).map((v, i) => v + (i % 7) - 3);
  return { x, w: c.weight ? randomF32(gen, c.n) : null, b: c.bias ? randomF32(gen, c.n) : null, g: randomF32(gen, c.rows * c.n) };
}

/**
 * layerNorm and layerNormBackward of k on lnInputs(c, rows + n): y within 2 ulps of its terms'
 * magnitude |x̂·w| + |b|, mean / rstd within 1e-12, dx within 1e-6 of rstd·(|ĝ| + mean|ĝ| +
 * |x̂|·mean|ĝ·x̂|), dweight / dbias bit for bit. Returns the inputs and the reference results
 * for the callers' partial-gradient checks.
 */
export function checkLayerNorm(k: Pick<Kernels, "layerNorm" | "layerNormBackward">, name: string, c: LnCase) {
  const { rows, n } = c;
  const { x, w, b, g } = lnInputs(c, rows + n);
  const want = new Float32Array(rows * n), mean = new Float64Array(rows), rstd = new Float64Array(rows);
  refKernels.layerNorm(x, w, b, want, mean, rstd, rows, n, 1e-5);
  const dxWant = new Float32Array(rows * n), dwWant = new Float32Array(n), dbWant = new Float32Array(n);
  refKernels.layerNormBackward(g, x, w, mean, rstd, dxWant, dwWant, dbWant, rows, n);
  const yScale = new Float32Array(rows * n), dxScale = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let sg = 0, sgx = 0;
    for (let j = 0; j < n; j++) {
      const xh = (x[r * n + j] - mean[r]) * rstd[r], gh = g[r * n + j] * (w ? w[j] : 1);
      yScale[r * n + j] = Math.abs(xh * (w ? w[j] : 1)) + Math.abs(b ? b[j] : 0);
      sg += Math.abs(gh) / n;
      sgx += Math.abs(gh * xh) / n;
    }
    for (let j = 0; j < n; j++) {
      const xh = (x[r * n + j] - mean[r]) * rstd[r];
      dxScale[r * n + j] = rstd[r] * (Math.abs(g[r * n + j] * (w ? w[j] : 1)) + sg + Math.abs(xh) * sgx);
    }
  }
  for (const place of PLACES) {
    const m = new Float64Array(rows), rs = new Float64Array(rows);
    const [y] = atThreads(() => {
      const y = place(new Float32Array(rows * n).fill(7));
      k.layerNorm(place(x), w && place(w), b && place(b), y, m, rs, rows, n, 1e-5);
      return [y];
    }, `${name} forward`);
    expectNear(y, want, yScale, ULP2, 1e-30);
    expectNear(m, mean, Array.from(mean, (v, r) => Math.abs(v) + 1 / rstd[r]), 1e-12, 0);
    expectNear(rs, rstd, undefined, 1e-12, 0);
    const [dx, dw, db] = atThreads(() => {
      const dx = place(new Float32Array(rows * n).fill(7)), dw = place(new Float32Array(n).fill(7)), db = place(new Float32Array(n).fill(7));
      k.layerNormBackward(place(g), place(x), w && place(w), mean, rstd, dx, dw, db, rows, n);
      return [dx, dw, db];
    }, `${name} backward`);
    expectNear(dx, dxWant, dxScale, 1e-6, 1e-30);
    expectIdentical(dw, dwWant, "dweight");
    expectIdentical(db, dbWant, "dbias");
  }
  return { x, w, g, mean, rstd, dwWant, dbWant };
}

/** softmaxBackward of k (softmax and log-softmax) on [rows, cols] of inputs drawn from gen: within 1e-6 of |y|·(|g| + Σ|g·y|), or |g| + exp(y)·Σ|g|. */
export function checkSoftmaxBackward(k: Pick<Kernels, "softmaxBackward">, rows: number, cols: number, gen: ReturnType<typeof newGen>): void {
  const x = randomF32(gen, rows * cols, 4), g = randomF32(gen, rows * cols);
  for (const log of [false, true]) {
    const y = new Float32Array(rows * cols), want = new Float32Array(rows * cols);
    refKernels.softmax(x, y, rows, cols, log);
    refKernels.softmaxBackward(y, g, want, rows, cols, log);
    const scale = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += Math.abs(g[r * cols + j] * (log ? 1 : y[r * cols + j]));
      for (let j = 0; j < cols; j++) {
        const i = r * cols + j;
        scale[i] = log ? Math.abs(g[i]) + Math.exp(y[i]) * s : Math.abs(y[i]) * (Math.abs(g[i]) + s);
      }
    }
    for (const place of PLACES) {
      const [dx] = atThreads(() => {
        const dx = place(new Float32Array(rows * cols).fill(7));
        k.softmaxBackward(place(y), place(g), dx, rows, cols, log);
        return [dx];
      }, `softmaxBackward ${rows}×${cols}${log ? " log" : ""}`);
      expectNear(dx, want, scale, 1e-6, 1e-30);
    }
  }
}
