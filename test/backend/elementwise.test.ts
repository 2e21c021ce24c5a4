/**
 * Wasm elementwise kernels vs the reference, exactly (Object.is per element: the SIMD ops
 * round once to f32, as the reference's f64 result stored to f32 does): unary ops, clamp,
 * same-shape / scalar / row-broadcast binary ops, float × uint8 masks, comparisons, with NaN,
 * ±0 and ±∞ planted; small or non-resident arrays take the reference path.
 */
import { describe, it } from "vitest";
import type { BinaryOp, UnaryOp } from "../../src/backend/kernels.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { expectIdentical, newGen, randomF32, wasmCopy, wasmTable } from "./helpers.js";

const wasm = wasmTable();
const SPECIALS = [NaN, 0, -0, Infinity, -Infinity, 1, -1, 0.5];

function values(seed: number, n: number): Float32Array {
  const a = randomF32(newGen(seed), n);
  SPECIALS.forEach((v, i) => (a[i * 7] = v));
  return a;
}

const SIZES = [1029, 4096 + 3, 600_000 + 5];

describe("wasm elementwise vs reference (exact)", () => {
  for (const n of SIZES) {
    it(`unary ops and clamp, n = ${n}`, () => {
      const x = values(n, n);
      const xw = wasmCopy(x);
      for (const op of ["neg", "abs", "relu", "square", "sqrt", "reciprocal", "exp"] as UnaryOp[]) {
        const out = wasmCopy(new Float32Array(n)), want = new Float32Array(n);
        wasm.unary(op, xw, out);
        refKernels.unary(op, x, want);
        expectIdentical(out, want);
      }
      const out = wasmCopy(new Float32Array(n)), want = new Float32Array(n);
      wasm.clamp(xw, -0.3, 0.7, out);
      refKernels.clamp(x, -0.3, 0.7, want);
      expectIdentical(out, want);
      wasm.clamp(xw, 0.5, -0.5, out);
      refKernels.clamp(x, 0.5, -0.5, want);
      expectIdentical(out, want);
    });

    it(`binary ops: same shape, scalar, row broadcast, swapped, n = ${n}`, () => {
      const a = values(n + 1, n), b = values(n + 2, n);
      b[5] = a[5];
      b[9] = -a[9];
      const [aw, bw] = [wasmCopy(a), wasmCopy(b)];
      const ops: BinaryOp[] = ["add", "sub", "mul", "div", "maximum", "minimum", "pow"];
      for (const op of ops) {
        const out = wasmCopy(new Float32Array(n)), want = new Float32Array(n);
        wasm.binary(op, aw, [n], bw, [n], out, [n]);
        refKernels.binary(op, a, [n], b, [n], want, [n]);
        expectIdentical(out, want);
        const s = Float32Array.of(-0.25);
        wasm.binary(op, aw, [n], s, [], out, [n]);
        refKernels.binary(op, a, [n], s, [], want, [n]);
        expectIdentical(out, want);
        wasm.binary(op, s, [], aw, [n], out, [n]);
        refKernels.binary(op, s, [], a, [n], want, [n]);
        expectIdentical(out, want);
      }
      const cols = 1029;
      const rows = Math.floor(n / cols);
      const m = rows * cols;
      const row = wasmCopy(values(3, cols));
      for (const op of ["add", "sub", "mul", "div"] as BinaryOp[]) {
        const out = wasmCopy(new Float32Array(m)), want = new Float32Array(m);
        wasm.binary(op, aw.subarray(0, m), [rows, cols], row, [1, cols], out, [rows, cols]);
        refKernels.binary(op, a.subarray(0, m), [rows, cols], row, [1, cols], want, [rows, cols]);
        expectIdentical(out, want);
        wasm.binary(op, row, [cols], aw.subarray(0, m), [rows, cols], out, [rows, cols]);
        refKernels.binary(op, row, [cols], a.subarray(0, m), [rows, cols], want, [rows, cols]);
        expectIdentical(out, want);
      }
    });

    it(`comparisons to uint8 and float × uint8 mask, n = ${n}`, () => {
      const a = values(n + 3, n), b = values(n + 4, n);
      b[14] = a[14];
      const [aw, bw] = [wasmCopy(a), wasmCopy(b)];
      for (const op of ["gt", "ge", "lt", "le", "eq", "ne"] as BinaryOp[]) {
        const out = wasmCopy(new Uint8Array(n)), want = new Uint8Array(n);
        wasm.binary(op, aw, [n], bw, [n], out, [n]);
        refKernels.binary(op, a, [n], b, [n], want, [n]);
        expectIdentical(out, want);
        wasm.binary(op, aw, [n], Float32Array.of(0), [], out, [n]);
        refKernels.binary(op, a, [n], Float32Array.of(0), [], want, [n]);
        expectIdentical(out, want);
      }
      const mask = wasmCopy(new Uint8Array(n).map((_, i) => (a[i] > 0 ? 1 : 0)));
      for (const op of ["mul", "add", "sub", "div"] as BinaryOp[]) {
        const out = wasmCopy(new Float32Array(n)), want = new Float32Array(n);
        wasm.binary(op, bw, [n], mask, [n], out, [n]);
        refKernels.binary(op, b, [n], mask, [n], want, [n]);
        expectIdentical(out, want);
        wasm.binary(op, mask, [n], bw, [n], out, [n]);
        refKernels.binary(op, mask, [n], b, [n], want, [n]);
        expectIdentical(out, want);
      }
    });
  }

  it("falls back to the reference for small and non-resident arrays", () => {
    for (const n of [5, 5000]) {
      const a = values(1, n), b = values(2, n);
      const out = new Float32Array(n), want = new Float32Array(n);
      wasm.binary("add", a, [n], b, [n], out, [n]);
      refKernels.binary("add", a, [n], b, [n], want, [n]);
      expectIdentical(out, want);
    }
  });
});
