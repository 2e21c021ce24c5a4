/**
 * Reference reductions: sum/max/min over any set of axes, and argmax/argmin along one axis.
 * Reduced axes are first moved innermost (one strided copy unless they already are), then
 * each contiguous row is reduced in a tight loop.
 */
import type { AnyArray } from "../../tensor/dtype.js";
import { type Shape, numel, stridesOf } from "../../tensor/shape.js";
import type { ReduceOp } from "../kernels.js";
import { copyStrided } from "./layout.js";

/** Returns x laid out as [outer, inner] with `axes` innermost (a view when already so). */
function moveAxesLast(x: AnyArray, shape: Shape, axes: readonly number[]): { rows: AnyArray; inner: number } {
  const rank = shape.length;
  const keep = [...Array(rank).keys()].filter((d) => !axes.includes(d));
  const inner = numel(axes.map((a) => shape[a]));
  const trailing = axes.every((a, i) => a === rank - axes.length + i);
  if (trailing) return { rows: x, inner };
  const perm = [...keep, ...axes];
  const st = stridesOf(shape);
  const permShape = perm.map((p) => shape[p]);
  const rows = new (x.constructor as new (n: number) => AnyArray)(x.length);
  copyStrided(x, 0, perm.map((p) => st[p]), rows, 0, stridesOf(permShape), permShape);
  return { rows, inner };
}

export function reduce(op: ReduceOp, x: AnyArray, shape: Shape, axes: readonly number[], out: AnyArray): void {
  const { rows, inner } = moveAxesLast(x, shape, axes);
  const outer = out.length;
  if (inner === 0) {
    out.fill(op === "sum" ? 0 : op === "max" ? -Infinity : Infinity);
    return;
  }
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    let acc = rows[base];
    if (op === "sum") {
      for (let i = 1; i < inner; i++) acc += rows[base + i];
    } else if (op === "max") {
      for (let i = 1; i < inner; i++) {
        const v = rows[base + i];
        if (v > acc || v !== v) acc = v;
      }
    } else {
      for (let i = 1; i < inner; i++) {
        const v = rows[base + i];
        if (v < acc || v !== v) acc = v;
      }
    }
    out[o] = acc;
  }
}

export function argReduce(op: "argmax" | "argmin", x: AnyArray, shape: Shape, axis: number, out: Int32Array): void {
  const { rows, inner } = moveAxesLast(x, shape, [axis]);
  const sign = op === "argmax" ? 1 : -1;
  for (let o = 0; o < out.length; o++) {
    const base = o * inner;
    let best = 0;
    let bv = rows[base] * sign;
    for (let i = 1; i < inner; i++) {
      const v = rows[base + i] * sign;
      if (v > bv) {
        bv = v;
        best = i;
      }
    }
    out[o] = best;
  }
}
