/**
 * Backend selection: the wasm backend registers itself where SIMD validates, setBackend
 * installs and removes its storage allocator, useFastestBackend picks it, kernels it lacks
 * fall back to the reference, and the async initialiser resolves.
 */
import { afterAll, describe, expect, it } from "vitest";
import { getBackend, getNumThreads, kernels, listBackends, setBackend, setNumThreads, useFastestBackend } from "../../src/backend/index.js";
import { nativeBackend } from "../../src/backend/native/index.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { initWasmBackend, wasmBackendAvailable, wasmKernels } from "../../src/backend/wasm/index.js";
import { randn } from "../../src/tensor/creation.js";

const initial = getBackend();
afterAll(() => setBackend(initial));

describe("wasm backend registration", () => {
  it("is available and registered on this host (Node 20 has WebAssembly SIMD)", async () => {
    expect(wasmBackendAvailable()).toBe(true);
    expect(listBackends()).toContain("wasm");
    await initWasmBackend();
  });

  it("setBackend installs and removes the wasm storage allocator", () => {
    setBackend("wasm");
    expect(randn([100]).data.buffer).toBeInstanceOf(SharedArrayBuffer);
    setBackend("ref");
    expect(randn([100]).data.buffer).toBeInstanceOf(ArrayBuffer);
    expect(useFastestBackend()).toBe(nativeBackend ? "native" : "wasm"); // native shares wasm's storage
    expect(randn([100]).data.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it("falls back to the reference for kernels it lacks", () => {
    setBackend("wasm");
    const k = kernels();
    expect(k.matmul).toBe(wasmKernels.matmul);
    expect(k.softmax).toBe(refKernels.softmax);
    expect(k.reduce).toBe(refKernels.reduce);
  });

  it("exposes the thread count through src/backend/index.ts", () => {
    const before = getNumThreads();
    setNumThreads(1);
    expect(getNumThreads()).toBe(1);
    setNumThreads(before);
    expect(getNumThreads()).toBe(before);
  });
});
