/**
 * The transformer functional ops (src/ops/nn-functional.ts, src/ops/attention.ts): gradients by
 * float64 central differences, values against definitions, bad input. PyTorch goldens for the
 * same ops are checked in transformer-layers.test.ts.
 */
import { describe, expect, it } from "vitest";
import { embedding, erf, erfFast, erfScalar, gelu, layerNorm } from "../../src/ops/nn-functional.js";
import { causalMask, scaledDotProductAttention } from "../../src/ops/attention.js";
import { add, matmul, mul, softmax, sum, transpose, where } from "../../src/ops/index.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tensor } from "../../src/tensor/creation.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { expectClose, expectGrad, leaf } from "../core/helpers.js";

describe("erf and gelu", () => {
  it("gelu values follow x·Φ(x) and the tanh form", () => {
    const xs = [-3, -1, -0.5, 0, 0.5, 1, 3];
    const x = tensor(xs, { dtype: "float64" });
    const exact = gelu(x).toArray() as number[];
    const approx = gelu(x, "tanh").toArray() as number[];
    // Φ(1) = 0.8413447460685429, Φ(3) = 0.9986501019683699
    expect(exact[5]).toBeCloseTo(0.8413447460685429, 12);
    expect(exact[6]).toBeCloseTo(3 * 0.9986501019683699, 12);
    expect(exact[1]).toBeCloseTo(-(1 - 0.8413447460685429), 12);
    const t = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    expectClose(approx, xs.map(t), 1e-14, 0);
    expect(() => gelu(x, "fast" as "none")).toThrow(ValueError);
    // the Tensor methods call the same (capturable) ops
    expect(x.gelu("tanh").toArray()).toEqual(approx);
    expect(x.erf().toArray()).toEqual(erf(x).toArray());
    expect(x.softmax(0).toArray()).toEqual(softmax(x, 0).toArray());
  });

  it("erfFast (the table erf and gelu use) is within 2e-13 of the float64 series everywhere", () => {
    let worst = 0;
    for (let k = -350000; k <= 350000; k++) {
      const x = k * 2e-5 + 1e-9 * Math.sin(k);
      worst = Math.max(worst, Math.abs(erfFast(x) - erfScalar(x)));
    }
    expect(worst).toBeLessThan(2e-13);
    expect(erfFast(6)).toBe(1);
    expect(erfFast(-7)).toBe(-1);
    expect(Number.isNaN(erfFast(Number.NaN))).toBe(true);
    expect(erfFast(0)).toBe(0);
  });

  it("erf, gelu (both forms) have central-difference gradients", () => {
    manualSeed(1);
    expectGrad((x) => erf(x), [leaf([3, 5], 1.5)]);
    expectGrad((x) => gelu(x), [leaf([4, 3], 2)]);
    expectGrad((x) => gelu(x, "tanh"), [leaf([4, 3], 2)]);
  });
});

describe("layerNorm", () => {
  it("normalizes the trailing dims with biased variance, then scales and shifts", () => {
    const x = tensor([[1, 2, 3, 4], [2, 2, 2, 6]], { dtype: "float64" });
    const y = layerNorm(x, 4, null, null, 0).toArray() as number[][];
    const v = 1.25; // biased variance of 1..4
    expectClose(y[0], [1, 2, 3, 4].map((a) => (a - 2.5) / Math.sqrt(v)), 1e-12, 0);
    const w = tensor([1, 2, 3, 4], { dtype: "float64" });
    const b = tensor([0, 1, 0, 1], { dtype: "float64" });
    const z = layerNorm(x, [4], w, b, 1e-5).toArray() as number[][];
    const r = 1 / Math.sqrt(3 + 1e-5);
    expectClose(z[1], [-r, -2 * r + 1, -3 * r, 3 * 4 * r + 1], 1e-12, 0);
  });

  it("gradients flow to input, weight and bias (one and two normalized dims)", () => {
    manualSeed(2);
    expectGrad((x, w, b) => layerNorm(x, [5], w, b), [leaf([3, 5]), leaf([5]), leaf([5])]);
    expectGrad((x, w, b) => layerNorm(x, [2, 3], w, b, 1e-3), [leaf([2, 2, 3]), leaf([2, 3]), leaf([2, 3])]);
    expectGrad((x) => layerNorm(x, 4), [leaf([2, 3, 4], 3, 1)]);
  });

  it("refuses shapes that do not end with normalizedShape, and mismatched weights", () => {
    const x = leaf([2, 3]);
    expect(() => layerNorm(x, 4)).toThrow(ShapeError);
    expect(() => layerNorm(x, 3, leaf([4]))).toThrow(/weight must have shape/);
    expect(() => layerNorm(x, 0)).toThrow(ValueError);
  });
});

