/** matmul/linear (2-D, batched, broadcast) and the autograd engine itself. */
import { describe, expect, it } from "vitest";
import { defineOp } from "../../src/autograd/custom.js";
import { backward } from "../../src/autograd/backward.js";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import * as B from "../../src/ops/binary.js";
import { linear, matmul } from "../../src/ops/matmul.js";
import "../../src/ops/methods.js";
import { sum } from "../../src/ops/reduce.js";
import { exp, round } from "../../src/ops/unary.js";
import { ones, randn, tensor } from "../../src/tensor/creation.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { isGradEnabled, noGrad } from "../../src/tensor/grad-mode.js";
import { manualSeed } from "../../src/tensor/random.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { expectClose, expectGrad, leaf } from "./helpers.js";

manualSeed(3);

/** Naive triple loop reference in float64. */
function naiveMatmul(a: Tensor, b: Tensor): number[] {
  const [m, k] = a.shape;
  const n = b.shape[1];
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a.data[i * k + p] * b.data[p * n + j];
      out.push(s);
    }
  }
  return out;
}

describe("matmul", () => {
  for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [17, 33, 9], [64, 300, 70], [5, 513, 11]]) {
    it(`${m}×${k} · ${k}×${n} matches a naive loop (crosses the packing blocks)`, () => {
      const a = randn([m, k], { dtype: "float64" });
      const b = randn([k, n], { dtype: "float64" });
      expectClose(matmul(a, b).data, naiveMatmul(a, b), 1e-10, 1e-10);
    });
  }

  it("float32 result is close to the float64 one", () => {
    const a = randn([40, 70]);
    const b = randn([70, 30]);
    expectClose(matmul(a, b).data, naiveMatmul(a, b), 1e-4, 1e-4);
  });

  it("vector and batched cases follow torch.matmul shapes", () => {
    expect(matmul(randn([3]), randn([3])).shape).toEqual([]);
    expect(matmul(randn([2, 3]), randn([3])).shape).toEqual([2]);
    expect(matmul(randn([3]), randn([3, 4])).shape).toEqual([4]);
    expect(matmul(randn([5, 2, 3]), randn([3, 4])).shape).toEqual([5, 2, 4]);
    expect(matmul(randn([2, 1, 2, 3]), randn([4, 3, 6])).shape).toEqual([2, 4, 2, 6]);
  });

  it("gradients: 2-D, vector, batched and broadcast batch", () => {
    expectGrad(matmul, [leaf([3, 4]), leaf([4, 5])]);
    expectGrad(matmul, [leaf([4]), leaf([4, 2])]);
    expectGrad(matmul, [leaf([3, 4]), leaf([4])]);
    expectGrad(matmul, [leaf([2, 3, 4]), leaf([2, 4, 5])]);
    expectGrad(matmul, [leaf([2, 1, 3, 4]), leaf([3, 4, 2])]);
    expectGrad(matmul, [leaf([1, 3, 4]), leaf([4, 2])]);
  });

  it("linear = x·Wᵀ + b with gradients for all three", () => {
    const x = leaf([5, 3]);
    const w = leaf([4, 3]);
    const b = leaf([4]);
    expectGrad(linear, [x, w, b]);
    expectGrad((p, q) => linear(p, q), [leaf([2, 7, 3]), leaf([2, 3])]);
  });

  it("mismatched inner dimensions throw a ShapeError naming both shapes", () => {
    expect(() => matmul(randn([2, 3]), randn([4, 5]))).toThrow(ShapeError);
    expect(() => matmul(randn([2, 3]), randn([4, 5]))).toThrow(/matmul.*\[2, ?3\].*\[4, ?5\]/);
    expect(() => linear(randn([2, 3]), randn([4, 5]))).toThrow(/linear/);
    expect(() => matmul(tensor([1], { dtype: "int32" }), tensor([1], { dtype: "int32" }))).toThrow(DTypeError);
  });
});

