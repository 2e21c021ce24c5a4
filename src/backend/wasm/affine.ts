/**
 * Wasm kernels for QAT's per-channel affine map (the `channelAffine` entries of Kernels;
 * bit-identical forward, f64-lane sums backward) and the observers' min/max reductions
 * (not in Kernels: src/quant/observer.ts calls minmaxF32 / minmaxPerChannelF32 when the
 * wasm backend is active). See assembly/affine.ts. Float64 data and small tensors go to the
 * reference kernels.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import { channelAffine as refAffine, channelAffineBackward as refAffineBackward } from "../ref/channel-affine.js";
import { Call, WASM_MIN_ELEMENTS as MIN_ELEMENTS, runJobs, runtime, splitRange, threadCount } from "./runtime.js";
import type { Job } from "./threads.js";

const PARALLEL_MIN_ELEMENTS = 1 << 19;

const f32 = (a: FloatArray | null): a is Float32Array => a instanceof Float32Array;

export function channelAffine(x: FloatArray, scale: FloatArray, bias: FloatArray | null, y: FloatArray, n: number, c: number, inner: number): void {
  if (!f32(x) || !f32(scale) || !f32(y) || (bias !== null && !f32(bias)) || x.length < MIN_ELEMENTS) return refAffine(x, scale, bias, y, n, c, inner);
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), ps = call.in(scale), pb = bias ? call.in(bias) : 0, py = call.out(y);
    const threads = x.length >= PARALLEL_MIN_ELEMENTS ? threadCount() : 1;
    runJobs(r, splitRange(n * c, threads).map(([p0, p1]): Job => ({ fn: "channelAffineF32", args: [px, ps, pb, py, c, inner, p0, p1] })));
  } finally {
    call.done();
  }
}

export function channelAffineBackward(
  g: FloatArray, x: FloatArray, scale: FloatArray, dx: FloatArray | null, dscale: FloatArray | null, dbias: FloatArray | null,
  n: number, c: number, inner: number,
): void {
  const ok = f32(g) && f32(x) && f32(scale) && (dx === null || f32(dx)) && (dscale === null || f32(dscale)) && (dbias === null || f32(dbias));
  if (!ok || g.length < MIN_ELEMENTS) return refAffineBackward(g, x, scale, dx, dscale, dbias, n, c, inner);
  const r = runtime();
  const call = new Call(r);
  try {
    const pg = call.in(g), px = call.in(x), ps = call.in(scale);
    const pdx = dx ? call.out(dx) : 0, pds = dscale ? call.out(dscale) : 0, pdb = dbias ? call.out(dbias) : 0;
    const threads = g.length >= PARALLEL_MIN_ELEMENTS ? Math.min(threadCount(), c) : 1;
    runJobs(r, splitRange(c, threads).map(([c0, c1]): Job => ({ fn: "channelAffineBackwardF32", args: [pg, px, ps, pdx, pds, pdb, n, c, inner, c0, c1] })));
  } finally {
    call.done();
  }
}

/** [min, max] of a float32 array with the reference's semantics (NaN if any element is NaN). */
export function minmaxF32(x: Float32Array): [number, number] {
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x);
    const po = call.temp(12);
    r.k.minmaxF32(px, x.length, po);
    const o = new Float32Array(r.heap.buffer, po, 3);
    return o[2] !== 0 ? [NaN, NaN] : [o[0], o[1]];
  } finally {
    call.done();
  }
}

/** Per-channel [mins, maxs] of [outer, C, inner] (NaN for a channel holding a NaN). */
export function minmaxPerChannelF32(x: Float32Array, outer: number, c: number, inner: number): [Float32Array, Float32Array] {
  const mins = new Float32Array(c).fill(Infinity);
  const maxs = new Float32Array(c).fill(-Infinity);
  const nan = new Uint8Array(c);
  const r = runtime();
  const call = new Call(r);
  try {
    r.k.minmaxPerChannelF32(call.in(x), outer, c, inner, call.inout(mins), call.inout(maxs), call.inout(nan));
  } finally {
    call.done();
  }
  for (let i = 0; i < c; i++) if (nan[i]) mins[i] = maxs[i] = NaN;
  return [mins, maxs];
}