describe("embedding", () => {
  it("gathers rows, accumulates repeated indices, skips paddingIdx", () => {
    const w = leaf([5, 3]);
    const idx = tensor([[0, 2], [2, 4]], { dtype: "int32" });
    const y = embedding(idx, w, 4);
    expect(y.shape).toEqual([2, 2, 3]);
    expectClose(y.toFloat32Array().slice(3, 6), w.data.slice(6, 9), 1e-6, 0);
    sum(y).backward();
    const g = Array.from(w.grad!.data);
    expect(g.slice(0, 3)).toEqual([1, 1, 1]);
    expect(g.slice(3, 6)).toEqual([0, 0, 0]);
    expect(g.slice(6, 9)).toEqual([2, 2, 2]);
    expect(g.slice(12, 15)).toEqual([0, 0, 0]);
    expectGrad((ww) => embedding(tensor([1, 3, 1], { dtype: "int32" }), ww), [leaf([4, 2])]);
  });

  it("refuses float indices and out-of-range indices, naming them", () => {
    const w = leaf([3, 2]);
    expect(() => embedding(tensor([0, 1]), w)).toThrow(DTypeError);
    expect(() => embedding(tensor([0, 3], { dtype: "int32" }), w)).toThrow(/index 3 at flat position 1/);
    expect(() => embedding(tensor([0], { dtype: "int32" }), w, 5)).toThrow(/paddingIdx/);
  });
});

describe("scaledDotProductAttention", () => {
  /** The definition, written out with plain ops. */
  function reference(q: ReturnType<typeof leaf>, k: ReturnType<typeof leaf>, v: ReturnType<typeof leaf>, mask?: ReturnType<typeof leaf>) {
    let s = mul(matmul(q, transpose(k, -2, -1)), 1 / Math.sqrt(q.shape[q.ndim - 1]));
    if (mask) s = add(s, mask);
    return matmul(softmax(s, -1), v);
  }

  it("equals softmax(q·kᵀ/√E + mask)·v, with bool masks meaning 'take part'", () => {
    manualSeed(3);
    const [q, k, v] = [leaf([2, 3, 4]), leaf([2, 5, 4]), leaf([2, 5, 6])];
    expectClose(scaledDotProductAttention(q, k, v).data, reference(q, k, v).data, 1e-12, 1e-12);
    const keep = tensor([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], { dtype: "uint8" });
    const asFloat = where(keep, tensor(0, { dtype: "float64" }), -Infinity);
    expectClose(scaledDotProductAttention(q, k, v, { attnMask: keep }).data, reference(q, k, v, asFloat).data, 1e-12, 1e-12);
    const fm = leaf([3, 5]);
    expectClose(scaledDotProductAttention(q, k, v, { attnMask: fm }).data, reference(q, k, v, fm).data, 1e-12, 1e-12);
    const causal = scaledDotProductAttention(q, k, v, { isCausal: true });
    expectClose(causal.data, scaledDotProductAttention(q, k, v, { attnMask: causalMask(3, 5) }).data, 0, 0);
    expect(Array.from(causalMask(2, 3).data)).toEqual([1, 0, 0, 1, 1, 0]);
    // scale: 1 reproduces unscaled scores
    const unscaled = scaledDotProductAttention(q, k, v, { scale: 1 });
    expectClose(unscaled.data, matmul(softmax(matmul(q, transpose(k, -2, -1)), -1), v).data, 1e-12, 1e-12);
  });

  it("has central-difference gradients for q, k, v and a float mask", () => {
    manualSeed(4);
    expectGrad((q, k, v, m) => scaledDotProductAttention(q, k, v, { attnMask: m }), [leaf([2, 3, 4]), leaf([2, 4, 4]), leaf([2, 4, 2]), leaf([3, 4])]);
    expectGrad((q, k, v) => scaledDotProductAttention(q, k, v, { isCausal: true }), [leaf([1, 2, 3, 2]), leaf([1, 2, 3, 2]), leaf([1, 2, 3, 2])]);
  });

  it("refuses mismatched shapes, int masks and mask + isCausal", () => {
    const [q, k, v] = [leaf([2, 3, 4]), leaf([2, 5, 4]), leaf([2, 5, 6])];
    expect(() => scaledDotProductAttention(q, leaf([2, 5, 3]), v)).toThrow(ShapeError);
    expect(() => scaledDotProductAttention(q, k, leaf([2, 4, 6]))).toThrow(/differ in length/);
    expect(() => scaledDotProductAttention(q, k, v, { attnMask: tensor([[1]], { dtype: "int32" }) })).toThrow(DTypeError);
    expect(() => scaledDotProductAttention(q, k, v, { attnMask: causalMask(3, 5), isCausal: true })).toThrow(/not both/);
    expect(() => scaledDotProductAttention(q, k, v, { dropoutP: 1 })).toThrow(/dropoutP/);
  });
});

