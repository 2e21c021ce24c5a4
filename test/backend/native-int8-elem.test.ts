/**
 * The native int8 max pool and residual add (native/int8-elem.c via src/backend/native/int8.ts
 * and src/int8/native-layers.ts) equal the TypeScript kernels (src/int8/kernels/pool.ts,
 * elementwise.ts on the reference backend) bit for bit: padded and unpadded windows at strides
 * 1–3, ResNet's 3×3/2 stem pool, uint8 and int8; the add with both dtypes, extreme zero points
 * and multipliers, clamps, and a following requantization (ReLU, dtype change) fused. Both ISA
 * paths, 1–3 threads. Skipped, with the reason printed, where the addon is not built.
 */
import { afterAll, describe, expect, it } from "vitest";
import { nativeStatus, setNativeIsa } from "../../src/backend/native/index.js";
import { nativeInt8Available, qaddNative, qmaxPool2dNative } from "../../src/backend/native/int8.js";
import { getNumThreads, setNumThreads } from "../../src/backend/wasm/index.js";
import { quantizeMultiplier } from "../../src/int8/fixed-point.js";
import type { Int8Node } from "../../src/int8/graph.js";
import { qadd, qrequantize } from "../../src/int8/kernels/elementwise.js";
import { qmaxPool2d } from "../../src/int8/kernels/pool.js";
import { nativeAdd, nativeMaxPool } from "../../src/int8/native-layers.js";
import { expectIdentical, newGen, onBackend } from "./helpers.js";

const threadsBefore = getNumThreads();
afterAll(() => {
  setNumThreads(threadsBefore);
  setNativeIsa("best");
});
if (!nativeInt8Available()) console.log(`native int8 pool/add not tested: ${nativeStatus()}`);
const d = nativeInt8Available() ? describe : describe.skip;

type QT = "uint8" | "int8";
const gen = newGen(11);
const randInt = (lo: number, hi: number) => lo + Math.floor(gen.uniform() * (hi - lo + 1));
const range = (t: QT): [number, number] => (t === "uint8" ? [0, 255] : [-128, 127]);

function randomQ(t: QT, n: number, extreme = false): Uint8Array | Int8Array {
  const [lo, hi] = range(t);
  const a = t === "uint8" ? new Uint8Array(n) : new Int8Array(n);
  for (let i = 0; i < n; i++) a[i] = extreme ? (gen.uniform() < 0.5 ? lo : hi) : randInt(lo, hi);
  return a;
}

function checkPool(t: QT, shape: [number, number, number, number], k: [number, number], s: [number, number], p: [number, number]): void {
  const x = randomQ(t, shape.reduce((a, b) => a * b, 1));
  const want = onBackend("ref", () => qmaxPool2d({ x, xShape: shape, kernelSize: k, stride: s, padding: p }));
  const node = { op: "maxpool2d", kernel: k, stride: s, padding: p, dilation: [1, 1], ceilMode: false } as Extract<Int8Node, { op: "maxpool2d" }>;
  const got = onBackend("native", () => nativeMaxPool(node, { data: x, shape }));
  expect(got).not.toBeNull();
  expect(got!.shape).toEqual(want.shape);
  expectIdentical(got!.data, want.data, `max pool ${t} ${shape.join("×")} k${k} s${s} p${p}`);
}

const mult = (m: number): [number, number] => {
  const q = quantizeMultiplier(m);
  return [q.multiplier, q.shift];
};

interface AddCase {
  a: QT; b: QT; y: QT; aZp: number; bZp: number; yZp: number; sa: number; sb: number; sy: number; clamp?: [number, number];
  post?: { y: QT; zp: number; m: number; clamp?: [number, number] }; n: number; extreme?: boolean; leftShift?: number;
}

