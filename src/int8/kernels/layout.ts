/**
 * Layout kernels on quantized tensors: they move bytes and keep the quantization parameters.
 * Called by ../model.ts (the "transpose" and "slice" nodes).
 */
import type { QuantResult } from "./common.js";

export /** A row-major N-D transpose of quantized data: output dim i is input dim perm[i]. */
function transposeQuant(x: QuantResult, perm: readonly number[]): QuantResult {
  const inShape = x.shape;
  const rank = inShape.length;
  const outShape = perm.map((p) => inShape[p]);
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * inShape[i + 1];
  const src = x.data;
  const out = new (src.constructor as new (n: number) => typeof src)(src.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let off = 0;
    for (let i = 0; i < rank; i++) off += idx[i] * inStrides[perm[i]];
    out[o] = src[off];
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < outShape[i]) break;
      idx[i] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/** Elements start, start+step, … below end along `axis` of row-major quantized data. */
export function sliceQuant(x: QuantResult, axis: number, start: number, end: number, step: number): QuantResult {
  const shape = [...x.shape];
  const len = Math.max(0, Math.ceil((end - start) / step));
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dim = shape[axis];
  shape[axis] = len;
  const src = x.data;
  const out = new (src.constructor as new (n: number) => typeof src)(outer * len * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < len; i++) {
      const from = (o * dim + start + i * step) * inner;
      out.set(src.subarray(from, from + inner), (o * len + i) * inner);
    }
  }
  return { data: out, shape };
}
