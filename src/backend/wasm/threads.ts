/**
 * The kernel worker pool: persistent threads that share the WebAssembly memory and run slices
 * of one kernel call (GEMM column/row panels, conv images or weight columns, BN channels).
 * The main thread runs slice 0 itself, then waits for the others. Threads are Node
 * worker_threads, or in a browser Web Workers — only when the page is cross-origin isolated
 * (`crossOriginIsolated`: COOP/COEP headers), since shared memory needs it; elsewhere there
 * is no pool and the backend runs on one thread (`workerHost()` decides). Used by ./runtime.ts.
 *
 * Signalling, per worker slot in a SharedArrayBuffer (64 int32 = 256 bytes, so slots never
 * share a cache line): i32[0] seq (bumped by main per job), [1] done (= seq when finished),
 * [2] export index (−1 = exit), [3] argument count, [4] error flag, [5] ready; f64 arguments
 * from byte 32. Workers spin on seq for `spinLimit` polls (≈ 0.1–0.2 ms) after each job, then
 * sleep in Atomics.wait (waking a sleeper costs ~60 µs here); main spins on done, then waits
 * in 1 ms slices where the main thread may block (Node, or a library running inside a Web
 * Worker) and keeps spinning where it may not (a browser's main thread forbids Atomics.wait).
 * A slot whose worker is not ready yet (start-up takes tens of ms; in a browser a worker
 * starts only once the page's event loop turns, e.g. between fitAsync steps) is not given
 * work: main runs that slice too, so results never depend on timing.
 */
import type { NodeHost } from "./host.js";
import { type KernelExports, type KernelName, type WasmMemory, type WasmModule, exportedFunctions } from "./module.js";
import { BROWSER_WORKER_SOURCE, WORKER_SOURCE } from "./worker-source.js";

const SLOT_I32 = 64;
const MAX_ARGS = 28;
const MAX_WORKERS = 64;
const SPIN_LIMIT = 20000;
const SEQ = 0, DONE = 1, FN = 2, NARGS = 3, ERROR = 4, READY = 5;

/** What a worker receives at start: the module, the shared memory and its control slot. */
export interface WorkerInit {
  module: WasmModule;
  memory: WasmMemory;
  control: SharedArrayBuffer;
  slot: number;
  names: string[];
  spinLimit: number;
}

/** Where pool threads come from: Node's worker_threads or a browser's Web Workers. */
export interface WorkerHost {
  /** Threads the host offers (cores), the main thread included. */
  cpuCount: number;
  /** Starts one worker running the pool loop with `init`. */
  spawn(init: WorkerInit): void;
}

/** Node: worker_threads evaluating WORKER_SOURCE, unref'd so they never keep a process alive. */
function nodeWorkers(host: NodeHost): WorkerHost {
  return {
    cpuCount: host.cpuCount,
    spawn(init) {
      new host.Worker(WORKER_SOURCE, { eval: true, workerData: init }).unref();
    },
  };
}

interface BrowserGlobals {
  crossOriginIsolated?: boolean;
  Worker?: new (url: string, opts?: { name?: string }) => { postMessage(m: unknown): void };
  Blob?: new (parts: string[], opts: { type: string }) => unknown;
  URL?: { createObjectURL?(blob: unknown): string };
  navigator?: { hardwareConcurrency?: number };
}

/** Browsers: Web Workers from a Blob URL, when cross-origin isolated (shared memory can be posted). */
function browserWorkers(): WorkerHost | null {
  const g = globalThis as BrowserGlobals;
  const { Worker: W, Blob: B } = g;
  if (g.crossOriginIsolated !== true || typeof W !== "function" || typeof B !== "function" || typeof g.URL?.createObjectURL !== "function") return null;
  if (typeof SharedArrayBuffer === "undefined") return null;
  let url: string | null = null;
  return {
    cpuCount: Math.max(1, g.navigator?.hardwareConcurrency ?? 1),
    spawn(init) {
      url ??= g.URL!.createObjectURL!(new B([BROWSER_WORKER_SOURCE], { type: "text/javascript" }));
      new W(url, { name: `qat-ts kernel worker ${init.slot}` }).postMessage(init);
    },
  };
}

/** The thread source for this host: Node's worker_threads, a cross-origin isolated page's Web Workers, or none. */
export function workerHost(node: NodeHost | null): WorkerHost | null {
  return node ? nodeWorkers(node) : browserWorkers();
}

