/**
 * The native backend's QAT entry points outside the float `Kernels` interface (as the wasm
 * backend's ../wasm/fakequant.ts and the min/max of ../wasm/affine.ts): fused fake quantization
 * per tensor and per channel — x̂ and the straight-through mask in one pass, bit-exact with
 * src/quant/fake-quantize.ts —, LSQ's backward, bit-exact with src/quant/lsq.ts, and the
 * observers' min/max, bit-exact with src/quant/minmax.ts (native/fakequant.c). Called by
 * src/quant/fake-quantize.ts, lsq.ts and minmax.ts when the
 * native backend is active (they check `getBackend()`; importing ../index.js here would be a
 * cycle); each wrapper checks the array lengths first, so C never reads or writes out of bounds.
 */
import { threadCount } from "../wasm/runtime.js";
import { addon } from "./addon.js";

function need(kernel: string, what: string, a: { length: number }, n: number): void {
  if (a.length < n) throw new RangeError(`native ${kernel}: ${what} has ${a.length} elements, needs ${n}`);
}

/** Sends the thread count (setNumThreads) each call: several wrappers share the addon's setting. */
function sync(): void {
  addon!.setThreads(threadCount());
}

/** [outer, inner] of a row-major shape around `axis` (outer 0 for an empty tensor). */
function around(shape: readonly number[], axis: number, length: number): [number, number] {
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d];
  const block = shape[axis] * inner;
  return [block === 0 ? 0 : length / block, inner];
}

export interface NativeQat {
  /** out[i], mask[i] = fake-quantized x[i] and its STE mask with one (S, Z); S is rounded to float32. */
  fakeQuant(x: Float32Array, scale: number, zeroPoint: number, qmin: number, qmax: number, out: Float32Array, mask: Uint8Array): void;
  /** The same per channel along `axis` of a row-major tensor of `shape`. */
  fakeQuantChannels(x: Float32Array, shape: readonly number[], axis: number, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>,
    qmin: number, qmax: number, out: Float32Array, mask: Uint8Array): void;
  /** [min, max] of x as float32 values (NaN, NaN when x holds a NaN; ±∞ when empty). */
  minmax(x: Float32Array): [number, number];
  /** Per-channel [mins, maxs] of x viewed as [outer, c, inner] (NaN for a channel holding a NaN). */
  minmaxChannels(x: Float32Array, outer: number, c: number, inner: number): [Float32Array, Float32Array];
  /**
   * LSQ's backward over x viewed as [outer, c, inner] (src/quant/lsq.ts): writes dx, and acc[2k], acc[2k + 1] = Σ∂S, Σ∂Z
   * of channel k; scales are rounded to float32, zero points are the rounded ones, gf the gradient factor.
   */
  lsqGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, outer: number, c: number, inner: number, scales: ArrayLike<number>,
    zeroPoints: ArrayLike<number>, qmin: number, qmax: number, gf: number, acc: Float64Array): void;
}

const minmaxOut = new Float64Array(3);

/** The entry points, or null without the addon. */
export const nativeQat: NativeQat | null = addon
  ? {
      fakeQuant(x, scale, zeroPoint, qmin, qmax, out, mask) {
        need("fakeQuant", "out", out, x.length);
        need("fakeQuant", "mask", mask, x.length);
        sync();
        addon!.fakeQuant(x, out, mask, x.length, Math.fround(scale), zeroPoint, qmin, qmax);
      },
      fakeQuantChannels(x, shape, axis, scales, zeroPoints, qmin, qmax, out, mask) {
        const c = shape[axis];
        const [outer, inner] = around(shape, axis, x.length);
        need("fakeQuantChannels", "x", x, outer * c * inner);
        need("fakeQuantChannels", "out", out, outer * c * inner);
        need("fakeQuantChannels", "mask", mask, outer * c * inner);
        need("fakeQuantChannels", "scales", scales, c);
        need("fakeQuantChannels", "zero points", zeroPoints, c);
        sync();
        addon!.fakeQuantChannels(x, out, mask, outer, c, inner, Float32Array.from(scales), Float64Array.from(zeroPoints), qmin, qmax);
      },
      minmax(x) {
        sync();
        addon!.minmax(x, x.length, minmaxOut);
        return minmaxOut[2] !== 0 ? [NaN, NaN] : [minmaxOut[0], minmaxOut[1]];
      },
      minmaxChannels(x, outer, c, inner) {
        need("minmaxChannels", "x", x, outer * c * inner);
        const mins = new Float32Array(c), maxs = new Float32Array(c);
        sync();
        addon!.minmaxChannels(x, outer, c, inner, mins, maxs);
        return [mins, maxs];
      },
      lsqGrad(x, dy, dx, outer, c, inner, scales, zeroPoints, qmin, qmax, gf, acc) {
        const n = outer * c * inner;
        for (const [what, a, len] of [["x", x, n], ["dy", dy, n], ["dx", dx, n], ["scales", scales, c], ["zero points", zeroPoints, c], ["acc", acc, 2 * c]] as const) {
          need("lsqGrad", what, a, len);
        }
        sync();
        addon!.lsqGrad(x, dy, dx, outer, c, inner, Float32Array.from(scales), Float64Array.from(zeroPoints), qmin, qmax, Math.fround(gf), acc);
      },
    }
  : null;
