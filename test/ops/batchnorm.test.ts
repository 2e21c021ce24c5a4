/**
 * batchNorm: training and eval forward/backward and the in-place running-statistics update
 * against PyTorch 1.13 (golden file), gradchecks for every input rank and mode, and
 * validation.
 */
import { describe, expect, it } from "vitest";
import { batchNorm, batchNormStatsOf } from "../../src/ops/batchnorm.js";
import { tensor, zeros } from "../../src/tensor/creation.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { expectClose, expectGrad, leaf } from "../core/helpers.js";
import { type GT, type GoldenCase, PRECISIONS, cases, expectMatches, forwardBackward, fromGolden } from "./golden-helpers.js";

interface BnCase extends GoldenCase {
  x: GT; w: GT | null; b: GT | null;
  running_mean: GT | null; running_var: GT | null;
  training: boolean; momentum: number; eps: number;
  gx: GT; gw: GT | null; gb: GT | null;
  running_mean_after: GT | null; running_var_after: GT | null;
}

describe("batchNorm vs PyTorch golden", () => {
  for (const [dtype, tol] of PRECISIONS) {
    for (const c of cases<BnCase>("batch_norm")) {
      it(`${c.name} (${dtype})`, () => {
        const x = fromGolden(c.x, dtype, true);
        const w = c.w ? fromGolden(c.w, dtype, true) : null;
        const b = c.b ? fromGolden(c.b, dtype, true) : null;
        const rm = c.running_mean ? fromGolden(c.running_mean, dtype) : null;
        const rv = c.running_var ? fromGolden(c.running_var, dtype) : null;
        const inputs = [x, ...(w ? [w] : []), ...(b ? [b] : [])];
        const fn = (a: Tensor, ...wb: Tensor[]) => batchNorm(a, rm, rv, w ? wb[0] : null, b ? wb[w ? 1 : 0] : null, { training: c.training, momentum: c.momentum, eps: c.eps });
        const { y, grads } = forwardBackward(fn, inputs, c.gy);
        expectMatches(y, c.y, tol, "y");
        expectMatches(grads[0], c.gx, tol, "gx");
        if (w) expectMatches(grads[1], c.gw, tol, "gw");
        if (b) expectMatches(grads[w ? 2 : 1], c.gb, tol, "gb");
        if (rm) expectMatches(rm, c.running_mean_after, tol, "running mean");
        if (rv) expectMatches(rv, c.running_var_after, tol, "running var");
      });
    }
  }
});

describe("batchNorm semantics", () => {
  it("normalises each channel to zero mean and unit (biased) variance in training", () => {
    manualSeed(41);
    const x = leaf([8, 3, 2, 2], 3, 2);
    const y = batchNorm(x, null, null, null, null, { training: true, eps: 0 });
    const { mean, variance } = batchNormStatsOf(y);
    expectClose(mean.data, [0, 0, 0], 1e-12);
    expectClose(variance.data, [1, 1, 1], 1e-9);
  });

  it("updates running stats with the unbiased variance and momentum, in place", () => {
    const x = tensor([[1, 10], [3, 20]], { dtype: "float64" });
    const rm = tensor([0, 0], { dtype: "float64" });
    const rv = tensor([1, 1], { dtype: "float64" });
    batchNorm(x, rm, rv, null, null, { training: true, momentum: 0.5 });
    expectClose(rm.data, [1, 7.5], 1e-12);
    // unbiased variances 2 and 50
    expectClose(rv.data, [1.5, 25.5], 1e-12);
  });

  it("uses and keeps the running stats in eval", () => {
    const x = tensor([[1, 10], [3, 20]], { dtype: "float64" });
    const rm = tensor([1, 2], { dtype: "float64" });
    const rv = tensor([4, 16], { dtype: "float64" });
    const y = batchNorm(x, rm, rv, tensor([2, 1], { dtype: "float64" }), tensor([0, 1], { dtype: "float64" }), { training: false, eps: 0 });
    expectClose(y.data, [0, 3, 2, 5.5], 1e-12);
    expect(rm.toList()).toEqual([1, 2]);
    expect(rv.toList()).toEqual([4, 16]);
  });

  it("batchNormStatsOf gives the per-channel mean and biased variance", () => {
    const x = tensor([[1, 10], [3, 20]], { dtype: "float64" });
    const { mean, variance } = batchNormStatsOf(x);
    expect(mean.toList()).toEqual([2, 15]);
    expect(variance.toList()).toEqual([1, 25]);
  });
});

