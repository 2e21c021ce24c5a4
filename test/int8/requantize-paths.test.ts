/**
 * qrequantize / qconcat take three routes — a plain copy when the map is the identity, a loop
 * for short ranges, a 256-entry table for long ones — and must agree with the single-rounding
 * formula y = clamp(yZp + floor((x − xZp)·M0·2^(shift−31) + ½)) (BigInt, test/int8/reference.ts)
 * whichever route runs: each condition of the identity test is broken alone (M ≠ 1, zero
 * points, dtypes, clamp), at lengths below and above the table threshold. Written to kill the
 * mutants `npm run mutation` found surviving (docs/TESTING.md).
 */
import { describe, expect, test } from "vitest";
import { type QuantDType, qadd, qconcat, qrequantize, quantizeMultiplier } from "../../src/int8/index-kernels.js";
import { mbqmSingleRef } from "./reference.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";

const ONE = { multiplier: 2 ** 30, shift: 1 };

function codes(dtype: QuantDType, n: number): Uint8Array | Int8Array {
  const base = dtype === "uint8" ? 0 : -128;
  return dtype === "uint8" ? Uint8Array.from({ length: n }, (_, i) => (i * 37) % 256 + base) : Int8Array.from({ length: n }, (_, i) => ((i * 37) % 256) + base);
}

function expected(x: ArrayLike<number>, xZp: number, m: { multiplier: number; shift: number }, yZp: number, lo: number, hi: number): number[] {
  return Array.from(x, (v) => Math.min(hi, Math.max(lo, yZp + mbqmSingleRef(v - xZp, m.multiplier, m.shift))));
}

describeEachBackend("qrequantize routes agree with the formula", () => {
  const cases: [string, QuantDType, number, { multiplier: number; shift: number }, number, QuantDType, number?, number?][] = [
    ["identity", "uint8", 7, ONE, 7, "uint8"],
    ["M ≠ 1, same zero points and dtype", "uint8", 7, quantizeMultiplier(0.75), 7, "uint8"],
    ["M ≠ 1 (just above 1)", "int8", 0, { multiplier: 2 ** 30 + 1, shift: 1 }, 0, "int8"],
    ["M = 1, zero points differ", "uint8", 7, ONE, 9, "uint8"],
    ["M = 1, uint8 → int8, zero points equal", "uint8", 0, ONE, 0, "int8"],
    ["M = 1, int8 → uint8, zero points equal", "int8", 0, ONE, 0, "uint8"],
    ["M = 1, clampMin above the dtype minimum", "int8", 0, ONE, 0, "int8", -100],
    ["M = 1, clampMax below the dtype maximum", "uint8", 3, ONE, 3, "uint8", undefined, 200],
  ];
  for (const [name, xd, xZp, m, yZp, yd, cMin, cMax] of cases) {
    test(name, () => {
      const [qlo, qhi] = yd === "uint8" ? [0, 255] : [-128, 127];
      for (const n of [300, 1500]) {
        const x = codes(xd, n);
        const y = qrequantize({ x, xZp, multiplier: m, yZp, outDType: yd, clampMin: cMin, clampMax: cMax });
        expectIdentical(y.data, expected(x, xZp, m, yZp, cMin ?? qlo, cMax ?? qhi), `${name}, n = ${n}`);
        expect(y.data).toBeInstanceOf(yd === "uint8" ? Uint8Array : Int8Array);
        expect(y.shape).toEqual([n]);
      }
    });
  }
});

describeEachBackend("qconcat", () => {
  test("long inputs (table route) concatenated into the middle of the output", () => {
    // Each input is requantized in ranges that start past 0 in x and in out: on wasm only a
    // whole-array range may take the SIMD table lookup.
    const a = codes("uint8", 2 * 600) as Uint8Array, b = codes("uint8", 2 * 700) as Uint8Array;
    const ma = quantizeMultiplier(0.75), mb = quantizeMultiplier(1.5);
    const y = qconcat({ inputs: [{ x: a, shape: [2, 600], zp: 10, multiplier: ma }, { x: b, shape: [2, 700], zp: 20, multiplier: mb }], axis: 1, outZp: 5, outDType: "uint8" });
    const want: number[] = [];
    for (let o = 0; o < 2; o++) {
      want.push(...expected(a.subarray(o * 600, o * 600 + 600), 10, ma, 5, 0, 255));
      want.push(...expected(b.subarray(o * 700, o * 700 + 700), 20, mb, 5, 0, 255));
    }
    expectIdentical(y.data, want, "long concat");
    const one = qrequantize({ x: a, xZp: 10, multiplier: ma, yZp: 5, outDType: "uint8" });
    expectIdentical(one.data, expected(a, 10, ma, 5, 0, 255), "whole array");
  });

  test("negative axis, int8 output, identity and requantized inputs side by side", () => {
    const a = codes("int8", 2 * 3 * 2) as Int8Array, b = codes("uint8", 2 * 1 * 2) as Uint8Array;
    const mb = quantizeMultiplier(0.5);
    const y = qconcat({ inputs: [{ x: a, shape: [2, 3, 2], zp: 0 }, { x: b, shape: [2, 1, 2], zp: 128, multiplier: mb }], axis: -2, outZp: 0, outDType: "int8" });
    expect(y.shape).toEqual([2, 4, 2]);
    const want: number[] = [];
    for (let o = 0; o < 2; o++) {
      want.push(...Array.from(a.subarray(o * 6, o * 6 + 6)));
      want.push(...expected(b.subarray(o * 2, o * 2 + 2), 128, mb, 0, -128, 127));
    }
    expectIdentical(y.data, want, "concat");
  });
});

describe("multiplier and shift checks (qrequantize, qadd)", () => {
  const x = Uint8Array.of(1, 2, 3);
  const message = (op: string, name: string, m: number, s: number) => `${op}: ${name} must have multiplier ∈ [0, 2^31 − 1] and shift ∈ [−31, 30], got ${m}, ${s}`;
  test("each bound alone, and the bounds themselves accepted", () => {
    for (const [m, s] of [[-1, 0], [2 ** 31, 0], [1.5, 0], [2 ** 30, -32], [2 ** 30, 31], [2 ** 30, 0.5]]) {
      expect(() => qrequantize({ x, xZp: 0, multiplier: { multiplier: m, shift: s }, yZp: 0, outDType: "uint8" }), `${m}, ${s}`).toThrow(message("qrequantize", "multiplier", m, s));
    }
    for (const [m, s] of [[0, -31], [2 ** 31 - 1, 30]]) expect(() => qrequantize({ x, xZp: 0, multiplier: { multiplier: m, shift: s }, yZp: 0, outDType: "uint8" })).not.toThrow();
    const p = { a: x, aZp: 0, b: x, bZp: 0, aMultiplier: ONE, bMultiplier: ONE, outMultiplier: ONE, outZp: 0, outDType: "uint8" as const };
    expect(() => qadd({ ...p, bMultiplier: { multiplier: -1, shift: 0 } })).toThrow(message("qadd", "bMultiplier", -1, 0));
    expect(() => qadd({ ...p, aMultiplier: { multiplier: 1, shift: 40 } })).toThrow(message("qadd", "aMultiplier", 1, 40));
    for (const ls of [-1, 23, 1.5]) expect(() => qadd({ ...p, leftShift: ls })).toThrow(`qadd: leftShift must be an integer in [0, 22] (255·2^22 < 2^31), got ${ls}`);
    for (const ls of [0, 22]) expect(() => qadd({ ...p, leftShift: ls })).not.toThrow();
  });
});
