/**
 * Wasm matmul kernel (the `matmul` entry of the Kernels interface) and the int8 GEMM for the
 * integer engine, over the SIMD GEMMs of assembly/sgemm.ts and assembly/igemm.ts. Work is
 * split over the pool by batch items, else by column panels (multiples of NR = 8) or row
 * panels (multiples of MR = 4) of C; each C element is computed by the same instruction
 * sequence whatever the split, so results are bitwise independent of the thread count.
 * Float64 operands go to the reference kernel.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Epilogue, MatmulGeom } from "../kernels.js";
import { matmul as refMatmul } from "../ref/matmul.js";
import { epilogueArgs, wasmEpilogueOk } from "./epilogue.js";
import { Call, type Runtime, runJobs, runtime, scratchFor, splitRange, threadCount } from "./runtime.js";
import type { Job } from "./threads.js";

/**
 * Below this many flops a product runs on one thread: ≈ 0.15 ms of single-thread work, so
 * half of it clearly exceeds the ~60 µs it costs to wake a sleeping worker (DESIGN.md §6).
 */
export const PARALLEL_MIN_FLOPS = 1 << 22;

/** C = op(A)·op(B), with the fused epilogue (bias per column, activation) applied per block inside sgemmBatch. */
export function matmul(a: FloatArray, b: FloatArray, c: FloatArray, g: MatmulGeom, epi?: Epilogue | null): void {
  if (!(a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array) || !wasmEpilogueOk(epi)) return refMatmul(a, b, c, g, epi);
  const r = runtime();
  const call = new Call(r);
  try {
    const pa = call.in(a), pb = call.in(b);
    const pc = g.accumulate ? call.inout(c) : call.out(c);
    runJobs(r, matmulJobs(r, pa, pb, pc, g, epilogueArgs(call, epi, g.n)));
  } finally {
    call.done();
  }
}

/** sgemmBatch jobs: one per thread, over batch ranges or C panels. */
function matmulJobs(r: Runtime, pa: number, pb: number, pc: number, g: MatmulGeom, ep: number[]): Job[] {
  const { m, n, k, batch } = g;
  const [ars, acs] = g.transA ? [1, m] : [k, 1];
  const [brs, bcs] = g.transB ? [1, k] : [n, 1];
  const threads = 2 * m * n * k * batch >= PARALLEL_MIN_FLOPS ? threadCount() : 1;
  const bytes = r.k.sgemmScratchBytes();
  const acc = g.accumulate ? 1 : 0;
  const job = (t: number, first: number, count: number, mm: number, nn: number, aOff: number, bOff: number, cOff: number): Job => ({
    fn: "sgemmBatch",
    args: [
      first, count, mm, nn, k,
      pa + 4 * aOff, g.aBatchStride, ars, acs,
      pb + 4 * bOff, g.bBatchStride, brs, bcs,
      pc + 4 * cOff, g.cBatchStride, n, acc, scratchFor(r, t, bytes),
      // the epilogue's bias starts at this job's first column (cOff mod n)
      ep[0] === 0 ? 0 : ep[0] + 4 * (cOff % n), ep[1], ep[2], ep[3],
    ],
  });
  if (threads === 1) return [job(0, 0, batch, m, n, 0, 0, 0)];
  if (batch >= threads) return splitRange(batch, threads).map(([lo, hi], t) => job(t, lo, hi - lo, m, n, 0, 0, 0));
  if (n >= m) return splitRange(n, threads, 8).map(([lo, hi], t) => job(t, 0, batch, m, hi - lo, 0, lo * bcs, lo));
  return splitRange(m, threads, 4).map(([lo, hi], t) => job(t, 0, batch, hi - lo, n, lo * ars, 0, lo * n));
}

/**
 * Integer GEMM for the int8 engine, exact in int32:
 *   C[i, j] (+)= Σ_p (A[i, p] − aZero)·(B[j, p] − bZero),   i < m, j < n, p < k
 * A: [m, k] row-major int8 or uint8 (activations), B: [n, k] row-major int8 (weights, OI
 * layout), C: [m, n] row-major int32. Zero points must keep A − aZero and B − bZero within
 * [−255, 255] (true for any uint8/int8 zero point); k < 33 000 keeps C in int32.
 */
export function gemmInt8(
  m: number, n: number, k: number, a: Int8Array | Uint8Array, aZero: number, b: Int8Array, bZero: number, c: Int32Array, accumulate = false,
): void {
  if (a.length < m * k || b.length < n * k || c.length < m * n) throw new RangeError(`gemmInt8: arrays too small for m=${m}, n=${n}, k=${k}`);
  const r = runtime();
  const call = new Call(r);
  try {
    const pa = call.in(a), pb = call.in(b);
    const pc = accumulate ? call.inout(c) : call.out(c);
    const unsigned = a instanceof Uint8Array ? 1 : 0;
    const threads = 2 * m * n * k >= PARALLEL_MIN_FLOPS ? threadCount() : 1;
    const jobs = splitRange(m, threads, 4).map(([lo, hi], t): Job => {
      const bytes = r.k.igemmScratchBytes(hi - lo, n, k);
      return { fn: "igemm", args: [hi - lo, n, k, pa + lo * k, unsigned, aZero, pb, bZero, pc + 4 * lo * n, accumulate ? 1 : 0, scratchFor(r, t, bytes)] };
    });
    if (jobs.length > 0) runJobs(r, jobs);
  } finally {
    call.done();
  }
}
