import { describe, expect, it } from "vitest";
import { arange, full, ones, rand, randint, randn, tensor, zeros } from "../../src/tensor/creation.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { Generator, getRngState, manualSeed, setRngState } from "../../src/tensor/random.js";
import { broadcastShapes } from "../../src/tensor/shape.js";

describe("tensor creation", () => {
  it("builds from nested arrays, typed arrays and numbers", () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe("float32");
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    const u = tensor(new Float32Array(784), { shape: [1, 1, 28, 28] });
    expect(u.shape).toEqual([1, 1, 28, 28]);
    expect(tensor(3).shape).toEqual([]);
    expect(tensor(3).item()).toBe(3);
    expect(tensor([1.7, -2.2], { dtype: "int32" }).toList()).toEqual([1, -2]);
    expect(tensor(new Uint8Array([1, 2])).dtype).toBe("uint8");
  });

  it("rejects ragged arrays and wrong element counts", () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(ShapeError);
    expect(() => tensor(new Float32Array(5), { shape: [2, 3] })).toThrow(/needs 6 elements, data has 5/);
    expect(() => zeros([2, -1])).toThrow(ValueError);
  });

  it("creates zeros/ones/full/arange", () => {
    expect(zeros([2, 2]).toList()).toEqual([0, 0, 0, 0]);
    expect(ones([3], { dtype: "int8" }).toList()).toEqual([1, 1, 1]);
    expect(full([2], 7).toList()).toEqual([7, 7]);
    expect(arange(5).toList()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(5).dtype).toBe("int32");
    expect(arange(0, 1, 0.25).toList()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(() => arange(0, 1, 0)).toThrow(ValueError);
  });

  it("only float tensors may require grad", () => {
    expect(() => zeros([2], { dtype: "int32", requiresGrad: true })).toThrow(DTypeError);
    expect(zeros([2], { requiresGrad: true }).requiresGrad).toBe(true);
  });
});

describe("random generator", () => {
  it("is reproducible under manualSeed", () => {
    manualSeed(42);
    const a = randn([100]).toList();
    manualSeed(42);
    const b = randn([100]).toList();
    expect(a).toEqual(b);
    manualSeed(43);
    expect(randn([100]).toList()).not.toEqual(a);
  });

  it("restores state exactly", () => {
    manualSeed(7);
    randn([3]);
    const s = getRngState();
    const a = rand([10]).toList();
    setRngState(s);
    expect(rand([10]).toList()).toEqual(a);
  });

  it("has sane moments and ranges", () => {
    const g = new Generator(1);
    const x = randn([20000], { generator: g, dtype: "float64" }).toList();
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const v = x.reduce((s, u) => s + (u - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(v - 1)).toBeLessThan(0.05);
    const r = randint(3, 7, [1000], { generator: g }).toList();
    expect(Math.min(...r)).toBe(3);
    expect(Math.max(...r)).toBe(6);
    const u = rand([1000], { generator: g, low: -2, high: 2 }).toList();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...u)).toBeLessThan(2);
  });

  it("permutation is a permutation", () => {
    const p = Array.from(new Generator(3).permutation(50)).sort((a, b) => a - b);
    expect(p).toEqual([...Array(50).keys()]);
  });
});

describe("broadcasting", () => {
  it("follows NumPy rules", () => {
    expect(broadcastShapes([2, 1, 3], [4, 1], "t")).toEqual([2, 4, 3]);
    expect(broadcastShapes([], [5], "t")).toEqual([5]);
    expect(() => broadcastShapes([2, 3], [4, 3], "add")).toThrow(/add: shapes \[2, 3\] and \[4, 3\] cannot be broadcast/);
  });
});
