/**
 * Functional ops of attention and gating as integer nodes — the part of convert's
 * `addFunction` for products and parameter-weight linears:
 *
 *   linear(x, W, b)  W a parameter (or rows of one) behind a weight_fake_quant_<k> node
 *                    → an int8 "linear" node (prepare.ts quantizeFunctionalWeights)
 *   matmul(a, b)     both quantized activations (Q·Kᵀ, P·V) → "matmul", M = Sa·Sb/Sy
 *   mul(a, b)        both quantized activations → "mul"; mul / div by a positive number →
 *                    "requantize" with M = Sx·c/Sy (attention's 1/√d scaling)
 *
 * Values computed from parameters alone (weights, their slices) are evaluated here, once, from
 * the frozen model. Each function returns null when it made the node, else the reason it
 * becomes a float island. Called by ./convert.ts.
 */
import { type GraphNode, isRef, refsOf } from "../graph/graph.js";
import { type GraphBuilder, pairOf, quantizerParams, weightLayerFields } from "./convert-layers.js";
import { type Walk, evalParameterValues, pathOf } from "./convert-walk.js";
import type { ValueInfo } from "../int8/graph.js";

/** The weight quantizer a linear's weight comes from, and the rows it takes (a slice along axis 0). */
function weightSource(w: Walk, id: number): { fq: string; rows: ((c: number) => number) | null; count: number } | null {
  let p = w.graph.producer(id);
  let rows: ((c: number) => number) | null = null;
  const count = w.graph.value(id).shape[0];
  if (p?.kind === "call_function" && p.target === "slice") {
    const full = w.graph.value(refsOf([p.args[0]])[0]).shape[0];
    const start = ((p.args[2] as number | undefined) ?? 0) < 0 ? (p.args[2] as number) + full : ((p.args[2] as number | undefined) ?? 0);
    const step = (p.args[4] as number | undefined) ?? 1;
    rows = (c) => start + c * step;
    p = w.graph.producer(refsOf([p.args[0]])[0]);
  }
  if (p?.kind !== "call_module" || !/^weight_fake_quant_\d+$/.test(p.target)) return null;
  return { fq: p.target, rows, count };
}

/** linear(x, W, b) with a fake-quantized parameter weight → an int8 linear node. */
export function addFunctionalLinear(b: GraphBuilder, w: Walk, n: GraphNode, y: ValueInfo): string | null {
  const [xa, wa, ba] = n.args;
  if (!isRef(xa) || !b.values.has(xa.ref)) return "its input is not quantized";
  if (!isRef(wa) || !w.constant.has(wa.ref)) return "its weight is computed from activations";
  const src = weightSource(w, wa.ref);
  if (!src) return "its weight has no weight quantizer (prepare quantizes a parameter read only as linear weights)";
  const all = quantizerParams(w.gm.getSubmodule(src.fq), src.fq);
  const pick = (a: number[]): number[] => (a.length === 1 || !src.rows ? a : Array.from({ length: src.count }, (_, c) => a[src.rows!(c)]));
  const wq = { ...all, scales: pick(all.scales), zps: pick(all.zps) };
  const wf = evalParameterValues(w, [wa.ref]).get(wa.ref)!;
  let bias: Float32Array | null = null;
  if (isRef(ba)) {
    if (!w.constant.has(ba.ref)) return "its bias is computed from activations";
    bias = Float32Array.from(evalParameterValues(w, [ba.ref]).get(ba.ref)!.data as ArrayLike<number>);
  }
  const x = b.value(xa.ref, pathOf(n));
  b.nodes.push({ ...weightLayerFields(b, pathOf(n), pathOf(n), x, y, wf, wq, bias, null), op: "linear" });
  return null;
}

/** matmul / mul of two quantized activations, or mul / div by a positive number. */
export function addProduct(b: GraphBuilder, n: GraphNode, y: ValueInfo): string | null {
  const [a0, a1] = n.args;
  const name = pathOf(n);
  if (isRef(a0) && typeof a1 === "number" && (n.target === "mul" || n.target === "div")) {
    const c = Math.fround(n.target === "mul" ? a1 : 1 / a1); // float32, as the exported Mul's constant
    if (!(c > 0) || !Number.isFinite(c)) return `${n.target} by ${a1} (only a positive finite factor is a requantization)`;
    const x = b.value(a0.ref, name);
    b.nodes.push({ op: "requantize", name, inputs: [x.id], output: y.id, multiplier: pairOf((x.q.scale * c) / y.q.scale), clamp: [y.q.qmin, y.q.qmax], factor: c });
    return null;
  }
  if (!isRef(a0) || !isRef(a1) || !b.values.has(a0.ref) || !b.values.has(a1.ref)) return `${n.target} of a value that is not quantized`;
  if (n.target !== "matmul" && n.target !== "mul") return `${n.target} has no integer kernel`;
  const xa = b.value(a0.ref, name), xb = b.value(a1.ref, name);
  b.nodes.push({ op: n.target, name, inputs: [xa.id, xb.id], output: y.id, multiplier: pairOf((xa.q.scale * xb.q.scale) / y.q.scale), clamp: [y.q.qmin, y.q.qmax] });
  return null;
}
