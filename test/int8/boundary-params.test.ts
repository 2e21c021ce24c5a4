/**
 * The integer engine's float boundary (src/int8/kernels/quantize.ts) and offline parameters
 * (src/int8/kernels/params.ts) beyond the kernel tests: the exact error for each bad argument
 * (type, and the message naming the function and the argument), default storage dtypes,
 * negative and middle axes, zero points on the way out, and the TFLite Add multipliers as
 * values. Written to kill the mutants `npm run mutation` found surviving (docs/TESTING.md).
 */
import { describe, expect, test } from "vitest";
import { dequantizePerChannel, dequantizeTensor, quantizePerChannel, quantizeTensor } from "../../src/int8/kernels/quantize.js";
import {
  activationClamp, convRequant, globalAvgPoolMultiplier, lutTable, qaddParams, quantizeBias, requantMultiplier,
} from "../../src/int8/kernels/params.js";
import { quantizeMultiplier } from "../../src/int8/fixed-point.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { expectError } from "../expect-error.js";

type ErrorClass = new (...a: never[]) => Error;

/** Each case must throw exactly `type` with exactly `message`. */
function expectErrors(cases: [string, () => unknown, ErrorClass, string][]): void {
  for (const [what, fn, type, message] of cases) expectError(fn, type, message, what);
}

const x6 = Float32Array.of(0.1, -0.2, 0.3, 0.4, -0.5, 0.6);

describe("quantize / dequantize: bad arguments", () => {
  test("each check names the function and the argument", () => {
    expectErrors([
      ["zero scale", () => quantizeTensor(x6, 0, 0, 0, 255), ValueError, "quantizeTensor: scale must be a positive finite float32, got 0"],
      ["scale overflowing float32", () => quantizeTensor(x6, 1e39, 0, 0, 255), ValueError, "quantizeTensor: scale must be a positive finite float32, got 1e+39"],
      ["qmin below the dtype", () => quantizeTensor(x6, 1, 0, -129, 127), ValueError, "quantizeTensor: [qmin, qmax] = [-129, 127] must be integers with -128 ≤ qmin < qmax ≤ 127 (int8)"],
      ["qmax above the dtype", () => quantizeTensor(x6, 1, 0, 0, 256), ValueError, "quantizeTensor: [qmin, qmax] = [0, 256] must be integers with 0 ≤ qmin < qmax ≤ 255 (uint8)"],
      ["qmin = qmax", () => quantizeTensor(x6, 1, 0, 3, 3), ValueError, "quantizeTensor: [qmin, qmax] = [3, 3] must be integers with 0 ≤ qmin < qmax ≤ 255 (uint8)"],
      ["fractional qmin", () => quantizeTensor(x6, 1, 1, 0.5, 255), ValueError, "quantizeTensor: [qmin, qmax] = [0.5, 255] must be integers with 0 ≤ qmin < qmax ≤ 255 (uint8)"],
      ["fractional qmax", () => quantizeTensor(x6, 1, 1, 0, 254.5), ValueError, "quantizeTensor: [qmin, qmax] = [0, 254.5] must be integers with 0 ≤ qmin < qmax ≤ 255 (uint8)"],
      ["zero point above qmax", () => quantizeTensor(x6, 1, 16, 0, 15), ValueError, "quantizeTensor: zero point 16 must be an integer in [0, 15]"],
      ["zero point below qmin", () => quantizeTensor(x6, 1, -1, 0, 15), ValueError, "quantizeTensor: zero point -1 must be an integer in [0, 15]"],
      ["fractional zero point", () => quantizeTensor(x6, 1, 1.5, 0, 15), ValueError, "quantizeTensor: zero point 1.5 must be an integer in [0, 15]"],
      ["bad dtype", () => quantizeTensor(x6, 1, 0, 0, 15, "int4" as never), DTypeError, "quantizeTensor: dtype must be 'uint8' or 'int8', got 'int4'"],
      ["axis out of range", () => quantizePerChannel(x6, [2, 3], 2, [1, 1, 1], [0, 0, 0], -128, 127), ValueError, "quantizePerChannel: axis 2 out of range for shape [2, 3]"],
      ["axis below −rank", () => quantizePerChannel(x6, [2, 3], -3, [1, 1], [0, 0], -128, 127), ValueError, "quantizePerChannel: axis -3 out of range for shape [2, 3]"],
      ["fractional axis", () => quantizePerChannel(x6, [2, 3], 0.5, [1, 1], [0, 0], -128, 127), ValueError, "quantizePerChannel: axis 0.5 out of range for shape [2, 3]"],
      ["shape / length", () => quantizePerChannel(x6, [2, 2], 0, [1, 1], [0, 0], -128, 127), ShapeError, "quantizePerChannel: shape [2, 2] holds 4 elements but the array has 6"],
      ["too few scales", () => quantizePerChannel(x6, [2, 3], 1, [1, 1], [0, 0, 0], -128, 127), ShapeError, "quantizePerChannel: 3 channels along axis 1 but 2 scales and 3 zero points"],
      ["too few zero points", () => quantizePerChannel(x6, [2, 3], 1, [1, 1, 1], [0, 0], -128, 127), ShapeError, "quantizePerChannel: 3 channels along axis 1 but 3 scales and 2 zero points"],
      ["bad channel scale", () => quantizePerChannel(x6, [2, 3], 1, [1, NaN, 1], [0, 0, 0], -128, 127), ValueError, "quantizePerChannel: scales[1] must be a positive finite float32, got NaN"],
      ["bad channel zero point", () => quantizePerChannel(x6, [2, 3], 1, [1, 1, 1], [0, 0, 200], -128, 127), ValueError, "quantizePerChannel: zero point 200 must be an integer in [-128, 127]"],
      ["NaN input", () => quantizeTensor(Float32Array.of(1, NaN), 1, 0, 0, 255), ValueError, "quantizeTensor: NaN at index 1 cannot be quantized"],
      ["float codes", () => dequantizeTensor(Float32Array.of(1) as never, 1, 0), DTypeError, "dequantizeTensor: q must be a Uint8Array or Int8Array, got Float32Array"],
      ["fractional zero point out", () => dequantizeTensor(Int8Array.of(1), 1, 0.5), ValueError, "dequantizeTensor: zero point must be an integer, got 0.5"],
      ["bad scale out", () => dequantizeTensor(Int8Array.of(1), -1, 0), ValueError, "dequantizeTensor: scale must be a positive finite float32, got -1"],
      ["float codes per channel", () => dequantizePerChannel(Float32Array.of(1, 2) as never, [2], 0, [1, 1], [0, 0]), DTypeError, "dequantizePerChannel: q must be an Int8Array, Uint8Array or Int32Array"],
      ["scales per channel", () => dequantizePerChannel(Int8Array.of(1, 2), [2], 0, [1], [0, 0]), ShapeError, "dequantizePerChannel: 2 channels along axis 0 but 1 scales and 2 zero points"],
      ["zero points per channel", () => dequantizePerChannel(Int8Array.of(1, 2), [2], 0, [1, 1], [0]), ShapeError, "dequantizePerChannel: 2 channels along axis 0 but 2 scales and 1 zero points"],
      ["channel scale out", () => dequantizePerChannel(Int8Array.of(1, 2), [2], 0, [1, 0], [0, 0]), ValueError, "dequantizePerChannel: scales[1] must be a positive finite float32, got 0"],
    ]);
  });
});

