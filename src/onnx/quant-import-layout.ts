/**
 * Quantized-import handlers for the ops with integer nodes that share or compare grids
 * (export-int8-layout.ts writes them):
 *   DQ → Max / Min (activations, at most one float constant) → Q   → "maximum" / "minimum"
 *   DQ → ReduceMean over non-batch axes → Q                          → "mean"
 *   Pad (constant / edge / reflect), Expand, Resize / Upsample nearest, Split — on a
 *   dequantized tensor (QDQ) or on the quantized tensor itself (QOperator): the output stays
 *   on the input's grid ("pad", "expand", "resize" by a probed gather table, "slice" per output).
 * Builders (maxMinNode, meanNode) are called by quant-import-nodes.ts materialize.
 * Registered in QDQ_HANDLERS by quant-import-ops.ts.
 */
import { NotSupportedError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { noGrad } from "../tensor/grad-mode.js";
import type { QParams, ValueInfo } from "../int8/graph.js";
import { globalAvgPoolMultiplier, requantMultiplier } from "../int8/kernels/params.js";
import { probeGather } from "../int8/kernels/layout.js";
import { roundHalfEven } from "../int8/kernels/quantize.js";
import type { IrNode } from "./graph.js";
import { GENERIC_OPS } from "./onnx-ops.js";
import { broadcastShape } from "./quant-import-nodes.js";
import { type Handler, type QuantImporter, where } from "./quant-import-state.js";

const pairOf = (m: { multiplier: number; shift: number }): [number, number] => [m.multiplier, m.shift];
const onGrid = (q: QParams, v: number): number => Math.min(q.qmax, Math.max(q.qmin, q.zeroPoint + roundHalfEven(v / q.scale)));

/** True when every reader of n's output is a QuantizeLinear (else the op is part of a float chain: an island). */
function quantizedAfter(imp: QuantImporter, n: IrNode): boolean {
  const readers = (imp.g.consumers.get(n.outputs[0]) ?? []).map((i) => imp.g.nodes[i]);
  return readers.length > 0 && readers.every((r) => r.opType === "QuantizeLinear");
}

const maxMin: Handler = (imp, n) => {
  if (!quantizedAfter(imp, n)) return false;
  const acts: ValueInfo[] = [];
  let constant: Tensor | null = null;
  for (const name of n.inputs) {
    const f = imp.floats.get(name) ?? null;
    const c = imp.consts.get(name);
    if (f?.kind === "dq") acts.push(f.v);
    else if (c && c.dtype === "float32" && constant === null) constant = c;
    else if (f?.kind === "fconst" && constant === null) constant = f.t;
    else return false;
  }
  if (acts.length === 0) return false;
  const shape = [...acts.slice(1).map((v) => v.shape), ...(constant ? [[...constant.shape]] : [])].reduce((s, t) => broadcastShape(s, t), acts[0].shape);
  imp.floats.set(n.outputs[0], { kind: "pending", p: { op: "maxmin", kind: n.opType === "Max" ? "maximum" : "minimum", name: n.name || `${n.opType}_${n.index}`, shape, inputs: acts, constant }, act: null });
};

/** The "maximum" / "minimum" node once its output parameters are known. */
export function maxMinNode(imp: QuantImporter, kind: "maximum" | "minimum", acts: ValueInfo[], constant: Tensor | null, q: QParams, clamp: [number, number], name: string, shape: number[]): ValueInfo {
  const y = imp.newValue(shape, q, name);
  const multipliers = acts.map((v) => (v.q.scale === q.scale && v.q.zeroPoint === q.zeroPoint ? null : pairOf(requantMultiplier(v.q.scale, q.scale))));
  const c = constant ? { constant: imp.tensor(`${name}.constant`, Int32Array.from(constant.data as Float32Array, (v) => onGrid(q, v))), constShape: constant.shape.length ? [...constant.shape] : [1] } : {};
  imp.nodes.push({ op: kind, name: imp.nodeName(name), inputs: acts.map((v) => v.id), output: y.id, multipliers, clamp, ...c });
  return y;
}

const reduceMean: Handler = (imp, n) => {
  if (!quantizedAfter(imp, n)) return false;
  const x = imp.dq(n.inputs[0], n);
  const rank = x.shape.length;
  const axesT = n.inputs[1] ? imp.consts.get(n.inputs[1]) : undefined;
  if (n.inputs[1] && !axesT) throw new NotSupportedError(`${where(n)}: the axes must be a constant`);
  const given = n.attrs.ints("axes") ?? (axesT ? Array.from(axesT.data, Number) : []);
  const axes = [...new Set(given.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  if (axes.length === 0 || axes[0] < 1 || axes.some((a) => a >= rank || !(x.shape[a] > 0))) return false; // the batch, every axis or unknown dims: a float island
  const keepdims = n.attrs.int("keepdims", 1) === 1;
  const shape = keepdims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  imp.floats.set(n.outputs[0], { kind: "pending", p: { op: "mean", name: n.name || `ReduceMean_${n.index}`, shape, x, axes, keepdims }, act: null });
};

/** The "mean" node: M = Sx/(Sy·count), as convert computes it. */
export function meanNode(imp: QuantImporter, x: ValueInfo, axes: number[], keepdims: boolean, q: QParams, clamp: [number, number], name: string, shape: number[]): ValueInfo {
  const count = axes.reduce((p, a) => p * x.shape[a], 1);
  const y = imp.newValue(shape, q, name);
  imp.nodes.push({ op: "mean", name: imp.nodeName(name), inputs: [x.id], output: y.id, axes, keepdims, multiplier: pairOf(globalAvgPoolMultiplier(x.q.scale, q.scale, count)), clamp });
  return y;
}

/** Applies `make` to the quantized input (QOperator) or to the value a DequantizeLinear reads (QDQ), for output k. */
function onGridInput(imp: QuantImporter, n: IrNode, make: (x: ValueInfo, integers: boolean) => ValueInfo, k = 0): void {
  const v = imp.ints.get(n.inputs[0]);
  if (v) return void imp.ints.set(n.outputs[k], make(v, true));
  const f = imp.float(n.inputs[0], n);
  if (f.kind !== "dq") throw new NotSupportedError(`${where(n)} must read a quantized tensor or a DequantizeLinear of one`);
  imp.floats.set(n.outputs[k], { kind: "dq", v: make(f.v, false) });
}

const vec = (imp: QuantImporter, n: IrNode, i: number): number[] | null => {
  if (!n.inputs[i]) return null;
  const t = imp.consts.get(n.inputs[i]);
  if (!t) throw new NotSupportedError(`${where(n)}: input ${i} must be a constant`);
  return Array.from(t.data, Number);
};

const pad: Handler = (imp, n) => {
  const mode = n.attrs.string("mode", "constant");
  if (mode !== "constant" && mode !== "edge" && mode !== "reflect") throw new NotSupportedError(`${where(n)}: Pad mode '${mode}' is not supported`);
  onGridInput(imp, n, (x, integers) => {
    const rank = x.shape.length;
    let pads = imp.g.opset < 11 ? n.attrs.ints("pads", []) : vec(imp, n, 1) ?? [];
    const axes = vec(imp, n, 3);
    if (axes) {
      const full = new Array<number>(2 * rank).fill(0);
      axes.forEach((a0, k) => {
        const a = a0 < 0 ? a0 + rank : a0;
        full[a] = pads[k];
        full[a + rank] = pads[k + axes.length];
      });
      pads = full;
    }
    if (pads.length !== 2 * rank || pads.some((p) => p < 0) || pads[0] !== 0 || pads[rank] !== 0) throw new NotSupportedError(`${where(n)}: pads [${pads.join(", ")}] must be ${2 * rank} non-negative values that leave the batch dim alone`);
    const c = imp.g.opset < 11 ? [n.attrs.float("value", 0)] : vec(imp, n, 2);
    const real = c && c.length ? c[0] : 0;
    const value = integers ? Math.round(real) : onGrid(x.q, real);
    const y = imp.newValue(x.shape.map((d, i) => (d < 0 ? d : d + pads[i] + pads[i + rank])), x.q, n.name || `Pad_${n.index}`);
    imp.nodes.push({ op: "pad", name: imp.nodeName(n), inputs: [x.id], output: y.id, pads, mode, value });
    return y;
  });
};

const expand: Handler = (imp, n) => {
  const shape = vec(imp, n, 1);
  if (!shape) throw new NotSupportedError(`${where(n)}: the shape must be a constant`);
  onGridInput(imp, n, (x) => {
    if (shape.length !== x.shape.length || shape[0] !== 1) throw new NotSupportedError(`${where(n)}: only an Expand of the non-batch dims at the input's rank is supported, got shape [${shape.join(", ")}]`);
    const out = broadcastShape(x.shape, shape);
    const y = imp.newValue(out, x.q, n.name || `Expand_${n.index}`);
    imp.nodes.push({ op: "expand", name: imp.nodeName(n), inputs: [x.id], output: y.id, shape: [-1, ...out.slice(1)] });
    return y;
  });
};

/** Resize / Upsample mode nearest: the gather table of the float kernel, probed on index inputs. */
const resize: Handler = (imp, n) => {
  if (n.attrs.string("mode", "nearest") !== "nearest") return false; // interpolation: a float island
  if (!GENERIC_OPS[n.opType]) throw new NotSupportedError(`${where(n)}: op ${n.opType} has no kernel in this version`);
  const consts = n.inputs.map((name) => (name === "" ? null : imp.consts.get(name) ?? undefined));
  const kernel = GENERIC_OPS[n.opType]({ opType: n.opType, where: where(n), attrs: n.attrs, opset: imp.g.opset, consts });
  onGridInput(imp, n, (x) => {
    if (x.shape.slice(1).some((d) => !(d > 0))) throw new NotSupportedError(`${where(n)}: the input needs static dims after the batch`);
    const run = (data: Float32Array, shape: number[]) => {
      const t = noGrad(() => kernel([new Tensor(data, shape), ...consts.slice(1).map((c) => c ?? null)]));
      return { data: t.data as ArrayLike<number>, shape: t.shape };
    };
    const g = probeGather(run, x.shape);
    if (!g || g.fill !== null) throw new NotSupportedError(`${where(n)}: not a gather of its input (batch scale ≠ 1?)`);
    const legacy = n.opType === "Upsample" || imp.g.opset < 11;
    const given = n.attrs.floats("scales") ?? Array.from(consts[legacy ? 1 : 2]?.data ?? [], Number); // Upsample-7: an attribute
    const sizes = given.length === 0;
    const scales = sizes ? g.shape.map((d, i) => (i === 0 ? 1 : d / x.shape[i])) : given;
    const y = imp.newValue([x.shape[0], ...g.shape.slice(1)], x.q, n.name || `${n.opType}_${n.index}`);
    imp.nodes.push({
      op: "resize", name: imp.nodeName(n), inputs: [x.id], output: y.id, index: imp.tensor(`${n.name || n.opType}.index`, g.index),
      scales, ...(sizes ? { sizes: true } : {}), coordinateMode: legacy ? "asymmetric" : n.attrs.string("coordinate_transformation_mode", "half_pixel"),
      nearestMode: legacy ? "simple" : n.attrs.string("nearest_mode", "round_prefer_floor"),
    });
    return y;
  });
};

/** Split along a non-batch axis: one slice node per used output. */
const split: Handler = (imp, n) => {
  n.outputs.forEach((out, k) => {
    if (out === "") return;
    onGridInput(imp, n, (x) => {
      const rank = x.shape.length;
      const axis = ((n.attrs.int("axis", 0) ?? 0) + rank) % rank;
      const dim = x.shape[axis];
      if (axis === 0 || !(dim > 0)) throw new NotSupportedError(`${where(n)}: only a split of a known non-batch axis is supported`);
      const given = imp.g.opset < 13 ? n.attrs.ints("split") : vec(imp, n, 1) ?? undefined;
      const count = n.outputs.length;
      const sizes = given ?? Array.from({ length: count }, (_, i) => Math.min(Math.ceil(dim / count), Math.max(0, dim - i * Math.ceil(dim / count))));
      const start = sizes.slice(0, k).reduce((a, b) => a + b, 0);
      const shape = [...x.shape];
      shape[axis] = sizes[k];
      const y = imp.newValue(shape, x.q, `${n.name || `Split_${n.index}`}_${k}`);
      imp.nodes.push({ op: "slice", name: imp.nodeName(`${n.name || `Split_${n.index}`}_${k}`), inputs: [x.id], output: y.id, axis, start, end: start + sizes[k], step: 1 });
      return y;
    }, k);
  });
};

export const LAYOUT_HANDLERS: Record<string, Handler> = { Max: maxMin, Min: maxMin, ReduceMean: reduceMean, Pad: pad, Expand: expand, Resize: resize, Upsample: resize, Split: split };
