/**
 * Integer products of two quantized activations (src/int8/kernels/qmatmul.ts) against the
 * independent references of ./reference.ts: accumulators from textbook loops over broadcast
 * batch indices, requantization through the BigInt gemmlowp primitives. Also the slice
 * kernel and the typed errors.
 */
import { describe, expect, it } from "vitest";
import { qmatmul, qmul } from "../../src/int8/kernels/qmatmul.js";
import { sliceQuant } from "../../src/int8/kernels/layout.js";
import { quantizeMultiplier } from "../../src/int8/fixed-point.js";
import { Rng, mbqmSingleRef } from "./reference.js";

/** Row-major index of `idx` in `shape`, broadcasting size-1 dims (and missing leading ones). */
function offset(shape: readonly number[], idx: readonly number[]): number {
  let off = 0;
  for (let i = 0; i < shape.length; i++) off = off * shape[i] + (shape[i] === 1 ? 0 : idx[idx.length - shape.length + i]);
  return off;
}

function* indices(shape: readonly number[]): Generator<number[]> {
  const total = shape.reduce((a, b) => a * b, 1);
  for (let o = 0; o < total; o++) {
    const idx: number[] = [];
    let r = o;
    for (let i = shape.length - 1; i >= 0; i--) {
      idx.unshift(r % shape[i]);
      r = Math.floor(r / shape[i]);
    }
    yield idx;
  }
}

describe("qmatmul / qmul: integer products of two quantized activations", () => {
  for (const [aShape, bShape, outBatch] of [
    [[2, 3, 5, 7], [2, 3, 7, 4], [2, 3]],
    [[2, 1, 4, 6], [3, 6, 5], [2, 3]], // batch dims broadcast both ways
    [[5, 9], [9, 3], []],
  ] as [number[], number[], number[]][]) {
    it(`[${aShape}] @ [${bShape}]: bit-exact with the BigInt reference`, () => {
      const r = new Rng(aShape.length * 31 + bShape[0]);
      const a = r.fill(new Uint8Array(aShape.reduce((x, y) => x * y, 1)), 0, 255);
      const b = r.fill(new Int8Array(bShape.reduce((x, y) => x * y, 1)), -128, 127);
      const [aZp, bZp, yZp] = [r.int(0, 255), r.int(-128, 127), r.int(0, 255)];
      const m = quantizeMultiplier(0.0007);
      const got = qmatmul({ a, aZp, aShape, b, bZp, bShape, multiplier: [m.multiplier, m.shift], yZp, outDType: "uint8", clampMin: 3, clampMax: 250 });
      const [M, K, N] = [aShape[aShape.length - 2], aShape[aShape.length - 1], bShape[bShape.length - 1]];
      expect(got.shape).toEqual([...outBatch, M, N]);
      let i = 0;
      for (const idx of indices(got.shape)) {
        const [mi, ni] = idx.slice(-2);
        const batch = idx.slice(0, -2);
        let acc = 0;
        for (let k = 0; k < K; k++) {
          acc += (a[offset(aShape, [...batch, mi, k])] - aZp) * (b[offset(bShape, [...batch, k, ni])] - bZp);
        }
        const want = Math.min(250, Math.max(3, yZp + mbqmSingleRef(acc, m.multiplier, m.shift)));
        expect(got.data[i++]).toBe(want);
      }
    });
  }

  it("qmul broadcasts [2, 1, 4] ⊙ [3, 1]: bit-exact with the reference", () => {
    const r = new Rng(5);
    const [aShape, bShape] = [[2, 1, 4], [3, 1]];
    const a = r.fill(new Int8Array(8), -128, 127);
    const b = r.fill(new Uint8Array(3), 0, 255);
    const m = quantizeMultiplier(0.013);
    const got = qmul({ a, aZp: -3, aShape, b, bZp: 17, bShape, multiplier: [m.multiplier, m.shift], yZp: 0, outDType: "int8" });
    expect(got.shape).toEqual([2, 3, 4]);
    let i = 0;
    for (const idx of indices(got.shape)) {
      const want = Math.min(127, Math.max(-128, mbqmSingleRef((a[offset(aShape, idx)] + 3) * (b[offset(bShape, idx)] - 17), m.multiplier, m.shift)));
      expect(got.data[i++]).toBe(want);
    }
  });

  it("typed errors name the kernel and the argument", () => {
    const a = new Uint8Array(6), b = new Uint8Array(6);
    const base = { a, aZp: 0, b, bZp: 0, multiplier: [1 << 30, 0] as [number, number], yZp: 0, outDType: "uint8" as const };
    expect(() => qmatmul({ ...base, aShape: [2, 3], bShape: [2, 3] })).toThrow(/qmatmul: .*disagree on K \(3 vs 2\)/);
    expect(() => qmatmul({ ...base, aShape: [6], bShape: [6, 1] })).toThrow(/qmatmul: both inputs need rank ≥ 2/);
    expect(() => qmatmul({ ...base, aShape: [2, 2], bShape: [2, 3] })).toThrow(/qmatmul: aShape \[2, 2\] does not describe 6 elements/);
    expect(() => qmul({ ...base, aShape: [2, 3], bShape: [3, 2] })).toThrow(/qmul: shapes \[2, 3\] and \[3, 2\] do not broadcast/);
    expect(() => qmul({ ...base, aShape: [6], bShape: [6], multiplier: [1 << 30, 31] })).toThrow(/qmul: shift = 31/);
    const big = 40000;
    expect(() => qmatmul({ ...base, a: new Uint8Array(big), b: new Uint8Array(big), aShape: [1, big], bShape: [big, 1] })).toThrow(/qmatmul: int32 accumulator could overflow \(K = 40000/);
  });

  it("sliceQuant takes start, start+step, … below end along one axis", () => {
    const x = { data: Int8Array.from({ length: 24 }, (_, i) => i - 12), shape: [2, 3, 4] };
    const y = sliceQuant(x, 2, 1, 4, 2);
    expect(y.shape).toEqual([2, 3, 2]);
    expect(Array.from(y.data)).toEqual([-11, -9, -7, -5, -3, -1, 1, 3, 5, 7, 9, 11]);
    expect(Array.from(sliceQuant(x, 1, 2, 3, 1).data)).toEqual([-4, -3, -2, -1, 8, 9, 10, 11]);
  });
});