function checkAdd(c: AddCase): void {
  const a = randomQ(c.a, c.n, c.extreme), b = randomQ(c.b, c.n, c.extreme);
  const twice = 2 * Math.max(c.sa, c.sb), ls = c.leftShift ?? 20;
  const node = {
    op: "add", aMultiplier: mult(c.sa / twice), bMultiplier: mult(c.sb / twice), outMultiplier: mult(twice / (2 ** ls * c.sy)),
    leftShift: ls, clamp: c.clamp ?? range(c.y),
  } as Extract<Int8Node, { op: "add" }>;
  const want = onBackend("ref", () => {
    const sum = qadd({
      a, aZp: c.aZp, b, bZp: c.bZp, aMultiplier: pair(node.aMultiplier), bMultiplier: pair(node.bMultiplier), outMultiplier: pair(node.outMultiplier),
      outZp: c.yZp, outDType: c.y, leftShift: ls, clampMin: node.clamp[0], clampMax: node.clamp[1],
    }).data;
    if (!c.post) return sum;
    const [lo, hi] = c.post.clamp ?? range(c.post.y);
    return qrequantize({ x: sum, xZp: c.yZp, multiplier: pair(mult(c.post.m)), yZp: c.post.zp, outDType: c.post.y, clampMin: lo, clampMax: hi }).data;
  });
  const q = (t: QT, zp: number) => ({ dtype: t, zeroPoint: zp, scale: 1, qmin: range(t)[0], qmax: range(t)[1] });
  const post = c.post
    ? { node: { op: "requantize", multiplier: mult(c.post.m), clamp: c.post.clamp ?? range(c.post.y) } as Extract<Int8Node, { op: "requantize" }>, q: q(c.post.y, c.post.zp) }
    : null;
  const got = onBackend("native", () => nativeAdd(node, { data: a, shape: [c.n] }, { data: b, shape: [c.n] }, { a: q(c.a, c.aZp), b: q(c.b, c.bZp), y: q(c.y, c.yZp) }, post));
  expect(got).not.toBeNull();
  expect(got!.data.constructor).toBe(want.constructor);
  expectIdentical(got!.data, want, `add ${JSON.stringify(c)}`);
}

const pair = (m: readonly number[]) => ({ multiplier: m[0], shift: m[1] });

