/**
 * The integer option for softmax and LayerNorm (`convert(qmodel, { integerOps: ["softmax",
 * "layerNorm"] })`): a pass over a converted integer graph that replaces their float islands by
 * the integer-only nodes `softmax_int` / `layernorm_int` (int8/graph-integer.ts,
 * docs/NUMERICS.md §8c). It reads the islands' stored calls, so any converted model qualifies:
 *   - softmax over the last dim, `softmax(x, -1)` (functional or nn.Softmax), also after a
 *     constant −∞ mask `where(mask, −∞, x)` (causal attention; a mask computed at run time, a
 *     float mask added, or softmax over another dim stay float islands);
 *   - LayerNorm over the last dim only (`normalizedShape` [n]), with or without γ / β.
 * An island that does not qualify stays a float island, with the reason in the report.
 * Called by ./convert.ts.
 */
import { ValueError } from "../tensor/errors.js";
import type { Int8Graph, Int8Node, ValueInfo } from "../int8/graph.js";
import type { Int8Tensors } from "../int8/model.js";
import { type IslandFn, isFloatLiteral, isIslandTensorRef, islandTensor } from "../int8/islands.js";
import { softmaxIntParams } from "../int8/kernels/softmax-int.js";
import { layerNormIntParams } from "../int8/kernels/layernorm-int.js";

/** Ops with an integer-only form selectable at convert. */
export type IntegerOp = "softmax" | "layerNorm";
export const INTEGER_OPS: readonly IntegerOp[] = ["softmax", "layerNorm"];

/** What the pass did: islands replaced (by source) and islands of those ops left in float, with why. */
export interface IntegerOpsReport {
  replaced: string[];
  kept: { name: string; reason: string }[];
}

/** Checks the option's value: a list of INTEGER_OPS names. */
export function checkIntegerOps(ops: unknown): IntegerOp[] {
  if (!Array.isArray(ops) || !ops.every((o) => INTEGER_OPS.includes(o as IntegerOp))) {
    throw new ValueError(`convert: integerOps must be a list of ${INTEGER_OPS.map((o) => `"${o}"`).join(", ")}, got ${JSON.stringify(ops)}`);
  }
  return ops as IntegerOp[];
}

const isInput = (a: unknown, k: number): boolean => a !== null && typeof a === "object" && Object.keys(a).join() === "input" && (a as { input: number }).input === k;
const isStep = (a: unknown, k: number): boolean => a !== null && typeof a === "object" && Object.keys(a).join() === "step" && (a as { step: number }).step === k;
const isLastDim = (d: unknown, rank: number): boolean => d === undefined || d === -1 || d === rank - 1;

type Island = Extract<Int8Node, { op: "float" }>;

/**
 * Replaces the selected float islands of `graph` in place (nodes and tensors); drops their
 * functions from `islands`. Returns the replaced sources and the reasons for those kept.
 */
export function applyIntegerOps(graph: Int8Graph, tensors: Int8Tensors, islands: Map<string, IslandFn>, ops: readonly IntegerOp[]): IntegerOpsReport {
  const report: IntegerOpsReport = { replaced: [], kept: [] };
  const values = new Map(graph.values.map((v) => [v.id, v]));
  graph.nodes = graph.nodes.map((n) => {
    if (n.op !== "float") return n;
    const kind = islandKind(n);
    if (!kind || !ops.includes(kind)) return n;
    const x = values.get(n.inputs[0]);
    const y = values.get(n.output)!;
    const why = n.inputs.length !== 1 || !x || x.float || x.int || y.float ? "its input or output is not an 8-bit value" : null;
    const made = why ?? (kind === "softmax" ? softmaxNode(n, x!, y, tensors) : layerNormNode(n, x!, y, tensors));
    if (typeof made === "string") {
      report.kept.push({ name: n.name, reason: made });
      return n;
    }
    islands.delete(n.name);
    for (const key of tensorRefs([n.call?.args, n.steps?.map((st) => st.args)])) tensors.delete(key); // the island's own parameters
    report.replaced.push(n.source);
    return made;
  });
  return report;
}

/** Tensor-table keys of the parameter references in a stored call. */
function tensorRefs(a: unknown): string[] {
  if (isIslandTensorRef(a)) return [a.tensor];
  if (Array.isArray(a)) return a.flatMap(tensorRefs);
  return a !== null && typeof a === "object" ? Object.values(a).flatMap(tensorRefs) : [];
}

