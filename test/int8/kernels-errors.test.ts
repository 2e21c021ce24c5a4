/**
 * Bad input to the integer kernels: each kernel throws the typed error naming the argument at
 * fault (DTypeError, ShapeError, ValueError) before computing anything — checked by passing a
 * preallocated `out` filled with a sentinel and asserting it is untouched.
 */
import { describe, expect, test } from "vitest";
import {
  type QConv2dArgs, type QLinearArgs, qadd, qaddParams, qavgPool2d, qconcat, qconv2d, qglobalAvgPool, qlinear,
  qmaxPool2d, qrequantize, quantizeMultipliers,
} from "../../src/int8/index-kernels.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";

const SENTINEL = 77;

function convArgs(): QConv2dArgs {
  return {
    x: new Uint8Array(1 * 2 * 4 * 4).fill(3), xZp: 0, xShape: [1, 2, 4, 4],
    w: new Int8Array(3 * 2 * 3 * 3).fill(1), wShape: [3, 2, 3, 3], bias: new Int32Array(3),
    geometry: { padding: 1 }, requant: quantizeMultipliers([0.1, 0.1, 0.1]), yZp: 0, outDType: "uint8",
    out: new Uint8Array(3 * 16).fill(SENTINEL),
  };
}

/** Asserts `fn` throws `type` with a message mentioning `mention`, and `out` stayed untouched. */
function expectRejected(fn: () => unknown, type: new (...a: never[]) => Error, mention: string, out: ArrayLike<number>): void {
  expect(fn).toThrow(type);
  expect(fn).toThrow(mention);
  expect(Array.from(out).every((v) => v === SENTINEL)).toBe(true);
}

describe("qconv2d rejects bad input before computing", () => {
  const cases: [string, (a: QConv2dArgs) => QConv2dArgs, new (...a: never[]) => Error, string][] = [
    ["float input", (a) => ({ ...a, x: new Float32Array(32) as unknown as Uint8Array }), DTypeError, "x must be"],
    ["uint8 weights", (a) => ({ ...a, w: new Uint8Array(54) as unknown as Int8Array }), DTypeError, "w must be"],
    ["xShape / length mismatch", (a) => ({ ...a, xShape: [1, 2, 4, 5] }), ShapeError, "xShape"],
    ["channel mismatch", (a) => ({ ...a, wShape: [3, 3, 3, 2] }), ShapeError, "groups"],
    ["groups not dividing", (a) => ({ ...a, geometry: { groups: 2 } }), ShapeError, "groups"],
    ["kernel larger than input", (a) => ({ ...a, geometry: { padding: 0, dilation: 3 } }), ShapeError, "does not fit"],
    ["negative padding", (a) => ({ ...a, geometry: { padding: -1 } }), ValueError, "padding"],
    ["zero stride", (a) => ({ ...a, geometry: { stride: 0 } }), ValueError, "stride"],
    ["x zero point out of range", (a) => ({ ...a, xZp: 256 }), ValueError, "xZp"],
    ["y zero point out of int8 range", (a) => ({ ...a, yZp: 200, outDType: "int8", out: undefined }), ValueError, "yZp"],
    ["bias length", (a) => ({ ...a, bias: new Int32Array(2) }), ShapeError, "bias"],
    ["requant length", (a) => ({ ...a, requant: quantizeMultipliers([0.1, 0.1]) }), ShapeError, "requant"],
    ["shift out of range", (a) => ({ ...a, requant: { multiplier: new Int32Array(3).fill(2 ** 30), shift: Int32Array.of(0, 31, 0) } }), ValueError, "shift"],
    ["clamp outside dtype", (a) => ({ ...a, clampMin: -1 }), ValueError, "clamp"],
    ["clampMin > clampMax", (a) => ({ ...a, clampMin: 10, clampMax: 5 }), ValueError, "clamp"],
    ["out of the wrong dtype", (a) => ({ ...a, outDType: "int8" }), DTypeError, "out must be int8"],
    ["bad outDType", (a) => ({ ...a, outDType: "int32" as "int8" }), DTypeError, "outDType"],
  ];
  for (const [name, mutate, type, mention] of cases) {
    test(name, () => {
      const args = mutate(convArgs());
      expectRejected(() => qconv2d(args), type, mention, args.out ?? []);
    });
  }

  test("an int32 accumulator that could overflow is a ValueError naming the channel", () => {
    const K = 70000; // 255·128·70000 ≈ 2.3e9 > 2^31
    const out = new Uint8Array(1).fill(SENTINEL);
    const args: QLinearArgs = {
      x: new Uint8Array(K), xZp: 255, xShape: [1, K], w: new Int8Array(K).fill(-128), wShape: [1, K], bias: null,
      requant: quantizeMultipliers([1e-9]), yZp: 0, outDType: "uint8", out,
    };
    expectRejected(() => qlinear(args), ValueError, "output channel 0 could overflow", out);
    const ok = { ...args, w: new Int8Array(K).fill(-100) }; // 255·100·70000 ≈ 1.8e9 < 2^31
    expect(qlinear(ok).data[0]).not.toBe(SENTINEL);
  });
});

