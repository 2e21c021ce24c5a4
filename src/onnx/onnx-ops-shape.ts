/**
 * Generic ONNX kernels that move data or make index tensors: Slice (opset 1–9 attributes,
 * opset 10+ inputs starts/ends/axes/steps, negative and out-of-range indices clamped as the
 * spec says, negative steps), Split (one kernel per output: `split` attribute / input, equal
 * parts, opset 18 `num_outputs`), Expand (bidirectional broadcast), Tile, Range and
 * ConstantOfShape. Positive-step slices, Expand and Tile are the differentiable slice /
 * broadcastTo / reshape ops; negative steps use `takeIndices` (a defineOp gather whose
 * backward scatters the gradient back). Called by onnx-ops.ts (GENERIC_OPS).
 */
import { defineOp } from "../autograd/custom.js";
import { allocArray } from "../tensor/dtype.js";
import { FormatError, NotSupportedError, ShapeError, fmtShape } from "../tensor/errors.js";
import { broadcastShapes, normalizeAxis, numel, stridesOf } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { broadcastTo, reshape, slice } from "../ops/layout.js";
import { type Compiler, type OpContext, get, intValues, need, opt } from "./onnx-ops-util.js";
import { MAX_TENSOR_ELEMENTS } from "./tensor-proto.js";

/** Elements of x at the given indices per axis (null = the whole axis); backward scatters (adds) back. */
export const takeIndices = (x: Tensor, index: readonly (readonly number[] | null)[]): Tensor => {
  const lists = x.shape.map((d, a) => index[a] ?? [...Array(d).keys()]);
  const shape = lists.map((l) => l.length);
  const src = stridesOf(x.shape);
  /** Flat source offset of each output element, in output order. */
  const offsets = new Int32Array(numel(shape));
  let n = 0;
  const walk = (axis: number, base: number): void => {
    if (axis === shape.length) return void (offsets[n++] = base);
    for (const k of lists[axis]) walk(axis + 1, base + k * src[axis]);
  };
  if (offsets.length > 0) walk(0, 0);
  const op = defineOp<null>({
    name: "takeIndices",
    forward([t]) {
      const out = new Tensor(allocArray(t.dtype, offsets.length), shape);
      for (let k = 0; k < offsets.length; k++) out.data[k] = t.data[offsets[k]];
      return { output: out, saved: null };
    },
    backward(g, _s, [t]) {
      const dx = new Tensor(allocArray(g.dtype, t.size), t.shape);
      dx.data.fill(0);
      for (let k = 0; k < offsets.length; k++) dx.data[offsets[k]] += g.data[k];
      return [dx];
    },
  });
  return op(x);
};

/** One axis of an ONNX Slice, clamped per the spec; returns the index list (step < 0) or [start, end). */
function sliceAxis(dim: number, start: number, end: number, step: number): { start: number; end: number; step: number } {
  const s0 = start < 0 ? start + dim : start;
  const e0 = end < 0 ? end + dim : end;
  if (step > 0) return { start: Math.min(Math.max(s0, 0), dim), end: Math.min(Math.max(e0, 0), dim), step };
  return { start: Math.min(Math.max(s0, 0), dim - 1), end: Math.min(Math.max(e0, -1), dim - 1), step };
}

function sliceOp(c: OpContext) {
  const fromAttrs = c.opset < 10;
  if (fromAttrs) need(c, 1);
  else need(c, 3, 5);
  const ints = (t: Tensor | null, what: string): number[] | undefined => (t ? intValues(t, `${c.where} ${what}`) : undefined);
  return (i: readonly (Tensor | null)[]): Tensor => {
    const x = get(i, 0);
    const attrInts = (name: string) => (c.saturatedInts ? c.saturatedInts(name) : c.attrs.ints(name));
    const starts = fromAttrs ? attrInts("starts") : ints(get(i, 1), "starts");
    const ends = fromAttrs ? attrInts("ends") : ints(get(i, 2), "ends");
    if (!starts || !ends || starts.length !== ends.length) throw new FormatError(`${c.where}: starts and ends must be given with equal lengths`);
    const axes = (fromAttrs ? c.attrs.ints("axes") : ints(opt(i, 3), "axes")) ?? starts.map((_, k) => k);
    const steps = (fromAttrs ? undefined : ints(opt(i, 4), "steps")) ?? starts.map(() => 1);
    if (axes.length !== starts.length || steps.length !== starts.length) throw new FormatError(`${c.where}: starts, ends, axes and steps must have equal lengths (${starts.length}, ${ends.length}, ${axes.length}, ${steps.length})`);
    const norm = axes.map((a) => normalizeAxis(a, x.ndim, c.where));
    if (new Set(norm).size !== norm.length) throw new FormatError(`${c.where}: repeated axis in [${axes.join(", ")}]`);
    if (steps.some((s) => s === 0)) throw new FormatError(`${c.where}: a step of 0 is invalid`);
    const spans = norm.map((a, k) => ({ axis: a, ...sliceAxis(x.shape[a], starts[k], ends[k], steps[k]) }));
    if (spans.every((s) => s.step > 0)) return spans.reduce((y, s) => slice(y, s.axis, s.start, Math.max(s.end, s.start), s.step), x);
    const index: (number[] | null)[] = x.shape.map(() => null);
    for (const s of spans) {
      const list: number[] = [];
      if (s.step > 0) for (let k = s.start; k < s.end; k += s.step) list.push(k);
      else for (let k = s.start; k > s.end; k += s.step) list.push(k);
      index[s.axis] = list;
    }
    return takeIndices(x, index);
  };
}

