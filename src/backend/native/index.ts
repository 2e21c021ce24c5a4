/**
 * The native CPU backend ("native"): C kernels (native/*.c — AVX2+FMA where the CPU has
 * them, portable C otherwise, chosen at run time) behind Node-API, for Node.js. Its table
 * is the native kernels over the wasm backend's (over the reference): what native does not
 * implement runs exactly as on "wasm". While active it keeps tensor storage in the wasm
 * backend's memory, so the wasm kernels — and the integer engine's and QAT's wasm paths —
 * still run in place; C reads the same arrays through their pointers. Registered by
 * src/backend/index.ts when the addon loads (./addon.ts), and preferred by useFastestBackend.
 * Thread count: setNumThreads (shared with the wasm backend).
 */
import type { Backend, Kernels } from "../kernels.js";
import { refKernels } from "../ref/index.js";
import { wasmBackend, wasmBackendAvailable, wasmKernels } from "../wasm/index.js";
import { addon, nativeStatus } from "./addon.js";
import { refreshNativeIsa } from "./int8.js";
import { nativeKernelTable } from "./kernels.js";

const wasmThere = wasmBackendAvailable();
const fallback: Kernels = wasmThere ? { ...refKernels, ...wasmKernels } : refKernels;

/** The native kernels (only those native/*.c implements), or null without the addon. */
export const nativeKernels: Partial<Kernels> | null = addon ? nativeKernelTable(addon, fallback) : null;

/** The backend, or null when the addon is not available (see nativeStatus()). */
export const nativeBackend: Backend | null = nativeKernels
  ? {
      name: "native",
      kernels: { ...(wasmThere ? wasmKernels : {}), ...nativeKernels },
      activate() {
        if (wasmThere) wasmBackend.activate?.();
      },
      deactivate() {
        if (wasmThere) wasmBackend.deactivate?.();
      },
    }
  : null;

/** Instruction set the native kernels use ("avx512-vnni", "avx512", "avx2-fma" or "scalar"), or null without the addon. */
export function nativeIsa(): string | null {
  return addon ? addon.info().isa : null;
}

/**
 * Lowers the native kernels' instruction set ("scalar" runs the portable C path on any CPU;
 * "best" restores the fastest the CPU supports). For tests and benchmarks.
 */
export function setNativeIsa(isa: "scalar" | "best"): string | null {
  const now = addon ? addon.setIsa(isa === "scalar" ? 0 : 99) : null;
  refreshNativeIsa();
  return now;
}

export { addon as nativeAddon, nativeStatus };
