/**
 * Tensor storage in WebAssembly memory: the allocArray hook (src/tensor/dtype.ts) installed
 * while the wasm backend is active, so op outputs are born inside the kernels' memory and
 * every later kernel reads and writes them in place. Used by ./index.ts.
 *
 * How blocks come back:
 *  1. `releaseArray(a)` — explicit and immediate (safe only when nothing uses `a` again).
 *  2. A FinalizationRegistry entry per array frees its block once the array is garbage
 *     collected. Finalizers normally run when the event loop turns, which a synchronous
 *     training loop never lets happen; in Node the registry comes from ./host.ts with
 *     `cleanupSome()`, which this allocator calls on every free-list miss, so blocks of
 *     arrays the GC has already collected are reused at once.
 *  3. V8 (Node 20) clears finalization cells only in full collections, never in scavenges,
 *     and nothing tells V8 that our dead arrays hold memory. So when a miss would push
 *     committed memory past `gcThresholdBytes`, a forced full collection (Node only,
 *     rate-limited to once per `gcThresholdBytes / 4` bytes allocated) turns the dead arrays
 *     into free blocks before the heap grows. The threshold then adapts to twice the live
 *     bytes, and self-tunes upwards (to 1 GiB at most) while collections take more than 2 %
 *     of the time, so memory plateaus at max(threshold, 2 × live) plus fragmentation.
 *     Measured on SmallCNN at batch 64 (2,000 steps): flat at ~0.3–1 GiB resident, collections
 *     of ~10–20 ms.
 *  4. Past `limitBytes` of committed memory, allocation declines and the array becomes an
 *     ordinary JS array (kernels then copy it through scratch): memory is bounded even where
 *     nothing can be reclaimed synchronously (browsers, hosts without the V8 facilities).
 * Limitations: an array kept alive only through a `subarray()` view of it may be freed while
 * the view is still used (keep the original); float64 arrays and arrays under
 * `minArrayBytes` stay in ordinary JS memory.
 */
import type { AnyArray, DType } from "../../tensor/dtype.js";
import { type HeapStats, type WasmHeap, classSize } from "./heap.js";
import type { ReclaimTools } from "./host.js";

export interface MemoryOptions {
  /** Committed bytes beyond which a miss first forces a collection (Node). Default 256 MiB. */
  gcThresholdBytes: number;
  /**
   * Committed bytes beyond which tensors are no longer placed in wasm memory. Default 3 GiB
   * with synchronous reclamation (Node), else 1 GiB (both capped by the memory's maximum).
   */
  limitBytes: number;
  /** Smaller arrays stay ordinary JS arrays. Default 256 bytes. */
  minArrayBytes: number;
  /**
   * Use cleanupSome() and forced collections (Node). They need two process-wide V8 flags, so
   * importing the package never sets them: with `true` (the default) they are set the first
   * time committed memory reaches min(64 MiB, gcThresholdBytes) (a training loop; small scripts never get there), at once with `configureWasmMemory({ syncReclaim: true })` or QAT_SYNC_RECLAIM=1,
   * and never with `false` (or QAT_SYNC_RECLAIM=0): blocks then come back only by
   * releaseArray and by finalizers when the event loop turns, so a synchronous training loop
   * grows to limitBytes (measured: 3.5 GB RSS for two SmallCNN epochs instead of 0.7 GB).
   * A process started with `--expose-gc --harmony-weak-refs-with-cleanup-some` uses its own.
   */
  syncReclaim: boolean;
  /**
   * Target share of time spent in forced collections: while above it, the threshold grows
   * by half after each collection, up to `gcThresholdMaxBytes`. Default 0.02.
   */
  gcTimeShare: number;
  /** Ceiling of the self-tuned threshold. Default 1 GiB. */
  gcThresholdMaxBytes: number;
}

export interface StorageStats extends HeapStats {
  /** Arrays placed in wasm memory / declined (limit reached) / explicitly released / finalized. */
  allocations: number;
  declined: number;
  released: number;
  finalized: number;
  forcedGcs: number;
  /** Milliseconds spent in forced collections. */
  forcedGcMs: number;
}

type Ctor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => AnyArray;
const VIEW_CTORS: Partial<Record<DType, Ctor>> = { float32: Float32Array, int32: Int32Array, int8: Int8Array, uint8: Uint8Array };
const BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4, int8: 1, uint8: 1 };
const MiB = 1 << 20;
/**
 * Committed bytes at which synchronous reclamation is switched on when it was not requested:
 * arrays allocated before stay with the plain registry (returned only when the event loop
 * turns), so this is kept small — but above what a short script or a test touches.
 */
const LAZY_SWITCH_BYTES = 64 * MiB;

interface CleanupRegistry extends FinalizationRegistry<number> {
  cleanupSome?: () => void;
}

export class TensorStorage {
  readonly options: MemoryOptions;
  private registry: CleanupRegistry;
  /** Registries of earlier modes (arrays registered there before sync reclamation was switched on). */
  private readonly formerRegistries: CleanupRegistry[] = [];
  private readonly owned = new WeakMap<AnyArray, number>();
  private gc: (() => void) | null;
  /** Twice the live bytes after the last forced collection (the threshold never goes below it). */
  private liveFloor = 0;
  /** Threshold raised by self-tuning (see MemoryOptions.gcTimeShare). */
  private tunedThreshold = 0;
  private lastGcEnd = 0;
  private allocatedSinceGc = 0;
  private counts = { allocations: 0, declined: 0, released: 0, finalized: 0, forcedGcs: 0, forcedGcMs: 0 };

  /** Sets the V8 flags and returns the tools, for the lazy switch-on (null: never). */
  private toolsProvider: (() => ReclaimTools | null) | null;

