/**
 * Wasm GEMM kernels vs the reference: float matmul on seeded random odd shapes with every
 * transpose combination, batch broadcasting, accumulation and empty dimensions (tolerance of
 * ./helpers.ts), float64 fallback (exact), and the int8 GEMM vs a plain loop (exact).
 */
import { describe, expect, it } from "vitest";
import type { MatmulGeom } from "../../src/backend/kernels.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { gemmInt8 } from "../../src/backend/wasm/index.js";
import { absOf, expectIdentical, expectNear, newGen, randomF32, wasmCopy, wasmTable } from "./helpers.js";

const wasm = wasmTable();

function geom(m: number, n: number, k: number, extra: Partial<MatmulGeom> = {}): MatmulGeom {
  return { batch: 1, m, n, k, aBatchStride: m * k, bBatchStride: k * n, cBatchStride: m * n, transA: false, transB: false, accumulate: false, ...extra };
}

/** Checks wasm vs ref with plain arrays and with arrays resident in wasm memory. */
function check(g: MatmulGeom, seed: number): void {
  checkWith(g, seed, (x) => x);
  checkWith(g, seed, wasmCopy);
}

function checkWith(g: MatmulGeom, seed: number, place: (a: Float32Array) => Float32Array): void {
  const gen = newGen(seed);
  const aLen = g.aBatchStride === 0 ? g.m * g.k : g.batch * g.m * g.k;
  const bLen = g.bBatchStride === 0 ? g.k * g.n : g.batch * g.k * g.n;
  const a = place(randomF32(gen, aLen));
  const b = place(randomF32(gen, bLen));
  const c0 = randomF32(gen, g.batch * g.m * g.n);
  const got = place(c0.slice());
  const want = c0.slice();
  wasm.matmul(a, b, got, g);
  refKernels.matmul(a, b, want, g);
  const scale = absOf(c0);
  if (!g.accumulate) scale.fill(0);
  refKernels.matmul(absOf(a), absOf(b), scale, { ...g, accumulate: true });
  expectNear(got, want, scale);
}

describe("wasm matmul vs reference", () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [4, 8, 16], [13, 17, 19], [37, 29, 45], [65, 9, 300], [129, 130, 257], [5, 1031, 3], [300, 7, 11]];
  for (const [m, n, k] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`${m}×${k} · ${k}×${n} transA=${transA} transB=${transB}`, () => check(geom(m, n, k, { transA, transB }), m * 1000 + n + k));
      }
    }
  }

  it("accumulates into C", () => {
    check(geom(23, 31, 41, { accumulate: true }), 1);
    check(geom(23, 31, 41, { accumulate: true, transA: true }), 2);
  });

  it("batches, with a broadcast operand", () => {
    check(geom(7, 9, 11, { batch: 5 }), 3);
    check(geom(7, 9, 11, { batch: 4, aBatchStride: 0 }), 4);
    check(geom(7, 9, 11, { batch: 3, bBatchStride: 0, transB: true }), 5);
  });

  it("handles k = 0 (C zeroed or kept) and m = 0", () => {
    const c = new Float32Array([1, 2, 3, 4]);
    wasm.matmul(new Float32Array(0), new Float32Array(0), c, geom(2, 2, 0));
    expectIdentical(c, [0, 0, 0, 0]);
    c.set([1, 2, 3, 4]);
    wasm.matmul(new Float32Array(0), new Float32Array(0), c, geom(2, 2, 0, { accumulate: true }));
    expectIdentical(c, [1, 2, 3, 4]);
    wasm.matmul(new Float32Array(0), new Float32Array(6), new Float32Array(0), geom(0, 2, 3));
  });

  it("runs float64 on the reference kernel (identical)", () => {
    const gen = newGen(9);
    const a = Float64Array.from(randomF32(gen, 15)), b = Float64Array.from(randomF32(gen, 20));
    const got = new Float64Array(12), want = new Float64Array(12);
    wasm.matmul(a, b, got, geom(3, 4, 5));
    refKernels.matmul(a, b, want, geom(3, 4, 5));
    expectIdentical(got, want);
  });
});

/** C[i, j] = Σ_p (A[i, p] − za)(B[j, p] − zb), plain loops. */
function naiveInt8(m: number, n: number, k: number, a: Int8Array | Uint8Array, za: number, b: Int8Array, zb: number): Int32Array {
  const c = new Int32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (a[i * k + p] - za) * (b[j * k + p] - zb);
      c[i * n + j] = s;
    }
  }
  return c;
}

describe("wasm int8 GEMM (i32x4.dot_i16x8_s) vs plain loops, exact", () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [4, 8, 16], [13, 17, 19], [64, 128, 1568], [65, 10, 129], [200, 33, 288]];
  for (const [m, n, k] of shapes) {
    it(`${m}×${k} · (${n}×${k})ᵀ, uint8 and int8 activations, extreme values`, () => {
      const gen = newGen(m + n + k);
      const au = new Uint8Array(m * k).map(() => gen.int(0, 256));
      const as = new Int8Array(m * k).map(() => gen.int(-128, 128));
      const b = new Int8Array(n * k).map(() => gen.int(-128, 128));
      if (k > 2) {
        au.fill(255, 0, 3);
        as.fill(-128, 0, 3);
        b.fill(-128, 0, 3);
      }
      for (const [a, za, zb] of [[au, 128, 0], [au, 0, -128], [au, 255, 127], [as, 0, 0], [as, -128, 127], [as, 127, -128]] as const) {
        const c = new Int32Array(m * n);
        gemmInt8(m, n, k, a, za, b, zb, c);
        expectIdentical(c, naiveInt8(m, n, k, a, za, b, zb));
      }
    });
  }

  it("accumulates into C", () => {
    const gen = newGen(77);
    const a = new Int8Array(6 * 10).map(() => gen.int(-128, 128));
    const b = new Int8Array(9 * 10).map(() => gen.int(-128, 128));
    const c = new Int32Array(54).fill(1000);
    gemmInt8(6, 9, 10, a, 3, b, -2, c, true);
    expectIdentical(c, naiveInt8(6, 9, 10, a, 3, b, -2).map((v) => v + 1000));
  });

  it("rejects arrays too small for the sizes", () => {
    expect(() => gemmInt8(2, 2, 2, new Int8Array(3), 0, new Int8Array(4), 0, new Int32Array(4))).toThrow(RangeError);
  });
});
