/** Elementwise ops: forward values, gradients vs float64 central differences, masks at kinks, errors. */
import { describe, expect, it } from "vitest";
import * as B from "../../src/ops/binary.js";
import * as U from "../../src/ops/unary.js";
import { sum } from "../../src/ops/reduce.js";
import "../../src/autograd/backward.js";
import "../../src/ops/methods.js";
import { tensor } from "../../src/tensor/creation.js";
import { DTypeError, ShapeError } from "../../src/tensor/errors.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { expectClose, expectGrad, leaf } from "./helpers.js";

manualSeed(1);

const SMOOTH_UNARY: [string, (x: Tensor) => Tensor, number, number][] = [
  ["neg", U.neg, 1, 0],
  ["exp", U.exp, 1, 0],
  ["log", U.log, 0.3, 2],
  ["sqrt", U.sqrt, 0.3, 2],
  ["sigmoid", U.sigmoid, 2, 0],
  ["tanh", U.tanh, 1.5, 0],
  ["reciprocal", U.reciprocal, 0.3, 2],
  ["square", U.square, 1, 0],
  ["abs", U.abs, 1, 0],
  ["relu", U.relu, 1, 0],
];

describe("unary ops", () => {
  for (const [name, fn, scale, offset] of SMOOTH_UNARY) {
    it(`${name}: gradient matches central differences on odd shapes`, () => {
      expectGrad(fn, [leaf([3, 5], scale, offset)]);
      expectGrad(fn, [leaf([1, 7, 1], scale, offset)]);
    });
  }

  it("computes known values", () => {
    const x = tensor([-2, -0.5, 0, 0.5, 3]);
    expectClose(U.exp(x).data, [-2, -0.5, 0, 0.5, 3].map(Math.exp));
    expectClose(U.sigmoid(x).data, [-2, -0.5, 0, 0.5, 3].map((v) => 1 / (1 + Math.exp(-v))));
    expect(U.relu(x).toList()).toEqual([0, 0, 0, 0.5, 3]);
    expect(U.abs(x).toList()).toEqual([2, 0.5, 0, 0.5, 3]);
  });

  it("rounds half to even, like torch.round and ONNX", () => {
    const x = tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, 3.5000001]);
    expect(U.round(x).toList()).toEqual([-2, -2, -0, 0, 2, 2, 2, 4]);
    expect(U.floor(tensor([-1.5, 1.5])).toList()).toEqual([-2, 1]);
  });

  it("relu has zero gradient at 0 (PyTorch convention)", () => {
    const x = tensor([-1, 0, 2], { dtype: "float64" });
    x.requiresGrad = true;
    sum(U.relu(x)).backward();
    expect(x.grad!.toList()).toEqual([0, 0, 1]);
  });

  it("clamp passes the gradient at the bounds (inclusive mask, like torch.clamp)", () => {
    const x = tensor([-2, -1, 0, 1, 2], { dtype: "float64" });
    x.requiresGrad = true;
    sum(U.clamp(x, -1, 1)).backward();
    expect(x.grad!.toList()).toEqual([0, 1, 1, 1, 0]);
    expect(U.clamp(x, -1, 1).toList()).toEqual([-1, -1, 0, 1, 1]);
  });

  it("hardtanh and relu6 block the gradient at the bounds (strict mask, like F.hardtanh)", () => {
    const x = tensor([-2, -1, 0, 1, 2], { dtype: "float64" });
    x.requiresGrad = true;
    sum(U.hardtanh(x, -1, 1)).backward();
    expect(x.grad!.toList()).toEqual([0, 0, 1, 0, 0]);
    const y = tensor([-1, 0, 3, 6, 7], { dtype: "float64" });
    y.requiresGrad = true;
    sum(U.relu6(y)).backward();
    expect(U.relu6(y).toList()).toEqual([0, 0, 3, 6, 6]);
    expect(y.grad!.toList()).toEqual([0, 0, 1, 0, 0]);
  });

  it("clamp gradient matches central differences away from the bounds", () => {
    expectGrad((x) => U.clamp(x, -0.5, 0.5), [leaf([4, 6])]);
  });

  it("rejects integer input where a float is needed, naming the op", () => {
    expect(() => U.exp(tensor([1, 2], { dtype: "int32" }))).toThrow(DTypeError);
    expect(() => U.log(tensor([1, 2], { dtype: "int8" }))).toThrow(/log/);
  });
});

