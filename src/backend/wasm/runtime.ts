/**
 * The wasm backend's state: kernels instantiated on one memory, the heap over it, tensor
 * storage (when the memory is shared), the worker pool (Node, or a cross-origin isolated
 * page), per-thread scratch, and the
 * `Call` helper that turns typed arrays into addresses. Created lazily on first use. Used by
 * the kernel wrappers (./gemm.ts, ./conv.ts, …) and ./index.ts.
 */
import type { AnyArray } from "../../tensor/dtype.js";
import { WasmHeap } from "./heap.js";
import { nodeHost, syncReclaimRequested } from "./host.js";
import { type KernelExports, loadKernels } from "./module.js";
import { TensorStorage } from "./storage.js";
import { type Job, WorkerPool, workerHost } from "./threads.js";

export interface Runtime {
  k: KernelExports;
  heap: WasmHeap;
  /** Tensor storage in wasm memory; null when the memory is not shared (views would not survive a grow). */
  storage: TensorStorage | null;
  pool: WorkerPool | null;
  /** Scratch block and size per thread index. */
  scratch: { p: number; size: number }[];
}

/** Below this many elements a kernel call costs more than the JavaScript loop it replaces. */
export const WASM_MIN_ELEMENTS = 1024;

let rt: Runtime | null = null;
/** Node's worker_threads, a cross-origin isolated page's Web Workers, or null (one thread). */
const workers = workerHost(nodeHost);
let threads = workers ? workers.cpuCount : 1;

/** The runtime, instantiated on first call. */
export function runtime(): Runtime {
  if (rt) return rt;
  const loaded = loadKernels(true);
  const heap = new WasmHeap(loaded.memory, loaded.maxBytes, (p, n) => loaded.exports.zeroBytes(p, n));
  // Synchronous reclamation needs process-wide V8 flags: never at import; at once on request,
  // else lazily under memory pressure unless forbidden (./host.ts, MemoryOptions.syncReclaim).
  const wish = syncReclaimRequested();
  const tools = nodeHost ? (wish === true ? nodeHost.reclaimTools() : nodeHost.existingReclaimTools()) : null;
  const provider = nodeHost && wish !== false ? () => nodeHost!.reclaimTools() : null;
  const storage = loaded.shared ? new TensorStorage(heap, tools, wish === false ? { syncReclaim: false } : {}, provider) : null;
  const pool = loaded.shared && workers ? new WorkerPool(workers, loaded.module, loaded.memory, loaded.exports) : null;
  rt = { k: loaded.exports, heap, storage, pool, scratch: [] };
  pool?.ensure(threads - 1);
  return rt;
}

/** Threads kernels may use (the main thread included). */
export function threadCount(): number {
  return rt && !rt.pool ? 1 : threads;
}

/** Sets the thread count (1 = single-threaded); missing workers start at once if the runtime exists. */
export function setThreadCount(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setNumThreads: expected an integer ≥ 1, got ${n}`);
  threads = workers ? n : 1;
  rt?.pool?.ensure(threads - 1);
}

/** Runs the jobs (jobs[0] on this thread), in parallel when the pool exists. */
export function runJobs(r: Runtime, jobs: Job[]): void {
  if (jobs.length === 1 || !r.pool) {
    for (const j of jobs) (r.k[j.fn] as (...a: number[]) => void)(...j.args);
    return;
  }
  r.pool.run(jobs);
}

/** A block of at least `bytes` bytes (not zeroed) from the heap, ignoring the tensor limit. */
function rawAlloc(heap: WasmHeap, bytes: number): number {
  const p = heap.popFree(bytes, false);
  if (p >= 0) return p;
  const q = heap.bump(bytes, heap.maxBytes);
  if (q < 0) throw new RangeError(`wasm backend: out of WebAssembly memory (${bytes} bytes requested)`);
  return q;
}

/** Thread t's scratch block, grown to at least `bytes`. */
export function scratchFor(r: Runtime, t: number, bytes: number): number {
  const s = r.scratch[t];
  if (s && s.size >= bytes) return s.p;
  if (s) r.heap.free(s.p);
  const size = Math.max(bytes, s ? s.size * 2 : 0);
  r.scratch[t] = { p: rawAlloc(r.heap, size), size };
  return r.scratch[t].p;
}

/** [lo, hi) ranges splitting [0, total) into at most `parts` non-empty pieces, boundaries multiples of `align`. */
export function splitRange(total: number, parts: number, align = 1): [number, number][] {
  const chunk = Math.max(align, Math.ceil(total / parts / align) * align);
  const out: [number, number][] = [];
  for (let lo = 0; lo < total; lo += chunk) out.push([lo, Math.min(total, lo + chunk)]);
  return out;
}

type View = AnyArray | Float64Array;

/**
 * Addresses for one kernel call. Arrays already in wasm memory are used in place; others are
 * copied into temporary blocks (inputs before the call, outputs back after it), which
 * `done()` releases.
 */
export class Call {
  private readonly temps: number[] = [];
  private readonly back: [View, number][] = [];

  constructor(private readonly r: Runtime) {}

  /** Address of an input array. */
  in(a: View): number {
    if (this.r.heap.owns(a)) return a.byteOffset;
    const p = this.temp(a.byteLength);
    new Uint8Array(this.r.heap.buffer, p, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return p;
  }

  /** Address of an output array (written back by done()). */
  out(a: View): number {
    if (this.r.heap.owns(a)) return a.byteOffset;
    const p = this.temp(a.byteLength);
    this.back.push([a, p]);
    return p;
  }

  /** Address of an array read and written by the kernel. */
  inout(a: View): number {
    if (this.r.heap.owns(a)) return a.byteOffset;
    const p = this.in(a);
    this.back.push([a, p]);
    return p;
  }

  /** Address of a temporary f64 copy of `values`. */
  f64(values: ArrayLike<number>): number {
    const p = this.temp(values.length * 8);
    new Float64Array(this.r.heap.buffer, p, values.length).set(values);
    return p;
  }

  /** Address of a temporary i32 struct. */
  i32(values: readonly number[]): number {
    const p = this.temp(values.length * 4);
    new Int32Array(this.r.heap.buffer, p, values.length).set(values);
    return p;
  }

  /** Scratch of `bytes` bytes released by done(). */
  temp(bytes: number): number {
    const p = rawAlloc(this.r.heap, Math.max(bytes, 16));
    this.temps.push(p);
    return p;
  }

  /** Copies outputs back and releases the temporaries. */
  done(): void {
    for (const [a, p] of this.back) {
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(new Uint8Array(this.r.heap.buffer, p, a.byteLength));
    }
    for (const p of this.temps) this.r.heap.free(p);
  }
}
