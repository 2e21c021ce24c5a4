/**
 * Wasm kernels behind QAT's hot loops vs the reference: the per-channel affine map of the
 * BN-folding modules (forward bit-identical, backward sums within the stated float tolerance),
 * the observers' min/max reductions (per tensor and per channel, with NaN, ±∞ planted; exact),
 * and the straight-through backward (float × uint8 mask, exact).
 */
import { describe, expect, it } from "vitest";
import { refKernels } from "../../src/backend/ref/index.js";
import { aminmax, aminmaxPerChannel } from "../../src/quant/observer.js";
import { steBackwardKernel } from "../../src/quant/fake-quantize.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { ATOL, RTOL, expectIdentical, newGen, onBackend, randomF32, wasmCopy, wasmTable } from "./helpers.js";

const wasm = wasmTable();

describe("channelAffine on wasm", () => {
  for (const [n, c, inner] of [[3, 5, 37], [64, 16, 784], [2, 7, 1], [1, 3, 1023]] as const) {
    it(`[${n}, ${c}, ${inner}] forward exact, backward within tolerance`, () => {
      const g = newGen(n * 31 + c);
      const size = n * c * inner;
      const x = randomF32(g, size, 3), scale = randomF32(g, c), bias = randomF32(g, c), dy = randomF32(g, size);
      for (const b of [bias, null]) {
        const y = wasmCopy(new Float32Array(size)), want = new Float32Array(size);
        wasm.channelAffine(wasmCopy(x), scale, b, y, n, c, inner);
        refKernels.channelAffine(x, scale, b, want, n, c, inner);
        expectIdentical(y, want);
      }
      const dx = wasmCopy(new Float32Array(size)), ds = new Float32Array(c), db = new Float32Array(c);
      wasm.channelAffineBackward(wasmCopy(dy), wasmCopy(x), scale, dx, ds, db, n, c, inner);
      const dxR = new Float32Array(size), dsR = new Float32Array(c), dbR = new Float32Array(c);
      refKernels.channelAffineBackward(dy, x, scale, dxR, dsR, dbR, n, c, inner);
      expectIdentical(dx, dxR);
      const absDs = new Float32Array(c), absDb = new Float32Array(c);
      refKernels.channelAffineBackward(dy.map(Math.abs), x.map(Math.abs), scale, null, absDs, absDb, n, c, inner);
      for (let i = 0; i < c; i++) {
        expect(Math.abs(ds[i] - dsR[i])).toBeLessThanOrEqual(RTOL * absDs[i] + ATOL);
        expect(Math.abs(db[i] - dbR[i])).toBeLessThanOrEqual(RTOL * absDb[i] + ATOL);
      }
      // Only some gradients requested.
      const ds2 = new Float32Array(c);
      wasm.channelAffineBackward(wasmCopy(dy), wasmCopy(x), scale, null, ds2, null, n, c, inner);
      expect(Array.from(ds2)).toEqual(Array.from(ds));
    });
  }
});

describe("observer min/max on wasm", () => {
  const cases: [string, (a: Float32Array) => void][] = [
    ["plain", () => {}],
    ["with ±∞", (a) => { a[17] = Infinity; a[1500] = -Infinity; }],
    ["with a NaN", (a) => { a[2047] = NaN; }],
  ];
  for (const [name, plant] of cases) {
    it(`per tensor and per channel, ${name}`, () => {
      const x = randomF32(newGen(5), 4 * 6 * 211, 2);
      plant(x);
      const xw = wasmCopy(x);
      const fast = onBackend("wasm", () => aminmax(xw));
      const ref = onBackend("ref", () => aminmax(x));
      expect(fast).toEqual(ref);
      for (const axis of [0, 1, 2]) {
        const shape = [4, 6, 211];
        const pf = onBackend("wasm", () => aminmaxPerChannel(new Tensor(xw, shape), axis));
        const pr = onBackend("ref", () => aminmaxPerChannel(new Tensor(x, shape), axis));
        expect(Array.from(pf[0])).toEqual(Array.from(pr[0]));
        expect(Array.from(pf[1])).toEqual(Array.from(pr[1]));
      }
    });
  }
});

describe("straight-through backward on wasm", () => {
  it("grad · mask equals the reference loop", () => {
    const n = 5003;
    const grad = randomF32(newGen(9), n);
    grad[3] = NaN;
    const mask = new Uint8Array(n).map((_, i) => (i * 7) % 3 === 0 ? 0 : 1);
    const fast = onBackend("wasm", () => steBackwardKernel(wasmCopy(grad), wasmCopy(mask)));
    const ref = onBackend("ref", () => steBackwardKernel(grad, mask));
    expectIdentical(fast as Float32Array, ref as Float32Array);
  });
});
