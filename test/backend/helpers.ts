/**
 * Helpers for the backend tests: seeded random arrays, running one kernel on the reference
 * and wasm tables, and the float tolerance used for every fast-vs-reference comparison:
 *   |wasm − ref| ≤ RTOL · scale + ATOL
 * where `scale` is the same kernel applied to |inputs| (Σ|a|·|b| for a product), i.e. the
 * magnitude any summation order's rounding error is proportional to. Integers compare exactly.
 */
import { afterEach, beforeEach, describe, expect } from "vitest";
import { getBackend, kernels, listBackends, setBackend } from "../../src/backend/index.js";
import type { Kernels } from "../../src/backend/kernels.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { type AnyArray, allocArray, dtypeOfArray } from "../../src/tensor/dtype.js";
import { Generator } from "../../src/tensor/random.js";

export const RTOL = 1e-5;
export const ATOL = 1e-6;

/**
 * The wasm kernel table (wasm kernels over ref); the active backend is left as it was. Fails
 * loudly if the table has no wasm kernel in it (a wasm "table" that is really ref would make
 * every fast-vs-reference comparison compare ref with itself).
 */
export function wasmTable(): Kernels {
  const t = onBackend("wasm", () => kernels());
  if (t.matmul === refKernels.matmul) throw new Error("wasmTable: the wasm table has the reference matmul");
  return t;
}

/** A copy of `a` allocated the way tensors are while the wasm backend is active (inside wasm memory). */
export function wasmCopy<T extends AnyArray>(a: T): T {
  const out = onBackend("wasm", () => allocArray(dtypeOfArray(a), a.length) as T);
  out.set(a as never);
  return out;
}

/** Every registered backend ("ref" first): the list a test loops over to run on each. */
export function backendsUnderTest(): string[] {
  return ["ref", ...listBackends().filter((b) => b !== "ref")];
}

/**
 * Runs `body` once per registered backend inside a describe block named after it, with that
 * backend selected for the block's tests (and the previous one restored after each test).
 */
export function describeEachBackend(title: string, body: (backend: string) => void): void {
  for (const name of backendsUnderTest()) {
    describe(`${title} [${name}]`, () => {
      let before = "";
      beforeEach(() => {
        before = getBackend();
        setBackend(name);
      });
      afterEach(() => setBackend(before));
      body(name);
    });
  }
}

/** Seeded normal float32 values (scaled), in an ordinary JS array. */
export function randomF32(gen: Generator, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = gen.normal() * scale;
  return a;
}

export function absOf(a: Float32Array): Float32Array {
  return a.map(Math.abs);
}

export function newGen(seed: number): Generator {
  return new Generator(seed);
}

/** Asserts |actual − expected| ≤ rtol·scale + atol elementwise (scale defaults to |expected|). */
export function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, scale?: ArrayLike<number>, rtol = RTOL, atol = ATOL): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const a = actual[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (!(Number.isNaN(e) && Number.isNaN(a))) throw new Error(`index ${i}: got ${a}, expected ${e}`);
      continue;
    }
    const tol = rtol * Math.abs(scale ? scale[i] : e) + atol;
    const ratio = Math.abs(a - e) / tol;
    if (ratio > worst) {
      worst = ratio;
      at = i;
    }
  }
  if (worst > 1) throw new Error(`index ${at}: got ${actual[at]}, expected ${expected[at]} (error ${worst.toFixed(2)}× the tolerance)`);
}

/**
 * Asserts two arrays are identical element by element (Object.is, so −0 ≠ +0 and NaN = NaN);
 * reports the first difference (index, both values) and how many elements differ in all —
 * never a whole-array diff (which takes minutes on large tensors).
 */
export function expectIdentical(actual: ArrayLike<number>, expected: ArrayLike<number>, what = "array"): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      let count = 0;
      for (let j = i; j < expected.length; j++) if (!Object.is(actual[j], expected[j])) count++;
      throw new Error(`${what}: index ${i}: got ${actual[i]}, expected ${expected[i]} (${count} of ${expected.length} elements differ)`);
    }
  }
}

/** Runs f with the named backend selected, restoring the previous one (by name). */
export function onBackend<T>(name: string, f: () => T): T {
  const before = getBackend();
  try {
    setBackend(name);
    return f();
  } finally {
    setBackend(before);
  }
}
