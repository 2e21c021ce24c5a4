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
import { expectIdentical, newGen, wasmTable } from "./helpers.js";
import { checkGelu, checkLayerNorm, checkSoftmaxBackward, geluInput } from "./transformer-checks.js";

let wasm: Kernels;

describe("wasm gelu / geluBackward vs reference", () => {
  for (const form of ["none", "tanh"] as GeluApproximate[]) {
    it(`${form}: ViT MLP activations [64·17, 128] and odd lengths, 1–3 threads, wasm memory`, () => {
      wasm = wasmTable();
      for (const [n, seed] of [[64 * 17 * 128, 1], [1001, 2], [1025, 3]]) checkGelu(wasm, form, n, seed, form === "none");
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
  for (const [name, rows, n, weight, bias] of cases) {
    it(`${name}: forward, backward, 1–3 threads, wasm memory`, () => {
      wasm = wasmTable();
      const { x, w, g, mean, rstd, dwWant } = checkLayerNorm(wasm, name, { rows, n, weight, bias });
      const dwOnly = new Float32Array(n);
      wasm.layerNormBackward(g, x, w, mean, rstd, null, dwOnly, null, rows, n);
      expectIdentical(dwOnly, dwWant, "dweight alone");
    });
  }
});

describe("wasm softmaxBackward vs reference", () => {
  it("softmax and log-softmax: attention rows [64·4·17, 17], wide and short rows, 1–3 threads, wasm memory; short arrays refused", () => {
    wasm = wasmTable();
    const gen = newGen(21);
    for (const [rows, cols] of [[64 * 4 * 17, 17], [30, 1000], [401, 3]]) checkSoftmaxBackward(wasm, rows, cols, gen);
    expect(() => wasm.softmaxBackward(new Float32Array(2000), new Float32Array(2000), new Float32Array(10), 100, 20, false)).toThrow(/wasm softmaxBackward: arrays too short/);
  });
});
