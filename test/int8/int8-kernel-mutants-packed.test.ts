/**
 * The packed-weight layout shared by qconv2d and qlinear (src/int8/kernels/packed.ts) checked
 * against its documented formula — wq[((g·quadsPerGroup + q)·K + k)·4 + j] = w[g·ocg + 4q + j, k]
 * − wZp[c], padding lanes 0, absSum[c] = Σ_k |w[c, k] − wZp[c]| — for per-tensor and per-channel
 * weight zero points and several groups; isPacked on non-objects; the weight-type errors for
 * values with no constructor (common.ts weightLength, packQConv2dWeights, packQLinearWeights);
 * outputArray's error for a non-quantized `out`. Written to kill the mutants `npm run mutation`
 * left alive in packed.ts, common.ts and qlinear.ts (docs/mutation-survivors.md).
 */
import { describe, expect, test } from "vitest";
import { isPacked, outputArray, packQConv2dWeights, packQLinearWeights, packWeights, weightLength } from "../../src/int8/index-kernels.js";
import { accumulatorBound } from "../../src/int8/kernels/packed.js";
import { DTypeError, ShapeError } from "../../src/tensor/errors.js";
import { expectError } from "../expect-error.js";

/** The documented layout, written out with explicit loops. */
function layout(w: Int8Array, oc: number, K: number, groups: number, wZp: number | Int32Array): { wq: number[]; absSum: number[]; qpg: number } {
  const ocg = oc / groups;
  const qpg = Math.ceil(ocg / 4);
  const wq = new Array<number>(groups * qpg * K * 4).fill(0);
  const absSum: number[] = [];
  for (let g = 0; g < groups; g++) {
    for (let q = 0; q < qpg; q++) {
      for (let j = 0; j < 4; j++) {
        const c = g * ocg + 4 * q + j;
        if (4 * q + j >= ocg) continue; // padding lane of the last quad: 0
        for (let k = 0; k < K; k++) wq[((g * qpg + q) * K + k) * 4 + j] = w[c * K + k] - (typeof wZp === "number" ? wZp : wZp[c]);
      }
    }
  }
  for (let c = 0; c < oc; c++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.abs(w[c * K + k] - (typeof wZp === "number" ? wZp : wZp[c]));
    absSum.push(s);
  }
  return { wq, absSum, qpg };
}

describe("packWeights", () => {
  const cases: [string, number, number, number, number | Int32Array][] = [
    ["one group, 6 channels (a partial quad), per-tensor zero point", 6, 5, 1, -3],
    ["three groups of 5 channels, per-channel zero points", 15, 4, 3, Int32Array.from({ length: 15 }, (_, c) => (c * 37) % 255 - 127)],
    ["two groups of 8 channels (whole quads), zero point 0", 16, 3, 2, 0],
  ];
  for (const [name, oc, K, groups, wZp] of cases) {
    test(name, () => {
      const w = Int8Array.from({ length: oc * K }, (_, i) => ((i * 71) % 256) - 128);
      const p = packWeights(w, oc, K, groups, wZp);
      const want = layout(w, oc, K, groups, wZp);
      expect(p.quadsPerGroup).toBe(want.qpg);
      expect({ oc: p.outChannels, groups: p.groups, ocg: p.ocg, K: p.K, kind: p.kind }).toEqual({ oc, groups, ocg: oc / groups, K, kind: "qat-ts.int8.packed" });
      expect(p.wZp).toBe(wZp);
      expect(Array.from(p.wq)).toEqual(want.wq);
      expect(Array.from(p.absSum)).toEqual(want.absSum);
      const bias = Int32Array.from({ length: oc }, (_, c) => (c % 2 ? -1 : 1) * c * 1000);
      expect(Array.from(accumulatorBound(p, 200, bias))).toEqual(want.absSum.map((s, c) => 200 * s + Math.abs(bias[c])));
      expect(Array.from(accumulatorBound(p, 7, null))).toEqual(want.absSum.map((s) => 7 * s));
    });
  }

  test("the weight count must be OC·K", () => {
    expectError(() => packWeights(new Int8Array(5), 2, 3, 1, 0), ShapeError, "packWeights: weight holds 5 elements, expected 2·3");
  });

  test("the layer packers give the same layout as packWeights", () => {
    const w = Int8Array.from({ length: 6 * 2 * 3 * 3 }, (_, i) => ((i * 13) % 256) - 128);
    const zps = Int32Array.of(1, -2, 3, -4, 5, -6);
    expect(Array.from(packQConv2dWeights(w, [6, 2, 3, 3], 2, zps).wq)).toEqual(layout(w, 6, 18, 2, zps).wq);
    expect(Array.from(packQLinearWeights(w, [6, 18], zps).wq)).toEqual(layout(w, 6, 18, 1, zps).wq);
  });
});

describe("weight and output types", () => {
  test("isPacked is false for anything but packed weights", () => {
    for (const v of [undefined, null, 3, "qat-ts.int8.packed", new Int8Array(4), {}, { kind: "other" }]) expect(isPacked(v), String(v)).toBe(false);
    expect(isPacked(packWeights(new Int8Array(4), 2, 2, 1, 0))).toBe(true);
  });

  test("weights with no constructor, null or undefined: a DTypeError saying so", () => {
    const bare = Object.create(null) as never;
    expectError(() => weightLength("k", bare), DTypeError, "k: w must be an Int8Array (or packed weights), got undefined");
    expectError(() => packQConv2dWeights(bare, [1, 1, 1, 1]), DTypeError, "qconv2d: w must be an Int8Array (or packed weights), got undefined");
    expectError(() => packQConv2dWeights(null as never, [1, 1, 1, 1]), DTypeError, "qconv2d: w must be an Int8Array (or packed weights), got undefined");
    expectError(() => packQLinearWeights(bare, [1, 1]), DTypeError, "qlinear: w must be an Int8Array, got undefined");
    expectError(() => packQLinearWeights(undefined as never, [1, 1]), DTypeError, "qlinear: w must be an Int8Array, got undefined");
  });

  test("a non-quantized out is a DTypeError naming out", () => {
    expectError(() => outputArray("k", new Float32Array(4) as never, "uint8", 4), DTypeError, "k: out must be a Uint8Array or Int8Array, got Float32Array");
  });
});
