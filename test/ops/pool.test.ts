/**
 * maxPool2d / avgPool2d / adaptiveAvgPool2d: forward, backward and max-pool indices against
 * PyTorch 1.13 (golden file), output-size rules (ceil mode), ties, gradchecks and validation.
 */
import { describe, expect, it } from "vitest";
import { backward } from "../../src/autograd/backward.js";
import { adaptiveAvgPool2d, avgPool2d, maxPool2d, maxPool2dWithIndices, poolOutputSize, type AvgPool2dOptions, type MaxPool2dOptions } from "../../src/ops/pool.js";
import { ones, tensor, zeros } from "../../src/tensor/creation.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { manualSeed } from "../../src/tensor/random.js";
import { expectGrad, leaf } from "../core/helpers.js";
import { type GT, type GoldenCase, PRECISIONS, cases, expectMatches, forwardBackward, fromGolden } from "./golden-helpers.js";

interface PoolCase extends GoldenCase {
  x: GT;
  kernel: number | number[];
  opts: { stride?: number | number[]; padding?: number | number[]; dilation?: number | number[]; ceil_mode?: boolean; count_include_pad?: boolean };
  gx: GT;
  indices?: GT;
}

interface AdaptiveCase extends GoldenCase {
  x: GT;
  output_size: (number | null)[];
  gx: GT;
}

const p2 = (v: number | number[] | undefined): number | [number, number] | undefined => (Array.isArray(v) ? [v[0], v[1]] : v);

function maxOpts(o: PoolCase["opts"]): MaxPool2dOptions {
  return { stride: p2(o.stride), padding: p2(o.padding), dilation: p2(o.dilation), ceilMode: o.ceil_mode };
}

function avgOpts(o: PoolCase["opts"]): AvgPool2dOptions {
  return { stride: p2(o.stride), padding: p2(o.padding), ceilMode: o.ceil_mode, countIncludePad: o.count_include_pad };
}

describe("pooling vs PyTorch golden", () => {
  for (const [dtype, tol] of PRECISIONS) {
    for (const c of cases<PoolCase>("max_pool2d")) {
      it(`maxPool2d ${c.name} (${dtype})`, () => {
        const x = fromGolden(c.x, dtype, true);
        const k = p2(c.kernel)!;
        const { y, grads } = forwardBackward((a) => maxPool2d(a, k, maxOpts(c.opts)), [x], c.gy);
        expectMatches(y, c.y, tol, "y");
        expectMatches(grads[0], c.gx, tol, "gx");
        const { indices } = maxPool2dWithIndices(x, k, maxOpts(c.opts));
        expect(indices.toList()).toEqual(c.indices!.data);
      });
    }
    for (const c of cases<PoolCase>("avg_pool2d")) {
      it(`avgPool2d ${c.name} (${dtype})`, () => {
        const x = fromGolden(c.x, dtype, true);
        const { y, grads } = forwardBackward((a) => avgPool2d(a, p2(c.kernel)!, avgOpts(c.opts)), [x], c.gy);
        expectMatches(y, c.y, tol, "y");
        expectMatches(grads[0], c.gx, tol, "gx");
      });
    }
    for (const c of cases<AdaptiveCase>("adaptive_avg_pool2d")) {
      it(`adaptiveAvgPool2d ${c.name} (${dtype})`, () => {
        const x = fromGolden(c.x, dtype, true);
        const size: [number | null, number | null] = [c.output_size[0], c.output_size[1]];
        const { y, grads } = forwardBackward((a) => adaptiveAvgPool2d(a, size), [x], c.gy);
        expectMatches(y, c.y, tol, "y");
        expectMatches(grads[0], c.gx, tol, "gx");
      });
    }
  }
});

describe("pooling output sizes (PyTorch's rule)", () => {
  it("floor and ceil modes, including the last-window-must-start-inside rule", () => {
    expect(poolOutputSize(8, 3, 0, 2, 1, false)).toBe(3);
    expect(poolOutputSize(8, 3, 0, 2, 1, true)).toBe(4);
    // ceil would give 3 windows; the third would start at 4 ≥ 3 + 1 (in + pad): dropped.
    expect(poolOutputSize(3, 2, 1, 2, 1, true)).toBe(2);
    expect(poolOutputSize(5, 2, 1, 2, 1, true)).toBe(3);
    expect(poolOutputSize(9, 3, 1, 1, 2, false)).toBe(7);
  });
});