const SMOOTH_BINARY: [string, (a: Tensor, b: Tensor) => Tensor][] = [
  ["add", B.add],
  ["sub", B.sub],
  ["mul", B.mul],
  ["div", B.div],
  ["maximum", B.maximum],
  ["minimum", B.minimum],
];

describe("binary ops with broadcasting", () => {
  const shapes: [number[], number[]][] = [
    [[3, 4], [3, 4]],
    [[3, 1], [1, 5]],
    [[2, 3, 4], [4]],
    [[1], [2, 3]],
    [[5, 1, 3], [4, 1]],
    [[], [2, 2]],
  ];
  for (const [name, fn] of SMOOTH_BINARY) {
    for (const [sa, sb] of shapes) {
      it(`${name} ${JSON.stringify(sa)} ⊕ ${JSON.stringify(sb)}: gradients sum back to each operand`, () => {
        const b = name === "div" ? leaf(sb, 0.5, 2) : leaf(sb);
        expectGrad(fn, [leaf(sa), b]);
      });
    }
  }

  it("pow gradient for both base and exponent", () => {
    expectGrad(B.pow, [leaf([3, 4], 0.3, 1.5), leaf([4], 0.5, 1)]);
  });

  it("maximum splits the gradient at ties like PyTorch", () => {
    const a = tensor([1, 2, 3], { dtype: "float64" });
    const b = tensor([3, 2, 1], { dtype: "float64" });
    a.requiresGrad = true;
    b.requiresGrad = true;
    sum(B.maximum(a, b)).backward();
    expect(a.grad!.toList()).toEqual([0, 0.5, 1]);
    expect(b.grad!.toList()).toEqual([1, 0.5, 0]);
  });

  it("broadcast values are right", () => {
    const a = tensor([[1], [2]]);
    const b = tensor([10, 20, 30]);
    expect(B.add(a, b).toArray()).toEqual([[11, 21, 31], [12, 22, 32]]);
    expect(B.mul(a, 2).toArray()).toEqual([[2], [4]]);
    expect(B.sub(1, tensor([1, 2])).toList()).toEqual([0, -1]);
  });

  it("comparisons return uint8 masks without gradient", () => {
    const m = B.gt(tensor([1, 2, 3]), 2);
    expect(m.dtype).toBe("uint8");
    expect(m.toList()).toEqual([0, 0, 1]);
    const x = leaf([3]);
    expect(B.gt(x, 0).requiresGrad).toBe(false);
  });

  it("integer arithmetic stays integer; division promotes to float", () => {
    const a = tensor([7, -7], { dtype: "int32" });
    expect(B.add(a, 1).dtype).toBe("int32");
    expect(B.div(a, 2).dtype).toBe("float32");
    expect(B.div(a, 2).toList()).toEqual([3.5, -3.5]);
  });

  it("where selects and routes gradients to the chosen branch", () => {
    const c = tensor([1, 0, 1], { dtype: "uint8" });
    const x = tensor([1, 2, 3], { dtype: "float64" });
    const y = tensor([10, 20, 30], { dtype: "float64" });
    x.requiresGrad = true;
    y.requiresGrad = true;
    const z = B.where(c, x, y);
    expect(z.toList()).toEqual([1, 20, 3]);
    sum(z).backward();
    expect(x.grad!.toList()).toEqual([1, 0, 1]);
    expect(y.grad!.toList()).toEqual([0, 1, 0]);
    expectGrad((a, b) => B.where(tensor([[1, 0, 0, 1]], { dtype: "uint8" }), a, b), [leaf([3, 4]), leaf([3, 1])]);
  });

  it("incompatible shapes throw a ShapeError naming the op and both shapes", () => {
    expect(() => B.add(tensor([[1, 2, 3]]), tensor([[1, 2]]))).toThrow(ShapeError);
    expect(() => B.mul(tensor([[1, 2, 3]]), tensor([1, 2]))).toThrow(/mul.*\[1, ?3\].*\[2\]/);
  });
});