/** Sizes of each Split output along the axis. */
function splitSizes(c: OpContext, dim: number, given: number[] | undefined): number[] {
  const count = c.outputCount ?? 1;
  if (given) {
    if (given.length !== count) throw new FormatError(`${c.where}: split lists ${given.length} sizes for ${count} outputs`);
    if (given.some((s) => s < 0) || given.reduce((a, b) => a + b, 0) !== dim) throw new ShapeError(`${c.where}: split sizes [${given.join(", ")}] do not add up to the axis size ${dim}`);
    return given;
  }
  const numOutputs = c.opset >= 18 ? c.attrs.int("num_outputs") : undefined;
  if (numOutputs !== undefined) {
    if (numOutputs !== count) throw new FormatError(`${c.where}: num_outputs ${numOutputs} differs from the ${count} outputs declared`);
    const chunk = Math.ceil(dim / numOutputs);
    return [...Array(numOutputs).keys()].map((k) => Math.max(0, Math.min(chunk, dim - k * chunk)));
  }
  if (dim % count !== 0) throw new ShapeError(`${c.where}: axis size ${dim} does not split into ${count} equal parts`);
  return new Array<number>(count).fill(dim / count);
}

function splitOp(c: OpContext) {
  need(c, 1, 2);
  // A caller that runs one output per node (the quantized importer's float islands) cannot use Split.
  if (c.outputCount === undefined) throw new NotSupportedError(`${c.where}: Split is supported in float graphs only (here each node may have one output)`);
  const axis = c.attrs.int("axis", 0);
  const part = c.outputIndex ?? 0;
  return (i: readonly (Tensor | null)[]): Tensor => {
    const x = get(i, 0);
    const a = normalizeAxis(axis, x.ndim, c.where);
    const given = c.opset < 13 ? c.attrs.ints("split") : i[1] ? intValues(i[1], c.where) : undefined;
    const sizes = splitSizes(c, x.shape[a], given);
    const start = sizes.slice(0, part).reduce((s, v) => s + v, 0);
    return slice(x, a, start, start + sizes[part]);
  };
}

function checkedShape(c: OpContext, t: Tensor): number[] {
  const dims = intValues(t, `${c.where} shape`);
  if (dims.length > 8 || dims.some((d) => d < 0)) throw new FormatError(`${c.where}: invalid shape [${dims.join(", ")}]`);
  if (numel(dims) > MAX_TENSOR_ELEMENTS) throw new ShapeError(`${c.where}: shape [${dims.join(", ")}] is over the limit of ${MAX_TENSOR_ELEMENTS} elements`);
  return dims;
}

function tileOp(c: OpContext) {
  need(c, 2);
  return (i: readonly (Tensor | null)[]): Tensor => {
    const x = get(i, 0);
    const reps = intValues(get(i, 1), `${c.where} repeats`);
    if (reps.length !== x.ndim || reps.some((r) => r < 0)) throw new FormatError(`${c.where}: repeats [${reps.join(", ")}] must hold ${x.ndim} non-negative values for ${fmtShape(x.shape)}`);
    const out = x.shape.map((d, k) => d * reps[k]);
    if (numel(out) > MAX_TENSOR_ELEMENTS) throw new ShapeError(`${c.where}: tiling ${fmtShape(x.shape)} to ${fmtShape(out)} is over the limit of ${MAX_TENSOR_ELEMENTS} elements`);
    // [d0, d1, …] → [1, d0, 1, d1, …] → broadcast [r0, d0, r1, d1, …] → [r0·d0, r1·d1, …].
    const interleaved = reshape(x, x.shape.flatMap((d) => [1, d]));
    return reshape(broadcastTo(interleaved, x.shape.flatMap((d, k) => [reps[k], d])), out);
  };
}

function rangeOp(c: OpContext) {
  need(c, 3);
  return (i: readonly (Tensor | null)[]): Tensor => {
    const [start, limit, delta] = [0, 1, 2].map((k) => {
      const t = get(i, k);
      if (t.size !== 1) throw new FormatError(`${c.where}: input ${k} must be a scalar, got ${fmtShape(t.shape)}`);
      return t;
    });
    const [s, l, d] = [start.item(), limit.item(), delta.item()];
    if (d === 0 || !Number.isFinite(s + l + d)) throw new FormatError(`${c.where}: Range(${s}, ${l}, ${d}) is invalid`);
    const n = Math.max(Math.ceil((l - s) / d), 0);
    if (n > MAX_TENSOR_ELEMENTS) throw new ShapeError(`${c.where}: Range of ${n} elements is over the limit of ${MAX_TENSOR_ELEMENTS}`);
    const out = new Tensor(allocArray(start.dtype, n), [n]);
    for (let k = 0; k < n; k++) out.data[k] = s + k * d;
    return out;
  };
}

function constantOfShapeOp(c: OpContext) {
  need(c, 1);
  const value = c.attrs.tensor("value") ?? new Tensor(Float32Array.of(0), [1]);
  if (value.size !== 1) throw new FormatError(`${c.where}: value must hold one element, got ${fmtShape(value.shape)}`);
  return (i: readonly (Tensor | null)[]): Tensor => {
    const dims = checkedShape(c, get(i, 0));
    const out = new Tensor(allocArray(value.dtype, numel(dims)), dims);
    out.data.fill(value.data[0]);
    return out;
  };
}

export const SHAPE_OPS: Readonly<Record<string, Compiler>> = {
  Slice: sliceOp,
  Split: splitOp,
  Expand: (c) => {
    need(c, 2);
    return (i) => {
      const x = get(i, 0);
      const target = checkedShape(c, get(i, 1));
      return broadcastTo(x, broadcastShapes(x.shape, target, c.where));
    };
  },
  Tile: tileOp,
  Range: rangeOp,
  ConstantOfShape: constantOfShapeOp,
};