describe("quantize / dequantize: values", () => {
  test("storage dtype defaults: uint8 when qmin ≥ 0, int8 otherwise", () => {
    expect(quantizeTensor(x6, 0.1, 3, 0, 15)).toBeInstanceOf(Uint8Array);
    expect(quantizeTensor(x6, 0.1, 0, -8, 7)).toBeInstanceOf(Int8Array);
    expect(quantizePerChannel(x6, [6], 0, new Array(6).fill(0.1), new Array(6).fill(0), -8, 7)).toBeInstanceOf(Int8Array);
  });

  test("per channel along the middle axis and a negative axis (outer and inner both > 1)", () => {
    // shape [2, 3, 2], channel = middle axis, scales 0.1·(c + 1), zero points c − 1.
    const x = Float32Array.from({ length: 12 }, (_, i) => (i - 5) * 0.13);
    const scales = [0.1, 0.2, 0.3], zps = [-1, 0, 1];
    const want = Array.from(x, (v, i) => {
      const c = Math.floor(i / 2) % 3;
      return Math.min(127, Math.max(-128, Math.round(Math.fround(v / Math.fround(scales[c]))) + zps[c]));
    });
    expect(Array.from(quantizePerChannel(x, [2, 3, 2], 1, scales, zps, -128, 127))).toEqual(want);
    expect(Array.from(quantizePerChannel(x, [2, 3, 2], -2, scales, zps, -128, 127))).toEqual(want);
    const back = dequantizePerChannel(Int8Array.from(want), [2, 3, 2], 1, scales, zps);
    expect(Array.from(back)).toEqual(want.map((q, i) => Math.fround((q - zps[Math.floor(i / 2) % 3]) * Math.fround(scales[Math.floor(i / 2) % 3]))));
  });

  test("dequantize subtracts the zero point, for int8, uint8 and int32 codes", () => {
    expect(Array.from(dequantizeTensor(Int8Array.of(3, -2), 0.5, 1))).toEqual([1, -1.5]);
    expect(Array.from(dequantizeTensor(Uint8Array.of(3, 200), 0.5, 1))).toEqual([1, 99.5]);
    expect(Array.from(dequantizeTensor(Int32Array.of(3, -70000), 0.5, 1))).toEqual([1, -35000.5]);
    expect(Array.from(dequantizePerChannel(Int32Array.of(3, -70000), [2], 0, [0.5, 0.25], [1, -2]))).toEqual([1, -17499.5]);
  });
});

