/**
 * dropout: inverted scaling, keep rate, determinism under a seed, gradient = the same mask,
 * identity in eval, and validation of p.
 */
import { describe, expect, it } from "vitest";
import { backward } from "../../src/autograd/backward.js";
import { dropout } from "../../src/ops/dropout.js";
import { ones, zeros } from "../../src/tensor/creation.js";
import { DTypeError, ValueError } from "../../src/tensor/errors.js";
import { Generator, manualSeed } from "../../src/tensor/random.js";
import { expectGrad, leaf } from "../core/helpers.js";

describe("dropout", () => {
  it("zeroes about p of the elements and scales the rest by 1/(1 − p)", () => {
    const x = ones([20000], { dtype: "float64" });
    const y = dropout(x, 0.3, true, new Generator(5)).toList();
    const kept = y.filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 1 / 0.7) < 1e-12)).toBe(true);
    expect(Math.abs(kept.length / y.length - 0.7)).toBeLessThan(0.015);
    const mean = y.reduce((s, v) => s + v, 0) / y.length;
    expect(Math.abs(mean - 1)).toBeLessThan(0.03);
  });

  it("is reproducible from the default generator's seed and from an explicit generator", () => {
    const x = ones([64]);
    manualSeed(9);
    const a = dropout(x, 0.5).toList();
    manualSeed(9);
    expect(dropout(x, 0.5).toList()).toEqual(a);
    expect(dropout(x, 0.5, true, new Generator(1)).toList()).toEqual(dropout(x, 0.5, true, new Generator(1)).toList());
  });

  it("back-propagates through the same mask", () => {
    const x = leaf([50]);
    const y = dropout(x, 0.4, true, new Generator(3));
    backward(y, ones([50], { dtype: "float64" }));
    for (let i = 0; i < 50; i++) expect(x.grad!.data[i]).toBeCloseTo(y.data[i] === 0 ? 0 : 1 / 0.6, 12);
    // A fixed generator state makes the op deterministic, so central differences apply.
    manualSeed(61);
    const z = leaf([3, 4]);
    expectGrad((t) => dropout(t, 0.5, true, new Generator(7)), [z]);
  });

  it("is the identity in eval mode and for p = 0", () => {
    const x = leaf([4]);
    expect(dropout(x, 0.9, false)).toBe(x);
    expect(dropout(x, 0)).toBe(x);
  });

  it("rejects p outside [0, 1) and integer inputs", () => {
    expect(() => dropout(zeros([2, 3]), 1)).toThrow(ValueError);
    expect(() => dropout(zeros([2, 3]), 1)).toThrow(/dropout: p must be in \[0, 1\), got 1 \(input \[2, 3\]\)/);
    expect(() => dropout(zeros([2]), -0.1)).toThrow(ValueError);
    expect(() => dropout(zeros([2]), NaN)).toThrow(ValueError);
    expect(() => dropout(zeros([2], { dtype: "int32" }), 0.5)).toThrow(DTypeError);
  });
});
