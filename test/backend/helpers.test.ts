/**
 * The backend-switching test helpers themselves (test/backend/helpers.ts): they must truly
 * switch backends and restore the previous one whatever it was — a helper that silently stays
 * on wasm turns every "fast vs reference" comparison into wasm vs wasm (issue 17). Also the
 * array comparison's failure message (first differing index, number of differences).
 */
import { afterAll, describe, expect, it } from "vitest";
import { getBackend, kernels, setBackend } from "../../src/backend/index.js";
import { nativeKernels } from "../../src/backend/native/index.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { releaseArray, wasmKernels } from "../../src/backend/wasm/index.js";
import { allocArray } from "../../src/tensor/dtype.js";
import { backendsUnderTest, describeEachBackend, expectIdentical, onBackend, wasmCopy, wasmTable } from "./helpers.js";

const initial = getBackend();
afterAll(() => setBackend(initial));

describe("backend helpers switch for real and restore", () => {
  for (const start of ["ref", "wasm"]) {
    it(`starting on ${start}`, () => {
      setBackend(start);
      expect(onBackend("ref", () => kernels().matmul)).toBe(refKernels.matmul);
      expect(getBackend()).toBe(start);
      expect(onBackend("wasm", () => kernels().matmul)).toBe(wasmKernels.matmul);
      expect(getBackend()).toBe(start);
      expect(wasmTable().matmul).toBe(wasmKernels.matmul);
      expect(getBackend()).toBe(start);
      const src = Float32Array.from({ length: 4096 }, (_, i) => i);
      const copy = wasmCopy(src);
      expectIdentical(copy, src);
      expect(releaseArray(copy)).toBe(true); // it was allocated inside wasm memory (and is freed now)
      expect(getBackend()).toBe(start);
      // Tensor storage follows the restored backend: plain arrays on ref.
      if (start === "ref") expect(allocArray("float32", 4096).buffer).toBeInstanceOf(ArrayBuffer);
      expect(() => onBackend("ref", () => { throw new Error("boom"); })).toThrow("boom");
      expect(getBackend()).toBe(start);
    });
  }

  it("lists ref first, then every other registered backend", () => {
    expect(backendsUnderTest()).toEqual(["ref", "wasm", ...(nativeKernels ? ["native"] : [])]);
  });
});

const seen: string[] = [];
describeEachBackend("describeEachBackend", (name) => {
  it("selects the named backend for the block's tests", () => {
    expect(getBackend()).toBe(name);
    const table: Record<string, unknown> = { ref: refKernels.matmul, wasm: wasmKernels.matmul, native: nativeKernels?.matmul };
    expect(kernels().matmul).toBe(table[name]);
    seen.push(name);
  });
});
describe("describeEachBackend ran", () => {
  it("once per backend", () => expect(seen).toEqual(backendsUnderTest()));
});

describe("expectIdentical", () => {
  it("reports the first differing index and the number of differences", () => {
    const a = new Float32Array(100_000), b = new Float32Array(100_000);
    b[70_001] = 1;
    b[90_000] = 2;
    expect(() => expectIdentical(a, b, "t")).toThrow("t: index 70001: got 0, expected 1 (2 of 100000 elements differ)");
    expect(() => expectIdentical(Float32Array.of(0), Float32Array.of(-0))).toThrow(/index 0/);
    expect(() => expectIdentical(Float32Array.of(NaN), Float32Array.of(NaN))).not.toThrow();
  });
});
