/**
 * qconv2d / qlinear argument checks one condition at a time, with the exact message (which
 * kernel, which argument, the values): weight packing on its own, each padding dimension,
 * each group condition, each field of pre-packed weights. Complements kernels-errors.test.ts
 * (which checks the output stays untouched); written to kill the mutants `npm run mutation`
 * found surviving (docs/TESTING.md).
 */
import { describe, expect, test } from "vitest";
import { type QConv2dArgs, type QLinearArgs, packQConv2dWeights, packQLinearWeights, qconv2d, qlinear, quantizeMultipliers } from "../../src/int8/index-kernels.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { expectError } from "../expect-error.js";

type ErrorClass = new (...a: never[]) => Error;

function expectErrorAt(what: string, fn: () => unknown, type: ErrorClass, message: string): void {
  expectError(fn, type, message, what);
}

function conv(over: Partial<QConv2dArgs> = {}): QConv2dArgs {
  return {
    x: new Uint8Array(1 * 4 * 5 * 5).fill(3), xZp: 0, xShape: [1, 4, 5, 5],
    w: new Int8Array(4 * 2 * 3 * 3).fill(1), wShape: [4, 2, 3, 3], bias: null,
    geometry: { padding: 1, groups: 2 }, requant: quantizeMultipliers([0.1]), yZp: 0, outDType: "uint8", ...over,
  };
}

describe("qconv2d checks", () => {
  test("weight packing on its own", () => {
    expectErrorAt("float weights", () => packQConv2dWeights(new Float32Array(72) as never, [4, 2, 3, 3]), DTypeError, "qconv2d: w must be an Int8Array (or packed weights), got Float32Array");
    expectErrorAt("rank", () => packQConv2dWeights(new Int8Array(72), [4, 18]), ShapeError, "qconv2d: wShape must have rank 4 with positive dims, got [4, 18]");
    expectErrorAt("groups", () => packQConv2dWeights(new Int8Array(72), [4, 2, 3, 3], 0), ValueError, "qconv2d: groups must be a positive integer, got 0");
    expectErrorAt("divisible", () => packQConv2dWeights(new Int8Array(72), [4, 2, 3, 3], 3), ShapeError, "qconv2d: 4 output channels are not divisible by groups = 3");
    expect(packQConv2dWeights(new Int8Array(72), [4, 2, 3, 3], 2).groups).toBe(2);
  });

  test("geometry, one dimension at a time", () => {
    const pad = (p: [number, number]) => `qconv2d: padding must be non-negative integers, got [${p[0]}, ${p[1]}]`;
    expectErrorAt("pad h", () => qconv2d(conv({ geometry: { padding: [-1, 0], groups: 2 } })), ValueError, pad([-1, 0]));
    expectErrorAt("pad w", () => qconv2d(conv({ geometry: { padding: [0, -1], groups: 2 } })), ValueError, pad([0, -1]));
    expectErrorAt("pad h fraction", () => qconv2d(conv({ geometry: { padding: [0.5, 0], groups: 2 } })), ValueError, pad([0.5, 0]));
    expectErrorAt("pad w fraction", () => qconv2d(conv({ geometry: { padding: [0, 0.5], groups: 2 } })), ValueError, pad([0, 0.5]));
    expectErrorAt("groups param", () => qconv2d(conv({ geometry: { groups: 0 } })), ValueError, "qconv2d: groups must be a positive integer, got 0");
    const fit = (g: number) => `qconv2d: input [1, 4, 5, 5] and weight [4, 2, 3, 3] do not fit groups = ${g} (need C = groups·I and OC % groups = 0)`;
    expectErrorAt("C not divisible", () => qconv2d(conv({ geometry: { groups: 3 } })), ShapeError, fit(3));
    expectErrorAt("I ≠ C / groups", () => qconv2d(conv({ geometry: { groups: 1 } })), ShapeError, fit(1));
    expectErrorAt("OC not divisible", () => qconv2d(conv({ w: new Int8Array(6 * 1 * 9), wShape: [6, 1, 3, 3], geometry: { groups: 4 } })), ShapeError,
      "qconv2d: input [1, 4, 5, 5] and weight [6, 1, 3, 3] do not fit groups = 4 (need C = groups·I and OC % groups = 0)");
    expectErrorAt("too tall", () => qconv2d(conv({ x: new Uint8Array(4 * 2 * 9), xShape: [1, 4, 2, 9], geometry: { groups: 2 } })), ShapeError, "qconv2d: kernel 3×3 (dilation 1×1) does not fit the padded input 2×9");
    expectErrorAt("too wide", () => qconv2d(conv({ x: new Uint8Array(4 * 9 * 2), xShape: [1, 4, 9, 2], geometry: { groups: 2 } })), ShapeError, "qconv2d: kernel 3×3 (dilation 1×1) does not fit the padded input 9×2");
    expect(qconv2d(conv({ x: new Uint8Array(4 * 3 * 3), xShape: [1, 4, 3, 3], geometry: { groups: 2 } })).shape).toEqual([1, 4, 1, 1]);
  });

  test("pre-packed weights must match every field", () => {
    const packed = packQConv2dWeights(new Int8Array(72).fill(1), [4, 2, 3, 3], 2, 0);
    const msg = (shape: string, g: number, z: number) => `qconv2d: packed weights (OC 4, K 18, groups 2, wZp 0) do not match wShape ${shape}, groups ${g}, wZp ${z}`;
    // OC·K is fixed by the array, so OC and K can only differ together.
    expectErrorAt("OC and K", () => qconv2d(conv({ w: packed, wShape: [2, 4, 3, 3], geometry: { padding: 1, groups: 1 } })), ShapeError, msg("[2, 4, 3, 3]", 1, 0));
    expectErrorAt("groups", () => qconv2d(conv({ w: packed, wShape: [4, 2, 3, 3], x: new Uint8Array(50).fill(3), xShape: [1, 2, 5, 5], geometry: { padding: 1, groups: 1 } })), ShapeError, msg("[4, 2, 3, 3]", 1, 0));
    expectErrorAt("wZp", () => qconv2d(conv({ w: packed, wZp: 1 })), ShapeError, msg("[4, 2, 3, 3]", 2, 1));
    const direct = qconv2d(conv()).data;
    expect(Array.from(qconv2d(conv({ w: packed })).data)).toEqual(Array.from(direct));
    expect(Array.from(qconv2d(conv({ w: packed, wZp: 0 })).data)).toEqual(Array.from(direct));
  });
});

