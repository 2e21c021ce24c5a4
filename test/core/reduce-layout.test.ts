/** Reductions and layout ops: values, keepdim, gradients vs central differences, errors. */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import * as L from "../../src/ops/layout.js";
import "../../src/ops/methods.js";
import * as R from "../../src/ops/reduce.js";
import { arange, tensor } from "../../src/tensor/creation.js";
import { AxisError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { manualSeed } from "../../src/tensor/random.js";
import { expectClose, expectGrad, leaf } from "./helpers.js";

manualSeed(2);

describe("reductions", () => {
  const x = tensor([[1, 5, 3], [4, 2, 6]]);
  it("sum/mean/max/min over axes with keepdim", () => {
    expect(R.sum(x).item()).toBe(21);
    expect(R.sum(x, 0).toList()).toEqual([5, 7, 9]);
    expect(R.sum(x, 1, { keepdim: true }).shape).toEqual([2, 1]);
    expect(R.mean(x, -1).toList()).toEqual([3, 4]);
    expect(R.max(x, 1).toList()).toEqual([5, 6]);
    expect(R.min(x, [0, 1]).item()).toBe(1);
    expect(R.argmax(x, 1).toList()).toEqual([1, 2]);
    expect(R.argmin(x).item()).toBe(0);
  });

  it("var uses Bessel's correction by default (torch.var) and accepts correction 0", () => {
    const v = tensor([1, 2, 3, 4], { dtype: "float64" });
    expect(R.variance(v).item()).toBeCloseTo(5 / 3, 12);
    expect(R.variance(v, 0, { correction: 0 }).item()).toBeCloseTo(1.25, 12);
    expect(() => R.variance(tensor([1]))).toThrow(ValueError);
  });

  const cases: [string, number | number[] | undefined, boolean][] = [
    ["all", undefined, false],
    ["axis 0", 0, false],
    ["axis -1 keepdim", -1, true],
    ["axes [0,2]", [0, 2], false],
    ["axes [1,2] keepdim", [1, 2], true],
  ];
  for (const [label, axes, keepdim] of cases) {
    it(`gradients of sum/mean/var/max/min over ${label}`, () => {
      const shape = [3, 4, 5];
      expectGrad((t) => R.sum(t, axes, { keepdim }), [leaf(shape)]);
      expectGrad((t) => R.mean(t, axes, { keepdim }), [leaf(shape)]);
      expectGrad((t) => R.variance(t, axes, { keepdim }), [leaf(shape)]);
      expectGrad((t) => R.max(t, axes, { keepdim }), [leaf(shape)]);
      expectGrad((t) => R.min(t, axes, { keepdim }), [leaf(shape)]);
    });
  }

  it("max splits the gradient evenly between tied maxima (like torch.amax)", () => {
    const t = tensor([3, 1, 3], { dtype: "float64" });
    t.requiresGrad = true;
    R.max(t).backward();
    expect(t.grad!.toList()).toEqual([0.5, 0, 0.5]);
  });

  it("out-of-range axes throw AxisError naming the op", () => {
    expect(() => R.sum(x, 2)).toThrow(AxisError);
    expect(() => R.mean(x, -3)).toThrow(/mean/);
    expect(() => R.sum(x, [0, 0])).toThrow(AxisError);
  });
});

describe("layout ops", () => {
  it("reshape infers -1 and rejects wrong sizes", () => {
    const a = arange(0, 12);
    expect(L.reshape(a, [3, -1]).shape).toEqual([3, 4]);
    expect(() => L.reshape(a, [5, -1])).toThrow(ShapeError);
    expect(() => L.reshape(a, [-1, -1])).toThrow(ShapeError);
    expectGrad((t) => L.reshape(t, [6, 2]), [leaf([3, 4])]);
  });

  it("flatten, squeeze, unsqueeze", () => {
    const a = leaf([2, 1, 3, 4]);
    expect(L.flatten(a, 1).shape).toEqual([2, 12]);
    expect(L.squeeze(a).shape).toEqual([2, 3, 4]);
    expect(L.squeeze(a, 1).shape).toEqual([2, 3, 4]);
    expect(L.unsqueeze(a, -1).shape).toEqual([2, 1, 3, 4, 1]);
    expectGrad((t) => L.flatten(t, 0, 2), [a]);
  });

  it("permute and transpose move data and gradients", () => {
    const a = arange(0, 6).reshape([2, 3]);
    expect(L.transpose(a, 0, 1).toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(L.permute(arange(0, 24).reshape([2, 3, 4]), [2, 0, 1]).shape).toEqual([4, 2, 3]);
    expectGrad((t) => L.permute(t, [2, 0, 1]), [leaf([2, 3, 4])]);
    expectGrad((t) => L.transpose(t, -1, 0), [leaf([3, 2, 5])]);
    expect(() => L.permute(a, [0, 0])).toThrow(ValueError);
    expect(() => L.permute(a, [0, 2])).toThrow(AxisError);
  });

  it("concat and stack along any axis", () => {
    const a = tensor([[1, 2]]);
    const b = tensor([[3, 4], [5, 6]]);
    expect(L.concat([a, b], 0).toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(L.stack([a, a], 1).shape).toEqual([1, 2, 2]);
    expect(() => L.concat([a, tensor([[1, 2, 3]])], 0)).toThrow(ShapeError);
    expectGrad((p, q) => L.concat([p, q], 1), [leaf([2, 3, 2]), leaf([2, 1, 2])]);
    expectGrad((p, q) => L.stack([p, q], -1), [leaf([2, 3]), leaf([2, 3])]);
  });

  it("pad uses F.pad order and its gradient crops", () => {
    const a = tensor([[1, 2], [3, 4]]);
    expect(L.pad(a, [1, 0, 0, 1], 9).toArray()).toEqual([[9, 1, 2], [9, 3, 4], [9, 9, 9]]);
    expectGrad((t) => L.pad(t, [1, 2, 0, 1]), [leaf([2, 3, 3])]);
    expect(() => L.pad(a, [1])).toThrow(ValueError);
  });

  it("slice with negative bounds and steps", () => {
    const a = arange(0, 10);
    expect(L.slice(a, 0, 2, 8, 3).toList()).toEqual([2, 5]);
    expect(L.slice(a, 0, -3).toList()).toEqual([7, 8, 9]);
    expectGrad((t) => L.slice(t, 1, 1, 5, 2), [leaf([3, 6])]);
  });

  it("broadcastTo expands and sums gradients back", () => {
    expect(L.broadcastTo(tensor([1, 2]), [2, 2]).toArray()).toEqual([[1, 2], [1, 2]]);
    expectGrad((t) => L.broadcastTo(t, [4, 3, 5]), [leaf([3, 1])]);
    expect(() => L.broadcastTo(tensor([1, 2]), [3])).toThrow(ShapeError);
  });

  it("cast converts between dtypes (float → int truncates)", () => {
    expect(L.cast(tensor([1.7, -1.7]), "int32").toList()).toEqual([1, -1]);
    expectClose(L.cast(tensor([1, 2], { dtype: "int8" }), "float32").data, [1, 2]);
  });
});
