/**
 * The float boundary (src/int8/kernels/quantize.ts) on long arrays, on every backend: only
 * float32 input may take the wasm quantize loop and only 8-bit codes the wasm dequantize loop
 * (float64 / number[] input and int32 codes must stay exact), and a NaN at index 0 is still
 * reported. Expected values from the formula q = clamp(roundHalfEven(fround(x / fround(S))) + Z)
 * and r = fround((q − Z)·fround(S)) written out here. Written to kill the mutants
 * `npm run mutation` left alive in quantize.ts (docs/mutation-survivors.md).
 */
import { expect, test } from "vitest";
import { dequantizeTensor, quantizeTensor, roundHalfEven } from "../../src/int8/index-kernels.js";
import { ValueError } from "../../src/tensor/errors.js";
import { expectError } from "../expect-error.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";

const N = 1031; // above the wasm threshold (1024), not a multiple of 4

function quantRef(x: ArrayLike<number>, s: number, zp: number, qmin: number, qmax: number): number[] {
  const s32 = Math.fround(s);
  return Array.from(x, (v) => Math.min(qmax, Math.max(qmin, roundHalfEven(Math.fround(v / s32)) + zp)));
}

describeEachBackend("long arrays at the float boundary", () => {
  const vals = Array.from({ length: N }, (_, i) => (i - 515) * 0.0371 + (i % 3) * 1e-9);

  test("float64 and number[] input quantize exactly (never read as float32)", () => {
    const x64 = Float64Array.from(vals);
    expectIdentical(quantizeTensor(x64, 0.05, 3, -128, 127), quantRef(x64, 0.05, 3, -128, 127), "float64");
    expectIdentical(quantizeTensor(vals, 0.05, 100, 0, 255), quantRef(vals, 0.05, 100, 0, 255), "number[]");
    const x32 = Float32Array.from(vals);
    expectIdentical(quantizeTensor(x32, 0.05, 100, 0, 255), quantRef(x32, 0.05, 100, 0, 255), "float32");
  });

  test("a NaN at index 0 of a long float32 array is reported", () => {
    const x = new Float32Array(N).fill(0.5);
    x[0] = NaN;
    expectError(() => quantizeTensor(x, 0.1, 0, 0, 255), ValueError, "quantizeTensor: NaN at index 0 cannot be quantized");
    x[0] = 0.5;
    x[N - 1] = NaN;
    expectError(() => quantizeTensor(x, 0.1, 0, 0, 255), ValueError, `quantizeTensor: NaN at index ${N - 1} cannot be quantized`);
  });

  test("int32 codes beyond 8 bits dequantize exactly (never read as bytes); 8-bit codes too", () => {
    const q32 = Int32Array.from({ length: N }, (_, i) => (i - 515) * 137);
    const s32 = Math.fround(0.1);
    expectIdentical(dequantizeTensor(q32, 0.1, -7), Array.from(q32, (v) => Math.fround((v + 7) * s32)), "int32");
    const q8 = Int8Array.from({ length: N }, (_, i) => (i % 256) - 128);
    expectIdentical(dequantizeTensor(q8, 0.1, -7), Array.from(q8, (v) => Math.fround((v + 7) * s32)), "int8");
    const u8 = Uint8Array.from({ length: N }, (_, i) => (i * 7) % 256);
    expectIdentical(dequantizeTensor(u8, 0.1, 200), Array.from(u8, (v) => Math.fround((v - 200) * s32)), "uint8");
  });
});

test("quantizeTensor of a short array fills every element (the last one included)", () => {
  const q = quantizeTensor(Float32Array.of(0.1, 0.2, 0.3), 0.1, 0, 0, 255);
  expect(Array.from(q)).toEqual([1, 2, 3]);
});
