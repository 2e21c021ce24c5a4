/**
 * The shared argument checks and helpers of the integer kernels (src/int8/kernels/common.ts),
 * called directly: each check's exact error (type and message naming the kernel and the
 * argument) and the boundary values it must accept, plus maxDeviation and requantizeOne's
 * clamp. Written to kill the mutants `npm run mutation` found surviving (docs/TESTING.md).
 */
import { describe, expect, test } from "vitest";
import {
  checkAccumulatorBound, checkQuantDType, checkRequant, checkShapeOf, checkWeightZeroPoints, clampRange, maxDeviation,
  outputArray, quantDTypeOf, requantizeOne, weightLength,
} from "../../src/int8/kernels/common.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { expectError } from "../expect-error.js";


const rq = (m: number[], s: number[]) => ({ multiplier: Int32Array.from(m), shift: Int32Array.from(s) });

describe("int8 kernel argument checks", () => {
  test("dtypes", () => {
    expectError(() => quantDTypeOf("k", "x", null), DTypeError, "k: x must be a Uint8Array or Int8Array, got null");
    expectError(() => quantDTypeOf("k", "x", undefined), DTypeError, "k: x must be a Uint8Array or Int8Array, got undefined");
    expectError(() => quantDTypeOf("k", "x", new Int16Array(1)), DTypeError, "k: x must be a Uint8Array or Int8Array, got Int16Array");
    expectError(() => checkQuantDType("k", "outDType", "int32"), DTypeError, "k: outDType must be 'uint8' or 'int8', got 'int32'");
    expectError(() => weightLength("k", new Uint8Array(4)), DTypeError, "k: w must be an Int8Array (or packed weights), got Uint8Array");
    expectError(() => weightLength("k", null), DTypeError, "k: w must be an Int8Array (or packed weights), got undefined");
    expect(weightLength("k", new Int8Array(6))).toBe(6);
  });

  test("shapes", () => {
    expectError(() => checkShapeOf("k", "xShape", [1, 2, 3], 4, 6), ShapeError, "k: xShape must have rank 4 with positive dims, got [1, 2, 3]");
    expectError(() => checkShapeOf("k", "xShape", [1, 0, 3], 3, 0), ShapeError, "k: xShape must have rank 3 with positive dims, got [1, 0, 3]");
    expectError(() => checkShapeOf("k", "xShape", [1, 1.5, 4], 3, 6), ShapeError, "k: xShape must have rank 3 with positive dims, got [1, 1.5, 4]");
    expectError(() => checkShapeOf("k", "xShape", [1, 2, 3], 3, 7), ShapeError, "k: xShape [1, 2, 3] holds 6 elements but the array has 7");
    expect(() => checkShapeOf("k", "xShape", [1, 2, 3], 3, 6)).not.toThrow();
  });

  test("clamp ranges: inside the dtype, integers, lo ≤ hi (lo = hi allowed)", () => {
    const msg = (lo: number, hi: number) => `k: clamp [${lo}, ${hi}] must be integers with -128 ≤ clampMin ≤ clampMax ≤ 127 (int8)`;
    expectError(() => clampRange("k", "int8", 0.5, 3), ValueError, msg(0.5, 3));
    expectError(() => clampRange("k", "int8", 0, 3.5), ValueError, msg(0, 3.5));
    expectError(() => clampRange("k", "int8", -129, 3), ValueError, msg(-129, 3));
    expectError(() => clampRange("k", "int8", 0, 128), ValueError, msg(0, 128));
    expectError(() => clampRange("k", "int8", 5, 4), ValueError, msg(5, 4));
    expect(clampRange("k", "int8", 4, 4)).toEqual([4, 4]);
    expect(clampRange("k", "uint8")).toEqual([0, 255]);
  });

  test("requantization parameters", () => {
    expectError(() => checkRequant("k", "requant", { multiplier: [1] as never, shift: Int32Array.of(0) }, 1), DTypeError, "k: requant.multiplier and requant.shift must be Int32Arrays");
    expectError(() => checkRequant("k", "requant", { multiplier: Int32Array.of(1), shift: [0] as never }, 1), DTypeError, "k: requant.multiplier and requant.shift must be Int32Arrays");
    expectError(() => checkRequant("k", "requant", rq([1, 1], [0]), 2), ShapeError, "k: requant needs 2 (or 1) multipliers and shifts, got 2 and 1");
    expectError(() => checkRequant("k", "requant", rq([1, 1, 1], [0, 0, 0]), 2), ShapeError, "k: requant needs 2 (or 1) multipliers and shifts, got 3 and 3");
    expectError(() => checkRequant("k", "requant", rq([1], [0]), 2, false), ShapeError, "k: requant needs 2 multipliers and shifts, got 1 and 1");
    expectError(() => checkRequant("k", "requant", rq([1, -1], [0, 0]), 2), ValueError, "k: requant.multiplier[1] = -1 must be ≥ 0");
    expectError(() => checkRequant("k", "requant", rq([1, 1], [0, -32]), 2), ValueError, "k: requant.shift[1] = -32 must be in [−31, 30]");
    expectError(() => checkRequant("k", "requant", rq([1, 1], [31, 0]), 2), ValueError, "k: requant.shift[0] = 31 must be in [−31, 30]");
    expect(() => checkRequant("k", "requant", rq([0, 5], [-31, 30]), 2)).not.toThrow();
    expect(() => checkRequant("k", "requant", rq([7], [3]), 4)).not.toThrow();
  });

  test("outputs, accumulator bounds and weight zero points", () => {
    expectError(() => outputArray("k", new Int8Array(4), "uint8", 4), DTypeError, "k: out must be uint8");
    expectError(() => outputArray("k", new Uint8Array(3), "uint8", 4), ShapeError, "k: out holds 3 elements, expected 4");
    const out = new Uint8Array(4);
    expect(outputArray("k", out, "uint8", 4)).toBe(out);
    expectError(() => checkAccumulatorBound("k", Float64Array.of(1, 2 ** 31)), ValueError, "k: int32 accumulator of output channel 1 could overflow (worst case 2147483648 > 2^31 − 1)");
    expect(() => checkAccumulatorBound("k", Float64Array.of(2 ** 31 - 1))).not.toThrow();
    expectError(() => checkWeightZeroPoints("k", 128, 2), ValueError, "k: wZp must be an integer in [-128, 127] for int8, got 128");
    expectError(() => checkWeightZeroPoints("k", Int32Array.of(0, -129), 2), ValueError, "k: wZp must be an integer in [-128, 127] for int8, got -129");
    expectError(() => checkWeightZeroPoints("k", Int32Array.of(0, 1, 2), 2), ShapeError, "k: 3 weight zero points for 2 output channels");
    expect(() => checkWeightZeroPoints("k", Int32Array.of(-128, 127), 2)).not.toThrow();
  });
});

describe("int8 kernel helpers", () => {
  test("maxDeviation is the larger distance from the zero point to the dtype's ends", () => {
    expect(maxDeviation("uint8", 0)).toBe(255);
    expect(maxDeviation("uint8", 200)).toBe(200);
    expect(maxDeviation("int8", -100)).toBe(227);
    expect(maxDeviation("int8", 100)).toBe(228);
  });

  test("requantizeOne adds the zero point, then clamps to [lo, hi]", () => {
    // M0 = 2^30, shift 0: ×½ rounded half up.
    expect(requantizeOne(10, 2 ** 30, 0, 3, 0, 255)).toBe(8);
    expect(requantizeOne(-100, 2 ** 30, 0, 3, 0, 255)).toBe(0);
    expect(requantizeOne(1000, 2 ** 30, 0, 3, 0, 100)).toBe(100);
    expect(requantizeOne(194, 2 ** 30, 0, 3, 0, 100)).toBe(100);
  });
});
