/**
 * Nodes of an imported ONNX model (OnnxOp modules, read by duck typing: opType, attributes,
 * slots) as integer nodes — the part of convert's module walk for the ops that move bytes on
 * their input's grid or compare / average integers:
 *
 *   Reshape, Flatten, Squeeze, Unsqueeze → "reshape"    Transpose → "transpose"
 *   Slice, Split (each used output)      → "slice" nodes along the axes they cut
 *   Pad (constant / edge / reflect)      → "pad"        Expand → "expand"
 *   Resize / Upsample, mode nearest      → "resize": a gather table found by running the
 *                                          float op on index inputs (its exact result)
 *   Max / Min (activations, constants)   → "maximum" / "minimum" on the output grid
 *   ReduceMean over non-batch axes       → "mean" (int32 sum, one requantization)
 *   Identity, Dropout                    → an alias
 *
 * Each returns null when it made the node(s), a reason when the op stays a float island, or
 * undefined when the op is not one of these. Called by ./convert.ts (addModuleCall).
 */
import { Tensor } from "../tensor/tensor.js";
import { noGrad } from "../tensor/grad-mode.js";
import type { Module } from "../nn/module.js";
import type { TraceNode } from "../nn/trace.js";
import type { ValueInfo } from "../int8/graph.js";
import { probeGather } from "../int8/kernels/layout.js";
import { roundHalfEven } from "../int8/kernels/quantize.js";
import { type GraphBuilder, pairOf } from "./convert-layers.js";

/** The parts of an imported OnnxOp this file reads. */
interface ImportedOp {
  opType: string;
  attributes: { name?: string; i?: number; f?: number; ints?: number[]; floats?: number[]; s?: Uint8Array }[];
  slots: ({ kind: "dynamic" } | { kind: "absent" } | { kind: "param"; name: string } | { kind: "const"; value: Tensor })[];
  outputIndex?: number;
  forward(...xs: Tensor[]): Tensor;
}

const GRID_OPS = new Set(["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Split", "Pad", "Expand", "Resize", "Upsample", "Identity", "Dropout"]);
const OWN_GRID_OPS = new Set(["Max", "Min", "ReduceMean"]);

/** Makes `n`'s output value from its own quantizer, then `make`; convert.ts's withOutput. */
export type WithOutput = (make: (y: ValueInfo) => string | null) => string | null;

const attrOf = (m: ImportedOp, name: string) => m.attributes.find((a) => a.name === name);
const intAttr = (m: ImportedOp, name: string, dflt: number): number => attrOf(m, name)?.i ?? dflt;
const stringAttr = (m: ImportedOp, name: string, dflt: string): string => {
  const s = attrOf(m, name)?.s;
  return s ? new TextDecoder().decode(s) : dflt;
};

/** The constant tensor at input slot k (an initializer or folded constant), undefined when absent, null when computed at run time. */
function constAt(m: ImportedOp, k: number, mod: Module): Tensor | null | undefined {
  const s = m.slots[k];
  if (!s || s.kind === "absent") return undefined;
  if (s.kind === "const") return s.value;
  if (s.kind === "param") return mod.getParameter(s.name);
  return null;
}

/** The integer node(s) of an imported ONNX op, a reason it stays float, or undefined when not handled here. */
export function addImportedOp(b: GraphBuilder, t: TraceNode, withOutput: WithOutput): string | null | undefined {
  const m = t.module as unknown as ImportedOp;
  if (typeof m.opType !== "string" || !Array.isArray(m.slots) || !Array.isArray(m.attributes)) return undefined;
  if (!GRID_OPS.has(m.opType) && !OWN_GRID_OPS.has(m.opType)) return undefined;
  const dyn = m.slots.filter((s) => s.kind === "dynamic").length;
  if (dyn !== t.inputs.length) return undefined;
  if (!t.inputs.every((id) => b.values.has(id))) return undefined; // run-time shape values (int32) or float inputs: convert's usual path
  const x = b.value(t.inputs[0], t.path);
  const inShape = t.inputShapes[0];
  const out = t.outputShape;
  if (OWN_GRID_OPS.has(m.opType)) return withOutput((y) => (m.opType === "ReduceMean" ? reduceMean(b, t, m, x, y) : maxMin(b, t, m, y)));
  if (dyn !== 1) return `${m.opType} with ${dyn} run-time inputs`;
  if (out.length === 0 || inShape.length === 0 || out[0] !== inShape[0]) return `${m.opType} changes the batch dimension`;
  const define = () => b.define(t.output, out, x.q, t.path);
  switch (m.opType) {
    case "Identity":
    case "Dropout":
      b.alias(t.inputs[0], t.output);
      return null;
    case "Reshape":
    case "Flatten":
    case "Squeeze":
    case "Unsqueeze":
      b.nodes.push({ op: "reshape", name: t.path, inputs: [x.id], output: define().id, shape: [-1, ...out.slice(1)] });
      return null;
    case "Transpose": {
      const perm = attrOf(m, "perm")?.ints ?? inShape.map((_, i) => inShape.length - 1 - i);
      if (perm[0] !== 0) return "Transpose moves the batch dimension";
      b.nodes.push({ op: "transpose", name: t.path, inputs: [x.id], output: define().id, perm: [...perm] });
      return null;
    }
    case "Slice":
    case "Split":
      return slices(b, t, m, x);
    case "Pad":
      return pad(b, t, m, x, define);
    case "Expand":
      if (out.length !== inShape.length) return "Expand adds dims";
      b.nodes.push({ op: "expand", name: t.path, inputs: [x.id], output: define().id, shape: [-1, ...out.slice(1)] });
      return null;
    default:
      return resize(b, t, m, x, define);
  }
}