describe("maxPool2d semantics", () => {
  it("never lets padding win, even over negative inputs", () => {
    const x = tensor([-5, -6, -7, -8], { shape: [1, 1, 2, 2] });
    expect(maxPool2d(x, 2, { stride: 1, padding: 1 }).toList()).toEqual([-5, -5, -6, -5, -5, -6, -7, -7, -8]);
  });

  it("sends the gradient of a tie to the first maximum only; overlapping windows accumulate", () => {
    const x = tensor([1, 1, 1, 1], { shape: [1, 1, 2, 2], dtype: "float64", requiresGrad: true });
    const y = maxPool2d(x, 2, { stride: 1, padding: 1 });
    backward(y, ones(y.shape, { dtype: "float64" }));
    // Each of the 9 windows picks the first cell of x it sees, in row-major order.
    expect(maxPool2dWithIndices(x, 2, { stride: 1, padding: 1 }).indices.toList()).toEqual([0, 0, 1, 0, 0, 1, 2, 2, 3]);
    expect(x.grad!.toList()).toEqual([4, 2, 2, 1]);
  });

  it("propagates NaN", () => {
    const x = tensor([1, NaN, 3, 2], { shape: [1, 1, 2, 2] });
    expect(Number.isNaN(maxPool2d(x, 2).item())).toBe(true);
  });
});

describe("pooling gradcheck (float64)", () => {
  it("maxPool2d with stride, padding, dilation and ceil mode (distinct values)", () => {
    manualSeed(31);
    expectGrad((x) => maxPool2d(x, 3, { stride: 2, padding: 1 }), [leaf([2, 2, 5, 6])]);
    expectGrad((x) => maxPool2d(x, [2, 3], { stride: [1, 2], dilation: [2, 1], ceilMode: true }), [leaf([1, 2, 6, 7])]);
    expectGrad((x) => maxPool2d(x, 2), [leaf([1, 3, 4, 4])]);
  });

  it("avgPool2d with and without count_include_pad, ceil mode", () => {
    manualSeed(32);
    expectGrad((x) => avgPool2d(x, 3, { stride: 2, padding: 1 }), [leaf([2, 2, 5, 6])]);
    expectGrad((x) => avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false, ceilMode: true }), [leaf([1, 2, 6, 6])]);
    expectGrad((x) => avgPool2d(x, [2, 1], { stride: [2, 1], ceilMode: true }), [leaf([1, 1, 5, 3])]);
  });

  it("adaptiveAvgPool2d on non-divisible sizes and unbatched input", () => {
    manualSeed(33);
    expectGrad((x) => adaptiveAvgPool2d(x, [3, 2]), [leaf([2, 2, 7, 5])]);
    expectGrad((x) => adaptiveAvgPool2d(x, 4), [leaf([2, 3, 3])]);
  });
});

describe("pooling validation", () => {
  it("rejects bad ranks and dtypes, naming the op and the shape", () => {
    expect(() => maxPool2d(zeros([4, 4]), 2)).toThrow(ShapeError);
    expect(() => maxPool2d(zeros([4, 4]), 2)).toThrow(/maxPool2d: input must be 4-D .*\[4, 4\]/);
    expect(() => avgPool2d(zeros([1, 2, 3, 4, 5]), 2)).toThrow(/avgPool2d: .*\[1, 2, 3, 4, 5\]/);
    expect(() => adaptiveAvgPool2d(zeros([1, 4, 4], { dtype: "int32" }), 2)).toThrow(DTypeError);
  });

  it("rejects padding over half the kernel, zero kernels/strides and empty outputs", () => {
    expect(() => maxPool2d(zeros([1, 1, 6, 6]), 2, { padding: 2 })).toThrow(ValueError);
    expect(() => maxPool2d(zeros([1, 1, 6, 6]), 2, { padding: 2 })).toThrow(/maxPool2d: padding \[2, 2\] must be at most half the kernel size \[2, 2\] \(input \[1, 1, 6, 6\]\)/);
    expect(() => avgPool2d(zeros([1, 1, 6, 6]), 0)).toThrow(/avgPool2d: kernelSize/);
    expect(() => avgPool2d(zeros([1, 1, 6, 6]), 2, { stride: 0 })).toThrow(/avgPool2d: stride/);
    expect(() => maxPool2d(zeros([1, 1, 2, 2]), 3)).toThrow(ShapeError);
    expect(() => maxPool2d(zeros([1, 1, 2, 2]), 3)).toThrow(/maxPool2d: output size 0×0 is too small for input \[1, 1, 2, 2\]/);
    expect(() => adaptiveAvgPool2d(zeros([1, 1, 4, 4]), 0)).toThrow(/adaptiveAvgPool2d: output size .*\[1, 1, 4, 4\]/);
  });

  it("keeps an unbatched [C, H, W] input unbatched", () => {
    expect(maxPool2d(zeros([3, 6, 6]), 2).shape).toEqual([3, 3, 3]);
    expect(maxPool2dWithIndices(zeros([3, 6, 6]), 2).indices.shape).toEqual([3, 3, 3]);
    expect(avgPool2d(zeros([3, 6, 6]), 3, { stride: 3 }).shape).toEqual([3, 2, 2]);
  });
});
