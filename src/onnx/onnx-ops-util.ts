/**
 * Shared pieces of the generic ONNX op kernels (onnx-ops*.ts): the compile-time context of a
 * node, the kernel type, input-count checks, reading small integer tensors (axes, shapes,
 * indices), and the unary / binary / n-ary compiler shorthands. Called by onnx-ops.ts,
 * onnx-ops-math.ts, onnx-ops-reduce.ts, onnx-ops-shape.ts.
 */
import { FormatError, NotSupportedError } from "../tensor/errors.js";
import { isFloatDType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Attrs } from "./attrs.js";

/** What a kernel compiler knows about a node at import time. */
export interface OpContext {
  opType: string;
  /** "Reshape node 'x'" for messages. */
  where: string;
  attrs: Attrs;
  opset: number;
  /** Per input: its value when constant, null when omitted, undefined when computed at run time. */
  consts: readonly (Tensor | null | undefined)[];
  /** How many outputs the node declares (Split reads it; default 1). */
  outputCount?: number;
  /** Which output this kernel computes, for multi-output nodes (Split); default 0. */
  outputIndex?: number;
  /**
   * An INTS attribute with values beyond int32 saturated (Slice starts/ends before opset 10 say
   * "to the end" with INT64_MAX, which `attrs.ints` rejects as unsafe); undefined when absent.
   */
  saturatedInts?(name: string): number[] | undefined;
}

export type Kernel = (inputs: readonly (Tensor | null)[]) => Tensor;
export type Compiler = (c: OpContext) => Kernel;

/** Integer values of a small int (or integral float) tensor. */
export function intValues(t: Tensor, what: string): number[] {
  const out = t.toList();
  if (out.some((v) => !Number.isInteger(v))) throw new FormatError(`${what}: expected integers, got [${out.slice(0, 8).join(", ")}]`);
  return out;
}

/** Checks the input count and that the first `min` inputs are present. */
export function need(c: OpContext, min: number, max = min): void {
  const n = c.consts.length;
  if (n < min || n > max) throw new FormatError(`${c.where}: expects ${min === max ? min : `${min}–${max}`} inputs, got ${n}`);
  for (let i = 0; i < min; i++) if (c.consts[i] === null) throw new FormatError(`${c.where}: required input ${i} is empty`);
}

/** Input i at run time (present). */
export function get(inputs: readonly (Tensor | null)[], i: number): Tensor {
  const t = inputs[i];
  if (!t) throw new FormatError(`input ${i} is missing`);
  return t;
}

/** Input i at run time, or null when omitted ("" or past the end). */
export function opt(inputs: readonly (Tensor | null)[], i: number): Tensor | null {
  return inputs[i] ?? null;
}

/** A float input, or a NotSupportedError naming the op (transcendental ops on integers). */
export function floatInput(c: OpContext, x: Tensor): Tensor {
  if (!isFloatDType(x.dtype)) throw new NotSupportedError(`${c.where}: ${c.opType} on ${x.dtype} tensors is not supported (float only)`);
  return x;
}

export const binary = (f: (a: Tensor, b: Tensor) => Tensor): Compiler => (c) => {
  need(c, 2);
  return (i) => f(get(i, 0), get(i, 1));
};

export const unary = (f: (x: Tensor) => Tensor): Compiler => (c) => {
  need(c, 1);
  return (i) => f(get(i, 0));
};

/** A unary op on float tensors. */
export const floatUnary = (f: (x: Tensor) => Tensor): Compiler => (c) => {
  need(c, 1);
  return (i) => f(floatInput(c, get(i, 0)));
};

/** An n-ary op (Max, Min, Sum, Mean): a left fold of a broadcasting binary op. */
export const nary = (f: (a: Tensor, b: Tensor) => Tensor, finish?: (acc: Tensor, n: number) => Tensor): Compiler => (c) => {
  if (c.consts.length < 1 || c.consts.some((v) => v === null)) throw new FormatError(`${c.where}: ${c.opType} needs at least one input and no empty ones`);
  return (i) => {
    let acc = get(i, 0);
    for (let k = 1; k < i.length; k++) acc = f(acc, get(i, k));
    return finish ? finish(acc, i.length) : acc;
  };
};