/** Runs the op in float on a batch-1 input (for probing). */
function runFloat(m: ImportedOp) {
  return (data: Float32Array, shape: number[]) => {
    const y = noGrad(() => m.forward(new Tensor(data, shape)));
    return { data: y.data as ArrayLike<number>, shape: y.shape };
  };
}

/** Slice / one Split output: the box it cuts, read from a gather probe, as one slice node per cut axis. */
function slices(b: GraphBuilder, t: TraceNode, m: ImportedOp, x: ValueInfo): string | null {
  const inShape = t.inputShapes[0];
  const rank = inShape.length;
  const axes = m.opType === "Split" ? [intAttr(m, "axis", 0)] : (attrOf(m, "axes")?.ints ?? (constAt(m, 3, t.module) ? Array.from(constAt(m, 3, t.module)!.data, Number) : null));
  if (axes === null || axes.some((a) => (a < 0 ? a + rank : a) === 0)) return `${m.opType} along the batch dimension (or with default axes)`;
  const g = probeGather(runFloat(m), inShape);
  if (!g || g.fill !== null) return `${m.opType} is not a forward slice`;
  const out = [1, ...g.shape.slice(1)];
  const st = strides(inShape), ost = strides(out);
  const coord = (off: number, d: number) => Math.floor(off / st[d]) % inShape[d];
  const box = out.map((len, d) => ({ d, len, start: coord(g.index[0], d), step: len > 1 ? coord(g.index[ost[d]], d) - coord(g.index[0], d) : 1 }));
  if (box.some((s) => s.step < 1)) return `${m.opType} with a negative step`;
  // the box must be exactly the probed gather
  for (let j = 0; j < g.index.length; j++) {
    let off = 0;
    for (let d = 0; d < rank; d++) off += (box[d].start + (Math.floor(j / ost[d]) % out[d]) * box[d].step) * st[d];
    if (off !== g.index[j]) return `${m.opType} is not a box slice`;
  }
  let v = x;
  const cuts = box.filter((s) => s.d > 0 && (s.len !== inShape[s.d] || s.start !== 0 || s.step !== 1));
  if (cuts.length === 0) {
    b.alias(t.inputs[0], t.output);
    return null;
  }
  const shape = [...inShape];
  cuts.forEach((s, k) => {
    shape[s.d] = s.len;
    const last = k === cuts.length - 1;
    const y = last ? b.define(t.output, t.outputShape, x.q, t.path) : b.define(-1e6 - t.output * 16 - k, shape, x.q, `${t.path}#${k}`);
    const name = cuts.length === 1 ? t.path : `${t.path}.${k}`;
    b.nodes.push({ op: "slice", name, inputs: [v.id], output: y.id, axis: s.d, start: s.start, end: s.start + (s.len - 1) * s.step + 1, step: s.step });
    v = y;
  });
  return null;
}

function strides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) st[i] = st[i + 1] * shape[i + 1];
  return st;
}

/** Pad: pads from the attribute (opset < 11) or input 1, constant value on x's grid (0 pads with the zero point). */
function pad(b: GraphBuilder, t: TraceNode, m: ImportedOp, x: ValueInfo, define: () => ValueInfo): string | null {
  const mode = stringAttr(m, "mode", "constant");
  if (mode !== "constant" && mode !== "edge" && mode !== "reflect") return `Pad mode '${mode}'`;
  const rank = t.inputShapes[0].length;
  const padsT = constAt(m, 1, t.module);
  let pads = attrOf(m, "pads")?.ints ?? (padsT ? Array.from(padsT.data, Number) : null);
  if (!pads) return "Pad with run-time pads";
  const axesT = constAt(m, 3, t.module);
  if (axesT) {
    // opset 18: pads for the listed axes only
    const axes = Array.from(axesT.data, (a) => (Number(a) < 0 ? Number(a) + rank : Number(a)));
    const full = new Array<number>(2 * rank).fill(0);
    axes.forEach((a, k) => {
      full[a] = pads![k];
      full[a + rank] = pads![k + axes.length];
    });
    pads = full;
  }
  if (pads.length !== 2 * rank || pads.some((p) => p < 0)) return "Pad with negative pads (a crop)";
  if (pads[0] !== 0 || pads[rank] !== 0) return "Pad of the batch dimension";
  const valueT = constAt(m, 2, t.module);
  const real = valueT && valueT.size > 0 ? Number(valueT.data[0]) : (attrOf(m, "value")?.f ?? 0);
  const value = Math.min(x.q.qmax, Math.max(x.q.qmin, x.q.zeroPoint + roundHalfEven(real / x.q.scale)));
  b.nodes.push({ op: "pad", name: t.path, inputs: [x.id], output: define().id, pads: [...pads], mode, value });
  return null;
}

