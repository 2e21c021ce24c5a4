/**
 * The integer pools (src/int8/kernels/pool.ts): the exact error of every check, one condition
 * at a time (which pool, which argument, the values), the accepted bounds, and qglobalAvgPool's
 * two output routes — same scale (rounded division, ties away from zero, then the clamp) and own
 * scale (BigInt single-rounding reference of test/int8/reference.ts) — with their defaults;
 * qmaxPool2d against PyTorch's quantized max_pool2d where only one axis is padded or dilated or
 * ceil mode changes both sizes (scripts/golden/int8_maxpool_edges.py); qavgPool2d's clamp at
 * both ends of uint8.
 * Written to kill the mutants `npm run mutation` left alive in pool.ts (docs/mutation-survivors.md).
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { qavgPool2d, qglobalAvgPool, qmaxPool2d, quantizeMultiplier } from "../../src/int8/index-kernels.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { expectError } from "../expect-error.js";
import { mbqmSingleRef } from "./reference.js";
import { expectIdentical } from "../backend/helpers.js";

const x16 = Uint8Array.from({ length: 16 }, (_, i) => i * 9);
const shape = [1, 1, 4, 4];
const bad = <T>(v: unknown): T => v as T;

describe("qmaxPool2d and qavgPool2d checks", () => {
  test("dtype, shape and zero point", () => {
    expectError(() => qmaxPool2d({ x: bad(new Float32Array(16)), xShape: shape, kernelSize: 2 }), DTypeError, "qmaxPool2d: x must be a Uint8Array or Int8Array, got Float32Array");
    expectError(() => qavgPool2d({ x: bad(new Int16Array(16)), xZp: 0, xShape: shape, kernelSize: 2 }), DTypeError, "qavgPool2d: x must be a Uint8Array or Int8Array, got Int16Array");
    expectError(() => qmaxPool2d({ x: x16, xShape: [16], kernelSize: 2 }), ShapeError, "qmaxPool2d: xShape (NCHW) must have rank 4 with positive dims, got [16]");
    expectError(() => qavgPool2d({ x: x16, xZp: 0, xShape: [1, 1, 4, 5], kernelSize: 2 }), ShapeError, "qavgPool2d: xShape (NCHW) [1, 1, 4, 5] holds 20 elements but the array has 16");
    expectError(() => qavgPool2d({ x: Int8Array.from(x16, (v) => v - 128), xZp: 128, xShape: shape, kernelSize: 2 }), ValueError, "qavgPool2d: xZp must be an integer in [-128, 127] for int8, got 128");
    expectError(() => qavgPool2d({ x: x16, xZp: 0, xShape: shape, kernelSize: 2, divisorOverride: 1.5 }), ValueError, "qavgPool2d: divisorOverride must be a positive integer, got 1.5");
  });

  test("kernel, stride and dilation: each entry of each pair", () => {
    const pos = (op: string, name: string, v: number) => `${op}: ${name} must be a positive integer, got ${v}`;
    const cases: [Partial<Parameters<typeof qmaxPool2d>[0]>, string, number][] = [
      [{ kernelSize: [0, 2] }, "kernelSize", 0], [{ kernelSize: [2, 1.5] }, "kernelSize", 1.5],
      [{ stride: [0, 1] }, "stride", 0], [{ stride: [1, -1] }, "stride", -1],
      [{ dilation: [0, 1] }, "dilation", 0], [{ dilation: [1, 0] }, "dilation", 0],
    ];
    for (const [over, name, v] of cases) {
      expectError(() => qmaxPool2d({ x: x16, xShape: shape, kernelSize: 2, ...over }), ValueError, pos("qmaxPool2d", name, v));
    }
    expectError(() => qavgPool2d({ x: x16, xZp: 0, xShape: shape, kernelSize: 2, stride: [2, 0] }), ValueError, pos("qavgPool2d", "stride", 0));
  });

  test("padding: integers in [0, kernel/2], each condition alone; kernel/2 itself accepted", () => {
    const msg = (op: string, p: [number, number], k: [number, number]) => `${op}: padding [${p[0]}, ${p[1]}] must be integers in [0, kernel/2] (kernel ${k[0]}×${k[1]})`;
    for (const p of [[0.5, 0], [0, 0.5], [-1, 0], [0, -1], [2, 0], [0, 2]] as [number, number][]) {
      expectError(() => qmaxPool2d({ x: x16, xShape: shape, kernelSize: 3, stride: 1, padding: p }), ValueError, msg("qmaxPool2d", p, [3, 3]));
    }
    expectError(() => qavgPool2d({ x: x16, xZp: 0, xShape: shape, kernelSize: [2, 4], padding: [1, 3] }), ValueError, msg("qavgPool2d", [1, 3], [2, 4]));
    expect(qmaxPool2d({ x: x16, xShape: shape, kernelSize: [2, 4], padding: [1, 2] }).shape).toEqual([1, 1, 3, 2]);
  });

  test("a window that does not fit, each axis alone", () => {
    expectError(() => qmaxPool2d({ x: x16, xShape: shape, kernelSize: [5, 2] }), ShapeError, "qmaxPool2d: window 5×2 does not fit input 4×4 with padding [0, 0]");
    expectError(() => qavgPool2d({ x: x16, xZp: 0, xShape: shape, kernelSize: [2, 5] }), ShapeError, "qavgPool2d: window 2×5 does not fit input 4×4 with padding [0, 0]");
    expectError(() => qmaxPool2d({ x: x16, xShape: shape, kernelSize: 2, dilation: [4, 1] }), ShapeError, "qmaxPool2d: window 2×2 does not fit input 4×4 with padding [0, 0]");
  });

  test("stride defaults to the kernel size; a preallocated output is filled and returned", () => {
    const out = new Uint8Array(4);
    const y = qmaxPool2d({ x: x16, xShape: shape, kernelSize: 2, out });
    expect(y.data).toBe(out);
    expect(Array.from(out)).toEqual([45, 63, 117, 135]);
    expectError(() => qmaxPool2d({ x: x16, xShape: shape, kernelSize: 2, out: new Uint8Array(9) }), ShapeError, "qmaxPool2d: out holds 9 elements, expected 4");
  });
});

describe("qglobalAvgPool", () => {
  test("checks, with their exact messages", () => {
    expectError(() => qglobalAvgPool({ x: bad([1, 2]), xZp: 0, xShape: [1, 1, 1, 2] }), DTypeError, "qglobalAvgPool: x must be a Uint8Array or Int8Array, got Array");
    expectError(() => qglobalAvgPool({ x: x16, xZp: 0, xShape: [1, 16] }), ShapeError, "qglobalAvgPool: xShape (NCHW) must have rank 4 with positive dims, got [1, 16]");
    expectError(() => qglobalAvgPool({ x: x16, xZp: 256, xShape: shape }), ValueError, "qglobalAvgPool: xZp must be an integer in [0, 255] for uint8, got 256");
    const m = quantizeMultiplier(0.01);
    expectError(() => qglobalAvgPool({ x: x16, xZp: 0, xShape: shape, multiplier: m, outDType: bad("uint4") }), DTypeError, "qglobalAvgPool: outDType must be 'uint8' or 'int8', got 'uint4'");
    expectError(() => qglobalAvgPool({ x: x16, xZp: 0, xShape: shape, multiplier: m, outDType: "int8", yZp: 200 }), ValueError, "qglobalAvgPool: yZp must be an integer in [-128, 127] for int8, got 200");
    expectError(() => qglobalAvgPool({ x: x16, xZp: 200, xShape: shape, multiplier: m, outDType: "int8" }), ValueError, "qglobalAvgPool: yZp must be an integer in [-128, 127] for int8, got 200");
    expectError(() => qglobalAvgPool({ x: x16, xZp: 0, xShape: shape, clampMin: 3, clampMax: 2 }), ValueError, "qglobalAvgPool: clamp [3, 2] must be integers with 0 ≤ clampMin ≤ clampMax ≤ 255 (uint8)");
    expectError(() => qglobalAvgPool({ x: x16, xZp: 0, xShape: shape, out: new Uint8Array(2) }), ShapeError, "qglobalAvgPool: out holds 2 elements, expected 1");
  });

  test("planes whose int32 sum could overflow are refused; the largest safe plane is accepted", () => {
    // 255·H·W ≤ 2^31 − 1 ⇔ H·W ≤ 8,421,504.
    expectError(() => qglobalAvgPool({ x: new Uint8Array(8421505), xZp: 0, xShape: [1, 1, 1, 8421505] }), ValueError, "qglobalAvgPool: 1×8421505 planes could overflow the int32 sum");
    const x = new Uint8Array(8421504).fill(255);
    expect(Array.from(qglobalAvgPool({ x, xZp: 0, xShape: [1, 1, 2, 4210752] }).data)).toEqual([255]);
  });

  test("same scale: rounded division (ties away from zero) per plane, then the clamp", () => {
    // Planes of 4: sums (x − 10) = 6, −6, 2, −2, 500 → 1.5 → 2, −1.5 → −2, 0.5 → 1, −0.5 → −1, 125.
    const x = Uint8Array.of(10, 10, 10, 16, 10, 10, 10, 4, 11, 11, 10, 10, 9, 9, 10, 10, 135, 135, 135, 135);
    const y = qglobalAvgPool({ x, xZp: 10, xShape: [1, 5, 2, 2], yZp: 99, outDType: "int8" });
    expect(y.data).toBeInstanceOf(Uint8Array); // no multiplier: the input's dtype and zero point
    expect(Array.from(y.data)).toEqual([12, 8, 11, 9, 135]);
    expect(y.shape).toEqual([1, 5, 1, 1]);
    expect(Array.from(qglobalAvgPool({ x, xZp: 10, xShape: [5, 1, 2, 2], clampMin: 9, clampMax: 12 }).data)).toEqual([12, 9, 11, 9, 12]);
    const s = Int8Array.of(-128, -128, -128, -128, 127, 127, 127, 127);
    expect(Array.from(qglobalAvgPool({ x: s, xZp: 0, xShape: [1, 2, 1, 4], clampMin: -100, clampMax: 100 }).data)).toEqual([-100, 100]);
    expect(Array.from(qglobalAvgPool({ x: s, xZp: 0, xShape: [1, 2, 1, 4] }).data)).toEqual([-128, 127]);
  });

  test("own scale: yZp + MBQM(sum, M), clamped; yZp defaults to xZp and outDType to x's", () => {
    const x = Int8Array.from({ length: 2 * 3 * 3 }, (_, i) => ((i * 29) % 256) - 128);
    const m = quantizeMultiplier(0.37 / 9);
    const sums = [0, 1].map((p) => x.subarray(9 * p, 9 * p + 9).reduce((a, v) => a + v - 5, 0));
    const want = (yZp: number, lo: number, hi: number) => sums.map((s) => Math.min(hi, Math.max(lo, yZp + mbqmSingleRef(s, m.multiplier, m.shift))));
    const own = qglobalAvgPool({ x, xZp: 5, xShape: [1, 2, 3, 3], multiplier: m, yZp: 120, outDType: "uint8" });
    expect(own.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(own.data)).toEqual(want(120, 0, 255));
    const dflt = qglobalAvgPool({ x, xZp: 5, xShape: [1, 2, 3, 3], multiplier: m });
    expect(dflt.data).toBeInstanceOf(Int8Array);
    expect(Array.from(dflt.data)).toEqual(want(5, -128, 127));
    const big = quantizeMultiplier(3);
    const sat = qglobalAvgPool({ x, xZp: 5, xShape: [1, 2, 3, 3], multiplier: big, clampMin: -50, clampMax: 60 });
    expect(Array.from(sat.data)).toEqual(sums.map((s) => Math.min(60, Math.max(-50, 5 + mbqmSingleRef(s, big.multiplier, big.shift)))));
  });
});

interface MaxPoolGolden {
  name: string; dtype: "uint8" | "int8"; shape: number[]; kernel: [number, number]; stride: [number, number];
  padding: [number, number]; dilation: [number, number]; ceilMode: boolean; x: number[]; y: number[]; yShape: number[];
}

describe("qmaxPool2d against PyTorch's quantized max_pool2d (one axis padded or dilated, ceil mode)", () => {
  const golden = JSON.parse(readFileSync(new URL("../golden/quant/int8_maxpool_edges.json", import.meta.url), "utf8")) as { cases: MaxPoolGolden[] };
  for (const g of golden.cases) {
    test(g.name, () => {
      const x = g.dtype === "uint8" ? Uint8Array.from(g.x) : Int8Array.from(g.x);
      const y = qmaxPool2d({ x, xShape: g.shape, kernelSize: g.kernel, stride: g.stride, padding: g.padding, dilation: g.dilation, ceilMode: g.ceilMode });
      expect(y.shape).toEqual(g.yShape);
      expectIdentical(y.data, g.y, g.name);
    });
  }
});

describe("qavgPool2d clamps at both ends of uint8", () => {
  test("a divisor override below the window size pushes the mean past 0 and 255", () => {
    // Windows of 4 cells, divisor 1: xZp 200 with zeros → 200 − 800 → 0; xZp 10 with 255s → 10 + 980 → 255.
    const lowX = new Uint8Array(16), highX = new Uint8Array(16).fill(255);
    expect(Array.from(qavgPool2d({ x: lowX, xZp: 200, xShape: shape, kernelSize: 2, divisorOverride: 1 }).data)).toEqual([0, 0, 0, 0]);
    expect(Array.from(qavgPool2d({ x: highX, xZp: 10, xShape: shape, kernelSize: 2, divisorOverride: 1 }).data)).toEqual([255, 255, 255, 255]);
    // Divisor 5 (> 4 cells): 200 + roundDiv(−800, 5) = 40, 10 + roundDiv(980, 5) = 206; inside the range.
    expect(Array.from(qavgPool2d({ x: lowX, xZp: 200, xShape: shape, kernelSize: 2, divisorOverride: 5 }).data)).toEqual([40, 40, 40, 40]);
    expect(Array.from(qavgPool2d({ x: highX, xZp: 10, xShape: shape, kernelSize: 2, divisorOverride: 5 }).data)).toEqual([206, 206, 206, 206]);
  });
});
