/**
 * Wasm entry points of the int8 engine's fast path (assembly/qconv.ts, assembly/igemm.ts):
 * weight packing (once per layer), convolution and linear with the requantization fused in,
 * and max pooling on uint8/int8. Not part of the float `Kernels` interface: called by
 * src/int8/kernels/gemm-path.ts, which decides when a layer may take this path.
 * Work is split over the pool by images (conv, pooling planes) or by rows (linear); every
 * output element is computed by the same instructions whatever the split.
 */
import { allocArray } from "../../tensor/dtype.js";
import { PARALLEL_MIN_FLOPS } from "./gemm.js";
import { Call, runJobs, runtime, scratchFor, splitRange, threadCount } from "./runtime.js";
import type { Job } from "./threads.js";

type Q = Uint8Array | Int8Array;

/** Requantization of one layer, in the form the kernels take. */
export interface FastRequant {
  bias: Int32Array | null;
  multiplier: Int32Array;
  shift: Int32Array;
  yZp: number;
  /** Output clamp (ReLU/ReLU6 folded in), inside the output dtype's range. */
  lo: number;
  hi: number;
  ySigned: boolean;
  /** True when every requantized value provably fits int32 (vector path); else lanes saturate. */
  exact: boolean;
}

/** Conv weights [OC, K] int8 minus their per-channel zero points, packed as 4-channel panels (assembly/qconv.ts). */
export function packConvWeights(w: Int8Array, oc: number, k: number, wZp: Int32Array | null): Int8Array {
  const r = runtime();
  const out = allocArray("int8", r.k.qconvPackedBytes(oc, k));
  const call = new Call(r);
  try {
    r.k.qconvPackWeights(call.in(w), oc, k, call.out(out), wZp ? call.in(wZp) : 0);
  } finally {
    call.done();
  }
  return out;
}

/** Linear weights [N, K] int8 packed as 8-column panels (assembly/igemm.ts). */
export function packLinearWeights(w: Int8Array, n: number, k: number): Int8Array {
  const r = runtime();
  const out = allocArray("int8", r.k.igemmPackedBBytes(n, k));
  const call = new Call(r);
  try {
    r.k.igemmPackB(call.in(w), n, k, 0, call.out(out));
  } finally {
    call.done();
  }
  return out;
}

export interface QConvGeometry {
  n: number; c: number; h: number; w: number;
  oc: number; kh: number; kw: number; oh: number; ow: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

function struct(x: Q, xZp: number, rq: FastRequant, g?: QConvGeometry, pool2 = false): number[] {
  return [
    g?.c ?? 0, g?.h ?? 0, g?.w ?? 0, g?.oc ?? 0, g?.kh ?? 0, g?.kw ?? 0, g?.oh ?? 0, g?.ow ?? 0,
    g?.sh ?? 0, g?.sw ?? 0, g?.ph ?? 0, g?.pw ?? 0, g?.dh ?? 0, g?.dw ?? 0,
    x instanceof Uint8Array ? 1 : 0, xZp, rq.ySigned ? 1 : 0, rq.yZp, rq.lo, rq.hi,
    rq.multiplier.length > 1 ? 1 : 0, rq.exact ? 1 : 0, pool2 ? 1 : 0, 0,
  ];
}

/**
 * y (NCHW, preallocated) = requant(conv(x − xZp, w) + bias) for groups = 1; with `pool2`, the
 * 2×2 stride-2 max pool of that (y is [N, OC, ⌊OH/2⌋, ⌊OW/2⌋]), fused in the epilogue.
 */
export function qconv2dWasm(x: Q, xZp: number, packed: Int8Array, g: QConvGeometry, rq: FastRequant, y: Q, pool2 = false): void {
  convJobs("qconv2d", x, xZp, packed, g, rq, y, pool2);
}

/** Depthwise (groups = C = OC) y = requant(conv(x − xZp, w − wZp) + bias); w int32 [C, KH·KW] centred. */
export function qdepthwiseWasm(x: Q, xZp: number, w: Int32Array, g: QConvGeometry, rq: FastRequant, y: Q): void {
  convJobs("qdepthwise", x, xZp, w, g, rq, y, false);
}

/** Runs a convolution kernel over the pool, split by images. */
function convJobs(fn: "qconv2d" | "qdepthwise", x: Q, xZp: number, w: Int8Array | Int32Array, g: QConvGeometry, rq: FastRequant, y: Q, pool2: boolean): void {
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), pw = call.in(w), py = call.out(y);
    const pb = rq.bias ? call.in(rq.bias) : 0;
    const pm = call.in(rq.multiplier), ps = call.in(rq.shift);
    const pg = call.i32(struct(x, xZp, rq, g, pool2));
    const bytes = fn === "qconv2d" ? r.k.qconv2dScratchBytes(pg) : r.k.qdepthwiseScratchBytes(pg);
    const macs = g.n * g.oc * g.oh * g.ow * (fn === "qconv2d" ? g.c : 1) * g.kh * g.kw;
    const threads = 2 * macs >= PARALLEL_MIN_FLOPS ? Math.min(threadCount(), g.n) : 1;
    runJobs(r, splitRange(g.n, threads).map(([b0, b1], t): Job => ({ fn, args: [px, pw, pb, pm, ps, py, pg, b0, b1, scratchFor(r, t, bytes)] })));
  } finally {
    call.done();
  }
}

