/**
 * The WebAssembly SIMD backend: kernels compiled from assembly/ (AssemblyScript, SIMD128)
 * running on one WebAssembly memory that also holds tensor storage while the backend is
 * active, with a worker_threads pool (Node) splitting large kernels. Registered by
 * src/backend/index.ts when the host validates SIMD; selected with setBackend("wasm").
 *
 * Covered here (everything else falls back to the reference kernels): matmul, conv2d and
 * both backward passes, max/avg pooling and backward, batch-norm stats/apply/backward, the
 * hot float32 elementwise ops; plus, outside the Kernels interface, gemmInt8 (int8×int8→int32)
 * for the integer engine and the fused fake-quantize forward (fakeQuantizePer*F32) for QAT.
 * Memory management: see ./storage.ts (tensor arrays) and ./heap.ts (the allocator).
 */
import { type AnyArray, setArrayAllocator } from "../../tensor/dtype.js";
import type { Backend, Kernels } from "../kernels.js";
import { channelAffine, channelAffineBackward } from "./affine.js";
import { batchNormApply, batchNormBackward, batchNormStats } from "./batchnorm.js";
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from "./conv.js";
import { epilogue, maskMul } from "./epilogue.js";
import { fakeQuantizePerChannelF32, fakeQuantizePerTensorF32 } from "./fakequant.js";
import { binary, clamp, unary } from "./elementwise.js";
import { gemmInt8, matmul } from "./gemm.js";
import { precompileKernels, wasmSimdSupported } from "./module.js";
import { nodeHost } from "./host.js";
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from "./pooling.js";
import { runtime, setThreadCount, threadCount } from "./runtime.js";
import type { MemoryOptions, StorageStats } from "./storage.js";
import { gelu, geluBackward, layerNorm, layerNormBackward, softmaxBackward } from "./transformer.js";

export const wasmKernels = {
  matmul,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  epilogue,
  maskMul,
  maxPool2d,
  maxPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  batchNormStats,
  batchNormApply,
  batchNormBackward,
  unary,
  binary,
  clamp,
  channelAffine,
  channelAffineBackward,
  gelu,
  geluBackward,
  layerNorm,
  layerNormBackward,
  softmaxBackward,
} satisfies Partial<Kernels>;

export const wasmBackend: Backend = {
  name: "wasm",
  kernels: wasmKernels,
  activate() {
    const storage = runtime().storage;
    if (storage) setArrayAllocator((dtype, n, zero) => storage.allocate(dtype, n, zero));
  },
  deactivate() {
    setArrayAllocator(null);
  },
};

/** True when this host can run the wasm backend (WebAssembly with SIMD128). */
export function wasmBackendAvailable(): boolean {
  return wasmSimdSupported();
}

/**
 * Compiles the kernels asynchronously and creates the runtime. Optional in Node (everything
 * also initialises synchronously on first use); needed on a browser main thread, which may
 * refuse synchronous compilation.
 */
export async function initWasmBackend(): Promise<void> {
  await precompileKernels(true);
  runtime();
}

/** Threads the wasm kernels use (main thread included); defaults to the core count in Node and in cross-origin isolated pages, 1 elsewhere. */
export function getNumThreads(): number {
  return threadCount();
}

/** Sets the kernel thread count (1 = no workers). */
export function setNumThreads(n: number): void {
  setThreadCount(n);
}

/** Worker-pool state: workers started and ready, and jobs handed to workers so far. */
export function wasmThreadStats(): { threads: number; workers: number; ready: number; jobsPosted: number } {
  const pool = runtime().pool;
  return { threads: threadCount(), workers: pool?.size ?? 0, ready: pool?.readyCount() ?? 0, jobsPosted: pool?.posted ?? 0 };
}

/** Resolves once every worker has started (workers take tens of ms to start), or after `timeoutMs`. */
export async function workersReady(timeoutMs = 10_000): Promise<boolean> {
  const pool = runtime().pool;
  const end = Date.now() + timeoutMs;
  while (pool && pool.readyCount() < pool.size) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

/**
 * Blocks until every worker has started, or `timeoutMs` (Node main thread only: browsers
 * forbid Atomics.wait there). For synchronous scripts such as benchmarks.
 */
export function workersReadySync(timeoutMs = 10_000): boolean {
  const pool = runtime().pool;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const end = Date.now() + timeoutMs;
  while (pool && pool.readyCount() < pool.size) {
    if (Date.now() > end) return false;
    Atomics.wait(cell, 0, 0, 1);
  }
  return true;
}

/** Allocator and reclamation counters, or null when tensors are not stored in wasm memory. */
export function wasmMemoryStats(): StorageStats | null {
  return runtime().storage?.stats() ?? null;
}

/** Tunes the tensor allocator (see MemoryOptions in ./storage.ts). */
export function configureWasmMemory(options: Partial<MemoryOptions>): void {
  const storage = runtime().storage;
  if (!storage) return;
  const { syncReclaim, ...rest } = options;
  Object.assign(storage.options, rest);
  // Opting in sets the two V8 flags (process-wide) — only ever on this explicit request.
  if (syncReclaim === true) storage.enableSyncReclaim(nodeHost ? nodeHost.reclaimTools() : null);
}

/**
 * Returns an array's block to the allocator at once (true if it was a wasm tensor array).
 * The array, and every view of it, must not be used afterwards.
 */
export function releaseArray(a: AnyArray): boolean {
  return runtime().storage?.release(a) ?? false;
}

/** Runs finalizers of collected arrays now (Node; elsewhere they run when the event loop turns). */
export function reclaimWasmMemory(): void {
  runtime().storage?.harvest();
}

export { fakeQuantizePerChannelF32, fakeQuantizePerTensorF32, gemmInt8 };
export type { MemoryOptions, StorageStats };
