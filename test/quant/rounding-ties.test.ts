/**
 * Rounding ties, on every backend: every place the numerics round a float to a code must
 * round half to even (PyTorch's rint / ONNX QuantizeLinear). The inputs are exact ties
 * x = (k + ½)·S with S = 1/4 (so x/S and x·fl(1/S) are exact), for k = −300 … 299, tiled past
 * the wasm size thresholds; the expected codes are written from the definition here, not from
 * the library. A round-half-away-from-zero (or half-up) mutant in any backend's path fails
 * on half of these values. Exercises src/quant/fake-quantize.ts, lsq.ts, qparams.ts and
 * src/int8/kernels/quantize.ts.
 */
import { expect, test } from "vitest";
import "../../src/autograd/backward.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { fakeQuantizePerChannel, fakeQuantizePerTensor } from "../../src/quant/fake-quantize.js";
import { fakeQuantizeLearnablePerChannel, fakeQuantizeLearnablePerTensor } from "../../src/quant/lsq.js";
import { quantize, rint } from "../../src/quant/qparams.js";
import { quantizePerChannel, quantizeTensor, roundHalfEven } from "../../src/int8/kernels/quantize.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";

const S = 0.25;
const N = 2400; // ≥ the wasm thresholds (1024 elements) and not a multiple of the SIMD width

/** k + ½ rounded half to even, from the definition: the even one of k and k + 1. */
const tieToEven = (k: number): number => (k % 2 === 0 ? k : k + 1);

/** The tie inputs (k + ½)·S and their k, tiled to N values. */
function ties(): { x: Float32Array; k: Int32Array } {
  const x = new Float32Array(N), k = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    k[i] = (i % 600) - 300;
    x[i] = (k[i] + 0.5) * S;
  }
  return { x, k };
}

/** Expected codes clamp(tieToEven(k) + Z, qmin, qmax). */
function codes(k: Int32Array, zp: number, qmin: number, qmax: number): Float64Array {
  return Float64Array.from(k, (v) => Math.min(qmax, Math.max(qmin, tieToEven(v) + zp)));
}

const RANGES: [string, number, number, number][] = [
  ["uint8, Z = 128", 128, 0, 255],
  ["int8, Z = 0", 0, -128, 127],
  ["int8, Z = −3", -3, -128, 127],
];

test("the scalar rounding helpers round ties to even (both signs, around zero)", () => {
  const cases = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, -0], [-1.5, -2], [-2.5, -2], [-3.5, -4], [126.5, 126], [-127.5, -128], [2.4999999, 2], [2.5000001, 3]];
  for (const [v, want] of cases) {
    expect(rint(v), `rint(${v})`).toBe(want);
    expect(roundHalfEven(v) + 0, `roundHalfEven(${v})`).toBe(want + 0);
  }
  for (let k = -300; k < 300; k++) {
    expect(quantize((k + 0.5) * S, S, 3, -1000, 1000), `quantize at k = ${k}`).toBe(tieToEven(k) + 3);
  }
});

describeEachBackend("rounding ties go to even", () => {
  const { x, k } = ties();

  for (const [name, zp, qmin, qmax] of RANGES) {
    test(`fakeQuantizePerTensor, float32 and float64, ${name}`, () => {
      const want = Float32Array.from(codes(k, zp, qmin, qmax), (q) => (q - zp) * S);
      expectIdentical(fakeQuantizePerTensor(new Tensor(x, [N]), S, zp, qmin, qmax).data, want);
      const y64 = fakeQuantizePerTensor(new Tensor(Float64Array.from(x), [N]), S, zp, qmin, qmax);
      expectIdentical(y64.data, want);
    });

    test(`fakeQuantizePerChannel (axis 0 and 1), ${name}`, () => {
      const want = Float32Array.from(codes(k, zp, qmin, qmax), (q) => (q - zp) * S);
      const t0 = new Tensor(x, [4, N / 4]);
      expectIdentical(fakeQuantizePerChannel(t0, [S, S, S, S], [zp, zp, zp, zp], 0, qmin, qmax).data, want);
      const t1 = new Tensor(x, [N / 8, 8]);
      expectIdentical(fakeQuantizePerChannel(t1, new Array(8).fill(S), new Array(8).fill(zp), 1, qmin, qmax).data, want);
    });

    test(`LSQ forward (learnable per tensor and per channel), ${name}`, () => {
      const want = Float32Array.from(codes(k, zp, qmin, qmax), (q) => (q - zp) * S);
      const s1 = new Tensor(Float32Array.of(S), [1]), z1 = new Tensor(Float32Array.of(zp), [1]);
      expectIdentical(fakeQuantizeLearnablePerTensor(new Tensor(x, [N]), s1, z1, qmin, qmax).data, want);
      const s4 = new Tensor(new Float32Array(4).fill(S), [4]), z4 = new Tensor(new Float32Array(4).fill(zp), [4]);
      expectIdentical(fakeQuantizeLearnablePerChannel(new Tensor(x, [4, N / 4]), s4, z4, 0, qmin, qmax).data, want);
    });

    test(`quantizeTensor / quantizePerChannel (the int8 engine's boundary), ${name}`, () => {
      const dtype = qmin < 0 ? "int8" : "uint8";
      const want = codes(k, zp, qmin, qmax);
      const z = Math.min(qmax, Math.max(qmin, zp));
      expectIdentical(quantizeTensor(x, S, z, qmin, qmax, dtype), codes(k, z, qmin, qmax));
      if (z === zp) expectIdentical(quantizePerChannel(x, [4, N / 4], 0, [S, S, S, S], [zp, zp, zp, zp], qmin, qmax, dtype), want);
    });
  }
});