describe("autograd engine", () => {
  it("accumulates gradients across backward calls and through shared subgraphs", () => {
    const x = tensor([1, 2, 3], { dtype: "float64" });
    x.requiresGrad = true;
    const y = B.mul(x, x); // used twice below
    sum(B.add(y, y)).backward();
    expect(x.grad!.toList()).toEqual([4, 8, 12]);
    sum(B.mul(x, 3)).backward();
    expect(x.grad!.toList()).toEqual([7, 11, 15]);
  });

  it("refuses a second backward through a freed graph unless retainGraph", () => {
    const x = leaf([2]);
    const l = sum(exp(x));
    l.backward(undefined, { retainGraph: true });
    const g1 = x.grad!.toList();
    l.backward();
    expectClose(x.grad!.data, g1.map((v) => 2 * v), 1e-12);
    expect(() => l.backward()).toThrow(ValueError);
  });

  it("noGrad stops recording and detach cuts the graph", () => {
    const x = leaf([3]);
    const y = noGrad(() => B.mul(x, 2));
    expect(y.requiresGrad).toBe(false);
    expect(isGradEnabled()).toBe(true);
    const d = B.mul(x, 2).detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.gradNode).toBe(null);
  });

  it("non-scalar backward needs an explicit gradient of the same shape", () => {
    const x = leaf([3]);
    const y = B.mul(x, 2);
    expect(() => y.backward()).toThrow(ShapeError);
    expect(() => backward(y, ones([4], { dtype: "float64" }))).toThrow(ShapeError);
    backward(y, ones([3], { dtype: "float64" }));
    expect(x.grad!.toList()).toEqual([2, 2, 2]);
  });

  it("integer tensors cannot require grad", () => {
    const t = tensor([1, 2], { dtype: "int32" });
    expect(() => {
      t.requiresGrad = true;
    }).toThrow(DTypeError);
  });

  it("defineOp: a custom straight-through round checked against its declared rule", () => {
    const steRound = defineOp<null>({
      name: "steRound",
      forward: ([x]) => ({ output: round(x), saved: null }),
      backward: (g) => [g],
    });
    const x = tensor([0.4, 1.6, -2.5], { dtype: "float64" });
    x.requiresGrad = true;
    const y = steRound(x);
    expect(y.toList()).toEqual([0, 2, -2]);
    sum(B.mul(y, tensor([1, 2, 3], { dtype: "float64" }))).backward();
    expect(x.grad!.toList()).toEqual([1, 2, 3]);
    // A custom op with a real derivative passes gradcheck; a wrong one fails it.
    const cube = defineOp<Tensor>({
      name: "cube",
      forward: ([a]) => ({ output: B.mul(B.mul(a, a), a), saved: a }),
      backward: (g, a) => [B.mul(g, B.mul(B.mul(a, a), 3))],
    });
    expectGrad(cube, [leaf([4])]);
    const wrong = defineOp<Tensor>({
      name: "wrongCube",
      forward: ([a]) => ({ output: B.mul(B.mul(a, a), a), saved: a }),
      backward: (g, a) => [B.mul(g, B.mul(a, 3))],
    });
    expect(gradcheck(wrong, [leaf([4], 1, 2)]).ok).toBe(false);
  });

  it("a deep chain does not overflow the stack (iterative topological order)", () => {
    const x = leaf([1]);
    let y: Tensor = x;
    for (let i = 0; i < 20000; i++) y = B.add(y, 0.0001);
    sum(y).backward();
    expect(x.grad!.item()).toBe(1);
  });
});

describe("channelAffine", () => {
  it("y = x·scale[c] + bias[c]: values and gradients for all three inputs", async () => {
    const { channelAffine } = await import("../../src/ops/channel-affine.js");
    const x = tensor([[[1, 2], [3, 4]]], { dtype: "float64" });
    const y = channelAffine(x, tensor([2, -1], { dtype: "float64" }), tensor([0.5, 1], { dtype: "float64" }));
    expect(y.toList()).toEqual([2.5, 4.5, -2, -3]);
    expectGrad(channelAffine, [leaf([2, 3, 4, 5]), leaf([3]), leaf([3])]);
    expectGrad((a, s) => channelAffine(a, s), [leaf([5, 4]), leaf([4])]);
    expect(() => channelAffine(leaf([2, 3]), leaf([2]))).toThrow(ShapeError);
  });
});
