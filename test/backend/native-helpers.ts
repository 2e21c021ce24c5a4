/**
 * The common preamble of the native kernel tests (native-kernels, native-layout,
 * native-epilogue): the native table over the reference (so every entry exists), a `describe`
 * that skips with a printed reason when the addon is not built, the ISA paths to run, the
 * thread count at the start, restored with the ISA after the file.
 */
import { afterAll, describe } from "vitest";
import type { Kernels } from "../../src/backend/kernels.js";
import { nativeKernels, nativeStatus, setNativeIsa } from "../../src/backend/native/index.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { getNumThreads, setNumThreads } from "../../src/backend/wasm/index.js";

/** Call once at a test file's top level. */
export function nativeSuite(): { native: Kernels | null; d: typeof describe | typeof describe.skip; ISAS: readonly ["best", "scalar"]; threadsBefore: number } {
  const native: Kernels | null = nativeKernels ? ({ ...refKernels, ...nativeKernels } as Kernels) : null;
  const threadsBefore = getNumThreads();
  afterAll(() => {
    setNumThreads(threadsBefore);
    setNativeIsa("best");
  });
  if (!native) console.log(`native backend not tested: ${nativeStatus()}`);
  return { native, d: native ? describe : describe.skip, ISAS: ["best", "scalar"] as const, threadsBefore };
}
