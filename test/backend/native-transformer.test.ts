/**
 * The native GELU and LayerNorm kernels (native/transformer.c via src/backend/native/transformer.ts)
 * against the reference kernels called directly, on the AVX2 and the portable path, at 1–3
 * threads, with arrays inside and outside wasm memory:
 *   gelu / geluBackward (erf and tanh forms): within 2 float32 ulps of the reference (both
 *     compute in float64; the erf knots come from the C library instead of the reference's
 *     series, exp and tanh from a vector polynomial on AVX2), the same NaN / ±∞ / ±0 results;
 *   layerNorm: mean and rstd within 1e-12 relative (four-lane sums), y within 2 float32 ulps of
 *     the reference's value's magnitude; layerNormBackward: dx within 1e-6 of the magnitude of
 *     its terms, dweight / dbias bit for bit (rows summed in order in float64, the reference's
 *     operations) — and every result bitwise the same at 1, 2 and 3 threads;
 *   softmaxBackward (softmax and log-softmax): within 1e-6 of its terms' magnitude.
 * Short arrays are refused before C runs; float64 data and tiny calls take the fallback
 * kernels; the cases above do reach C (counted). Skipped where the addon is not built.
 */
import { expect, it } from "vitest";
import type { GeluApproximate, Kernels } from "../../src/backend/kernels.js";
import type { NativeAddon } from "../../src/backend/native/addon.js";
import { nativeAddon, setNativeIsa } from "../../src/backend/native/index.js";
import { nativeKernelTable } from "../../src/backend/native/kernels.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { expectIdentical, newGen } from "./helpers.js";
import { nativeSuite } from "./native-helpers.js";
import { type LnCase, checkGelu, checkLayerNorm, checkSoftmaxBackward, geluInput } from "./transformer-checks.js";

const { native, d, ISAS } = nativeSuite();
const FORMS: GeluApproximate[] = ["none", "tanh"];

type Entry = "gelu" | "geluBackward" | "layerNorm" | "layerNormBackward" | "softmaxBackward";

/** A kernel table over the addon whose transformer entries count their calls (the addon's own properties are read-only). */
function countingTable(): { table: Partial<Kernels>; counts: Record<Entry, number> } {
  const counts: Record<Entry, number> = { gelu: 0, geluBackward: 0, layerNorm: 0, layerNormBackward: 0, softmaxBackward: 0 };
  const spy = Object.create(nativeAddon) as NativeAddon;
  for (const k of Object.keys(counts) as Entry[]) {
    const real = (nativeAddon as unknown as Record<Entry, (...args: unknown[]) => void>)[k];
    Object.defineProperty(spy, k, { value: (...args: unknown[]) => (counts[k]++, real(...args)) });
  }
  return { table: nativeKernelTable(spy, refKernels), counts };
}

d("native gelu / layerNorm reach C", () => {
  it("float32 calls of at least 256 elements call the addon; float64 and tiny ones do not", () => {
    const { table, counts } = countingTable();
    const x = geluInput(1000, 9), y = new Float32Array(1000), m = new Float64Array(10), r = new Float64Array(10);
    table.gelu!(x, y, "tanh");
    table.geluBackward!(x, x, y, "none");
    table.layerNorm!(x, null, null, y, m, r, 10, 100, 1e-5);
    table.layerNormBackward!(x, x, null, m, r, y, null, null, 10, 100);
    expect(counts).toEqual({ gelu: 1, geluBackward: 1, layerNorm: 1, layerNormBackward: 1, softmaxBackward: 0 });
    table.gelu!(Float64Array.from(x), new Float64Array(1000), "none");
    table.gelu!(x.subarray(0, 100), y.subarray(0, 100), "none");
    table.layerNorm!(x.subarray(0, 200), null, null, y.subarray(0, 200), m, r, 10, 20, 1e-5);
    expect(counts).toEqual({ gelu: 1, geluBackward: 1, layerNorm: 1, layerNormBackward: 1, softmaxBackward: 0 });
  });
});

