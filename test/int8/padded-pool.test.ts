/**
 * The fast path of a padded int8 max pool (ResNet's stem: 3×3, stride 2, padding 1), in
 * int8/layer-cache.ts: the planes bordered with the dtype's minimum, then the unpadded fast
 * kernel. Bit for bit with the direct kernel (padding never wins) on int8 and uint8, and the
 * cases it must leave to the direct kernel (ceil mode, dilation, padding over half the window).
 */
import { describe, expect, it } from "vitest";
import { LayerCache } from "../../src/int8/layer-cache.js";
import type { Int8Node, ValueInfo } from "../../src/int8/graph.js";
import { qmaxPool2d } from "../../src/int8/kernels/pool.js";
import { getBackend, setBackend } from "../../src/backend/index.js";

type PoolNode = Extract<Int8Node, { op: "maxpool2d" }>;

function pool(kernel: [number, number], stride: [number, number], padding: [number, number], extra: Partial<PoolNode> = {}): PoolNode {
  return { op: "maxpool2d", name: "pool", inputs: ["x"], output: "y", kernel, stride, padding, dilation: [1, 1], ceilMode: false, ...extra } as PoolNode;
}

function data(dtype: "int8" | "uint8", n: number, seed: number): Int8Array | Uint8Array {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) & 255;
  return dtype === "int8" ? Int8Array.from({ length: n }, () => next() - 128) : Uint8Array.from({ length: n }, next);
}

describe("padded int8 max pool on the fast path", () => {
  const before = getBackend();
  const cache = new LayerCache(new Map(), () => ({}) as ValueInfo, new Map());
  const cases: [string, PoolNode, number[]][] = [
    ["3×3 s2 p1 (ResNet stem), odd size", pool([3, 3], [2, 2], [1, 1]), [2, 3, 11, 9]],
    ["3×3 s2 p1, even size", pool([3, 3], [2, 2], [1, 1]), [1, 4, 8, 8]],
    ["2×2 s2 p1", pool([2, 2], [2, 2], [1, 1]), [1, 2, 5, 7]],
    ["3×3 s1 p(1, 0)", pool([3, 3], [1, 1], [1, 0]), [1, 2, 6, 5]],
  ];
  for (const dtype of ["int8", "uint8"] as const) {
    for (const [what, node, shape] of cases) {
      it(`${what}, ${dtype}: equals the direct kernel bit for bit`, () => {
        try {
          setBackend(getBackend() === "ref" ? "wasm" : getBackend());
          const x = { data: data(dtype, shape.reduce((a, b) => a * b, 1), shape[3]), shape };
          const fast = cache.fastLayer(node, x, 0, { dtype } as ValueInfo["q"]);
          expect(fast).not.toBeNull();
          const direct = qmaxPool2d({ x: x.data, xShape: shape, kernelSize: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation, ceilMode: false });
          expect(fast!.shape).toEqual(direct.shape);
          expect(Array.from(fast!.data)).toEqual(Array.from(direct.data));
        } finally {
          setBackend(before);
        }
      });
    }
  }

  it("leaves ceil mode, dilation and padding over half the window to the direct kernel", () => {
    try {
      setBackend(getBackend() === "ref" ? "wasm" : getBackend());
      const x = { data: data("int8", 2 * 8 * 8, 3), shape: [1, 2, 8, 8] };
      for (const node of [pool([3, 3], [2, 2], [1, 1], { ceilMode: true }), pool([3, 3], [2, 2], [1, 1], { dilation: [2, 2] }), pool([2, 2], [1, 1], [2, 2])]) {
        expect(cache.fastLayer(node, x, 0, { dtype: "int8" } as ValueInfo["q"])).toBeNull();
      }
    } finally {
      setBackend(before);
    }
  });
});
