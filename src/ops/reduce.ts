/**
 * Reductions: sum, mean, max, min, var over axes (keepdim like PyTorch), argmax/argmin, and
 * sumToShape — the vjp of broadcasting. max/min split the gradient evenly among tied
 * maxima (torch.amax semantics).
 */
import { kernels } from "../backend/index.js";
import type { ReduceOp } from "../backend/kernels.js";
import { ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import { type Shape, normalizeAxes, normalizeAxis, numel, shapesEqual } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
// layout.ts imports sumToShape from here; both only call each other inside functions, so the
// ES module cycle is harmless.
import { broadcastTo } from "./layout.js";
import { empty } from "./util.js";

export interface ReduceOptions {
  keepdim?: boolean;
}

type Axes = number | readonly number[] | undefined;

function reducedShape(shape: Shape, axes: readonly number[], keepdim: boolean): number[] {
  if (keepdim) return shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return shape.filter((_, i) => !axes.includes(i));
}

function reduceRaw(op: ReduceOp, x: Tensor, axes: readonly number[], keepdim: boolean): Tensor {
  const out = empty(reducedShape(x.shape, axes, keepdim), x.dtype === "int8" || x.dtype === "uint8" ? (op === "sum" ? "int32" : x.dtype) : x.dtype);
  kernels().reduce(op, x.data, x.shape, axes, out.data);
  return out;
}

/** Broadcasts a reduced gradient back over the reduced axes. */
function expandBack(g: Tensor, shape: Shape, axes: readonly number[]): Tensor {
  const kept = new Tensor(g.data, reducedShape(shape, axes, true));
  return broadcastRaw(kept, shape);
}

function broadcastRaw(x: Tensor, shape: Shape): Tensor {
  return broadcastTo(x, shape);
}

export function sum(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  const ax = normalizeAxes(axes, x.ndim, "sum");
  const out = reduceRaw("sum", x, ax, opts.keepdim ?? false);
  return record(out, "sum", [x], (g) => [expandBack(g, x.shape, ax)]);
}

export function mean(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  const ax = normalizeAxes(axes, x.ndim, "mean");
  const count = numel(ax.map((a) => x.shape[a]));
  const out = reduceRaw("sum", x, ax, opts.keepdim ?? false);
  const d = out.data;
  for (let i = 0; i < d.length; i++) d[i] /= count;
  return record(out, "mean", [x], (g) => {
    const e = expandBack(g, x.shape, ax);
    const r = empty(e.shape, e.dtype);
    for (let i = 0; i < r.size; i++) r.data[i] = e.data[i] / count;
    return [r];
  });
}

function extremum(op: "max" | "min", x: Tensor, axes: Axes, opts: ReduceOptions): Tensor {
  const ax = normalizeAxes(axes, x.ndim, op);
  for (const a of ax) if (x.shape[a] === 0) throw new ShapeError(`${op}: cannot reduce an empty axis ${a} of ${fmtShape(x.shape)}`);
  const out = reduceRaw(op, x, ax, opts.keepdim ?? false);
  return record(out, op, [x], (g) => {
    // Gradient to every position equal to the extremum, divided by the tie count.
    const ext = expandBack(out, x.shape, ax);
    const mask = empty(x.shape, x.dtype);
    for (let i = 0; i < x.size; i++) mask.data[i] = x.data[i] === ext.data[i] ? 1 : 0;
    const counts = reduceRaw("sum", mask, ax, true);
    const gb = expandBack(g, x.shape, ax);
    const cb = broadcastRaw(counts, x.shape);
    const dx = empty(x.shape, x.dtype);
    for (let i = 0; i < x.size; i++) dx.data[i] = mask.data[i] ? gb.data[i] / cb.data[i] : 0;
    return [dx];
  });
}

export function max(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return extremum("max", x, axes, opts);
}

export function min(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  return extremum("min", x, axes, opts);
}

/** Variance with Bessel's correction by default (torch.var: correction = 1). */
export function variance(x: Tensor, axes?: Axes, opts: ReduceOptions & { correction?: number } = {}): Tensor {
  const ax = normalizeAxes(axes, x.ndim, "var");
  const count = numel(ax.map((a) => x.shape[a]));
  const correction = opts.correction ?? 1;
  const denom = count - correction;
  if (denom <= 0) throw new ValueError(`var: ${count} element(s) with correction ${correction} leave no degrees of freedom`);
  const m = reduceRaw("sum", x, ax, true);
  for (let i = 0; i < m.size; i++) m.data[i] /= count;
  const mb = broadcastRaw(m, x.shape);
  const centered = empty(x.shape, x.dtype);
  for (let i = 0; i < x.size; i++) centered.data[i] = x.data[i] - mb.data[i];
  const sq = empty(x.shape, x.dtype);
  for (let i = 0; i < x.size; i++) sq.data[i] = centered.data[i] * centered.data[i];
  const out = reduceRaw("sum", sq, ax, opts.keepdim ?? false);
  for (let i = 0; i < out.size; i++) out.data[i] /= denom;
  return record(out, "var", [x], (g) => {
    const gb = expandBack(g, x.shape, ax);
    const dx = empty(x.shape, x.dtype);
    for (let i = 0; i < x.size; i++) dx.data[i] = (2 * centered.data[i] * gb.data[i]) / denom;
    return [dx];
  });
}

function argExtremum(op: "argmax" | "argmin", x: Tensor, axis: number | undefined, keepdim: boolean): Tensor {
  if (axis === undefined) {
    const flat = new Tensor(x.data, [x.size]);
    return argExtremum(op, flat, 0, false);
  }
  const a = normalizeAxis(axis, x.ndim, op);
  if (x.shape[a] === 0) throw new ShapeError(`${op}: empty axis ${a} of ${fmtShape(x.shape)}`);
  const out = empty(reducedShape(x.shape, [a], keepdim), "int32");
  kernels().argReduce(op, x.data, x.shape, a, out.data as Int32Array);
  return out;
}

/** Index of the largest value along `axis` (first on ties); flat index when axis is omitted. */
export function argmax(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  return argExtremum("argmax", x, axis, opts.keepdim ?? false);
}

export function argmin(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  return argExtremum("argmin", x, axis, opts.keepdim ?? false);
}

/** Sums a broadcast gradient back to `shape` (the vjp of broadcasting). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new ShapeError(`sumToShape: ${fmtShape(g.shape)} has lower rank than ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const r = axes.length ? sum(g, axes, { keepdim: true }) : g;
  return new Tensor(r.data, shape);
}