/** Whether this thread may block in Atomics.wait (not a browser's main thread). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** One slice of a kernel call: the export to run and its arguments. */
export interface Job {
  fn: KernelName;
  args: number[];
}

export class WorkerPool {
  private readonly control = new SharedArrayBuffer(SLOT_I32 * 4 * MAX_WORKERS);
  private readonly I = new Int32Array(this.control);
  private readonly F = new Float64Array(this.control);
  /** Workers started (they are never stopped). */
  private started = 0;
  private readonly blocking = canBlock();
  /** Set when the host refused a worker (e.g. a page's CSP forbids blob: workers): no more tries. */
  private spawnFailed = false;
  private readonly fnIndex: Map<KernelName, number>;
  private readonly names: KernelName[];
  /** Jobs handed to workers so far. */
  posted = 0;

  constructor(
    private readonly host: WorkerHost,
    private readonly module: WasmModule,
    private readonly memory: WasmMemory,
    private readonly exports: KernelExports,
  ) {
    this.names = exportedFunctions(module) as KernelName[];
    this.fnIndex = new Map(this.names.map((n, i) => [n, i]));
  }

  /** Workers (threads besides the main one). */
  get size(): number {
    return this.started;
  }

  /** Workers that have started and can take jobs. */
  readyCount(): number {
    let n = 0;
    for (let w = 0; w < this.started; w++) if (Atomics.load(this.I, w * SLOT_I32 + READY) === 1) n++;
    return n;
  }

  /**
   * Starts workers until at least `count` exist. Workers are never stopped: an idle worker
   * sleeps in Atomics.wait (no CPU) and restarting one costs tens of ms.
   */
  ensure(count: number): void {
    count = Math.max(0, Math.min(MAX_WORKERS, count));
    while (!this.spawnFailed && this.started < count) this.start(this.started);
  }

  /**
   * Runs jobs[0] on the main thread and jobs[i] (i ≥ 1) on worker i − 1 when it is ready (on
   * the main thread otherwise), and returns when all are done.
   */
  run(jobs: readonly Job[]): void {
    const sent: number[] = [];
    for (let i = 1; i < jobs.length; i++) {
      const w = i - 1;
      if (w < this.started && Atomics.load(this.I, w * SLOT_I32 + READY) === 1) {
        this.post(w, jobs[i]);
        sent.push(w);
      }
    }
    this.call(jobs[0]);
    for (let i = 1; i < jobs.length; i++) if (!sent.includes(i - 1)) this.call(jobs[i]);
    let failed = false;
    for (const w of sent) failed = this.await(w) || failed;
    if (failed) throw new Error(`wasm worker pool: a worker failed running ${jobs[0].fn}`);
  }

  private call(job: Job): void {
    (this.exports[job.fn] as (...a: number[]) => void)(...job.args);
  }

  private post(w: number, job: Job): void {
    if (job.args.length > MAX_ARGS) throw new Error(`wasm worker pool: ${job.fn} has more than ${MAX_ARGS} arguments`);
    const base = w * SLOT_I32;
    const argBase = w * (SLOT_I32 / 2) + 4;
    this.I[base + FN] = this.fnIndex.get(job.fn)!;
    this.I[base + NARGS] = job.args.length;
    for (let i = 0; i < job.args.length; i++) this.F[argBase + i] = job.args[i];
    Atomics.add(this.I, base + SEQ, 1);
    Atomics.notify(this.I, base + SEQ);
    this.posted++;
  }

  /** Waits for worker w's current job; returns true if it failed. */
  private await(w: number): boolean {
    const base = w * SLOT_I32;
    const seq = Atomics.load(this.I, base + SEQ);
    for (let spins = 0; ; spins++) {
      const done = Atomics.load(this.I, base + DONE);
      if (done === seq) break;
      if (spins > SPIN_LIMIT && this.blocking) Atomics.wait(this.I, base + DONE, done, 1);
    }
    return Atomics.load(this.I, base + ERROR) !== 0;
  }

  private start(w: number): void {
    const base = w * SLOT_I32;
    Atomics.store(this.I, base + READY, 0);
    Atomics.store(this.I, base + SEQ, 0);
    Atomics.store(this.I, base + DONE, 0);
    try {
      this.host.spawn({ module: this.module, memory: this.memory, control: this.control, slot: w, names: this.names, spinLimit: SPIN_LIMIT });
      this.started++;
    } catch {
      this.spawnFailed = true; // the pool keeps the workers it has (maybe none): still correct
    }
  }
}
