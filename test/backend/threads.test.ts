/**
 * The worker pool: with 2 threads every split kernel (GEMM panels and batches, conv images
 * and weight columns, pooling planes, batch-norm channels, elementwise ranges, int8 GEMM
 * rows) gives results bitwise identical to 1 thread, and work really reaches a worker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Conv2dGeom, MatmulGeom } from "../../src/backend/kernels.js";
import { gemmInt8, getNumThreads, setNumThreads, wasmThreadStats, workersReady } from "../../src/backend/wasm/index.js";
import { expectIdentical, newGen, randomF32, wasmCopy, wasmTable } from "./helpers.js";

const wasm = wasmTable();
const initialThreads = getNumThreads();

/** Runs fn with 1 thread and with 2 threads and returns both outputs. */
function both<T>(fn: () => T): [T, T] {
  setNumThreads(1);
  const one = fn();
  setNumThreads(2);
  const two = fn();
  return [one, two];
}

describe("worker pool: 2 threads are bitwise identical to 1", () => {
  beforeAll(async () => {
    setNumThreads(2);
    expect(await workersReady()).toBe(true);
  });
  afterAll(() => setNumThreads(initialThreads));

  it("rejects a bad thread count", () => {
    expect(() => setNumThreads(0)).toThrow(RangeError);
    expect(() => setNumThreads(1.5)).toThrow(RangeError);
  });

  it("matmul: column split, row split and batch split", () => {
    const gen = newGen(1);
    for (const [m, n, k, batch] of [[200, 333, 150, 1], [517, 40, 300, 1], [64, 64, 640, 3]]) {
      const g: MatmulGeom = { batch, m, n, k, aBatchStride: m * k, bBatchStride: k * n, cBatchStride: m * n, transA: false, transB: true, accumulate: false };
      const a = wasmCopy(randomF32(gen, batch * m * k)), b = wasmCopy(randomF32(gen, batch * k * n));
      const before = wasmThreadStats().jobsPosted;
      const [c1, c2] = both(() => {
        const c = wasmCopy(new Float32Array(batch * m * n));
        wasm.matmul(a, b, c, g);
        return c;
      });
      expectIdentical(c2, c1);
      expect(wasmThreadStats().jobsPosted).toBeGreaterThan(before);
    }
  });

  it("conv2d forward, backward input, backward weight", () => {
    const gen = newGen(2);
    const g: Conv2dGeom = { n: 16, c: 16, h: 14, w: 14, oc: 32, kh: 3, kw: 3, oh: 14, ow: 14, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1 };
    const x = wasmCopy(randomF32(gen, 16 * 16 * 196)), w = wasmCopy(randomF32(gen, 32 * 16 * 9)), dy = wasmCopy(randomF32(gen, 16 * 32 * 196));
    const run = () => {
      const y = wasmCopy(new Float32Array(dy.length)), dx = wasmCopy(new Float32Array(x.length)), dw = wasmCopy(new Float32Array(w.length));
      wasm.conv2d(x, w, y, g);
      wasm.conv2dBackwardInput(dy, w, dx, g);
      wasm.conv2dBackwardWeight(x, dy, dw, g);
      return [y, dx, dw];
    };
    const [one, two] = both(run);
    one.forEach((a, i) => expectIdentical(two[i], a));
  });

  it("pooling, batch norm and elementwise", () => {
    const gen = newGen(3);
    const [n, c, hw] = [64, 16, 784];
    const x = wasmCopy(randomF32(gen, n * c * hw)), dy = wasmCopy(randomF32(gen, n * c * hw));
    const mean = new Float64Array(c).fill(0.1), invStd = new Float64Array(c).fill(1.5), gamma = randomF32(gen, c);
    const pg = { n, c, h: 28, w: 28, oh: 14, ow: 14, kh: 2, kw: 2, strideH: 2, strideW: 2, padH: 0, padW: 0, dilationH: 1, dilationW: 1, countIncludePad: true };
    const run = () => {
      const y = wasmCopy(new Float32Array(x.length)), dx = wasmCopy(new Float32Array(x.length)), dg = new Float32Array(c), r = wasmCopy(new Float32Array(x.length));
      const p = wasmCopy(new Float32Array(n * c * 196)), am = new Int32Array(n * c * 196), st = new Float64Array(2 * c);
      wasm.batchNormStats(x, n, c, hw, st.subarray(0, c), st.subarray(c));
      wasm.batchNormApply(x, mean, invStd, gamma, null, y, n, c, hw);
      wasm.batchNormBackward(dy, x, mean, invStd, gamma, dx, dg, null, n, c, hw, true);
      wasm.maxPool2d(x, p, am, pg);
      wasm.binary("mul", x, [x.length], dy, [x.length], r, [x.length]);
      return [y, dx, dg, p, am, st, r];
    };
    const [one, two] = both(run);
    one.forEach((a, i) => expectIdentical(two[i], a));
  });

  it("int8 GEMM", () => {
    const gen = newGen(4);
    const [m, n, k] = [256, 128, 576];
    const a = new Uint8Array(m * k).map(() => gen.int(0, 256)), b = new Int8Array(n * k).map(() => gen.int(-128, 128));
    const [c1, c2] = both(() => {
      const c = new Int32Array(m * n);
      gemmInt8(m, n, k, a, 128, b, 0, c);
      return c;
    });
    expectIdentical(c2, c1);
  });
});