/** Resize / Upsample with mode nearest: the float op's gather table. */
function resize(b: GraphBuilder, t: TraceNode, m: ImportedOp, x: ValueInfo, define: () => ValueInfo): string | null {
  if (stringAttr(m, "mode", "nearest") !== "nearest") return `${m.opType} mode '${stringAttr(m, "mode", "nearest")}' interpolates (only nearest moves bytes)`;
  const inShape = t.inputShapes[0];
  if (inShape.slice(1).some((d) => !(d > 0))) return `${m.opType} of an input with unknown dims`;
  const g = probeGather(runFloat(m), inShape);
  if (!g || g.fill !== null) return `${m.opType} is not a gather`;
  const key = `${t.path}.index`;
  b.tensors.set(key, g.index);
  const legacy = m.opType === "Upsample" || m.slots.length === 2; // Resize-10 / Upsample: asymmetric, onnxruntime's simple nearest
  const given = attrOf(m, "scales")?.floats ?? Array.from(constAt(m, legacy ? 1 : 2, t.module)?.data ?? [], Number); // Upsample-7: an attribute
  const sizes = given.length === 0;
  const scales = sizes ? g.shape.map((d, i) => (i === 0 ? 1 : d / inShape[i])) : given;
  if (scales[0] !== 1) return `${m.opType} scales the batch dimension`;
  b.nodes.push({
    op: "resize", name: t.path, inputs: [x.id], output: define().id, index: key, scales, ...(sizes ? { sizes: true } : {}),
    coordinateMode: legacy ? "asymmetric" : stringAttr(m, "coordinate_transformation_mode", "half_pixel"),
    nearestMode: legacy ? "simple" : stringAttr(m, "nearest_mode", "round_prefer_floor"),
  });
  return null;
}

/** Max / Min of activations and at most one constant, on y's grid. */
function maxMin(b: GraphBuilder, t: TraceNode, m: ImportedOp, y: ValueInfo): string | null {
  const acts = t.inputs.map((id) => b.value(id, t.path));
  const consts = m.slots.map((_, k) => constAt(m, k, t.module)).filter((c): c is Tensor => c instanceof Tensor);
  if (consts.length > 1) return `${m.opType} of several constants`;
  const key = `${t.path}.constant`;
  const c = consts[0];
  if (c) b.tensors.set(key, Int32Array.from(c.data as ArrayLike<number>, (v) => Math.min(y.q.qmax, Math.max(y.q.qmin, y.q.zeroPoint + roundHalfEven(Number(v) / y.q.scale)))));
  const multipliers = acts.map((v) => (v.q.scale === y.q.scale && v.q.zeroPoint === y.q.zeroPoint ? null : pairOf(v.q.scale / y.q.scale)));
  const op = m.opType === "Max" ? "maximum" : "minimum";
  b.nodes.push({ op, name: t.path, inputs: acts.map((v) => v.id), output: y.id, multipliers, clamp: [y.q.qmin, y.q.qmax], ...(c ? { constant: key, constShape: c.shape.length ? [...c.shape] : [1] } : {}) });
  return null;
}

/** ReduceMean over non-batch axes (attribute below opset 18, input 1 from then on). */
function reduceMean(b: GraphBuilder, t: TraceNode, m: ImportedOp, x: ValueInfo, y: ValueInfo): string | null {
  const rank = t.inputShapes[0].length;
  const axesT = constAt(m, 1, t.module);
  if (axesT === null) return "ReduceMean with run-time axes";
  const given = attrOf(m, "axes")?.ints ?? (axesT ? Array.from(axesT.data, Number) : []);
  if (given.length === 0) return intAttr(m, "noop_with_empty_axes", 0) ? "ReduceMean with no axes (a no-op)" : "ReduceMean over every axis (the batch too)";
  const axes = [...new Set(given.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
  if (axes[0] < 1) return "ReduceMean over the batch dimension";
  const count = axes.reduce((p, d) => p * t.inputShapes[0][d], 1);
  b.nodes.push({ op: "mean", name: t.path, inputs: [x.id], output: y.id, axes, keepdims: intAttr(m, "keepdims", 1) === 1, multiplier: pairOf(x.q.scale / (y.q.scale * count)), clamp: [y.q.qmin, y.q.qmax] });
  return null;
}