describe("offline parameters", () => {
  test("each check names the function and the argument", () => {
    expectErrors([
      ["convRequant xScale", () => convRequant(0, [1], 1), ValueError, "convRequant: xScale must be positive and finite, got 0"],
      ["convRequant yScale", () => convRequant(1, [1], Infinity), ValueError, "convRequant: yScale must be positive and finite, got Infinity"],
      ["convRequant wScales", () => convRequant(1, [1, -1], 1), ValueError, "convRequant: wScales[1] must be positive and finite, got -1"],
      ["quantizeBias lengths", () => quantizeBias([1, 2, 3], 1, [1, 1]), ValueError, "quantizeBias: 3 biases but 2 weight scales"],
      ["quantizeBias scale", () => quantizeBias([1, 2], 1e-30, [1e-30, 1]), ValueError, "quantizeBias: bias scale of channel 0 must be positive and finite, got 0"],
      ["quantizeBias value", () => quantizeBias([1, NaN], 1, [1, 1]), ValueError, "quantizeBias: bias[1] = NaN is not finite"],
      ["requantMultiplier in", () => requantMultiplier(0, 1), ValueError, "requantMultiplier: inScale must be positive and finite, got 0"],
      ["requantMultiplier out", () => requantMultiplier(1, NaN), ValueError, "requantMultiplier: outScale must be positive and finite, got NaN"],
      ["globalAvgPool x", () => globalAvgPoolMultiplier(-1, 1, 4), ValueError, "globalAvgPoolMultiplier: xScale must be positive and finite, got -1"],
      ["globalAvgPool y", () => globalAvgPoolMultiplier(1, 0, 4), ValueError, "globalAvgPoolMultiplier: yScale must be positive and finite, got 0"],
      ["globalAvgPool hw", () => globalAvgPoolMultiplier(1, 1, 0), ValueError, "globalAvgPoolMultiplier: hw must be positive and finite, got 0"],
      ["qaddParams a", () => qaddParams(0, 1, 1), ValueError, "qaddParams: aScale must be positive and finite, got 0"],
      ["qaddParams b", () => qaddParams(1, 0, 1), ValueError, "qaddParams: bScale must be positive and finite, got 0"],
      ["qaddParams out", () => qaddParams(1, 1, 0), ValueError, "qaddParams: outScale must be positive and finite, got 0"],
      ["activationClamp", () => activationClamp("relu6", 0, 0, "uint8"), ValueError, "activationClamp: yScale must be positive and finite, got 0"],
      ["lutTable length", () => lutTable({ scale: 1, zeroPoint: 0, dtype: "int8" }, { scale: 1, zeroPoint: 0, dtype: "int8" }, [-128, 127], () => new Float32Array(255)), ValueError, "lutTable: the function returned 255 values for 256 inputs"],
    ]);
  });

  test("per-tensor weight scale applies to every channel; bias on the grid fround(Sx·Sw)", () => {
    const s = Math.fround(Math.fround(0.5) * Math.fround(0.1));
    expect(Array.from(quantizeBias([1, -1, 0.26], 0.5, [0.1]))).toEqual([Math.round(1 / s), Math.round(-1 / s), Math.round(0.26 / s)]);
    expect(Array.from(quantizeBias([1, 1], 0.5, [0.1, 0.2]))).toEqual([Math.round(1 / s), Math.round(1 / Math.fround(0.5 * Math.fround(0.2)))]);
  });

  test("TFLite Add multipliers: Ma = Sa/T, Mb = Sb/T, Mout = T/(2^20·Sout), T = 2·max(Sa, Sb)", () => {
    const p = qaddParams(0.05, 0.02, 0.06);
    expect(p.leftShift).toBe(20);
    expect(p.aMultiplier).toEqual(quantizeMultiplier(0.5));
    expect(p.bMultiplier).toEqual(quantizeMultiplier(0.02 / 0.1));
    expect(p.outMultiplier).toEqual(quantizeMultiplier(0.1 / (2 ** 20 * 0.06)));
  });
});
