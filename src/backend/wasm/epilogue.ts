/**
 * The wasm fused epilogue (Kernels.epilogue; definition in ../ref/epilogue.ts): the
 * standalone kernel over assembly/epilogue.ts, and `epilogueArgs`, the trailing
 * (bias, act, lo, hi) arguments that ./conv.ts and ./gemm.ts pass to conv2dForward and
 * sgemmBatch, which apply it to each block right after computing it; and maskMul, the
 * relu / hardtanh gradient in one pass. Float64 and small arrays go to the reference.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Epilogue } from "../kernels.js";
import { maskMul as refMaskMul, epilogue as refEpilogue } from "../ref/epilogue.js";
import { Call, WASM_MIN_ELEMENTS, runJobs, runtime, splitRange, threadCount } from "./runtime.js";
import type { Job } from "./threads.js";

const ACT = { none: 0, relu: 1, clamp: 2 } as const;
const PARALLEL_MIN_ELEMENTS = 1 << 19;

/** True when the wasm kernels can apply `epi` to float32 output (a float32 bias or none). */
export function wasmEpilogueOk(epi: Epilogue | null | undefined): boolean {
  return !epi || epi.bias === null || epi.bias instanceof Float32Array;
}

/** [bias address (0 = none), act code, lo, hi] for the kernels' trailing epilogue arguments. */
export function epilogueArgs(call: Call, epi: Epilogue | null | undefined, c: number): number[] {
  if (!epi) return [0, 0, 0, 0];
  if (epi.bias !== null && epi.bias.length < c) throw new RangeError(`epilogue: bias has ${epi.bias.length} values, needs ${c}`);
  const pb = epi.bias ? call.in(epi.bias) : 0;
  return [pb, ACT[epi.act], epi.act === "clamp" ? epi.lo : 0, epi.act === "clamp" ? epi.hi : 0];
}

export function epilogue(y: FloatArray, outer: number, c: number, inner: number, epi: Epilogue): void {
  if (!(y instanceof Float32Array) || !wasmEpilogueOk(epi) || y.length < WASM_MIN_ELEMENTS) return refEpilogue(y, outer, c, inner, epi);
  if (y.length < outer * c * inner) throw new RangeError(`epilogue: output has ${y.length} values, needs ${outer * c * inner}`);
  const r = runtime();
  const call = new Call(r);
  try {
    const py = call.inout(y);
    const [pb, act, lo, hi] = epilogueArgs(call, epi, c);
    const threads = y.length >= PARALLEL_MIN_ELEMENTS ? threadCount() : 1;
    const jobs: Job[] = inner === 1
      // [outer, c]: rows of c values, bias per column
      ? splitRange(outer, threads).map(([o0, o1]) => ({ fn: "epilogueF32", args: [py + 4 * o0 * c, o1 - o0, c, c, pb, 0, act, lo, hi] }))
      // [outer·c, inner]: rows of inner values, bias per row (channel = row mod c)
      : splitRange(outer * c, threads).map(([r0, r1]) => ({ fn: "epilogueChannelsF32", args: [py, r0, r1, c, inner, pb, act, lo, hi] }));
    runJobs(r, jobs);
  } finally {
    call.done();
  }
}

export function maskMul(g: FloatArray, y: FloatArray, lo: number, hi: number, out: FloatArray): void {
  const n = out.length;
  // the kernel compares in float32: bounds that float32 cannot hold exactly go to the reference
  const exact = Math.fround(lo) === lo && Math.fround(hi) === hi;
  if (!(g instanceof Float32Array && y instanceof Float32Array && out instanceof Float32Array) || !exact || n < WASM_MIN_ELEMENTS) return refMaskMul(g, y, lo, hi, out);
  if (g.length < n || y.length < n) throw new RangeError(`maskMul: gradient (${g.length}) and mask source (${y.length}) need ${n} values`);
  const r = runtime();
  const call = new Call(r);
  try {
    const pg = call.in(g), py = call.in(y), po = call.out(out);
    const threads = n >= PARALLEL_MIN_ELEMENTS ? threadCount() : 1;
    runJobs(r, splitRange(n, threads, 4).map(([a, b]): Job => ({ fn: "maskMulF32", args: [pg + 4 * a, py + 4 * a, lo, hi, po + 4 * a, b - a] })));
  } finally {
    call.done();
  }
}
