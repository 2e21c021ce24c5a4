/**
 * What the Node.js host adds to the wasm backend, loaded without a static import of any
 * Node module (so bundles for browsers stay valid): worker_threads for the kernel pool, the
 * core count, and two V8 facilities the tensor allocator uses to reclaim WebAssembly memory
 * inside long synchronous loops (see ./storage.ts):
 *  - `FinalizationRegistry.prototype.cleanupSome`, which runs the finalizers of already
 *    collected arrays synchronously (without it they run only when the event loop turns);
 *  - a `gc()` function, to collect when the allocator would otherwise grow memory.
 * Both come from V8 flags set at run time (`v8.setFlagsFromString`) and a fresh `vm`
 * context, the technique Jest uses for `gc`. Those flags are process-wide, so importing the
 * package sets nothing: `reclaimTools()` sets them when synchronous reclamation is switched
 * on — lazily, the first time wasm memory reaches the collection threshold (./storage.ts),
 * or at once with `configureWasmMemory({ syncReclaim: true })` / QAT_SYNC_RECLAIM=1, never
 * with QAT_SYNC_RECLAIM=0. `existingReclaimTools()` uses what the process already
 * has (e.g. `node --expose-gc --harmony-weak-refs-with-cleanup-some`). Where a flag is
 * unknown (other V8 versions) the facility is simply absent. In a browser every field is
 * null and the backend runs single-threaded with finalizer-driven reclamation.
 * Loaded once with top-level await by ./runtime.ts.
 */
/** The part of worker_threads' Worker used here (typed locally: the published typings need no @types/node). */
export interface NodeWorkerLike {
  unref(): void;
}

export interface NodeHost {
  /** worker_threads' Worker constructor. */
  Worker: new (filename: string, options?: { eval?: boolean; workerData?: unknown }) => NodeWorkerLike;
  /** Cores available to this process. */
  cpuCount: number;
  /** Creates V8 tools for synchronous reclamation, setting two V8 flags (memoised; null members where unavailable). */
  reclaimTools(): ReclaimTools;
  /** The same tools when the process already has them (no flag set), else null. */
  existingReclaimTools(): ReclaimTools | null;
}

export interface ReclaimTools {
  /** A FinalizationRegistry constructor whose instances have cleanupSome(), or null. */
  Registry: FinalizationRegistryConstructor | null;
  /** Full garbage collection, or null. */
  gc: (() => void) | null;
}

interface V8Module {
  setFlagsFromString(flags: string): void;
}
interface VmModule {
  runInNewContext(code: string): unknown;
}

async function loadNodeHost(): Promise<NodeHost | null> {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (!proc?.versions?.node) return null;
  // A variable specifier keeps bundlers from resolving Node built-ins for browser builds.
  const load = (name: string): Promise<unknown> => import(/* @vite-ignore */ name);
  try {
    const [wt, os, v8, vm] = (await Promise.all(["node:worker_threads", "node:os", "node:v8", "node:vm"].map(load))) as [
      { Worker: NodeHost["Worker"] },
      { availableParallelism?: () => number; cpus(): unknown[] },
      V8Module,
      VmModule,
    ];
    let tools: ReclaimTools | null = null;
    return {
      Worker: wt.Worker,
      cpuCount: Math.max(1, os.availableParallelism?.() ?? os.cpus().length),
      reclaimTools: () => (tools ??= makeReclaimTools(v8, vm)),
      existingReclaimTools: () => tools ?? existingTools(),
    };
  } catch {
    return null;
  }
}

function makeReclaimTools(v8: V8Module, vm: VmModule): ReclaimTools {
  let Registry: FinalizationRegistryConstructor | null = null;
  let gc: (() => void) | null = null;
  try {
    v8.setFlagsFromString("--harmony-weak-refs-with-cleanup-some");
    v8.setFlagsFromString("--expose-gc");
    const ctx = vm.runInNewContext("({ FR: FinalizationRegistry, gc: typeof gc === 'function' ? gc : null })") as {
      FR: FinalizationRegistryConstructor;
      gc: (() => void) | null;
    };
    if (typeof (ctx.FR.prototype as { cleanupSome?: unknown }).cleanupSome === "function") Registry = ctx.FR;
    gc = ctx.gc;
  } catch {
    // Leave both null: reclamation then relies on finalizers run by the event loop.
  }
  const globalGc = (globalThis as { gc?: () => void }).gc;
  return { Registry, gc: typeof globalGc === "function" ? globalGc : gc };
}

/** gc() and a FinalizationRegistry with cleanupSome() when the main context already has both. */
function existingTools(): ReclaimTools | null {
  const g = globalThis as { gc?: () => void };
  const FR = globalThis.FinalizationRegistry as FinalizationRegistryConstructor | undefined;
  const hasCleanup = typeof (FR?.prototype as { cleanupSome?: unknown } | undefined)?.cleanupSome === "function";
  return typeof g.gc === "function" && FR && hasCleanup ? { Registry: FR, gc: g.gc } : null;
}

/** QAT_SYNC_RECLAIM: "1" → true (switch on at once), "0" → false (never), else undefined (lazily). */
export function syncReclaimRequested(): boolean | undefined {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.QAT_SYNC_RECLAIM;
  return v === "1" ? true : v === "0" ? false : undefined;
}

/** The Node host, or null outside Node. */
export const nodeHost: NodeHost | null = await loadNodeHost();
