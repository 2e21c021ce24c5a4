/**
 * Import-time evaluation of an ONNX If's condition, so the If can be folded into its taken
 * branch (import-build.ts inlines the branch's nodes). A condition folds when it is a
 * constant, or is computed from constants and from static input shapes: Shape of a graph
 * input whose needed dims are declared numbers, Gather of such a shape at constant indices,
 * then any chain of ops over known values (Equal, Not, Greater, Cast, …, run with their
 * generic kernels). Anything that depends on input data returns null: the importer then
 * refuses the If with a NotSupportedError naming the node. Called by import-build.ts.
 */
import { Tensor } from "../tensor/tensor.js";
import { noGrad } from "../tensor/grad-mode.js";
import type { IrGraph, IrNode } from "./graph.js";
import { intValues } from "./onnx-ops-util.js";

/** A shape known in part: declared numbers, null where symbolic or unknown. */
interface PartialShape {
  dims: (number | null)[];
}

type Known = Tensor | PartialShape | null;

export interface ConditionContext {
  graph: IrGraph;
  /** A value known at import (constant or folded), or undefined. */
  constant(name: string): Tensor | undefined;
  /** Runs a node's generic kernel on known inputs (one output). */
  run(node: IrNode, inputs: (Tensor | null)[]): Tensor;
}

const isPartial = (k: Known): k is PartialShape => k !== null && !(k instanceof Tensor);

/** Evaluates value `name` at import if possible; null when it depends on input data. */
export function staticValue(name: string, c: ConditionContext): Tensor | null {
  const producers = new Map<string, IrNode>();
  for (const n of c.graph.nodes) for (const o of n.outputs) if (o !== "") producers.set(o, n);
  const memo = new Map<string, Known>();
  const evaluate = (v: string, depth: number): Known => {
    if (memo.has(v)) return memo.get(v)!;
    const known = c.constant(v);
    if (known) return known;
    if (depth > 64) return null;
    memo.set(v, null);
    const result = evalNode(v, producers.get(v), depth);
    memo.set(v, result);
    return result;
  };
  const evalNode = (v: string, n: IrNode | undefined, depth: number): Known => {
    if (!n || n.outputs[0] !== v || n.implicitInputs.length > 0) return null;
    if (n.opType === "Shape") return shapeOf(n, c.graph);
    const args = n.inputs.map((i) => (i === "" ? null : evaluate(i, depth + 1)));
    if (n.opType === "Gather" && args[0] && isPartial(args[0]) && args[1] instanceof Tensor) return gatherDims(args[0], args[1], n);
    if (args.some((a, k) => (a === null && n.inputs[k] !== "") || isPartial(a))) return null;
    try {
      return noGrad(() => c.run(n, args as (Tensor | null)[]));
    } catch {
      return null;
    }
  };
  const k = evaluate(name, 0);
  return k instanceof Tensor ? k : null;
}

/** Shape of a graph input from its declared dims (start / end attributes honoured). */
function shapeOf(n: IrNode, g: IrGraph): Known {
  const input = g.inputs.find((i) => i.name === n.inputs[0]);
  if (!input?.dims) return null;
  const dims = input.dims.map((d) => (typeof d === "number" ? d : null));
  const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + dims.length : i, 0), dims.length);
  const start = clampIdx(n.attrs.saturatedInt("start", 0));
  const end = clampIdx(n.attrs.saturatedInt("end", dims.length));
  const part = dims.slice(start, end);
  if (part.every((d) => d !== null)) return new Tensor(Int32Array.from(part as number[]), [part.length]);
  return { dims: part };
}

/** Gather (axis 0) of a partial shape: a tensor when every picked dim is known. */
function gatherDims(shape: PartialShape, indices: Tensor, n: IrNode): Known {
  if (n.attrs.int("axis", 0) !== 0) return null;
  const picked: number[] = [];
  for (const raw of intValues(indices, n.opType)) {
    const i = raw < 0 ? raw + shape.dims.length : raw;
    const d = shape.dims[i];
    if (d === null || d === undefined) return null;
    picked.push(d);
  }
  return new Tensor(Int32Array.from(picked), indices.shape);
}