describe("other kernels reject bad input", () => {
  test("qlinear: K mismatch, dtype, bias", () => {
    const out = new Int8Array(2).fill(SENTINEL);
    const base: QLinearArgs = { x: new Int8Array(6), xZp: 0, xShape: [2, 3], w: new Int8Array(3), wShape: [1, 3], bias: null, requant: quantizeMultipliers([0.5]), yZp: 0, outDType: "int8", out };
    expectRejected(() => qlinear({ ...base, wShape: [3, 1] }), ShapeError, "disagree on K", out);
    expectRejected(() => qlinear({ ...base, x: [1, 2, 3, 4, 5, 6] as unknown as Int8Array }), DTypeError, "x must be", out);
    expectRejected(() => qlinear({ ...base, bias: new Float32Array(1) as unknown as Int32Array }), ShapeError, "bias", out);
    expectRejected(() => qlinear({ ...base, xShape: [6] }), ShapeError, "rank 2", out);
  });

  test("qadd, qrequantize, qconcat", () => {
    const out = new Uint8Array(3).fill(SENTINEL);
    const p = qaddParams(0.1, 0.1, 0.1);
    const a = new Uint8Array(3), b = new Uint8Array(3);
    expectRejected(() => qadd({ a, aZp: 0, b: new Uint8Array(4), bZp: 0, ...p, outZp: 0, outDType: "uint8", out }), ShapeError, "same number", out);
    expectRejected(() => qadd({ a, aZp: 0, b, bZp: -1, ...p, outZp: 0, outDType: "uint8", out }), ValueError, "bZp", out);
    expectRejected(() => qadd({ a, aZp: 0, b, bZp: 0, ...p, leftShift: 25, outZp: 0, outDType: "uint8", out }), ValueError, "leftShift", out);
    expectRejected(() => qadd({ a, aZp: 0, b, bZp: 0, ...p, outMultiplier: { multiplier: -5, shift: 0 }, outZp: 0, outDType: "uint8", out }), ValueError, "outMultiplier", out);
    expectRejected(() => qrequantize({ x: a, xZp: 0, multiplier: { multiplier: 2 ** 30, shift: 40 }, yZp: 0, outDType: "uint8", out }), ValueError, "multiplier", out);
    expect(() => qconcat({ inputs: [{ x: a, shape: [1, 3], zp: 0 }, { x: b, shape: [3, 1], zp: 0 }], axis: 1, outZp: 0, outDType: "uint8" })).toThrow(ShapeError);
    expect(() => qconcat({ inputs: [{ x: a, shape: [1, 3], zp: 0 }], axis: 2, outZp: 0, outDType: "uint8" })).toThrow(ValueError);
    expect(() => qconcat({ inputs: [], axis: 0, outZp: 0, outDType: "uint8" })).toThrow(ValueError);
  });

  test("pools", () => {
    const x = new Uint8Array(16);
    const out = new Uint8Array(4).fill(SENTINEL);
    expectRejected(() => qmaxPool2d({ x, xShape: [1, 1, 4, 4], kernelSize: 2, padding: 2, out }), ValueError, "padding", out);
    expectRejected(() => qmaxPool2d({ x, xShape: [1, 1, 4, 5], kernelSize: 2, out }), ShapeError, "xShape", out);
    expectRejected(() => qavgPool2d({ x, xZp: 300, xShape: [1, 1, 4, 4], kernelSize: 2, out }), ValueError, "xZp", out);
    expectRejected(() => qavgPool2d({ x, xZp: 0, xShape: [1, 1, 4, 4], kernelSize: 2, divisorOverride: 0, out }), ValueError, "divisorOverride", out);
    expectRejected(() => qmaxPool2d({ x, xShape: [1, 1, 4, 4], kernelSize: 5, out }), ShapeError, "does not fit", out);
    expect(() => qglobalAvgPool({ x: new Int16Array(4) as unknown as Int8Array, xZp: 0, xShape: [1, 1, 2, 2] })).toThrow(DTypeError);
  });
});
