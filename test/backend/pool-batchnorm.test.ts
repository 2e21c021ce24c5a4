/**
 * Wasm pooling and batch-norm kernels vs the reference on seeded random odd shapes, with
 * inputs outside and inside wasm memory. Max pooling (values and argmax) and the per-element
 * batch-norm maps are exact; average pooling and the channel sums of batch norm differ only
 * by summation order (tolerance of ./helpers.ts).
 */
import { describe, expect, it } from "vitest";
import type { Pool2dGeom } from "../../src/backend/kernels.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { expectIdentical, expectNear, newGen, randomF32, wasmCopy, wasmTable } from "./helpers.js";

const wasm = wasmTable();

function poolGeom(n: number, c: number, h: number, w: number, k: [number, number], s: [number, number], p: [number, number], d: [number, number], includePad: boolean): Pool2dGeom {
  const oh = Math.floor((h + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0]) + 1;
  const ow = Math.floor((w + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1]) + 1;
  return {
    n, c, h, w, oh, ow, kh: k[0], kw: k[1], strideH: s[0], strideW: s[1], padH: p[0], padW: p[1],
    dilationH: d[0], dilationW: d[1], countIncludePad: includePad,
  };
}

const POOLS: [string, Pool2dGeom][] = [
  ["SmallCNN 2×2 s2", poolGeom(4, 16, 28, 28, [2, 2], [2, 2], [0, 0], [1, 1], true)],
  ["3×3 s2 p1 odd", poolGeom(3, 5, 11, 9, [3, 3], [2, 2], [1, 1], [1, 1], true)],
  ["3×2 s1 p1 no pad count", poolGeom(2, 3, 7, 8, [3, 2], [1, 1], [1, 1], [1, 1], false)],
  ["dilated 3×3 d2 (max only)", poolGeom(2, 2, 13, 12, [3, 3], [2, 3], [1, 1], [2, 2], true)],
];

const places: [string, (a: Float32Array) => Float32Array][] = [["plain arrays", (a) => a], ["wasm-resident", wasmCopy]];

describe("wasm pooling vs reference", () => {
  for (const [name, g] of POOLS) {
    for (const [where, place] of places) {
      it(`${name} (${where})`, () => {
        const gen = newGen(g.h * 31 + g.w);
        const x = randomF32(gen, g.n * g.c * g.h * g.w);
        x[3] = NaN;
        x[10] = x[11];
        const outSize = g.n * g.c * g.oh * g.ow;
        const y = place(new Float32Array(outSize)), yRef = new Float32Array(outSize);
        const am = new Int32Array(outSize), amRef = new Int32Array(outSize);
        wasm.maxPool2d(place(x), y, am, g);
        refKernels.maxPool2d(x, yRef, amRef, g);
        expectIdentical(y, yRef);
        expectIdentical(am, amRef);
        const dy = randomF32(gen, outSize);
        const dx = place(new Float32Array(x.length).fill(3)), dxRef = new Float32Array(x.length);
        wasm.maxPool2dBackward(place(dy), am, dx, g);
        refKernels.maxPool2dBackward(dy, amRef, dxRef, g);
        expectIdentical(dx, dxRef);
        if (g.dilationH !== 1) return;
        const xf = randomF32(gen, x.length);
        const ya = place(new Float32Array(outSize)), yaRef = new Float32Array(outSize);
        wasm.avgPool2d(place(xf), ya, g);
        refKernels.avgPool2d(xf, yaRef, g);
        expectNear(ya, yaRef);
        const dxa = place(new Float32Array(x.length)), dxaRef = new Float32Array(x.length);
        wasm.avgPool2dBackward(place(dy), dxa, g);
        refKernels.avgPool2dBackward(dy, dxaRef, g);
        expectIdentical(dxa, dxaRef);
      });
    }
  }
});

describe("wasm batch norm vs reference", () => {
  const shapes: [number, number, number][] = [[64, 16, 784], [3, 5, 7], [7, 3, 1], [2, 4, 13], [1, 1, 1]];
  for (const [n, c, hw] of shapes) {
    for (const [where, place] of places) {
      it(`[${n}, ${c}, ${hw}] stats, apply, backward (train and eval, affine or not) (${where})`, () => {
        const gen = newGen(n * 7 + c * 3 + hw);
        const x = randomF32(gen, n * c * hw, 2).map((v) => v + 3);
        const mean = new Float64Array(c), variance = new Float64Array(c);
        const meanRef = new Float64Array(c), varRef = new Float64Array(c);
        wasm.batchNormStats(place(x), n, c, hw, mean, variance);
        refKernels.batchNormStats(x, n, c, hw, meanRef, varRef);
        expectNear(mean, meanRef, undefined, 1e-12, 1e-12);
        expectNear(variance, varRef, undefined, 1e-12, 1e-12);
        const invStd = meanRef.map((_, i) => 1 / Math.sqrt(varRef[i] + 1e-5));
        const gamma = randomF32(gen, c), beta = randomF32(gen, c);
        for (const [gm, bt] of [[gamma, beta], [null, null]] as const) {
          const y = place(new Float32Array(x.length)), yRef = new Float32Array(x.length);
          wasm.batchNormApply(place(x), meanRef, invStd, gm, bt, y, n, c, hw);
          refKernels.batchNormApply(x, meanRef, invStd, gm, bt, yRef, n, c, hw);
          expectIdentical(y, yRef);
          const dy = randomF32(gen, x.length);
          for (const training of [true, false]) {
            const dx = place(new Float32Array(x.length)), dxRef = new Float32Array(x.length);
            const dg = new Float32Array(c), db = new Float32Array(c), dgRef = new Float32Array(c), dbRef = new Float32Array(c);
            wasm.batchNormBackward(place(dy), place(x), meanRef, invStd, gm, dx, dg, db, n, c, hw, training);
            refKernels.batchNormBackward(dy, x, meanRef, invStd, gm, dxRef, dgRef, dbRef, n, c, hw, training);
            expectNear(dg, dgRef, undefined, 1e-6);
            expectNear(db, dbRef, undefined, 1e-6);
            // dx depends on the channel sums only through two per-channel constants.
            expectNear(dx, dxRef, undefined, 1e-5, 1e-6 * dxRef.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
          }
        }
      });
    }
  }

  it("accepts null dgamma/dbeta", () => {
    const x = randomF32(newGen(1), 2 * 3 * 5);
    const dx = new Float32Array(x.length);
    wasm.batchNormBackward(x, x, new Float64Array(3), new Float64Array(3).fill(1), null, dx, null, null, 2, 3, 5, true);
    expect(dx.every(Number.isFinite)).toBe(true);
  });
});
