/**
 * Fused fake-quantize kernels for QAT on the wasm backend (assembly/fakequant.ts): one pass
 * writes x̂ and the straight-through mask, bit-exact with src/quant/fake-quantize.ts's
 * float32 loops (PyTorch 1.13 semantics), so the quantization code can call these when the
 * wasm backend is active; the backward pass (grad · mask) is the float × uint8 `binary`
 * kernel. Large tensors are split across threads.
 */
import { Call, runJobs, runtime, splitRange, threadCount } from "./runtime.js";
import type { Job } from "./threads.js";

// 2^17 elements ≈ 0.6 ms of work at one thread (≈ 4.5 ns each): regions stay above the pool’s ~0.5 ms floor.
const PARALLEL_MIN_ELEMENTS = 1 << 17;
const f32 = Math.fround;

/**
 * Per tensor: out[i] = fl32((clamp(q, qmin, qmax) − Z)·S), mask[i] = qmin ≤ q ≤ qmax, with
 * q = fl32(Z + rint(fl32(x[i]·fl32(1/S)))) (NaN and |p| ≥ 2^63 give q = −∞).
 */
export function fakeQuantizePerTensorF32(
  x: Float32Array, scale: number, zeroPoint: number, qmin: number, qmax: number, out: Float32Array, mask: Uint8Array,
): void {
  const n = x.length;
  if (out.length !== n || mask.length !== n) throw new RangeError(`fakeQuantizePerTensorF32: out and mask need ${n} elements`);
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), po = call.out(out), pm = call.out(mask);
    const threads = n >= PARALLEL_MIN_ELEMENTS ? threadCount() : 1;
    const jobs = splitRange(n, threads, 16).map(([lo, hi]): Job => ({
      fn: "fakeQuantPerTensorF32",
      args: [px + 4 * lo, po + 4 * lo, pm + lo, hi - lo, f32(scale), zeroPoint, qmin, qmax],
    }));
    if (jobs.length > 0) runJobs(r, jobs);
  } finally {
    call.done();
  }
}

/** Per channel along `axis` of a row-major tensor of `shape` (scales/zeroPoints per channel). */
export function fakeQuantizePerChannelF32(
  x: Float32Array, shape: readonly number[], axis: number, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>,
  qmin: number, qmax: number, out: Float32Array, mask: Uint8Array,
): void {
  const channels = shape[axis];
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = channels * inner === 0 ? 0 : x.length / (channels * inner);
  if (out.length !== x.length || mask.length !== x.length) throw new RangeError(`fakeQuantizePerChannelF32: out and mask need ${x.length} elements`);
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), po = call.out(out), pm = call.out(mask);
    const ps = call.in(Float32Array.from(scales, f32)), pz = call.in(Float32Array.from(zeroPoints));
    const threads = x.length >= PARALLEL_MIN_ELEMENTS ? threadCount() : 1;
    const jobs = splitRange(outer, threads).map(([lo, hi]): Job => ({
      fn: "fakeQuantPerChannelF32",
      args: [px, po, pm, channels, inner, ps, pz, qmin, qmax, lo, hi],
    }));
    if (jobs.length > 0) runJobs(r, jobs);
  } finally {
    call.done();
  }
}
