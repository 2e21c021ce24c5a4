/**
 * The checking helpers every Int8Model validation rule uses: the RuleContext a rule sees,
 * integer pairs, fixed-point multiplier pairs, output clamps, ranks, dtypes, window sizes and
 * broadcasting with unknown (−1) dims. Rules live in ./validate.ts (layers, elementwise,
 * layout) and ./validate-dynamic.ts; a new node kind's rule may live in its own file and
 * import these. Every failure is a FormatError naming the node and the field.
 */
import type { Int8Node, QParams, ValueInfo } from "./graph.js";

/** A shape where −1 is an unknown dim. */
export type Shape = number[];

export const TWO_30 = 1073741824;
export const INT32_MAX = 2147483647;
/** Largest rank any value may declare. */
export const MAX_RANK = 8;

export type Op = Int8Node["op"];
export type NodeOf<K extends Op> = Extract<Int8Node, { op: K }>;

/** What a rule sees: the node, its input values, the output value and checking helpers. */
export interface RuleContext<N> {
  node: N;
  inputs: ValueInfo[];
  output: ValueInfo;
  fail(field: string, why: string): never;
  /** The int32/int8 tensor `key`, checked for dtype and (when given) length. */
  tensor(field: string, key: unknown, dtype: "int8" | "int32", length?: number): Int8Array | Int32Array;
}

/** A rule checks one node kind and returns the shape it produces from its inputs' shapes. */
export type Rule<K extends Op> = (c: RuleContext<NodeOf<K>>) => Shape;

export const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
export const fmt = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};
export const dtypeRange = (d: QParams["dtype"]): [number, number] => (d === "uint8" ? [0, 255] : [-128, 127]);

/** [a, b], both integers ≥ min (and ≤ max). */
export function intPair(c: RuleContext<unknown>, field: string, v: unknown, min: number, max = INT32_MAX): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => isInt(x) && x >= min && x <= max)) {
    c.fail(field, `must be two integers in [${min}, ${max}], got ${fmt(v)}`);
  }
  return v as [number, number];
}

/** A fixed-point multiplier pair [M0, shift]: M0 ∈ [2^30, 2^31 − 1], shift ∈ [−31, 30], or [0, 0]. */
export function multiplierPair(c: RuleContext<unknown>, field: string, v: unknown): void {
  const ok = Array.isArray(v) && v.length === 2 && isInt(v[0]) && isInt(v[1]) && isMultiplier(v[0], v[1]);
  if (!ok) c.fail(field, `must be [M0, shift] with M0 ∈ [2^30, 2^31 − 1] and shift ∈ [−31, 30] (or [0, 0]), got ${fmt(v)}`);
}

export function isMultiplier(m0: number, shift: number): boolean {
  if (m0 === 0) return shift === 0;
  return m0 >= TWO_30 && m0 <= INT32_MAX && shift >= -31 && shift <= 30;
}

/** The clamp [lo, hi] of an output: integers, lo ≤ hi, inside the output dtype's range. */
export function clampOf(c: RuleContext<unknown>, v: unknown): void {
  const [lo, hi] = dtypeRange(c.output.q.dtype);
  const ok = Array.isArray(v) && v.length === 2 && isInt(v[0]) && isInt(v[1]) && v[0] >= lo && v[0] <= v[1] && v[1] <= hi;
  if (!ok) c.fail("clamp", `must be [lo, hi] with ${lo} ≤ lo ≤ hi ≤ ${hi} (${c.output.q.dtype} output), got ${fmt(v)}`);
}

export function rankOf(c: RuleContext<unknown>, i: number, rank: number, what: string): Shape {
  const s = c.inputs[i].shape;
  if (s.length !== rank) c.fail(`inputs[${i}]`, `value '${c.inputs[i].id}' has shape [${s.join(", ")}] but ${what} needs rank ${rank}`);
  return s;
}

/** The same storage dtype in and out (ops that move stored integers without requantizing). */
export function sameDType(c: RuleContext<unknown>): void {
  const a = c.inputs[0].q.dtype;
  if (c.output.q.dtype !== a) c.fail("output", `is ${c.output.q.dtype} but this op keeps its input's dtype ${a}`);
}

/** Output size of a sliding window along one axis (−1 when the input size is unknown). */
export function windowOut(c: RuleContext<unknown>, size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  if (size < 0) return -1;
  const span = size + 2 * p - d * (k - 1) - 1;
  let o = Math.floor((span + (ceil ? s - 1 : 0)) / s) + 1;
  if (ceil && (o - 1) * s >= size + p) o--;
  if (o < 1) c.fail("kernel", `window ${k} (dilation ${d}, padding ${p}) does not fit an input of size ${size}`);
  return o;
}

/** NumPy broadcast of two shapes with unknown (−1) dims; fails naming the node. */
export function broadcast(c: RuleContext<unknown>, a: Shape, b: Shape): Shape {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x >= 0 && y >= 0 && x !== y && x !== 1 && y !== 1) c.fail("inputs", `shapes [${a.join(", ")}] and [${b.join(", ")}] do not broadcast`);
    return x === 1 ? y : y === 1 ? x : x >= 0 ? x : y;
  });
}

