/**
 * Wasm conv2d kernels (forward and both backward passes) over assembly/conv.ts. Forward and
 * backward-input split the batch across threads; backward-weight splits the columns of
 * dw[OC, Cg·KH·KW] (each thread im2cols only its rows and builds its slice transposed in its
 * own scratch), so no partial sums are needed and every result is bitwise independent of the
 * thread count. Float64 goes to the reference.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Conv2dGeom, Epilogue } from "../kernels.js";
import * as ref from "../ref/conv.js";
import { epilogueArgs, wasmEpilogueOk } from "./epilogue.js";
import { PARALLEL_MIN_FLOPS } from "./gemm.js";
import { Call, type Runtime, runJobs, runtime, scratchFor, splitRange, threadCount } from "./runtime.js";
import type { Job } from "./threads.js";

/** The i32[16] geometry struct read by assembly/conv.ts. */
function geomStruct(g: Conv2dGeom): number[] {
  return [g.n, g.c, g.h, g.w, g.oc, g.kh, g.kw, g.oh, g.ow, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.groups];
}

/** Multiply-adds × 2 of one pass. */
function flops(g: Conv2dGeom): number {
  return 2 * g.n * g.oc * (g.c / g.groups) * g.kh * g.kw * g.oh * g.ow;
}

function allF32(...arrays: FloatArray[]): boolean {
  return arrays.every((a) => a instanceof Float32Array);
}

/** Jobs running `fn` over [0, total) split across threads (boundaries multiples of align); args(lo, hi, scratch). */
function splitJobs(
  r: Runtime, fn: Job["fn"], total: number, work: number, scratchBytes: number, align: number, args: (lo: number, hi: number, s: number) => number[],
): Job[] {
  const threads = work >= PARALLEL_MIN_FLOPS ? threadCount() : 1;
  return splitRange(total, threads, align).map(([lo, hi], t) => ({ fn, args: args(lo, hi, scratchFor(r, t, scratchBytes)) }));
}

/** Forward, with the fused epilogue (bias, activation) applied per column chunk inside the kernel. */
export function conv2d(x: FloatArray, w: FloatArray, y: FloatArray, g: Conv2dGeom, epi?: Epilogue | null): void {
  if (!allF32(x, w, y) || !wasmEpilogueOk(epi)) return ref.conv2d(x, w, y, g, epi);
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), pw = call.in(w), py = call.out(y), pg = call.i32(geomStruct(g));
    const ep = epilogueArgs(call, epi, g.oc);
    const bytes = r.k.conv2dScratchBytes(pg);
    runJobs(r, splitJobs(r, "conv2dForward", g.n, flops(g), bytes, 1, (lo, hi, s) => [px, pw, py, pg, lo, hi, s, ...ep]));
  } finally {
    call.done();
  }
}

export function conv2dBackwardInput(dy: FloatArray, w: FloatArray, dx: FloatArray, g: Conv2dGeom): void {
  if (!allF32(dy, w, dx)) return ref.conv2dBackwardInput(dy, w, dx, g);
  const r = runtime();
  const call = new Call(r);
  try {
    const pdy = call.in(dy), pw = call.in(w), pdx = call.out(dx), pg = call.i32(geomStruct(g));
    const bytes = r.k.conv2dScratchBytes(pg);
    runJobs(r, splitJobs(r, "conv2dBackwardInput", g.n, flops(g), bytes, 1, (lo, hi, s) => [pdy, pw, pdx, pg, lo, hi, s]));
  } finally {
    call.done();
  }
}

export function conv2dBackwardWeight(x: FloatArray, dy: FloatArray, dw: FloatArray, g: Conv2dGeom): void {
  if (!allF32(x, dy, dw)) return ref.conv2dBackwardWeight(x, dy, dw, g);
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), pdy = call.in(dy), pdw = call.out(dw), pg = call.i32(geomStruct(g));
    const bytes = r.k.conv2dWeightScratchBytes(pg);
    const K = (g.c / g.groups) * g.kh * g.kw;
    runJobs(r, splitJobs(r, "conv2dBackwardWeight", K, flops(g), bytes, 8, (lo, hi, s) => [px, pdy, pdw, pg, lo, hi, s]));
  } finally {
    call.done();
  }
}
