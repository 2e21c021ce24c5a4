/**
 * The integer GEMM of the dynamic nodes on the static path's int8 kernel (the wasm igemm of
 * src/backend/wasm/int8.ts / assembly/igemm.ts): int32 accumulators
 *   acc[r, c] = Σ_k (q[r, k] − Z_r) · w[c, k]
 * for 8-bit run-time codes q (uint8 or int8) and symmetric int8 weights packed once per weight
 * tensor. The kernel subtracts one zero point per call; per-row zero points (per-token
 * activations) are applied afterwards as − Z_r · Σ_k w[c, k]. Every sum is exact in int32
 * (the kernel's pair products are int16 × int16), so the result is the same integer as the
 * float-GEMM-in-exact-chunks route of ./dynamic.ts: callers stay bit-identical.
 * Available when the wasm SIMD kernels load (Node, browsers with wasm SIMD); callers keep their
 * own route otherwise. Called by ./dynamic.ts (dynamic_linear) and ./dynamic-rnn.ts.
 */
import { packLinearWeights } from "../../backend/wasm/int8.js";
import { PARALLEL_MIN_FLOPS } from "../../backend/wasm/gemm.js";
import { Call, runJobs, runtime, scratchFor, splitRange, threadCount } from "../../backend/wasm/runtime.js";
import { wasmBackendAvailable } from "../../backend/wasm/index.js";
import type { Job } from "../../backend/wasm/threads.js";

let available: boolean | null = null;

/** True when the wasm integer GEMM can run here. */
export function dynamicIgemmAvailable(): boolean {
  if (available === null) {
    try {
      available = wasmBackendAvailable() && runtime() !== null;
    } catch {
      available = false;
    }
  }
  return available;
}

/** Weights packed for the kernel and their row sums Σ_k w[c, k]. */
export interface IgemmWeights {
  packed: Int8Array;
  rowSums: Int32Array;
  n: number;
  k: number;
}

const packedCache = new WeakMap<Int8Array, IgemmWeights>();

/** Symmetric int8 weights [n, k], packed once per weight tensor. */
export function igemmWeights(w: Int8Array, n: number, k: number): IgemmWeights {
  let p = packedCache.get(w);
  if (!p || p.n !== n || p.k !== k) {
    const rowSums = new Int32Array(n);
    for (let c = 0; c < n; c++) {
      let s = 0;
      for (let j = c * k; j < (c + 1) * k; j++) s += w[j];
      rowSums[c] = s;
    }
    p = { packed: packLinearWeights(w, n, k), rowSums, n, k };
    packedCache.set(w, p);
  }
  return p;
}

/**
 * acc [m, n] (see the file header) for codes q [m, k]; `zps` one zero point per row (per tensor:
 * all equal, subtracted by the kernel itself).
 */
export function dynamicIgemm(q: Uint8Array | Int8Array, zps: Int32Array, m: number, k: number, w: IgemmWeights): Int32Array {
  const n = w.n;
  const acc = new Int32Array(m * n);
  if (m === 0) return acc;
  const uniform = zps.every((z) => z === zps[0]);
  const za = uniform ? zps[0] : 0;
  const r = runtime();
  const call = new Call(r);
  try {
    const pa = call.in(q), pw = call.in(w.packed), pc = call.out(acc);
    const bytes = r.k.igemmPackedScratchBytes(k);
    const threads = 2 * m * n * k >= PARALLEL_MIN_FLOPS ? threadCount() : 1;
    const unsigned = q instanceof Uint8Array ? 1 : 0;
    runJobs(r, splitRange(m, threads, 4).map(([lo, hi], t): Job => ({
      fn: "igemmPacked", args: [hi - lo, n, k, pa + lo * k, unsigned, za, pw, pc + 4 * lo * n, 0, scratchFor(r, t, bytes)],
    })));
  } finally {
    call.done();
  }
  if (!uniform) {
    for (let row = 0; row < m; row++) {
      const z = zps[row];
      if (z === 0) continue;
      for (let c = 0; c < n; c++) acc[row * n + c] -= z * w.rowSums[c];
    }
  }
  return acc;
}
