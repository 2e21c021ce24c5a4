/**
 * Shape and layout ops: reshape, flatten, squeeze/unsqueeze, permute/transpose, broadcastTo,
 * concat, stack, pad, slice, cast. All data movement goes through the copyStrided kernel;
 * each vjp is the inverse movement (slice ↔ pad, concat ↔ slices, broadcast ↔ sum).
 */
import { kernels } from "../backend/index.js";
import { type DType, isFloatDType } from "../tensor/dtype.js";
import { ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import { type Shape, broadcastShapes, broadcastStrides, normalizeAxis, numel, shapesEqual, stridesOf } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { sumToShape } from "./reduce.js";
import { empty } from "./util.js";

/** Same data, new shape (one dimension may be -1). Shares storage with x. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = [...shape];
  const neg = target.filter((d) => d === -1).length;
  if (neg > 1 || target.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new ShapeError(`reshape: invalid target shape ${fmtShape(shape)}`);
  }
  if (neg === 1) {
    const known = numel(target.filter((d) => d !== -1));
    const i = target.indexOf(-1);
    if (known === 0 || x.size % known !== 0) {
      throw new ShapeError(`reshape: cannot reshape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(shape)}`);
    }
    target[i] = x.size / known;
  }
  if (numel(target) !== x.size) {
    throw new ShapeError(`reshape: cannot reshape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(shape)}`);
  }
  const out = new Tensor(x.data, target);
  return record(out, "reshape", [x], (g) => [reshape(g, x.shape)]);
}

/** Flattens dims startDim..endDim into one (torch.flatten). */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeAxis(startDim, x.ndim, "flatten");
  const e = normalizeAxis(endDim, x.ndim, "flatten");
  if (s > e) throw new ValueError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

/** Removes size-1 dims (all of them, or just `axis`). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normalizeAxis(axis, x.ndim, "squeeze");
  if (x.shape[a] !== 1) return x;
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

/** Inserts a size-1 dim at `axis` (in [-rank-1, rank]). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.ndim + 1, "unsqueeze");
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/** Reorders dimensions: out.shape[i] = x.shape[dims[i]]. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) throw new ShapeError(`permute: got ${dims.length} dims for a tensor of rank ${x.ndim} ${fmtShape(x.shape)}`);
  const d = dims.map((a) => normalizeAxis(a, x.ndim, "permute"));
  if (new Set(d).size !== d.length) throw new ValueError(`permute: repeated dim in [${dims.join(", ")}]`);
  const shape = d.map((a) => x.shape[a]);
  const st = stridesOf(x.shape);
  const out = empty(shape, x.dtype);
  kernels().copyStrided(x.data, 0, d.map((a) => st[a]), out.data, 0, stridesOf(shape), shape);
  const inv = new Array<number>(d.length);
  d.forEach((a, i) => (inv[a] = i));
  return record(out, "permute", [x], (g) => [permute(g, inv)]);
}

/** Swaps two dimensions. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normalizeAxis(dim0, x.ndim, "transpose");
  const b = normalizeAxis(dim1, x.ndim, "transpose");
  const dims = [...Array(x.ndim).keys()];
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** Materialises NumPy broadcasting of x to `shape` (torch.expand + contiguous). */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes(x.shape, shape, "broadcastTo");
  if (!shapesEqual(target, shape)) throw new ShapeError(`broadcastTo: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  if (shapesEqual(x.shape, shape)) return x;
  const out = empty(shape, x.dtype);
  kernels().copyStrided(x.data, 0, broadcastStrides(x.shape, shape), out.data, 0, stridesOf(shape), shape);
  return record(out, "broadcastTo", [x], (g) => [sumToShape(g, x.shape)]);
}

/** Joins tensors along an existing axis. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ValueError("concat: needs at least one tensor");
  const first = xs[0];
  const a = normalizeAxis(axis, first.ndim, "concat");
  let total = 0;
  for (const t of xs) {
    if (t.ndim !== first.ndim || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new ShapeError(`concat: shapes ${xs.map((u) => fmtShape(u.shape)).join(", ")} differ outside axis ${a}`);
    }
    if (t.dtype !== first.dtype) throw new ShapeError(`concat: dtypes differ (${first.dtype} vs ${t.dtype})`);
    total += t.shape[a];
  }
  const shape = [...first.shape];
  shape[a] = total;
  const out = empty(shape, first.dtype);
  const ost = stridesOf(shape);
  let offset = 0;
  for (const t of xs) {
    kernels().copyStrided(t.data, 0, stridesOf(t.shape), out.data, offset * ost[a], ost, t.shape);
    offset += t.shape[a];
  }
  return record(out, "concat", xs, (g) => {
    let start = 0;
    return xs.map((t) => {
      const piece = slice(g, a, start, start + t.shape[a]);
      start += t.shape[a];
      return piece;
    });
  });
}

/** Joins tensors along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ValueError("stack: needs at least one tensor");
  for (const t of xs) {
    if (!shapesEqual(t.shape, xs[0].shape)) throw new ShapeError(`stack: shapes differ: ${xs.map((u) => fmtShape(u.shape)).join(", ")}`);
  }
  const a = normalizeAxis(axis, xs[0].ndim + 1, "stack");
  return concat(xs.map((t) => unsqueeze(t, a)), a);
}

/**
 * Constant padding, PyTorch F.pad order: `pads` = [lastBefore, lastAfter, prevBefore, prevAfter, …].
 * Negative pads are not supported (use slice).
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim) {
    throw new ValueError(`pad: pads must hold pairs for at most ${x.ndim} dims, got [${pads.join(", ")}]`);
  }
  if (pads.some((p) => !Number.isInteger(p) || p < 0)) throw new ValueError(`pad: pads must be non-negative integers, got [${pads.join(", ")}]`);
  const before = new Array<number>(x.ndim).fill(0);
  const shape = [...x.shape];
  for (let i = 0; i < pads.length / 2; i++) {
    const d = x.ndim - 1 - i;
    before[d] = pads[2 * i];
    shape[d] += pads[2 * i] + pads[2 * i + 1];
  }
  const out = empty(shape, x.dtype);
  if (value !== 0) out.data.fill(value);
  const ost = stridesOf(shape);
  const offset = before.reduce((acc, b, d) => acc + b * ost[d], 0);
  kernels().copyStrided(x.data, 0, stridesOf(x.shape), out.data, offset, ost, x.shape);
  return record(out, "pad", [x], (g) => [sliceBox(g, before, x.shape)]);
}

/** The box starting at `start` with extent `extent` (used by pad's vjp). */
function sliceBox(x: Tensor, start: readonly number[], extent: Shape): Tensor {
  const st = stridesOf(x.shape);
  const out = empty(extent, x.dtype);
  const offset = start.reduce((acc, s, d) => acc + s * st[d], 0);
  kernels().copyStrided(x.data, offset, st, out.data, 0, stridesOf(extent), extent);
  return out;
}

/** Elements start, start+step, … below end along `axis` (negative start/end count from the end). */
export function slice(x: Tensor, axis: number, start: number, end?: number, step = 1): Tensor {
  const a = normalizeAxis(axis, x.ndim, "slice");
  const n = x.shape[a];
  if (!Number.isInteger(step) || step < 1) throw new ValueError(`slice: step must be a positive integer, got ${step}`);
  const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = clampIdx(start);
  const e = clampIdx(end ?? n);
  const len = Math.max(0, Math.ceil((e - s) / step));
  const shape = [...x.shape];
  shape[a] = len;
  const st = stridesOf(x.shape);
  const srcStrides = [...st];
  srcStrides[a] = st[a] * step;
  const out = empty(shape, x.dtype);
  kernels().copyStrided(x.data, s * st[a], srcStrides, out.data, 0, stridesOf(shape), shape);
  return record(out, "slice", [x], (g) => {
    const dx = empty(x.shape, g.dtype);
    kernels().copyStrided(g.data, 0, stridesOf(shape), dx.data, s * st[a], srcStrides, shape);
    return [dx];
  });
}

/** Converts to another dtype; gradients flow only between float dtypes. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const out = empty(x.shape, dtype);
  kernels().cast(x.data, out.data);
  if (!isFloatDType(dtype)) return out;
  return record(out, "cast", [x], (g) => [cast(g, x.dtype)]);
}