  constructor(private readonly heap: WasmHeap, tools: ReclaimTools | null, options: Partial<MemoryOptions> = {}, toolsProvider: (() => ReclaimTools | null) | null = null) {
    this.toolsProvider = toolsProvider;
    const canReclaimSync = (options.syncReclaim ?? true) && !!tools?.Registry && !!tools.gc;
    const lazily = (options.syncReclaim ?? true) && toolsProvider !== null;
    this.options = {
      gcThresholdBytes: 256 * MiB,
      // Without synchronous reclamation, memory is only returned when the event loop turns.
      limitBytes: canReclaimSync || lazily ? this.syncLimit() : this.asyncLimit(),
      minArrayBytes: 256,
      syncReclaim: true,
      gcTimeShare: 0.02,
      gcThresholdMaxBytes: 1024 * MiB,
      ...options,
    };
    const sync = canReclaimSync ? tools : null;
    const Registry = sync?.Registry ?? FinalizationRegistry;
    this.registry = new Registry<number>((p) => this.finalized(p)) as CleanupRegistry;
    this.gc = sync?.gc ?? null;
  }

  private syncLimit(): number {
    return Math.min(3072 * MiB, this.heap.maxBytes - 256 * MiB);
  }

  private asyncLimit(): number {
    return Math.min(1024 * MiB, this.heap.maxBytes >> 1);
  }

  /**
   * Switches synchronous reclamation on with `tools` (from ./host.ts reclaimTools()); false
   * when they are incomplete. Arrays registered before stay in the former registry.
   */
  enableSyncReclaim(tools: ReclaimTools | null): boolean {
    if (this.gc) return true;
    if (!tools?.Registry || !tools.gc) return false;
    this.formerRegistries.push(this.registry);
    this.registry = new tools.Registry<number>((p) => this.finalized(p)) as CleanupRegistry;
    this.gc = tools.gc;
    if (this.options.limitBytes === this.asyncLimit()) this.options.limitBytes = this.syncLimit();
    this.options.syncReclaim = true;
    return true;
  }

  /** The allocArray hook: an array inside wasm memory (zero-filled unless `zero` is false), or null to decline. */
  allocate(dtype: DType, n: number, zero = true): AnyArray | null {
    const Ctor = VIEW_CTORS[dtype];
    const bytes = n * BYTES[dtype];
    if (!Ctor || bytes < this.options.minArrayBytes) return null;
    const p = this.acquire(bytes, zero);
    if (p < 0) {
      this.counts.declined++;
      return null;
    }
    const arr = new Ctor(this.heap.buffer, p, n);
    this.registry.register(arr, p, arr);
    this.owned.set(arr, p);
    this.counts.allocations++;
    return arr;
  }

  /** Frees the block of an array this storage allocated (false otherwise). The array must not be used again. */
  release(arr: AnyArray): boolean {
    const p = this.owned.get(arr);
    if (p === undefined) return false;
    this.owned.delete(arr);
    this.registry.unregister(arr);
    for (const r of this.formerRegistries) r.unregister(arr);
    this.counts.released++;
    return this.heap.free(p);
  }

  /** Runs the finalizers of arrays already collected (no-op without cleanupSome). */
  harvest(): void {
    this.registry.cleanupSome?.();
  }

  stats(): StorageStats {
    return { ...this.heap.stats(), ...this.counts };
  }

  private finalized(p: number): void {
    if (this.heap.free(p)) this.counts.finalized++;
  }

  /** Free list → harvest → (forced collection) → bump (fresh memory is zero); −1 past the limit. Reused blocks are zeroed if `zero`. */
  private acquire(bytes: number, zero: boolean): number {
    this.allocatedSinceGc += bytes;
    let p = this.heap.popFree(bytes, zero);
    if (p >= 0) return p;
    this.harvest();
    p = this.heap.popFree(bytes, zero);
    if (p >= 0) return p;
    if (!this.gc && this.toolsProvider && this.options.syncReclaim && this.heap.committedBytes + classSize(bytes) > Math.min(LAZY_SWITCH_BYTES, this.options.gcThresholdBytes)) {
      const provide = this.toolsProvider;
      this.toolsProvider = null; // one try
      if (!this.enableSyncReclaim(provide()) && this.options.limitBytes === this.syncLimit()) this.options.limitBytes = this.asyncLimit();
    }
    if (this.shouldCollect(bytes)) {
      this.collect();
      p = this.heap.popFree(bytes, zero);
      if (p >= 0) return p;
    }
    return this.heap.bump(bytes, this.options.limitBytes);
  }

  private shouldCollect(bytes: number): boolean {
    if (!this.gc) return false;
    const threshold = Math.max(this.options.gcThresholdBytes, this.tunedThreshold, this.liveFloor);
    if (this.heap.committedBytes + classSize(bytes) <= threshold) return false;
    return this.allocatedSinceGc >= threshold / 4;
  }

  /**
   * Forced full collection, then harvest. If collections take more than gcTimeShare of the
   * time since the previous one, the threshold grows by half (up to gcThresholdMaxBytes).
   */
  private collect(): void {
    const t0 = performance.now();
    this.gc!();
    this.harvest();
    const t1 = performance.now();
    this.counts.forcedGcMs += t1 - t0;
    this.counts.forcedGcs++;
    this.allocatedSinceGc = 0;
    this.liveFloor = 2 * this.heap.stats().liveBytes;
    const o = this.options;
    if (this.lastGcEnd > 0 && t1 - t0 > o.gcTimeShare * (t1 - this.lastGcEnd)) {
      const current = Math.max(o.gcThresholdBytes, this.tunedThreshold);
      this.tunedThreshold = Math.min(o.gcThresholdMaxBytes, Math.max(current, current * 1.5));
    }
    this.lastGcEnd = t1;
  }
}
