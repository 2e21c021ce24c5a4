/**
 * Generic ONNX kernels for reductions: ReduceMean / ReduceSum / ReduceMax / ReduceMin, and
 * ReduceSumSquare / ReduceL1 / ReduceL2 / ReduceLogSumExp built from ops (no ReduceProd),
 * ArgMax / ArgMin (keepdims, select_last_index) and GlobalMaxPool. Axes come from the `axes`
 * attribute up to opset 17 (ReduceSum: 12) and from the optional second input after; no
 * axes means every axis unless noop_with_empty_axes = 1 (then the input passes through).
 * Gradients come from the ops (max/min split ties evenly, as torch.amax). Argmax/argmin
 * return int32 indices (ONNX: int64). Called by onnx-ops.ts (GENERIC_OPS).
 */
import { FormatError, ShapeError, fmtShape } from "../tensor/errors.js";
import { normalizeAxes, normalizeAxis, stridesOf } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { add, mul, sub } from "../ops/binary.js";
import { reshape } from "../ops/layout.js";
import { max, mean, min, sum } from "../ops/reduce.js";
import { abs, exp, log, sqrt } from "../ops/unary.js";
import { type Compiler, type OpContext, floatInput, get, intValues, need } from "./onnx-ops-util.js";

type Reducer = (x: Tensor, axes: number[], keepdim: boolean) => Tensor;

/** The first opset where the op takes axes as an input instead of an attribute. */
const AXES_INPUT_FROM: Record<string, number> = { ReduceSum: 13 };

function reduceOp(reducer: Reducer, floatOnly = false): Compiler {
  return (c: OpContext) => {
    const axesAsInput = c.opset >= (AXES_INPUT_FROM[c.opType] ?? 18);
    need(c, 1, axesAsInput ? 2 : 1);
    const keepdim = c.attrs.int("keepdims", 1) !== 0;
    const noopWhenEmpty = c.attrs.int("noop_with_empty_axes", 0) !== 0;
    const attrAxes = axesAsInput ? undefined : c.attrs.ints("axes");
    return (i) => {
      const x = floatOnly ? floatInput(c, get(i, 0)) : get(i, 0);
      const given = axesAsInput ? (i[1] ? intValues(i[1], c.where) : undefined) : attrAxes;
      if (!given || given.length === 0) {
        if (noopWhenEmpty) return x;
        return reducer(x, [...Array(x.ndim).keys()], keepdim);
      }
      return reducer(x, normalizeAxes(given, x.ndim, c.where), keepdim);
    };
  };
}

const opts = (keepdim: boolean) => ({ keepdim });

const logSumExp: Reducer = (x, axes, keepdim) => {
  // log Σ eˣ = m + log Σ e^(x − m), with m the (gradient-free) max so nothing overflows.
  const mx = max(x, axes, opts(true));
  const m = new Tensor(mx.data.slice(), mx.shape);
  const s = log(sum(exp(sub(x, m)), axes, opts(true)));
  const y = add(s, m);
  return keepdim ? y : reshape(y, x.shape.filter((_, k) => !axes.includes(k)));
};

/** Index of the max / min along one axis, first or last on ties, as int32. */
function argReduce(c: OpContext, largest: boolean): (i: readonly (Tensor | null)[]) => Tensor {
  need(c, 1);
  const axis = c.attrs.int("axis", 0);
  const keepdim = c.attrs.int("keepdims", 1) !== 0;
  const last = c.attrs.int("select_last_index", 0) !== 0;
  return (i) => {
    const x = get(i, 0);
    const a = normalizeAxis(axis, x.ndim, c.where);
    const n = x.shape[a];
    if (n === 0) throw new ShapeError(`${c.where}: cannot take ${c.opType} over empty axis ${a} of ${fmtShape(x.shape)}`);
    const inner = stridesOf(x.shape)[a];
    const outer = x.size / (n * inner);
    const out = new Int32Array(outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        let best = 0;
        let bestV = x.data[o * n * inner + j];
        for (let k = 1; k < n; k++) {
          const v = x.data[(o * n + k) * inner + j];
          const better = largest ? v > bestV || (last && v === bestV) : v < bestV || (last && v === bestV);
          if (better || (Number.isNaN(v) && !Number.isNaN(bestV))) [best, bestV] = [k, v];
        }
        out[o * inner + j] = best;
      }
    }
    const shape = keepdim ? x.shape.map((d, k) => (k === a ? 1 : d)) : x.shape.filter((_, k) => k !== a);
    return new Tensor(out, shape);
  };
}

export const REDUCE_OPS: Readonly<Record<string, Compiler>> = {
  ReduceMean: reduceOp((x, a, k) => mean(x, a, opts(k)), true),
  ReduceSum: reduceOp((x, a, k) => sum(x, a, opts(k))),
  ReduceMax: reduceOp((x, a, k) => max(x, a, opts(k))),
  ReduceMin: reduceOp((x, a, k) => min(x, a, opts(k))),
  ReduceSumSquare: reduceOp((x, a, k) => sum(mul(x, x), a, opts(k))),
  ReduceL1: reduceOp((x, a, k) => sum(abs(x), a, opts(k))),
  ReduceL2: reduceOp((x, a, k) => sqrt(sum(mul(x, x), a, opts(k))), true),
  ReduceLogSumExp: reduceOp(logSumExp, true),
  ArgMax: (c) => argReduce(c, true),
  ArgMin: (c) => argReduce(c, false),
  GlobalMaxPool: (c) => {
    need(c, 1);
    return (i) => {
      const x = get(i, 0);
      if (x.ndim < 3) throw new FormatError(`${c.where}: GlobalMaxPool needs an [N, C, …] input of rank ≥ 3, got ${fmtShape(x.shape)}`);
      return max(x, [...Array(x.ndim).keys()].slice(2), opts(true));
    };
  },
};
