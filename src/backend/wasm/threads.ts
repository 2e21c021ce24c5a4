/**
 * The kernel worker pool: persistent worker_threads that share the WebAssembly memory and
 * run slices of one kernel call (GEMM column/row panels, conv images or weight columns, BN
 * channels). The main thread runs slice 0 itself, then waits for the others. Node only (the
 * backend is single-threaded elsewhere). Used by ./runtime.ts.
 *
 * Signalling, per worker slot in a SharedArrayBuffer (64 int32 = 256 bytes, so slots never
 * share a cache line): i32[0] seq (bumped by main per job), [1] done (= seq when finished),
 * [2] export index (−1 = exit), [3] argument count, [4] error flag, [5] ready; f64 arguments
 * from byte 32. Workers spin on seq for `spinLimit` polls (≈ 0.1–0.2 ms) after each job, then
 * sleep in Atomics.wait (waking a sleeper costs ~60 µs here); main spins on done, then waits
 * in 1 ms slices. A slot whose worker is not ready yet (start-up takes tens of ms) is not
 * given work: main runs that slice too, so results never depend on timing.
 */
import type { Worker as NodeWorker } from "node:worker_threads";
import type { NodeHost } from "./host.js";
import { type KernelExports, type KernelName, type WasmMemory, type WasmModule, exportedFunctions } from "./module.js";
import { WORKER_SOURCE } from "./worker-source.js";

const SLOT_I32 = 64;
const MAX_ARGS = 28;
const MAX_WORKERS = 64;
const SPIN_LIMIT = 20000;
const SEQ = 0, DONE = 1, FN = 2, NARGS = 3, ERROR = 4, READY = 5;

/** One slice of a kernel call: the export to run and its arguments. */
export interface Job {
  fn: KernelName;
  args: number[];
}

export class WorkerPool {
  private readonly control = new SharedArrayBuffer(SLOT_I32 * 4 * MAX_WORKERS);
  private readonly I = new Int32Array(this.control);
  private readonly F = new Float64Array(this.control);
  private readonly workers: NodeWorker[] = [];
  private readonly fnIndex: Map<KernelName, number>;
  private readonly names: KernelName[];
  /** Jobs handed to workers so far. */
  posted = 0;

  constructor(
    private readonly host: NodeHost,
    private readonly module: WasmModule,
    private readonly memory: WasmMemory,
    private readonly exports: KernelExports,
  ) {
    this.names = exportedFunctions(module) as KernelName[];
    this.fnIndex = new Map(this.names.map((n, i) => [n, i]));
  }

  /** Workers (threads besides the main one). */
  get size(): number {
    return this.workers.length;
  }

  /** Workers that have started and can take jobs. */
  readyCount(): number {
    let n = 0;
    for (let w = 0; w < this.workers.length; w++) if (Atomics.load(this.I, w * SLOT_I32 + READY) === 1) n++;
    return n;
  }

  /**
   * Starts workers until at least `count` exist. Workers are never stopped: an idle worker
   * sleeps in Atomics.wait (no CPU) and restarting one costs tens of ms.
   */
  ensure(count: number): void {
    count = Math.max(0, Math.min(MAX_WORKERS, count));
    while (this.workers.length < count) this.start(this.workers.length);
  }

  /**
   * Runs jobs[0] on the main thread and jobs[i] (i ≥ 1) on worker i − 1 when it is ready (on
   * the main thread otherwise), and returns when all are done.
   */
  run(jobs: readonly Job[]): void {
    const sent: number[] = [];
    for (let i = 1; i < jobs.length; i++) {
      const w = i - 1;
      if (w < this.workers.length && Atomics.load(this.I, w * SLOT_I32 + READY) === 1) {
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
      if (spins > SPIN_LIMIT) Atomics.wait(this.I, base + DONE, done, 1);
    }
    return Atomics.load(this.I, base + ERROR) !== 0;
  }

  private start(w: number): void {
    const base = w * SLOT_I32;
    Atomics.store(this.I, base + READY, 0);
    Atomics.store(this.I, base + SEQ, 0);
    Atomics.store(this.I, base + DONE, 0);
    const worker = new this.host.Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module: this.module, memory: this.memory, control: this.control, slot: w, names: this.names, spinLimit: SPIN_LIMIT },
    });
    worker.unref();
    this.workers.push(worker);
  }
}