d("native gelu / geluBackward vs reference", () => {
  for (const isa of ISAS) {
    for (const form of FORMS) {
      it(`[${isa}] ${form}: ViT MLP activations [64·17, 128] and odd lengths, 1–3 threads, wasm memory`, () => {
        setNativeIsa(isa);
        for (const [n, seed] of [[64 * 17 * 128, 1], [1001, 2], [259, 3]]) checkGelu(native!, form, n, seed, false);
      });
    }
  }

  it("refuses a short input before C runs; float64 and tiny arrays take the fallback (equal to the reference)", () => {
    expect(() => native!.gelu(new Float32Array(100), new Float32Array(1000), "none")).toThrow(/native gelu: input has 100 elements, needs 1000/);
    expect(() => native!.geluBackward(new Float32Array(1000), new Float32Array(10), new Float32Array(1000), "tanh")).toThrow(/native geluBackward: input/);
    const x64 = Float64Array.from(geluInput(500, 4)), want = new Float64Array(500), got = new Float64Array(500);
    refKernels.gelu(x64, want, "none");
    native!.gelu(x64, got, "none");
    expectIdentical(got, want, "float64");
  });
});

d("native layerNorm / layerNormBackward vs reference", () => {
  const cases: [string, LnCase][] = [
    ["ViT [64·17, 64] affine", { rows: 64 * 17, n: 64, weight: true, bias: true }],
    ["[300, 13] weight only (odd width)", { rows: 300, n: 13, weight: true, bias: false }],
    ["[40, 100] no affine", { rows: 40, n: 100, weight: false, bias: false }],
    ["[2000, 3] bias only", { rows: 2000, n: 3, weight: false, bias: true }],
  ];
  for (const isa of ISAS) {
    for (const [name, c] of cases) {
      it(`[${isa}] ${name}: forward, backward (dx, dweight, dbias), 1–3 threads, wasm memory`, () => {
        setNativeIsa(isa);
        const { x, w, g, mean, rstd, dbWant } = checkLayerNorm(native!, name, c);
        // only some gradients wanted
        const dbOnly = new Float32Array(c.n);
        native!.layerNormBackward(g, x, w, mean, rstd, null, null, dbOnly, c.rows, c.n);
        expectIdentical(dbOnly, dbWant, "dbias alone");
      });
    }
  }

  it("refuses short arrays before C runs", () => {
    const x = new Float32Array(64 * 20), y = new Float32Array(64 * 20), m = new Float64Array(20), r = new Float64Array(20);
    expect(() => native!.layerNorm(x, new Float32Array(10), null, y, m, r, 20, 64, 1e-5)).toThrow(/native layerNorm: weight has 10 elements, needs 64/);
    expect(() => native!.layerNorm(x, null, null, y, new Float64Array(5), r, 20, 64, 1e-5)).toThrow(/native layerNorm: mean has 5/);
    expect(() => native!.layerNormBackward(x, x, null, m, r, new Float32Array(3), null, null, 20, 64)).toThrow(/native layerNormBackward: dx has 3/);
  });
});

d("native softmaxBackward vs reference", () => {
  for (const isa of ISAS) {
    it(`[${isa}] softmax and log-softmax: attention rows [64·4·17, 17], wide and short rows, 1–3 threads, wasm memory`, () => {
      setNativeIsa(isa);
      const gen = newGen(21);
      for (const [rows, cols] of [[64 * 4 * 17, 17], [30, 1000], [301, 3]]) checkSoftmaxBackward(native!, rows, cols, gen);
    });
  }

  it("reaches C for float32 rows of at least 256 elements; refuses short arrays", () => {
    const { table, counts } = countingTable();
    const y = new Float32Array(300).fill(0.1), g = new Float32Array(300).fill(1), dx = new Float32Array(300);
    table.softmaxBackward!(y, g, dx, 30, 10, false);
    table.softmaxBackward!(y.subarray(0, 100), g.subarray(0, 100), dx.subarray(0, 100), 10, 10, true);
    expect(counts.softmaxBackward).toBe(1);
    expect(() => native!.softmaxBackward(y, g, new Float32Array(3), 30, 10, true)).toThrow(/native softmaxBackward: dx has 3 elements, needs 300/);
  });
});