describe("batchNorm gradcheck (float64)", () => {
  const shapes: number[][] = [[5, 3], [3, 2, 4], [2, 3, 3, 2], [1, 2, 3, 3]];
  for (const shape of shapes) {
    for (const training of [true, false]) {
      it(`[${shape.join(", ")}] ${training ? "training" : "eval"}`, () => {
        manualSeed(42);
        const c = shape[1];
        const x = leaf(shape, 2, 0.5);
        const w = leaf([c], 0.5, 1);
        const b = leaf([c]);
        const rm = leaf([c], 0.1);
        rm.requiresGrad = false;
        const rv = tensor(Array.from({ length: c }, (_, i) => 0.5 + i), { dtype: "float64" });
        // gradcheck re-runs the function; fresh running-stat copies keep each run identical.
        const fn = (a: Tensor, ww: Tensor, bb: Tensor) => batchNorm(a, rm.detach(), rv.detach(), ww, bb, { training, eps: 1e-3 });
        expectGrad(fn, [x, w, b]);
      });
    }
  }

  it("without affine parameters", () => {
    manualSeed(43);
    expectGrad((a) => batchNorm(a, null, null, null, null, { training: true }), [leaf([4, 2, 2, 2])]);
  });
});

describe("batchNorm validation", () => {
  it("rejects bad shapes, naming the op and the shapes", () => {
    expect(() => batchNorm(zeros([4]), null, null, null, null, { training: true })).toThrow(ShapeError);
    expect(() => batchNorm(zeros([4]), null, null, null, null, { training: true })).toThrow(/batchNorm: input must be \[N, C, \*\].*\[4\]/);
    expect(() => batchNorm(zeros([4, 3]), null, null, zeros([2]), null, { training: true })).toThrow(/batchNorm: weight must be \[3\] for input \[4, 3\], got \[2\]/);
    expect(() => batchNorm(zeros([4, 3]), zeros([3, 1]), zeros([3]), null, null, { training: false })).toThrow(/runningMean must be \[3\]/);
  });

  it("rejects a single value per channel in training and missing running stats in eval", () => {
    expect(() => batchNorm(zeros([1, 3]), null, null, null, null, { training: true })).toThrow(ValueError);
    expect(() => batchNorm(zeros([1, 3]), null, null, null, null, { training: true })).toThrow(/batchNorm: expected more than 1 value per channel when training, got input \[1, 3\]/);
    expect(() => batchNorm(zeros([2, 3]), null, null, null, null, { training: false })).toThrow(/batchNorm: eval mode needs runningMean/);
  });

  it("rejects bad eps/momentum and mixed dtypes", () => {
    expect(() => batchNorm(zeros([2, 3]), null, null, null, null, { training: true, eps: -1 })).toThrow(/batchNorm: eps/);
    expect(() => batchNorm(zeros([2, 3]), null, null, null, null, { training: true, momentum: 2 })).toThrow(/batchNorm: momentum/);
    expect(() => batchNorm(zeros([2, 3]), null, null, zeros([3], { dtype: "float64" }), null, { training: true })).toThrow(DTypeError);
    expect(() => batchNorm(zeros([2, 3], { dtype: "int32" }), null, null, null, null, { training: true })).toThrow(DTypeError);
  });
});
