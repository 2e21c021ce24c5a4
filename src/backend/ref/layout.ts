/**
 * Reference data-movement kernel: an N-d strided copy. Transpose, permute, broadcast,
 * slice, pad and concat are all this one loop with different strides and offsets.
 */
import type { AnyArray } from "../../tensor/dtype.js";
import type { Shape } from "../../tensor/shape.js";

export function copyStrided(
  src: AnyArray, srcOffset: number, srcStrides: readonly number[],
  dst: AnyArray, dstOffset: number, dstStrides: readonly number[], shape: Shape,
): void {
  const rank = shape.length;
  if (rank === 0) {
    dst[dstOffset] = src[srcOffset];
    return;
  }
  for (const d of shape) if (d === 0) return;
  const inner = shape[rank - 1];
  const sIn = srcStrides[rank - 1];
  const dIn = dstStrides[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let s = srcOffset;
  let d = dstOffset;
  while (true) {
    if (sIn === 1 && dIn === 1) {
      for (let i = 0; i < inner; i++) dst[d + i] = src[s + i];
    } else {
      for (let i = 0, si = s, di = d; i < inner; i++, si += sIn, di += dIn) dst[di] = src[si];
    }
    // Odometer increment over the outer dimensions.
    let k = rank - 2;
    while (k >= 0) {
      idx[k]++;
      s += srcStrides[k];
      d += dstStrides[k];
      if (idx[k] < shape[k]) break;
      s -= srcStrides[k] * shape[k];
      d -= dstStrides[k] * shape[k];
      idx[k] = 0;
      k--;
    }
    if (k < 0) return;
  }
}
