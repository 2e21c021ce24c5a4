/**
 * Wasm batch-norm kernels over assembly/batchnorm.ts (f64 arithmetic per element, like the
 * reference), split by channels across threads for large inputs. The per-channel
 * parameters (mean/invStd, usually Float64Array from src/ops/batchnorm.ts) are staged as
 * f64; γ/β as f32. Float64 activations go to the reference.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import * as ref from "../ref/batchnorm.js";
import { Call, runJobs, runtime, scratchFor, splitRange, threadCount } from "./runtime.js";
import type { Job } from "./threads.js";

/** Below this many elements a batch-norm call runs on one thread. */
const PARALLEL_MIN_ELEMENTS = 1 << 18;

function threadsFor(elements: number, c: number): number {
  return elements >= PARALLEL_MIN_ELEMENTS ? Math.min(c, threadCount()) : 1;
}

/** Address of γ or β as f32 (0 for null). */
function f32Param(call: Call, p: FloatArray | null): number {
  if (!p) return 0;
  return call.in(p instanceof Float32Array ? p : Float32Array.from(p));
}

export function batchNormStats(x: FloatArray, n: number, c: number, hw: number, mean: FloatArray, variance: FloatArray): void {
  if (!(x instanceof Float32Array)) return ref.batchNormStats(x, n, c, hw, mean, variance);
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), pm = call.temp(8 * c), pv = call.temp(8 * c);
    const jobs = splitRange(c, threadsFor(x.length, c)).map(([lo, hi]): Job => ({ fn: "batchNormStats", args: [px, n, c, hw, pm, pv, lo, hi] }));
    if (jobs.length > 0) runJobs(r, jobs);
    mean.set(new Float64Array(r.heap.buffer, pm, c));
    variance.set(new Float64Array(r.heap.buffer, pv, c));
  } finally {
    call.done();
  }
}

export function batchNormApply(
  x: FloatArray, mean: FloatArray, invStd: FloatArray, gamma: FloatArray | null, beta: FloatArray | null,
  y: FloatArray, n: number, c: number, hw: number,
): void {
  if (!(x instanceof Float32Array && y instanceof Float32Array)) return ref.batchNormApply(x, mean, invStd, gamma, beta, y, n, c, hw);
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), pm = call.f64(mean), pi = call.f64(invStd), pg = f32Param(call, gamma), pb = f32Param(call, beta), py = call.out(y);
    const jobs = splitRange(c, threadsFor(x.length, c)).map(([lo, hi]): Job => ({
      fn: "batchNormApply",
      args: [px, pm, pi, pg, pb, py, n, c, hw, lo, hi],
    }));
    if (jobs.length > 0) runJobs(r, jobs);
  } finally {
    call.done();
  }
}

export function batchNormBackward(
  dy: FloatArray, x: FloatArray, mean: FloatArray, invStd: FloatArray, gamma: FloatArray | null,
  dx: FloatArray, dgamma: FloatArray | null, dbeta: FloatArray | null,
  n: number, c: number, hw: number, training: boolean,
): void {
  if (!(dy instanceof Float32Array && x instanceof Float32Array && dx instanceof Float32Array)) {
    return ref.batchNormBackward(dy, x, mean, invStd, gamma, dx, dgamma, dbeta, n, c, hw, training);
  }
  const r = runtime();
  const call = new Call(r);
  try {
    const pdy = call.in(dy), px = call.in(x), pm = call.f64(mean), pi = call.f64(invStd), pg = f32Param(call, gamma);
    const pdx = call.out(dx);
    const pdg = dgamma ? call.temp(4 * c) : 0, pdb = dbeta ? call.temp(4 * c) : 0;
    const jobs = splitRange(c, threadsFor(x.length, c)).map(([lo, hi], t): Job => ({
      fn: "batchNormBackward",
      args: [pdy, px, pm, pi, pg, pdx, pdg, pdb, n, c, hw, training ? 1 : 0, lo, hi, scratchFor(r, t, 16)],
    }));
    if (jobs.length > 0) runJobs(r, jobs);
    if (dgamma) dgamma.set(new Float32Array(r.heap.buffer, pdg, c));
    if (dbeta) dbeta.set(new Float32Array(r.heap.buffer, pdb, c));
  } finally {
    call.done();
  }
}
