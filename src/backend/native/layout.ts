/**
 * The native backend's copyStrided, reduce, softmax and maskMul entries (native/layout.c,
 * softmax.c, elementwise.c): copyStrided for any two typed arrays of the same type (exact),
 * reduce, softmax and maskMul (exact) for float32. Calls too small to repay the Node-API crossing (under MIN_ELEMENTS), other dtypes
 * and ranks above 16 go to the fallback table. Every index the C code will touch is checked
 * against the arrays first (a RangeError naming the kernel), so a wrong caller can never make
 * C read or write out of bounds. Used by ./kernels.ts.
 */
import type { AnyArray, FloatArray } from "../../tensor/dtype.js";
import type { Shape } from "../../tensor/shape.js";
import type { Kernels, ReduceOp } from "../kernels.js";
import type { NativeAddon } from "./addon.js";

/** Below this many elements the JavaScript/wasm kernels are faster than a call into C. */
const MIN_ELEMENTS = 256;
const MAX_RANK = 16;
const REDUCE_OPS: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };

/** Lowest and highest element index a strided walk over `shape` touches from `offset`. */
function reach(offset: number, strides: readonly number[], shape: Shape): [number, number] {
  let lo = offset, hi = offset;
  for (let d = 0; d < shape.length; d++) {
    const span = (shape[d] - 1) * strides[d];
    if (span < 0) lo += span;
    else hi += span;
  }
  return [lo, hi];
}

export function nativeLayoutKernels(addon: NativeAddon, fallback: Kernels, sync: () => void): Pick<Kernels, "copyStrided" | "reduce" | "softmax" | "maskMul"> {
  const geom = new Float64Array(3 + 3 * MAX_RANK);
  const rgeom = new Int32Array(1 + 2 * MAX_RANK);
  return {
    copyStrided(src: AnyArray, srcOffset: number, srcStrides: readonly number[], dst: AnyArray, dstOffset: number, dstStrides: readonly number[], shape: Shape): void {
      const rank = shape.length;
      let n = 1;
      for (const d of shape) n *= d;
      if (n < MIN_ELEMENTS || rank > MAX_RANK || src.constructor !== dst.constructor || src.buffer === dst.buffer && overlaps(src, dst)) {
        return fallback.copyStrided(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape);
      }
      const [slo, shi] = reach(srcOffset, srcStrides, shape);
      const [dlo, dhi] = reach(dstOffset, dstStrides, shape);
      if (slo < 0 || shi >= src.length) throw new RangeError(`native copyStrided: source indices ${slo}..${shi} outside its ${src.length} elements`);
      if (dlo < 0 || dhi >= dst.length) throw new RangeError(`native copyStrided: destination indices ${dlo}..${dhi} outside its ${dst.length} elements`);
      geom[0] = rank;
      geom[1] = srcOffset;
      geom[2] = dstOffset;
      for (let d = 0; d < rank; d++) {
        geom[3 + d] = shape[d];
        geom[3 + rank + d] = srcStrides[d];
        geom[3 + 2 * rank + d] = dstStrides[d];
      }
      addon.copyStrided(src, dst, geom);
    },
    reduce(op: ReduceOp, x: AnyArray, shape: Shape, axes: readonly number[], out: AnyArray): void {
      const rank = shape.length;
      if (!(x instanceof Float32Array) || !(out instanceof Float32Array) || x.length < MIN_ELEMENTS || rank > MAX_RANK) {
        return fallback.reduce(op, x, shape, axes, out);
      }
      let n = 1, kept = 1;
      for (let d = 0; d < rank; d++) {
        n *= shape[d];
        if (!axes.includes(d)) kept *= shape[d];
      }
      if (x.length < n) throw new RangeError(`native reduce: input has ${x.length} elements, needs ${n}`);
      if (out.length < kept) throw new RangeError(`native reduce: output has ${out.length} elements, needs ${kept}`);
      rgeom[0] = rank;
      for (let d = 0; d < rank; d++) {
        rgeom[1 + d] = shape[d];
        rgeom[1 + rank + d] = axes.includes(d) ? 1 : 0;
      }
      sync();
      addon.reduce(REDUCE_OPS[op], x, rgeom, out, kept);
    },
    softmax(x: FloatArray, out: FloatArray, rows: number, cols: number, log: boolean): void {
      if (!(x instanceof Float32Array) || !(out instanceof Float32Array) || rows * cols < MIN_ELEMENTS) return fallback.softmax(x, out, rows, cols, log);
      if (x.length < rows * cols) throw new RangeError(`native softmax: input has ${x.length} elements, needs ${rows * cols}`);
      if (out.length < rows * cols) throw new RangeError(`native softmax: output has ${out.length} elements, needs ${rows * cols}`);
      sync();
      addon.softmax(x, out, rows, cols, log ? 1 : 0);
    },
    maskMul(g: FloatArray, y: FloatArray, lo: number, hi: number, out: FloatArray): void {
      const n = out.length;
      if (!(g instanceof Float32Array) || !(y instanceof Float32Array) || !(out instanceof Float32Array) || n < MIN_ELEMENTS || g.length < n || y.length < n) {
        return fallback.maskMul(g, y, lo, hi, out); // (the fallback also reports short arrays)
      }
      sync();
      addon.maskMul(g, y, lo, hi, out, n);
    },
  };
}

/** True when two views of one buffer share bytes (a copy between them is left to the reference's element order). */
function overlaps(a: AnyArray, b: AnyArray): boolean {
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