/** y [m, n] (preallocated) = requant((x − xZp) · wᵀ + bias), weights packed by packLinearWeights. */
export function qlinearWasm(x: Q, xZp: number, m: number, k: number, packed: Int8Array, n: number, rq: FastRequant, y: Q): void {
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), pw = call.in(packed), py = call.out(y);
    const pacc = call.temp(m * n * 4);
    const pb = rq.bias ? call.in(rq.bias) : 0;
    const pm = call.in(rq.multiplier), ps = call.in(rq.shift);
    const pg = call.i32(struct(x, xZp, rq));
    const unsigned = x instanceof Uint8Array ? 1 : 0;
    const bytes = r.k.igemmPackedScratchBytes(k);
    const threads = 2 * m * n * k >= PARALLEL_MIN_FLOPS ? threadCount() : 1;
    runJobs(r, splitRange(m, threads, 4).map(([lo, hi], t): Job => ({
      fn: "igemmPacked", args: [hi - lo, n, k, px + lo * k, unsigned, xZp, pw, pacc + 4 * lo * n, 0, scratchFor(r, t, bytes)],
    })));
    r.k.requantRows(pacc, m, n, pb, pm, ps, py, pg);
  } finally {
    call.done();
  }
}

/** Max pooling without padding or dilation (every window inside the plane); y preallocated. */
export function qmaxPool2dWasm(x: Q, planes: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, oh: number, ow: number, y: Q): void {
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), py = call.out(y);
    const signed = x instanceof Int8Array ? 1 : 0;
    const threads = planes * oh * ow * kh * kw >= PARALLEL_MIN_FLOPS ? threadCount() : 1;
    runJobs(r, splitRange(planes, threads).map(([p0, p1]): Job => ({
      fn: "qmaxPool2d", args: [px, x.length, py, signed, h, w, oh, ow, kh, kw, sh, sw, p0, p1],
    })));
  } finally {
    call.done();
  }
}

/** q = clamp(nearest(x ⊘ scale) + zp, qmin, qmax) into `out`; returns −1 or the index of the first NaN. */
export function quantizeF32Wasm(x: Float32Array, scale: number, zp: number, qmin: number, qmax: number, out: Q): number {
  const r = runtime();
  const call = new Call(r);
  try {
    return r.k.quantizeF32(call.in(x), call.out(out), x.length, scale, zp, qmin, qmax, out instanceof Int8Array ? 1 : 0);
  } finally {
    call.done();
  }
}

/** out = (q − zp) · scale in float32. */
export function dequantizeF32Wasm(q: Q, scale: number, zp: number, out: Float32Array): void {
  const r = runtime();
  const call = new Call(r);
  try {
    r.k.dequantizeF32(call.in(q), call.out(out), q.length, scale, zp, q instanceof Int8Array ? 1 : 0);
  } finally {
    call.done();
  }
}

/** Fixed-point parameters of a quantized add (see assembly/qadd.ts), in the kernel's order. */
export interface QAddParams {
  a: [number, number]; b: [number, number]; out: [number, number];
  yZp: number; lo: number; hi: number; leftShift: number;
}

/** out = qadd(a, b) elementwise (TFLite Add), integer-only; same results as the reference qadd. */
export function qaddWasm(a: Q, aZp: number, b: Q, bZp: number, p: QAddParams, out: Q): void {
  const r = runtime();
  const call = new Call(r);
  try {
    const pp = call.i32([p.a[0], p.a[1], p.b[0], p.b[1], p.out[0], p.out[1], p.yZp, p.lo, p.hi, p.leftShift]);
    const s = (q: Q) => (q instanceof Int8Array ? 1 : 0);
    r.k.qaddKernel(call.in(a), s(a), aZp, call.in(b), s(b), bZp, call.out(out), s(out), a.length, pp, call.temp(2048));
  } finally {
    call.done();
  }
}

/** y[i] = table[x[i] + (int8 ? 128 : 0)]: an 8-bit → 8-bit map (table: the 256 output bytes by input value). */
export function lut8Wasm(x: Q, table: Uint8Array, y: Q): void {
  const r = runtime();
  const call = new Call(r);
  try {
    r.k.lut8(call.in(x), x instanceof Int8Array ? 0x80 : 0, call.in(table), call.out(y), x.length);
  } finally {
    call.done();
  }
}