function islandKind(n: Island): IntegerOp | null {
  const op = n.call?.op ?? n.steps?.[n.steps.length - 1]?.op;
  return op === "softmax" ? "softmax" : op === "layerNorm" ? "layerNorm" : null;
}

/** The integer softmax of an island, or why not. */
function softmaxNode(n: Island, x: ValueInfo, y: ValueInfo, tensors: Int8Tensors): Int8Node | string {
  const rank = x.shape.length;
  const rowLen = x.shape[rank - 1];
  let mask: Int32Array | null = null;
  let maskShape: number[] = [];
  if (n.call) {
    if (!isInput(n.call.args[0], 0) || !isLastDim(n.call.args[1], rank)) return "softmax is not over the last dim of its input";
  } else {
    const [where, soft] = n.steps!;
    if (n.steps!.length !== 2 || where.op !== "where" || !isStep(soft.args[0], 0) || !isLastDim(soft.args[1], rank)) return "not a constant −∞ mask followed by softmax over the last dim";
    const [cond, a, b] = where.args;
    const negInf = (v: unknown) => isFloatLiteral(v) && v.float === "-Infinity";
    const maskedWhenTrue = negInf(a) && isInput(b, 0);
    if (!isIslandTensorRef(cond) || !(maskedWhenTrue || (isInput(a, 0) && negInf(b)))) return "the mask is not a constant where(mask, −∞, scores)";
    const t = islandTensor(cond, tensors, n.name);
    maskShape = [...cond.shape];
    while (maskShape.length > 0 && maskShape[0] === 1) maskShape.shift();
    const trailing = x.shape.slice(rank - maskShape.length);
    if (maskShape.length >= rank || maskShape.join() !== trailing.join()) return `the mask's shape [${cond.shape.join(", ")}] is not the scores' trailing dims`;
    mask = Int32Array.from(t.data as ArrayLike<number>, (v) => ((v !== 0) === maskedWhenTrue ? 1 : 0));
  }
  try {
    const p = softmaxIntParams(x.q.scale, y.q.scale, rowLen);
    const name = `${n.source}#integer`;
    tensors.set(`${name}.table`, p.table);
    const node: Int8Node = { op: "softmax_int", name, inputs: [x.id], output: y.id, table: `${name}.table`, frac: p.frac, outMultiplier: p.outMultiplier, clamp: [y.q.qmin, y.q.qmax] };
    if (mask) {
      tensors.set(`${name}.mask`, mask);
      node.mask = { tensor: `${name}.mask`, shape: maskShape };
    }
    return node;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The integer LayerNorm of an island, or why not. */
function layerNormNode(n: Island, x: ValueInfo, y: ValueInfo, tensors: Int8Tensors): Int8Node | string {
  if (!n.call) return "not a single layerNorm call";
  const [inp, shape, w, b, eps] = n.call.args;
  const rowLen = x.shape[x.shape.length - 1];
  const dims = Array.isArray(shape) ? shape : [shape];
  if (!isInput(inp, 0) || dims.length !== 1 || dims[0] !== rowLen) return "LayerNorm is not over the last dim alone";
  const param = (a: unknown, what: string): Float32Array | null | string => {
    if (a === null || a === undefined) return null;
    if (!isIslandTensorRef(a) || a.dtype !== "float32") return `its ${what} is not a stored float32 parameter`;
    return islandTensor(a, tensors, n.name).data as Float32Array;
  };
  const gamma = param(w, "weight"), beta = param(b, "bias");
  if (typeof gamma === "string") return gamma;
  if (typeof beta === "string") return beta;
  try {
    const p = layerNormIntParams(rowLen, x.q.scale, y.q.scale, gamma, beta, typeof eps === "number" ? eps : 1e-5);
    const name = `${n.source}#integer`;
    tensors.set(`${name}.gamma`, p.gamma);
    tensors.set(`${name}.beta`, p.beta);
    return { op: "layernorm_int", name, inputs: [x.id], output: y.id, p: p.p, epsTerm: p.epsTerm, g: p.g, gamma: `${name}.gamma`, beta: `${name}.beta`, clamp: [y.q.qmin, y.q.qmax] };
  } catch (e) {
    return (e as Error).message;
  }
}
