/**
 * qconv2d (src/int8/kernels/qconv2d.ts) where the mutation run found the tests thin: grouped
 * convolutions whose groups hold more than one quad of output channels (the weight offset of
 * group g > 0 on the general path), against the naive integer convolution and BigInt
 * requantization of test/int8/reference.ts; the weight-shape error; pre-packed weights whose
 * output-channel count and K differ while groups and zero point agree. Written to kill the
 * mutants `npm run mutation` left alive in qconv2d.ts (docs/mutation-survivors.md).
 */
import { describe, expect, test } from "vitest";
import { packQConv2dWeights, qconv2d, quantizeMultipliers } from "../../src/int8/index-kernels.js";
import { ShapeError } from "../../src/tensor/errors.js";
import { expectError } from "../expect-error.js";
import { Rng, convAccRef, requantRef } from "./reference.js";

describe("grouped convolution with several quads per group", () => {
  // [name, xShape, wShape, groups, stride, padding, dilation, xZp, wZp, dtype]
  const cases: [string, number[], number[], number, [number, number], [number, number], [number, number], number, number, "uint8" | "int8"][] = [
    ["2 groups of 5 channels (2 quads each), 2 images, odd output size", [2, 4, 5, 6], [10, 2, 3, 3], 2, [1, 2], [1, 0], [1, 1], 7, 0, "uint8"],
    ["3 groups of 8 channels, weight zero point, dilation", [1, 6, 7, 7], [24, 2, 2, 3], 3, [2, 1], [0, 2], [2, 1], -5, 3, "int8"],
  ];
  cases.forEach(([name, xShape, wShape, groups, stride, padding, dilation, xZp, wZp, dtype], i) => test(name, () => {
    const rng = new Rng(5100 + i);
    const nx = xShape.reduce((a, b) => a * b), nw = wShape.reduce((a, b) => a * b);
    const x = dtype === "uint8" ? rng.fill(new Uint8Array(nx), 0, 255) : rng.fill(new Int8Array(nx), -128, 127);
    const w = rng.fill(new Int8Array(nw), -128, 127);
    const oc = wShape[0];
    const bias = rng.fill(new Int32Array(oc), -3000, 3000);
    const requant = quantizeMultipliers(Array.from({ length: oc }, () => rng.uniform(2e-4, 6e-4)));
    const yZp = dtype === "uint8" ? 128 : 0;
    const { acc, shape } = convAccRef({ x, xZp, xShape, w, wZp, wShape, stride, padding, dilation, groups });
    const inner = shape[2] * shape[3];
    const [lo, hi] = dtype === "uint8" ? [0, 255] : [-128, 127];
    const want = requantRef(acc, bias, requant.multiplier, requant.shift, oc, inner, yZp, lo, hi);
    const args = { x, xZp, xShape, w, wShape, wZp, bias, geometry: { stride, padding, dilation, groups }, requant, yZp, outDType: dtype };
    const y = qconv2d(args);
    expect(y.shape).toEqual(shape);
    expect(Array.from(y.data)).toEqual(want);
    expect(new Set(want).size).toBeGreaterThan(20); // the multipliers keep the outputs spread, not saturated
    expect(Array.from(qconv2d({ ...args, w: packQConv2dWeights(w, wShape, groups, wZp) }).data)).toEqual(want);
  }));
});

describe("qconv2d weight checks", () => {
  const x = new Uint8Array(4 * 5 * 5).fill(3);
  const base = { x, xZp: 0, xShape: [1, 4, 5, 5], bias: null, requant: quantizeMultipliers([0.1]), yZp: 0, outDType: "uint8" as const };

  test("weights whose shape is not rank 4", () => {
    expectError(() => qconv2d({ ...base, w: new Int8Array(54), wShape: [3, 18] }), ShapeError, "qconv2d: wShape (OIHW) must have rank 4 with positive dims, got [3, 18]");
  });

  test("pre-packed weights with other output channels and K, same groups and zero point", () => {
    const packed = packQConv2dWeights(new Int8Array(72).fill(1), [4, 2, 3, 3], 1, 0);
    expectError(() => qconv2d({ ...base, w: packed, wShape: [2, 4, 3, 3] }), ShapeError,
      "qconv2d: packed weights (OC 4, K 18, groups 1, wZp 0) do not match wShape [2, 4, 3, 3], groups 1, wZp 0");
  });
});
