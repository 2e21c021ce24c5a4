/**
 * Layout kernels on quantized tensors: they move bytes and keep the quantization parameters.
 * Called by ../model.ts (the "transpose", "slice", "pad", "expand" and "resize" nodes).
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

/** Calls visit(o, idx) for every index of `outShape` in row-major order (o the flat offset; idx reused). */
function forEachOut(outShape: readonly number[], visit: (o: number, idx: readonly number[]) => void): void {
  const rank = outShape.length;
  const total = outShape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < total; o++) {
    visit(o, idx);
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < outShape[i]) break;
      idx[i] = 0;
    }
  }
}

/** Row-major strides of `shape`. */
function stridesOf(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) st[i] = st[i + 1] * shape[i + 1];
  return st;
}

/**
 * ONNX Pad on quantized data: `pads` = [begin_0 … begin_{r−1}, end_0 … end_{r−1}] (non-negative);
 * "constant" fills with `value` (an integer on the grid: the zero point pads with real 0),
 * "edge" repeats the border element, "reflect" mirrors without repeating it (numpy.pad's modes).
 */
export function padQuant(x: QuantResult, pads: readonly number[], mode: "constant" | "edge" | "reflect", value: number): QuantResult {
  const rank = x.shape.length;
  const outShape = x.shape.map((d, i) => d + pads[i] + pads[i + rank]);
  const src = x.data;
  const out = new (src.constructor as new (n: number) => typeof src)(outShape.reduce((a, b) => a * b, 1));
  const st = stridesOf(x.shape);
  const source = (i: number, d: number): number => {
    const n = x.shape[d];
    if (mode === "edge") return i < 0 ? 0 : i >= n ? n - 1 : i;
    // reflect: period 2(n − 1), a single element reflects onto itself
    if (n === 1) return 0;
    const p = 2 * (n - 1);
    const m = ((i % p) + p) % p;
    return m < n ? m : p - m;
  };
  forEachOut(outShape, (o, idx) => {
    let off = 0;
    for (let d = 0; d < rank; d++) {
      let i = idx[d] - pads[d];
      if (i < 0 || i >= x.shape[d]) {
        if (mode === "constant") {
          off = -1;
          break;
        }
        i = source(i, d);
      }
      off += i * st[d];
    }
    out[o] = off < 0 ? value : src[off];
  });
  return { data: out, shape: outShape };
}

/** Broadcast of quantized data to `shape` (NumPy rules, dims aligned right; `shape` already the broadcast result). */
export function expandQuant(x: QuantResult, shape: readonly number[]): QuantResult {
  const rank = shape.length;
  const st = stridesOf(x.shape);
  const strides = new Array<number>(rank).fill(0);
  x.shape.forEach((d, i) => {
    strides[rank - x.shape.length + i] = d === 1 ? 0 : st[i];
  });
  const src = x.data;
  const out = new (src.constructor as new (n: number) => typeof src)(shape.reduce((a, b) => a * b, 1));
  forEachOut(shape, (o, idx) => {
    let off = 0;
    for (let d = 0; d < rank; d++) off += idx[d] * strides[d];
    out[o] = src[off];
  });
  return { data: out, shape: [...shape] };
}

/**
 * A gather of bytes by a per-sample table (nearest-neighbour resize): output element j of
 * sample b is input element index[j] of sample b; `shape` is the output's (batch first).
 */
export function gatherQuant(x: QuantResult, index: Int32Array, shape: readonly number[]): QuantResult {
  const batch = x.shape[0];
  const inner = x.data.length / Math.max(batch, 1);
  const per = index.length;
  const src = x.data;
  const out = new (src.constructor as new (n: number) => typeof src)(batch * per);
  for (let b = 0; b < batch; b++) {
    const base = b * inner;
    const o = b * per;
    for (let j = 0; j < per; j++) out[o + j] = src[base + index[j]];
  }
  return { data: out, shape: [batch, ...shape.slice(1)] };
}

/**
 * The gather table of a float op that only moves (or repeats) elements of one sample — a
 * nearest resize, a pad, a tile — found by running it twice on batch-1 index inputs
 * (i + 1, then i + 1 + n): an output that moved by n reads input element (value − 1); one
 * that did not move is a constant fill. Null when the op is not such a gather (its outputs
 * mix inputs, or the batch dim changed). Used at conversion time (convert, quantized import).
 */
export function probeGather(run: (x: Float32Array, shape: number[]) => { data: ArrayLike<number>; shape: readonly number[] }, inShape: readonly number[]): { index: Int32Array; fill: number | null; shape: number[] } | null {
  const shape = [1, ...inShape.slice(1)];
  const n = shape.reduce((a, b) => a * b, 1);
  if (2 * n + 1 >= 1 << 24) return null; // float32 holds the indices exactly below 2^24
  const a = run(Float32Array.from({ length: n }, (_, i) => i + 1), shape);
  const b = run(Float32Array.from({ length: n }, (_, i) => i + 1 + n), shape);
  if (a.shape[0] !== 1 || a.data.length !== b.data.length) return null;
  const index = new Int32Array(a.data.length);
  let fill: number | null = null;
  for (let j = 0; j < index.length; j++) {
    const [u, v] = [a.data[j], b.data[j]];
    if (v - u === n && Number.isInteger(u) && u >= 1 && u <= n) index[j] = u - 1;
    else if (u === v && (fill === null || fill === u)) {
      fill = u;
      index[j] = -1;
    } else return null;
  }
  return { index, fill, shape: [...a.shape] };
}
