/**
 * Helpers for the quant tests: reading the PyTorch goldens of scripts/golden/quant.py (float32
 * values written with round-trip digits, non-finite values as strings) and comparing floats
 * in float32 ulps.
 */
import { readFileSync } from "node:fs";
import { expect } from "vitest";
import { Tensor } from "../../src/tensor/tensor.js";

export type GNum = number | "inf" | "-inf" | "nan";
export interface GTensor {
  shape: number[];
  data: GNum[];
}

export function loadGolden(name: string): any {
  return JSON.parse(readFileSync(new URL(`../golden/quant/${name}`, import.meta.url), "utf8"));
}

/** A golden number as the float32 value it encodes. */
export function num(v: GNum): number {
  if (v === "inf") return Infinity;
  if (v === "-inf") return -Infinity;
  if (v === "nan") return NaN;
  return Math.fround(v);
}

export function f32(t: GTensor): Float32Array {
  return Float32Array.from(t.data.map(num));
}

/** A float32 tensor from a golden tensor. */
export function gtensor(t: GTensor): Tensor {
  return new Tensor(f32(t), t.shape);
}

const buf = new DataView(new ArrayBuffer(4));
function orderedBits(v: number): number {
  buf.setFloat32(0, v);
  const b = buf.getInt32(0);
  return b < 0 ? -(b & 0x7fffffff) : b;
}

/** Distance in float32 ulps (0 for equal values, also ±0; NaN only equals NaN). */
export function ulps(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (a === b) return 0;
  return Math.abs(orderedBits(a) - orderedBits(b));
}

/** Every element within maxUlp float32 ulps. */
export function expectUlps(actual: ArrayLike<number>, expected: ArrayLike<number>, maxUlp = 1, what = ""): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const d = ulps(actual[i], expected[i]);
    if (d > maxUlp) throw new Error(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (${d} ulps)`);
  }
}

/** Every element equal (float32 bit-exact except ±0). */
export function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what = ""): void {
  expectUlps(actual, expected, 0, what);
}

/** |a − e| ≤ atol + rtol·|e| elementwise. */
export function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what = ""): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) throw new Error(`${what}[${i}]: got ${a}, expected ${e}`);
  }
}

/** State-dict entries as [key, dtype, shape], PyTorch dtype names mapped to ours (int64 → int32). */
export function stateEntries(sd: Record<string, Tensor>): [string, string, number[]][] {
  return Object.entries(sd).map(([k, t]) => [k, t.dtype, [...t.shape]]);
}

export function torchEntries(entries: [string, string, number[]][]): [string, string, number[]][] {
  return entries.map(([k, d, s]) => [k, d === "int64" ? "int32" : d, s]);
}
