/**
 * softmax / logSoftmax (any axis) and the losses crossEntropy, nllLoss, mseLoss: forward and
 * backward against PyTorch 1.13 (golden file), stability on large logits, gradchecks, and
 * validation of targets and options.
 */
import { describe, expect, it } from "vitest";
import { crossEntropy, mseLoss, nllLoss, type Reduction } from "../../src/ops/loss.js";
import { logSoftmax, softmax } from "../../src/ops/softmax.js";
import { tensor, zeros } from "../../src/tensor/creation.js";
import { AxisError, DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { expectClose, expectGrad, leaf } from "../core/helpers.js";
import { type GT, type GoldenCase, PRECISIONS, cases, expectMatches, forwardBackward, fromGolden } from "./golden-helpers.js";

interface SoftmaxCase extends GoldenCase { fn: "softmax" | "log_softmax"; dim: number; x: GT; gx: GT }
interface LossCase extends GoldenCase {
  x: GT; target: GT; gx: GT;
  opts: { reduction?: Reduction; label_smoothing?: number; ignore_index?: number };
}
interface MseCase extends GoldenCase { a: GT; b: GT; reduction: Reduction; ga: GT; gb: GT }

const isFloatTarget = (t: GT) => t.data.some((v) => !Number.isInteger(v));

describe("softmax and losses vs PyTorch golden", () => {
  for (const [dtype, tol] of PRECISIONS) {
    for (const c of cases<SoftmaxCase>("softmax")) {
      it(`${c.name} (${dtype})`, () => {
        const f = c.fn === "softmax" ? softmax : logSoftmax;
        const { y, grads } = forwardBackward((x) => f(x, c.dim), [fromGolden(c.x, dtype, true)], c.gy);
        expectMatches(y, c.y, tol, "y");
        expectMatches(grads[0], c.gx, tol, "gx");
      });
    }
    for (const c of cases<LossCase>("cross_entropy")) {
      it(`crossEntropy ${c.name} (${dtype})`, () => {
        const target = fromGolden(c.target, isFloatTarget(c.target) ? dtype : "int32");
        const opts = { reduction: c.opts.reduction, labelSmoothing: c.opts.label_smoothing, ignoreIndex: c.opts.ignore_index };
        const { y, grads } = forwardBackward((x) => crossEntropy(x, target, opts), [fromGolden(c.x, dtype, true)], c.gy);
        expectMatches(y, c.y, tol, "y");
        expectMatches(grads[0], c.gx, tol, "gx");
      });
    }
    for (const c of cases<LossCase>("nll_loss")) {
      it(`nllLoss ${c.name} (${dtype})`, () => {
        const target = fromGolden(c.target, "int32");
        const opts = { reduction: c.opts.reduction, ignoreIndex: c.opts.ignore_index };
        const { y, grads } = forwardBackward((x) => nllLoss(x, target, opts), [fromGolden(c.x, dtype, true)], c.gy);
        expectMatches(y, c.y, tol, "y");
        expectMatches(grads[0], c.gx, tol, "gx");
      });
    }
    for (const c of cases<MseCase>("mse_loss")) {
      it(`mseLoss ${c.name} (${dtype})`, () => {
        const inputs = [fromGolden(c.a, dtype, true), fromGolden(c.b, dtype, true)];
        const { y, grads } = forwardBackward((a, b) => mseLoss(a, b, { reduction: c.reduction }), inputs, c.gy);
        expectMatches(y, c.y, tol, "y");
        expectMatches(grads[0], c.ga, tol, "ga");
        expectMatches(grads[1], c.gb, tol, "gb");
      });
    }
  }
});

describe("softmax semantics", () => {
  it("is stable for huge logits and sums to one", () => {
    const x = tensor([[1000, 1001, 1002], [-1e4, 0, 1e4]]);
    const y = softmax(x);
    expect(y.toList().every(Number.isFinite)).toBe(true);
    expectClose([y.data[0] + y.data[1] + y.data[2]], [1], 1e-6);
    expectClose(logSoftmax(x).toList(), [-2.4076059644, -1.4076059644, -0.4076059644, -2e4, -1e4, 0], 1e-4);
  });

  it("handles a 1-D input and rejects a bad axis", () => {
    expectClose(softmax(tensor([0, 0, 0, 0])).toList(), [0.25, 0.25, 0.25, 0.25], 1e-7);
    expect(() => softmax(zeros([2, 3]), 2)).toThrow(AxisError);
    expect(() => softmax(zeros([2, 3], { dtype: "int32" }))).toThrow(/softmax: input must be float32 or float64/);
  });
});

describe("gradcheck (float64)", () => {
  it("softmax / logSoftmax along every axis", () => {
    manualSeed(51);
    for (const axis of [0, 1, -1]) {
      expectGrad((x) => softmax(x, axis), [leaf([3, 4, 2])]);
      expectGrad((x) => logSoftmax(x, axis), [leaf([3, 4, 2])]);
    }
  });

  it("crossEntropy with smoothing, ignoreIndex and every reduction; nllLoss; mseLoss", () => {
    manualSeed(52);
    const target = tensor([0, 3, 1, 3, 2], { dtype: "int32" });
    for (const reduction of ["mean", "sum", "none"] as const) {
      expectGrad((x) => crossEntropy(x, target, { reduction, labelSmoothing: 0.1, ignoreIndex: 1 }), [leaf([5, 4])]);
      expectGrad((x) => nllLoss(x, target, { reduction }), [leaf([5, 4])]);
      expectGrad((a, b) => mseLoss(a, b, { reduction }), [leaf([2, 3]), leaf([2, 3])]);
    }
    const probs = softmax(leaf([5, 4])).detach();
    expectGrad((x) => crossEntropy(x, probs, { labelSmoothing: 0.2 }), [leaf([5, 4])]);
  });
});

describe("loss semantics and validation", () => {
  it("accepts uint8 and int8 class indices", () => {
    const x = tensor([[1, 2, 3], [0, 0, 5]], { dtype: "float64" });
    const ref = crossEntropy(x, tensor([2, 0], { dtype: "int32" })).item();
    expect(crossEntropy(x, tensor([2, 0], { dtype: "uint8" })).item()).toBe(ref);
    expect(crossEntropy(x, tensor([2, 0], { dtype: "int8" })).item()).toBe(ref);
  });

  it("gives NaN for a mean over only ignored rows (as PyTorch) and zero gradient there", () => {
    const x = leaf([2, 3]);
    const loss = crossEntropy(x, tensor([-100, -100], { dtype: "int32" }));
    expect(Number.isNaN(loss.item())).toBe(true);
    const none = crossEntropy(x, tensor([-100, 1], { dtype: "int32" }), { reduction: "none" });
    expect(none.data[0]).toBe(0);
  });

  it("rejects out-of-range targets naming the index and the value", () => {
    const x = zeros([3, 4]);
    const bad = tensor([0, 4, 1], { dtype: "int32" });
    expect(() => crossEntropy(x, bad)).toThrow(ValueError);
    expect(() => crossEntropy(x, bad)).toThrow(/crossEntropy: target\[1\] = 4 is out of range \[0, 4\) for input \[3, 4\]/);
    expect(() => nllLoss(x, tensor([0, 1, -1], { dtype: "int32" }))).toThrow(/nllLoss: target\[2\] = -1 is out of range/);
  });

  it("rejects bad shapes, dtypes and options", () => {
    const x = zeros([3, 4]);
    expect(() => crossEntropy(zeros([3]), tensor([0, 1, 2], { dtype: "int32" }))).toThrow(ShapeError);
    expect(() => crossEntropy(x, tensor([0, 1], { dtype: "int32" }))).toThrow(/crossEntropy: target must be \[3\] for input \[3, 4\], got \[2\]/);
    expect(() => nllLoss(x, zeros([3]))).toThrow(DTypeError);
    expect(() => nllLoss(x, zeros([3]))).toThrow(/nllLoss: target must hold class indices.*float32 \[3\]/);
    expect(() => crossEntropy(x, zeros([3, 5]))).toThrow(/probability targets must match the input \[3, 4\], got \[3, 5\]/);
    expect(() => crossEntropy(x, zeros([3], { dtype: "int32" }), { labelSmoothing: 1.5 })).toThrow(/labelSmoothing/);
    expect(() => crossEntropy(x, zeros([3], { dtype: "int32" }), { reduction: "avg" as Reduction })).toThrow(/reduction/);
    expect(() => mseLoss(zeros([2, 3]), zeros([4]))).toThrow(ShapeError);
  });

  it("mseLoss values", () => {
    const a = tensor([1, 2, 3], { dtype: "float64" });
    const b = tensor([1, 0, 0], { dtype: "float64" });
    expect(mseLoss(a, b).item()).toBeCloseTo(13 / 3, 12);
    expect(mseLoss(a, b, { reduction: "sum" }).item()).toBe(13);
    expect((mseLoss(a, b, { reduction: "none" }) as Tensor).toList()).toEqual([0, 4, 9]);
  });
});