describe("qlinear checks", () => {
  const lin = (over: Partial<QLinearArgs> = {}): QLinearArgs => ({
    x: new Int8Array(6).fill(2), xZp: 0, xShape: [2, 3], w: new Int8Array(6).fill(1), wShape: [2, 3], bias: null,
    requant: quantizeMultipliers([0.5]), yZp: 0, outDType: "int8", ...over,
  });

  test("weights, shapes and pre-packed weights", () => {
    expectErrorAt("float weights", () => packQLinearWeights(new Float32Array(6) as never, [2, 3]), DTypeError, "qlinear: w must be an Int8Array, got Float32Array");
    expectErrorAt("w rank", () => packQLinearWeights(new Int8Array(6), [6]), ShapeError, "qlinear: wShape [O, K] must have rank 2 with positive dims, got [6]");
    expectErrorAt("w rank in call", () => qlinear(lin({ wShape: [6] })), ShapeError, "qlinear: wShape [O, K] must have rank 2 with positive dims, got [6]");
    expectErrorAt("x rank", () => qlinear(lin({ xShape: [6] })), ShapeError, "qlinear: xShape [N, K] must have rank 2 with positive dims, got [6]");
    expectErrorAt("outDType", () => qlinear(lin({ outDType: "int32" as never })), DTypeError, "qlinear: outDType must be 'uint8' or 'int8', got 'int32'");
    const grouped = packQConv2dWeights(new Int8Array(6).fill(1), [2, 3, 1, 1], 1, 0);
    expect(Array.from(qlinear(lin({ w: grouped })).data)).toEqual(Array.from(qlinear(lin()).data));
    const packed = packQLinearWeights(new Int8Array(6).fill(1), [2, 3], 0);
    expectErrorAt("wZp", () => qlinear(lin({ w: packed, wZp: 2 })), ShapeError, "qlinear: packed weights have groups 1, wZp 0; expected 1, 2");
    const twoGroups = packQConv2dWeights(new Int8Array(6).fill(1), [2, 3, 1, 1], 2, 0);
    expectErrorAt("groups", () => qlinear(lin({ w: { ...twoGroups, K: 3 } })), ShapeError, "qlinear: packed weights have groups 2, wZp 0; expected 1, 0");
  });

  test("the accumulator bound counts the bias: |x − xZp|·Σ|w| + |bias| past 2^31 − 1 is refused", () => {
    const args = lin({ x: new Int8Array(3).fill(127), xShape: [1, 3], w: new Int8Array(6).fill(-128), wShape: [2, 3], xZp: -128 });
    // maxDev 255, Σ|w| = 384 per channel: 97,920 + |bias|.
    expect(() => qlinear({ ...args, bias: Int32Array.of(0, 2 ** 31 - 1 - 97920) })).not.toThrow();
    expectErrorAt("bias overflow", () => qlinear({ ...args, bias: Int32Array.of(0, -(2 ** 31 - 97920)) }), ValueError,
      "qlinear: int32 accumulator of output channel 1 could overflow (worst case 2147483648 > 2^31 − 1)");
  });

  test("several row blocks, a partial last one (N = 6 rows, 4 per block)", () => {
    const N = 6, K = 5, O = 3;
    const x = Int8Array.from({ length: N * K }, (_, i) => ((i * 7) % 11) - 5);
    const w = Int8Array.from({ length: O * K }, (_, i) => ((i * 5) % 9) - 4);
    const y = qlinear({ x, xZp: 1, xShape: [N, K], w, wShape: [O, K], bias: Int32Array.of(3, -2, 0), requant: quantizeMultipliers([0.25]), yZp: -1, outDType: "int8" });
    const want: number[] = [];
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < O; o++) {
        let acc = [3, -2, 0][o];
        for (let k = 0; k < K; k++) acc += (x[n * K + k] - 1) * w[o * K + k];
        want.push(Math.max(-128, Math.min(127, -1 + Math.floor(acc * 0.25 + 0.5))));
      }
    }
    expect(Array.from(y.data)).toEqual(want);
  });
});
