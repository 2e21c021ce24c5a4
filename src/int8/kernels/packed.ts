/**
 * The shared integer dot-product engine of qconv2d and qlinear: weights packed in quads of
 * four output channels, and a 4 (pixels or rows) × 4 (channels) register-blocked micro-kernel
 * that reads its inputs through offset tables, so the same loop serves a direct (im2col-free)
 * convolution and a matrix product.
 *
 * Values are small integers held in float64 scratch (V8 runs this loop fastest on doubles,
 * measured ~3 GOP/s vs ~1 GOP/s on Int32Array); every product and partial sum is an integer
 * far below 2^53, so the arithmetic is exact integer arithmetic — no rounding ever happens.
 * The kernels reject, before running, any layer whose worst-case accumulator exceeds int32.
 */
import { ShapeError } from "../../tensor/errors.js";

/**
 * Int8 weights [OC, K] (per group), re-laid out as quads of four output channels with the
 * weight zero point (per tensor or per channel) subtracted:  wq[((g·quadsPerGroup + q)·K + k)·4 + j] = w[g·ocg + 4q + j, k] − wZp[c]
 * (0 for the padding lanes of a last partial quad). Entries ∈ [−255, 255].
 */
export interface PackedWeights {
  readonly kind: "qat-ts.int8.packed";
  readonly outChannels: number;
  readonly groups: number;
  /** Output channels per group. */
  readonly ocg: number;
  /** Reduction length per output channel (Cg·KH·KW for a convolution). */
  readonly K: number;
  readonly quadsPerGroup: number;
  /** Weight zero point: one per tensor, or one per output channel. */
  readonly wZp: number | Int32Array;
  readonly wq: Float64Array;
  /** Σ_k |w[c, k] − wZp| per output channel: the accumulator bound is maxDev(x) · absSum[c]. */
  readonly absSum: Float64Array;
}

/** Packs int8 weights w[OC, K] (OC = groups·ocg) into quads; see PackedWeights. */
export function packWeights(w: Int8Array, outChannels: number, K: number, groups: number, wZp: number | Int32Array): PackedWeights {
  if (w.length !== outChannels * K) {
    throw new ShapeError(`packWeights: weight holds ${w.length} elements, expected ${outChannels}·${K}`);
  }
  const ocg = outChannels / groups;
  const quadsPerGroup = Math.ceil(ocg / 4);
  const wq = new Float64Array(groups * quadsPerGroup * K * 4);
  const absSum = new Float64Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    const g = Math.floor(c / ocg);
    const j = c - g * ocg;
    const base = (g * quadsPerGroup + (j >> 2)) * K * 4 + (j & 3);
    let s = 0;
    const zp = typeof wZp === "number" ? wZp : wZp[c];
    for (let k = 0; k < K; k++) {
      const v = w[c * K + k] - zp;
      wq[base + k * 4] = v;
      s += Math.abs(v);
    }
    absSum[c] = s;
  }
  return { kind: "qat-ts.int8.packed", outChannels, groups, ocg, K, quadsPerGroup, wZp, wq, absSum };
}

/** True when `w` is a PackedWeights (as opposed to raw Int8Array weights). */
export function isPacked(w: unknown): w is PackedWeights {
  return typeof w === "object" && w !== null && (w as PackedWeights).kind === "qat-ts.int8.packed";
}

/**
 * The 4×4 micro-kernel. For i < 4 (input rows at base offsets b_i) and j < 4 (lanes of the quad
 * starting at wBase):
 *   acc[4i + j] = Σ_{k<K} xs[b_i + kOff[k]] · wq[wBase + 4k + j]
 * With xs centered (x − xZp, padding 0) and wq = w − wZp this is exactly the int32 accumulator
 * Σ (x − xZp)(w − wZp); every partial sum is bounded by maxDev(x)·absSum[c] < 2^31.
 */
export function dot4x4(
  xs: Float64Array, b0: number, b1: number, b2: number, b3: number,
  kOff: Int32Array, K: number, wq: Float64Array, wBase: number, acc: Float64Array,
): void {
  let a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
  let a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
  for (let k = 0, wi = wBase; k < K; k++, wi += 4) {
    const o = kOff[k];
    const x0 = xs[b0 + o], x1 = xs[b1 + o], x2 = xs[b2 + o], x3 = xs[b3 + o];
    const w0 = wq[wi], w1 = wq[wi + 1], w2 = wq[wi + 2], w3 = wq[wi + 3];
    a00 += x0 * w0; a01 += x0 * w1; a02 += x0 * w2; a03 += x0 * w3;
    a10 += x1 * w0; a11 += x1 * w1; a12 += x1 * w2; a13 += x1 * w3;
    a20 += x2 * w0; a21 += x2 * w1; a22 += x2 * w2; a23 += x2 * w3;
    a30 += x3 * w0; a31 += x3 * w1; a32 += x3 * w2; a33 += x3 * w3;
  }
  acc[0] = a00; acc[1] = a01; acc[2] = a02; acc[3] = a03;
  acc[4] = a10; acc[5] = a11; acc[6] = a12; acc[7] = a13;
  acc[8] = a20; acc[9] = a21; acc[10] = a22; acc[11] = a23;
  acc[12] = a30; acc[13] = a31; acc[14] = a32; acc[15] = a33;
}

/** Worst-case |acc + bias| per output channel: maxDev · absSum[c] + |bias[c]| (as floats). */
export function accumulatorBound(p: PackedWeights, maxDev: number, bias: Int32Array | null): Float64Array {
  const bound = new Float64Array(p.outChannels);
  for (let c = 0; c < p.outChannels; c++) bound[c] = maxDev * p.absSum[c] + (bias === null ? 0 : Math.abs(bias[c]));
  return bound;
}
