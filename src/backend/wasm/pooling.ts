/**
 * Wasm max/avg pooling kernels over assembly/pool.ts, split by (n, c) planes across threads
 * for large inputs. Adaptive average pooling stays on the reference kernel. Float64 goes to
 * the reference.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Pool2dGeom } from "../kernels.js";
import * as ref from "../ref/pool.js";
import { Call, type Runtime, runJobs, runtime, splitRange, threadCount } from "./runtime.js";
import type { Job } from "./threads.js";

/** Below this many window reads a pooling call runs on one thread. */
const PARALLEL_MIN_READS = 1 << 18;

function geomStruct(g: Pool2dGeom): number[] {
  return [g.n, g.c, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.countIncludePad ? 1 : 0, 0];
}

function planeJobs(g: Pool2dGeom, fn: Job["fn"], args: (pl0: number, pl1: number) => number[]): Job[] {
  const planes = g.n * g.c;
  const threads = planes * g.oh * g.ow * g.kh * g.kw >= PARALLEL_MIN_READS ? threadCount() : 1;
  return splitRange(planes, threads).map(([lo, hi]) => ({ fn, args: args(lo, hi) }));
}

function run(r: Runtime, jobs: Job[]): void {
  if (jobs.length > 0) runJobs(r, jobs);
}

export function maxPool2d(x: FloatArray, y: FloatArray, argmax: Int32Array, g: Pool2dGeom): void {
  if (!(x instanceof Float32Array && y instanceof Float32Array)) return ref.maxPool2d(x, y, argmax, g);
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), py = call.out(y), pa = call.out(argmax), pg = call.i32(geomStruct(g));
    run(r, planeJobs(g, "maxPool2d", (lo, hi) => [px, py, pa, pg, lo, hi]));
  } finally {
    call.done();
  }
}

export function maxPool2dBackward(dy: FloatArray, argmax: Int32Array, dx: FloatArray, g: Pool2dGeom): void {
  if (!(dy instanceof Float32Array && dx instanceof Float32Array)) return ref.maxPool2dBackward(dy, argmax, dx, g);
  const r = runtime();
  const call = new Call(r);
  try {
    const pdy = call.in(dy), pa = call.in(argmax), pdx = call.out(dx), pg = call.i32(geomStruct(g));
    run(r, planeJobs(g, "maxPool2dBackward", (lo, hi) => [pdy, pa, pdx, pg, lo, hi]));
  } finally {
    call.done();
  }
}

export function avgPool2d(x: FloatArray, y: FloatArray, g: Pool2dGeom): void {
  if (!(x instanceof Float32Array && y instanceof Float32Array)) return ref.avgPool2d(x, y, g);
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), py = call.out(y), pg = call.i32(geomStruct(g));
    run(r, planeJobs(g, "avgPool2d", (lo, hi) => [px, py, pg, lo, hi]));
  } finally {
    call.done();
  }
}

export function avgPool2dBackward(dy: FloatArray, dx: FloatArray, g: Pool2dGeom): void {
  if (!(dy instanceof Float32Array && dx instanceof Float32Array)) return ref.avgPool2dBackward(dy, dx, g);
  const r = runtime();
  const call = new Call(r);
  try {
    const pdy = call.in(dy), pdx = call.out(dx), pg = call.i32(geomStruct(g));
    run(r, planeJobs(g, "avgPool2dBackward", (lo, hi) => [pdy, pdx, pg, lo, hi]));
  } finally {
    call.done();
  }
}
