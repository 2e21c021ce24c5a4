/**
 * Functional ops of attention, gating and elementwise layout as integer nodes — the part of convert's
 * `addFunction` for products and parameter-weight linears:
 *
 *   linear(x, W, b)  W a parameter (or rows of one) behind a weight_fake_quant_<k> node
 *                    → an int8 "linear" node (prepare.ts quantizeFunctionalWeights)
 *   matmul(a, b)     both quantized activations (Q·Kᵀ, P·V) → "matmul", M = Sa·Sb/Sy
 *   mul(a, b)        both quantized activations → "mul"; mul / div by a positive number →
 *                    "requantize" with M = Sx·c/Sy (attention's 1/√d scaling)
 *   maximum / minimum(a, b | c)  → "maximum" / "minimum" on y's grid (a constant as Q_y(c))
 *   mean(x, axes)    over non-batch axes → "mean" (int32 sum, M = Sx/(Sy·count))
 *   pad, broadcastTo on x's parameters → "pad" (constant mode) / "expand"
 *
 * Values computed from parameters alone (weights, their slices) are evaluated here, once, from
 * the frozen model. Each function returns null when it made the node, else the reason it
 * becomes a float island. Called by ./convert.ts.
 */
import { type GraphNode, isRef, refsOf } from "../graph/graph.js";
import { type GraphBuilder, pairOf, quantizerParams, weightLayerFields } from "./convert-layers.js";
import { type Walk, evalParameterValues, pathOf } from "./convert-walk.js";
import type { ValueInfo } from "../int8/graph.js";
import { roundHalfEven } from "../int8/kernels/quantize.js";

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

/** The integer on y's grid nearest a real value (clamped to y's range): Q_y(v). */
const onGrid = (y: ValueInfo, v: number): number => Math.min(y.q.qmax, Math.max(y.q.qmin, y.q.zeroPoint + roundHalfEven(v / y.q.scale)));

/**
 * maximum / minimum of quantized activations, or of one and a constant (a number, or a value
 * computed from parameters): each input requantized to y's grid, then compared (exact: Q_y is
 * monotone); the constant is Q_y(c), stored on y's grid.
 */
export function addMaxMin(b: GraphBuilder, w: Walk, n: GraphNode, y: ValueInfo): string | null {
  const name = pathOf(n);
  const acts: ValueInfo[] = [];
  let constant: { data: Int32Array; shape: number[] } | null = null;
  for (const a of n.args.slice(0, 2)) {
    if (typeof a === "number") constant = { data: Int32Array.of(onGrid(y, a)), shape: [1] };
    else if (isRef(a) && b.values.has(a.ref)) acts.push(b.value(a.ref, name));
    else if (isRef(a) && w.constant.has(a.ref)) {
      const t = evalParameterValues(w, [a.ref]).get(a.ref)!;
      constant = { data: Int32Array.from(t.data as ArrayLike<number>, (v) => onGrid(y, v)), shape: t.shape.length ? [...t.shape] : [1] };
    } else return `${n.target} of a value that is not quantized`;
  }
  if (acts.length === 0) return `${n.target} of two constants`;
  const key = `${name}.constant`;
  if (constant) b.tensors.set(key, constant.data);
  const multipliers = acts.map((v) => (v.q.scale === y.q.scale && v.q.zeroPoint === y.q.zeroPoint ? null : pairOf(v.q.scale / y.q.scale)));
  const op = n.target === "maximum" ? "maximum" : "minimum";
  b.nodes.push({ op, name, inputs: acts.map((v) => v.id), output: y.id, multipliers, clamp: [y.q.qmin, y.q.qmax], ...(constant ? { constant: key, constShape: constant.shape } : {}) });
  return null;
}

/** mean(x, axes, { keepdim }) over non-batch axes: an integer mean (int32 sum, one requantization by Sx/(Sy·count)). */
export function addMean(b: GraphBuilder, n: GraphNode, inShape: readonly number[], x: ValueInfo, y: ValueInfo): string | null {
  const [, a, o] = n.args;
  if (a === undefined || a === null) return "mean over every axis (the batch too)";
  const rank = inShape.length;
  const axes = [...new Set((Array.isArray(a) ? (a as number[]) : [a as number]).map((d) => (d < 0 ? d + rank : d)))].sort((p, q) => p - q);
  if (axes.some((d) => d < 1 || d >= rank)) return "mean over the batch dimension";
  const count = axes.reduce((p, d) => p * inShape[d], 1);
  const keepdims = (o as { keepdim?: boolean } | undefined)?.keepdim === true;
  b.nodes.push({ op: "mean", name: pathOf(n), inputs: [x.id], output: y.id, axes, keepdims, multiplier: pairOf(x.q.scale / (y.q.scale * count)), clamp: [y.q.qmin, y.q.qmax] });
  return null;
}

/** pad (constant value, on x's grid: 0 pads with the zero point) and broadcastTo: byte-moving nodes on x's parameters. */
export function addSharedLayout(b: GraphBuilder, w: Walk, n: GraphNode, x: ValueInfo, shape: readonly number[]): string | null {
  const inShape = w.graph.value(refsOf(n.args)[0]).shape;
  const name = pathOf(n);
  if (n.target === "pad") {
    const pads = n.args[1] as number[];
    const rank = inShape.length;
    const onnx = new Array<number>(2 * rank).fill(0);
    for (let i = 0; i < pads.length / 2; i++) {
      onnx[rank - 1 - i] = pads[2 * i];
      onnx[2 * rank - 1 - i] = pads[2 * i + 1];
    }
    if (onnx[0] !== 0 || onnx[rank] !== 0) return "pad of the batch dimension";
    const y = b.define(n.outputs[0], shape, x.q, name);
    b.nodes.push({ op: "pad", name, inputs: [x.id], output: y.id, pads: onnx, mode: "constant", value: onGrid(x, (n.args[2] as number | undefined) ?? 0) });
    return null;
  }
  if (shape.length !== inShape.length || shape[0] !== inShape[0]) return "broadcastTo adds dims or changes the batch dimension";
  const y = b.define(n.outputs[0], shape, x.q, name);
  b.nodes.push({ op: "expand", name, inputs: [x.id], output: y.id, shape: [-1, ...shape.slice(1)] });
  return null;
}
