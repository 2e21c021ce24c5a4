/**
 * Backend registry and selection. `kernels()` returns the active kernel table: the selected
 * backend's kernels over the reference kernels, so any kernel a fast backend lacks falls back
 * to the readable definition in ./ref. The WebAssembly backend ("wasm", ./wasm) registers
 * itself here when the host supports WebAssembly SIMD; the native CPU backend ("native",
 * ./native: C kernels behind Node-API) when its addon loads in Node. The default is the
 * fastest registered: native, else wasm, else ref. Called by src/ops/*.
 */
import { ValueError } from "../tensor/errors.js";
import type { Backend, Kernels } from "./kernels.js";
import { refKernels } from "./ref/index.js";
import { nativeBackend } from "./native/index.js";
import { configureWasmMemory, getNumThreads, setNumThreads, wasmBackend, wasmBackendAvailable, wasmMemoryStats } from "./wasm/index.js";

const registry = new Map<string, Backend>([["ref", { name: "ref", kernels: refKernels }]]);
if (wasmBackendAvailable()) registry.set(wasmBackend.name, wasmBackend);
if (nativeBackend) registry.set(nativeBackend.name, nativeBackend);
let active: Kernels = refKernels;
let activeName = "ref";

/** Makes a backend selectable by name (a fast backend registers itself when loaded). */
export function registerBackend(backend: Backend): void {
  registry.set(backend.name, backend);
}

/** Selects the backend every later op runs on. */
export function setBackend(name: string): void {
  const b = registry.get(name);
  if (!b) throw new ValueError(`setBackend: unknown backend '${name}' (registered: ${[...registry.keys()].join(", ")})`);
  if (name !== activeName) registry.get(activeName)?.deactivate?.();
  active = { ...refKernels, ...b.kernels };
  activeName = name;
  b.activate?.();
}

/** Selects the fastest registered backend ("native", else "wasm", else "ref") and returns its name. */
export function useFastestBackend(): string {
  setBackend(["native", "wasm", "ref"].find((name) => registry.has(name))!);
  return activeName;
}

export function getBackend(): string {
  return activeName;
}

/**
 * True when the wasm kernels outside the Kernels interface (the integer engine's fast path,
 * fused fake-quant, observers' min/max, the SGD step) should run: on "wasm", and on
 * "native", whose tensors live in the same wasm memory and which does not replace them.
 */
export function wasmPathsActive(): boolean {
  return activeName === "wasm" || activeName === "native";
}

export function listBackends(): string[] {
  return [...registry.keys()];
}

/** The active kernel table. */
export function kernels(): Kernels {
  return active;
}

/**
 * Default: the fastest backend ("native" in Node when its addon is built, else "wasm" where
 * WebAssembly SIMD is available), unless the QAT_BACKEND environment variable names one
 * (QAT_BACKEND=wasm also keeps the native addon from loading; QAT_BACKEND=ref runs on the
 * reference kernels only).
 */
const requested = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.QAT_BACKEND;
if (requested) setBackend(requested);
else useFastestBackend();

/** Kernel threads of the wasm and native backends (main thread included): see ./wasm/index.ts. */
export { getNumThreads, setNumThreads, configureWasmMemory, wasmMemoryStats };

export type { Backend, Kernels } from "./kernels.js";
