/**
 * The wasm gelu, geluBackward, layerNorm and layerNormBackward kernels (assembly/transformer.ts;
 * definition src/backend/ref/transformer.ts), and softmaxBackward (definition ../ref/softmax-backward.ts). The erf table is the reference's own, copied into
 * wasm memory for each GELU call (49 KB; nothing is held between calls). Float64 data and calls
 * under WASM_MIN_ELEMENTS go to the reference; large calls are split among the worker
 * threads (elements, rows, or columns for the weight / bias gradients), each piece computed
 * the same way whatever the split.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { GeluApproximate } from "../kernels.js";
import { softmaxBackward as refSoftmaxBackward } from "../ref/softmax-backward.js";
import * as ref from "../ref/transformer.js";
import { Call, WASM_MIN_ELEMENTS, runJobs, runtime, splitRange, threadCount } from "./runtime.js";
import type { Job } from "./threads.js";

const PARALLEL_MIN_ELEMENTS = 1 << 16;

const f32 = (...arrays: (FloatArray | null)[]): boolean => arrays.every((a) => a === null || a instanceof Float32Array);

let table: Float64Array | null = null;

/** Address of the interleaved erf table for this call (49 KB copied in: no block held between calls). */
function erfTable(call: Call): number {
  table ??= ref.erfTableInterleaved();
  return call.in(table);
}

function threadsFor(elements: number, parts: number): number {
  return elements >= PARALLEL_MIN_ELEMENTS ? Math.max(1, Math.min(threadCount(), parts)) : 1;
}

function geluRun(g: FloatArray | null, x: FloatArray, out: FloatArray, approximate: GeluApproximate): void {
  const n = out.length;
  if (x.length < n || (g && g.length < n)) throw new RangeError(`wasm gelu: input (${x.length}) and gradient (${g?.length ?? "none"}) need ${n} values`);
  const r = runtime();
  const call = new Call(r);
  try {
    const pt = erfTable(call), px = call.in(x), pg = g ? call.in(g) : 0, po = call.out(out);
    const tanh = approximate === "tanh" ? 1 : 0;
    runJobs(r, splitRange(n, threadsFor(n, n), 4).map(([a, b]): Job => g
      ? { fn: "geluBackwardF32", args: [pg + 4 * a, px + 4 * a, po + 4 * a, b - a, tanh, pt] }
      : { fn: "geluF32", args: [px + 4 * a, po + 4 * a, b - a, tanh, pt] }));
  } finally {
    call.done();
  }
}

export function gelu(x: FloatArray, out: FloatArray, approximate: GeluApproximate): void {
  if (!f32(x, out) || out.length < WASM_MIN_ELEMENTS) return ref.gelu(x, out, approximate);
  geluRun(null, x, out, approximate);
}

export function geluBackward(g: FloatArray, x: FloatArray, dx: FloatArray, approximate: GeluApproximate): void {
  if (!f32(g, x, dx) || dx.length < WASM_MIN_ELEMENTS) return ref.geluBackward(g, x, dx, approximate);
  geluRun(g, x, dx, approximate);
}

function sizes(kernel: string, rows: number, n: number, big: (FloatArray | null)[], small: (FloatArray | null)[], stats: Float64Array[]): void {
  const short = (a: { length: number } | null, len: number): boolean => a !== null && a.length < len;
  if (big.some((a) => short(a, rows * n)) || small.some((a) => short(a, n)) || stats.some((a) => short(a, rows))) {
    throw new RangeError(`wasm ${kernel}: arrays too short for ${rows} rows of ${n}`);
  }
}

export function layerNorm(
  x: FloatArray, weight: FloatArray | null, bias: FloatArray | null, y: FloatArray,
  mean: Float64Array, rstd: Float64Array, rows: number, n: number, eps: number,
): void {
  if (!f32(x, weight, bias, y) || rows * n < WASM_MIN_ELEMENTS) return ref.layerNorm(x, weight, bias, y, mean, rstd, rows, n, eps);
  sizes("layerNorm", rows, n, [x, y], [weight, bias], [mean, rstd]);
  const r = runtime();
  const call = new Call(r);
  try {
    const px = call.in(x), pw = weight ? call.in(weight) : 0, pb = bias ? call.in(bias) : 0, py = call.out(y);
    const pm = call.out(mean), ps = call.out(rstd);
    runJobs(r, splitRange(rows, threadsFor(rows * n, rows)).map(([r0, r1]): Job => ({ fn: "layerNormF32", args: [px, pw, pb, py, pm, ps, r0, r1, n, eps] })));
  } finally {
    call.done();
  }
}

export function layerNormBackward(
  g: FloatArray, x: FloatArray, weight: FloatArray | null, mean: Float64Array, rstd: Float64Array,
  dx: FloatArray | null, dweight: FloatArray | null, dbias: FloatArray | null, rows: number, n: number,
): void {
  if (!f32(g, x, weight, dx, dweight, dbias) || rows * n < WASM_MIN_ELEMENTS) {
    return ref.layerNormBackward(g, x, weight, mean, rstd, dx, dweight, dbias, rows, n);
  }
  sizes("layerNormBackward", rows, n, [g, x, dx], [weight, dweight, dbias], [mean, rstd]);
  const r = runtime();
  const call = new Call(r);
  try {
    const pg = call.in(g), px = call.in(x), pw = weight ? call.in(weight) : 0, pm = call.in(mean), ps = call.in(rstd);
    const pdx = dx ? call.out(dx) : 0, pdw = dweight ? call.out(dweight) : 0, pdb = dbias ? call.out(dbias) : 0;
    if (dx) {
      runJobs(r, splitRange(rows, threadsFor(rows * n, rows)).map(([r0, r1]): Job => ({ fn: "layerNormDxF32", args: [pg, px, pw, pm, ps, pdx, r0, r1, n] })));
    }
    if (dweight || dbias) {
      runJobs(r, splitRange(n, threadsFor(rows * n, n / 2), 2).map(([j0, j1]): Job => ({ fn: "layerNormDwDbF32", args: [pg, px, pm, ps, pdw, pdb, rows, n, j0, j1] })));
    }
  } finally {
    call.done();
  }
}

export function softmaxBackward(y: FloatArray, g: FloatArray, dx: FloatArray, rows: number, cols: number, log: boolean): void {
  if (!f32(y, g, dx) || rows * cols < WASM_MIN_ELEMENTS) return refSoftmaxBackward(y, g, dx, rows, cols, log);
  sizes("softmaxBackward", rows, cols, [y, g, dx], [], []);
  const r = runtime();
  const call = new Call(r);
  try {
    const py = call.in(y), pg = call.in(g), pdx = call.out(dx);
    runJobs(r, splitRange(rows, threadsFor(rows * cols, rows)).map(([r0, r1]): Job => ({ fn: "softmaxBackwardF32", args: [py, pg, pdx, r0, r1, cols, log ? 1 : 0] })));
  } finally {
    call.done();
  }
}
