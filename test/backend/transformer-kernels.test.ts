/**
 * The wasm GELU and LayerNorm kernels (assembly/transformer.ts via src/backend/wasm/transformer.ts)
 * against the reference kernels called directly, at 1–3 threads, with arrays inside and outside
 * wasm memory:
 *   gelu (erf form): the reference's table and expression, so bit for bit; its gradient and
 *     the tanh form (exp / tanh by polynomial instead of V8's) within 2 float32 ulps;
 *   layerNorm: y within 2 ulps of its terms' magnitude, mean / rstd within 1e-12 (two-lane
 *     sums); layerNormBackward: dx within 1e-6 of its terms' magnitude, dweight / dbias bit
 *     for bit; softmaxBackward (softmax and log-softmax) within 1e-6 of its terms' magnitude;
 *     every result bitwise the same at 1, 2 and 3 threads.
 * Float64 data and short calls take the reference. (The native kernels: native-transformer.test.ts.)
 */
import { describe, expect, it } from "vitest";
import type { GeluApproximate, Kernels } from "../../src/backend/kernels.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { getNumThreads, setNumThreads } from "../../src/backend/wasm/index.js";
import { expectIdentical, expectNear, newGen, randomF32, wasmCopy, wasmTable } from "./helpers.js";

const ULP2 = 2 ** -22;
let wasm: Kernels;
const threadsBefore = getNumThreads();

function geluInput(n: number, seed: number): Float32Array {
  const x = randomF32(newGen(seed), n, 3);
  [NaN, Infinity, -Infinity, 0, -0, 8.49, -8.49, 40, -40, 1e30, -1e30, 1e-30, -9.5].forEach((v, i) => (x[7 + 31 * i] = v));
  return x;
}

function atThreads(f: () => Float32Array[], what: string): Float32Array[] {
  const outs = [1, 2, 3].map((t) => {
    setNumThreads(t);
    return f();
  });
  setNumThreads(threadsBefore);
  for (const o of outs.slice(1)) o.forEach((a, i) => expectIdentical(a, outs[0][i], `${what}: output ${i}, threads`));
  return outs[0];
}

describe("wasm gelu / geluBackward vs reference", () => {
  for (const form of ["none", "tanh"] as GeluApproximate[]) {
    it(`${form}: ViT MLP activations [64·17, 128] and odd lengths, 1–3 threads, wasm memory`, () => {
      wasm = wasmTable();
      for (const [n, seed] of [[64 * 17 * 128, 1], [1001, 2], [1025, 3]]) {
        const x = geluInput(n, seed), g = randomF32(newGen(seed + 10), n);
        const want = new Float32Array(n), dwant = new Float32Array(n);
        refKernels.gelu(x, want, form);
        refKernels.geluBackward(g, x, dwant, form);
        for (const place of [(a: Float32Array) => a, wasmCopy]) {
          const [y, dx] = atThreads(() => {
            const y = place(new Float32Array(n).fill(7)), dx = place(new Float32Array(n).fill(7));
            wasm.gelu(place(x), y, form);
            wasm.geluBackward(place(g), place(x), dx, form);
            return [y, dx];
          }, `gelu ${form} n ${n}`);
          if (form === "none") expectIdentical(y, want, "erf-form gelu");
          else expectNear(y, want, undefined, ULP2, 1e-38);
          expectNear(dx, dwant, undefined, ULP2, 1e-38);
          for (let i = 0; i < n; i++) if (want[i] === 0) expect(Object.is(y[i], want[i]), `sign of zero at ${i}`).toBe(true);
        }
      }
    });
  }

  it("float64 and short arrays take the reference; a short input is refused", () => {
    wasm = wasmTable();
    const x64 = Float64Array.from(geluInput(2000, 4)), want = new Float64Array(2000), got = new Float64Array(2000);
    refKernels.geluBackward(x64, x64, want, "tanh");
    wasm.geluBackward(x64, x64, got, "tanh");
    expectIdentical(got, want, "float64");
    expect(() => wasm.gelu(new Float32Array(10), new Float32Array(2000), "none")).toThrow(/wasm gelu: input \(10\)/);
  });
});

describe("wasm layerNorm / layerNormBackward vs reference", () => {
  const cases: [string, number, number, boolean, boolean][] = [
    ["ViT [64·17, 64] affine", 64 * 17, 64, true, true],
    ["[300, 13] weight only", 300, 13, true, false],
    ["[40, 100] no affine", 40, 100, false, false],
    ["[2000, 3] bias only", 2000, 3, false, true],
  ];
  for (const [name, rows, n, hasW, hasB] of cases) {
    it(`${name}: forward, backward, 1–3 threads, wasm memory`, () => {
      wasm = wasmTable();
      const gen = newGen(rows + n);
      const x = randomF32(gen, rows * n, 2).map((v, i) => v + (i % 7) - 3);
      const w = hasW ? randomF32(gen, n) : null, b = hasB ? randomF32(gen, n) : null, g = randomF32(gen, rows * n);
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
      for (const place of [(a: Float32Array) => a, wasmCopy]) {
        const m = new Float64Array(rows), rs = new Float64Array(rows);
        const [y] = atThreads(() => {
          const y = place(new Float32Array(rows * n).fill(7));
          wasm.layerNorm(place(x), w && place(w), b && place(b), y, m, rs, rows, n, 1e-5);
          return [y];
        }, `${name} forward`);
        expectNear(y, want, yScale, ULP2, 1e-30);
        expectNear(rs, rstd, undefined, 1e-12, 0);
        expectNear(m, mean, Array.from(mean, (v, r) => Math.abs(v) + 1 / rstd[r]), 1e-12, 0);
        const [dx, dw, db] = atThreads(() => {
          const dx = place(new Float32Array(rows * n).fill(7)), dw = place(new Float32Array(n).fill(7)), db = place(new Float32Array(n).fill(7));
          wasm.layerNormBackward(place(g), place(x), w && place(w), mean, rstd, dx, dw, db, rows, n);
          return [dx, dw, db];
        }, `${name} backward`);
        expectNear(dx, dxWant, dxScale, 1e-6, 1e-30);
        expectIdentical(dw, dwWant, "dweight");
        expectIdentical(db, dbWant, "dbias");
        const dwOnly = new Float32Array(n);
        wasm.layerNormBackward(g, x, w, mean, rstd, null, dwOnly, null, rows, n);
        expectIdentical(dwOnly, dwWant, "dweight alone");
      }
    });
  }
});

describe("wasm softmaxBackward vs reference", () => {
  it("softmax and log-softmax: attention rows [64·4·17, 17], wide and short rows, 1–3 threads, wasm memory; short arrays refused", () => {
    wasm = wasmTable();
    const gen = newGen(21);
    for (const [rows, cols] of [[64 * 4 * 17, 17], [30, 1000], [401, 3]]) {
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
        for (const place of [(a: Float32Array) => a, wasmCopy]) {
          const [dx] = atThreads(() => {
            const dx = place(new Float32Array(rows * cols).fill(7));
            wasm.softmaxBackward(place(y), place(g), dx, rows, cols, log);
            return [dx];
          }, `softmaxBackward ${rows}×${cols}${log ? " log" : ""}`);
          expectNear(dx, want, scale, 1e-6, 1e-30);
        }
      }
    }
    expect(() => wasm.softmaxBackward(new Float32Array(2000), new Float32Array(2000), new Float32Array(10), 100, 20, false)).toThrow(/wasm softmaxBackward: arrays too short/);
  });
});