d("native int8 max pool and add equal the TypeScript kernels bit for bit", () => {
  for (const isa of ["best", "scalar"] as const) {
    it(`[${isa}] max pool: ResNet's padded 3×3/2 stem pool, strides 1–3, padding, odd sizes, both dtypes`, () => {
      setNativeIsa(isa);
      for (const t of ["uint8", "int8"] as const) {
        checkPool(t, [1, 4, 112, 112], [3, 3], [2, 2], [1, 1]);
        checkPool(t, [2, 3, 9, 11], [3, 3], [2, 2], [1, 1]);
        checkPool(t, [1, 5, 8, 7], [2, 2], [2, 2], [0, 0]);
        checkPool(t, [2, 2, 10, 13], [3, 2], [1, 3], [1, 1]);
        checkPool(t, [1, 3, 7, 7], [5, 5], [3, 2], [2, 0]);
        checkPool(t, [1, 1, 1, 1], [1, 1], [1, 1], [0, 0]);
        checkPool(t, [1, 2, 3, 2], [3, 3], [1, 1], [1, 1]);
      }
    });

    it(`[${isa}] add: both dtypes and mixes, extreme inputs and zero points, clamps, a fused requantization`, () => {
      setNativeIsa(isa);
      checkAdd({ a: "uint8", b: "uint8", y: "uint8", aZp: 3, bZp: 120, yZp: 7, sa: 0.02, sb: 0.013, sy: 0.03, n: 1000 });
      checkAdd({ a: "int8", b: "int8", y: "int8", aZp: -5, bZp: 0, yZp: 2, sa: 0.01, sb: 0.04, sy: 0.02, n: 4099 });
      checkAdd({ a: "uint8", b: "int8", y: "int8", aZp: 0, bZp: -128, yZp: 127, sa: 0.5, sb: 0.001, sy: 0.01, n: 333, extreme: true });
      checkAdd({ a: "int8", b: "uint8", y: "uint8", aZp: 127, bZp: 255, yZp: 0, sa: 1e-4, sb: 3e-4, sy: 1e-5, n: 777, extreme: true, leftShift: 0 });
      checkAdd({ a: "uint8", b: "uint8", y: "uint8", aZp: 64, bZp: 64, yZp: 64, sa: 0.02, sb: 0.02, sy: 0.05, clamp: [64, 200], n: 2048, leftShift: 22 });
      // ResNet's add → ReLU: the requantize node after the add, fused
      checkAdd({ a: "uint8", b: "uint8", y: "uint8", aZp: 0, bZp: 60, yZp: 70, sa: 0.02, sb: 0.03, sy: 0.04, n: 50176, post: { y: "uint8", zp: 0, m: 0.9, clamp: [0, 127] } });
      checkAdd({ a: "int8", b: "int8", y: "int8", aZp: -3, bZp: 1, yZp: -10, sa: 0.02, sb: 0.03, sy: 0.04, n: 999, post: { y: "uint8", zp: 5, m: 1.7 } });
      checkAdd({ a: "uint8", b: "uint8", y: "uint8", aZp: 10, bZp: 20, yZp: 30, sa: 0.02, sb: 0.03, sy: 0.04, n: 1500, post: { y: "int8", zp: -128, m: 300, clamp: [-100, 100] } });
      checkAdd({ a: "uint8", b: "uint8", y: "uint8", aZp: 10, bZp: 20, yZp: 30, sa: 0.02, sb: 0.03, sy: 0.04, n: 1500, post: { y: "uint8", zp: 30, m: 1 } });
    });
  }

  it("threads: planes and element runs split among 1–3 threads give identical results", () => {
    setNativeIsa("best");
    for (const t of [1, 2, 3]) {
      setNumThreads(t);
      checkPool("uint8", [1, 64, 56, 56], [3, 3], [2, 2], [1, 1]);
      checkPool("int8", [3, 7, 20, 20], [2, 2], [2, 2], [0, 0]);
      checkAdd({ a: "uint8", b: "uint8", y: "uint8", aZp: 0, bZp: 60, yZp: 70, sa: 0.02, sb: 0.03, sy: 0.04, n: 200704, post: { y: "uint8", zp: 0, m: 0.9 } });
      checkAdd({ a: "int8", b: "int8", y: "int8", aZp: -3, bZp: 1, yZp: -10, sa: 0.02, sb: 0.03, sy: 0.04, n: 100003 });
    }
    setNumThreads(threadsBefore);
  });

  it("falls back (null) for what the native kernels do not take, and refuses short arrays", () => {
    const x = { data: new Uint8Array(16), shape: [1, 1, 4, 4] };
    const pool = { op: "maxpool2d", kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [2, 2], ceilMode: false } as Extract<Int8Node, { op: "maxpool2d" }>;
    expect(onBackend("native", () => nativeMaxPool(pool, x))).toBeNull(); // dilation
    expect(onBackend("native", () => nativeMaxPool({ ...pool, dilation: [1, 1], ceilMode: true }, x))).toBeNull();
    expect(onBackend("native", () => nativeMaxPool({ ...pool, dilation: [1, 1], padding: [2, 0] }, x))).toBeNull(); // padding > kernel/2
    expect(onBackend("wasm", () => nativeMaxPool({ ...pool, dilation: [1, 1] }, x))).toBeNull(); // not the native backend
    expect(() => qmaxPool2dNative(new Uint8Array(15), 1, 4, 4, [2, 2], [2, 2], [0, 0], 2, 2, new Uint8Array(4))).toThrow(/input has 15 elements, needs 16/);
    expect(() => qmaxPool2dNative(new Uint8Array(16), 1, 4, 4, [2, 2], [2, 2], [0, 0], 2, 2, new Int8Array(4))).toThrow(/dtypes differ/);
    const step = { m0: 1 << 30, shift: 0, yZp: 0, lo: 0, hi: 255 };
    expect(() => qaddNative(new Uint8Array(8), 0, new Uint8Array(7), 0, [1 << 30, 0], [1 << 30, 0], 20, step, false, null, new Uint8Array(8))).toThrow(/b has 7 elements, needs 8/);
    const add = { op: "add", aMultiplier: [1 << 30, 0], bMultiplier: [1 << 30, 40], outMultiplier: [1 << 30, 0], leftShift: 20, clamp: [0, 255] } as Extract<Int8Node, { op: "add" }>;
    const q = { dtype: "uint8", zeroPoint: 0, scale: 1, qmin: 0, qmax: 255 } as const;
    const v = { data: new Uint8Array(8), shape: [8] };
    expect(onBackend("native", () => nativeAdd(add, v, v, { a: q, b: q, y: q }, null))).toBeNull(); // shift 40: the TS kernel reports it
  });
});
