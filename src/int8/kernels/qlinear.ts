/**
 * Integer fully-connected layer: x [N, K] uint8/int8, w [O, K] int8, int32 bias, per-channel
 * or per-tensor requantization, ReLU/ReLU6 as clamps. Integer-only:
 *
 *   acc[n, o] = Σ_k (x[n, k] − xZp) · (w[o, k] − wZp)
 *   y[n, o]   = clamp(yZp + MBQM(acc + bias[o], M0[o], shift[o]), clampMin, clampMax)
 *
 * Accumulator bound (checked per output before any work, ValueError if violated):
 *   |acc + bias| ≤ maxDev(x)·Σ_k |w[o, k] − wZp| + |bias[o]| ≤ 255·128·K + |bias|  (wZp = 0)
 * e.g. SmallCNN fc1, K = 1568: ≤ 5.1e7 < 2^31; int32 holds any K ≤ 65,793.
 *
 * Runs on the 4 rows × 4 outputs micro-kernel of packed.ts with row offsets n·K and tap
 * offsets k. Called by Int8Model linear layers and the ONNX QLinearMatMul/QGemm importer.
 */
import { DTypeError, ShapeError, fmtShape } from "../../tensor/errors.js";
import {
  type QuantArray, type QuantDType, type QuantResult, type Requant,
  checkAccumulatorBound, checkLayerArgs, checkQuantDType, checkShapeOf, checkWeightZeroPoints,
  expandRequant, maxDeviation, outputArray, quantDTypeOf, requantizeOne, weightLength,
} from "./common.js";
import { type PackedWeights, accumulatorBound, dot4x4, isPacked, packWeights } from "./packed.js";

export interface QLinearArgs {
  /** Input activations [N, K]. */
  x: QuantArray;
  xZp: number;
  xShape: readonly number[];
  /** Int8 weights [O, K] (PyTorch Linear layout), or packQLinearWeights of them. */
  w: Int8Array | PackedWeights;
  wShape: readonly number[];
  /** Per-tensor weight zero point (default 0). */
  wZp?: number;
  /** Int32 bias [O], scale Sx·Sw[o], zero point 0. */
  bias: Int32Array | null;
  /** M[o] = Sx·Sw[o]/Sy, per output (length O) or per tensor (length 1). */
  requant: Requant;
  yZp: number;
  clampMin?: number;
  clampMax?: number;
  outDType: QuantDType;
  out?: QuantArray;
}

const OP = "qlinear";

/** Packs linear weights [O, K] once so repeated calls skip the packing. */
export function packQLinearWeights(w: Int8Array, wShape: readonly number[], wZp: number | Int32Array = 0): PackedWeights {
  if (!(w instanceof Int8Array)) throw new DTypeError(`${OP}: w must be an Int8Array, got ${(w as object)?.constructor?.name}`);
  checkShapeOf(OP, "wShape [O, K]", wShape, 2, w.length);
  checkWeightZeroPoints(OP, wZp, wShape[0]);
  return packWeights(w, wShape[0], wShape[1], 1, wZp);
}

function validate(a: QLinearArgs): { lo: number; hi: number; packed: PackedWeights } {
  const xDType = quantDTypeOf(OP, "x", a.x);
  const outDType = checkQuantDType(OP, "outDType", a.outDType);
  checkShapeOf(OP, "xShape [N, K]", a.xShape, 2, a.x.length);
  checkShapeOf(OP, "wShape [O, K]", a.wShape, 2, weightLength(OP, a.w));
  const [o, k] = a.wShape;
  if (k !== a.xShape[1]) throw new ShapeError(`${OP}: x ${fmtShape(a.xShape)} and w ${fmtShape(a.wShape)} disagree on K`);
  const [lo, hi] = checkLayerArgs(OP, a, xDType, outDType, o);
  let packed: PackedWeights;
  if (isPacked(a.w)) {
    packed = a.w;
    if (packed.groups !== 1 || (a.wZp !== undefined && packed.wZp !== a.wZp)) throw new ShapeError(`${OP}: packed weights have groups ${packed.groups}, wZp ${packed.wZp}; expected 1, ${a.wZp ?? 0}`);
  } else {
    packed = packQLinearWeights(a.w, a.wShape, a.wZp ?? 0);
  }
  checkAccumulatorBound(OP, accumulatorBound(packed, maxDeviation(xDType, a.xZp), a.bias));
  return { lo, hi, packed };
}

/** y[N, O] = requantized x·wᵀ + bias; see the file header. */
export function qlinear(a: QLinearArgs): QuantResult {
  const { lo, hi, packed } = validate(a);
  const [N, K] = a.xShape;
  const O = packed.outChannels;
  const out = outputArray(OP, a.out, a.outDType, N * O);
  const rq = expandRequant(a.requant, O);
  // Centered copy of x (x − xZp ∈ [−255, 255]) with one spare zero row for the row padding.
  const xs = new Float64Array((N + 1) * K);
  for (let i = 0; i < N * K; i++) xs[i] = a.x[i] - a.xZp;
  const kOff = new Int32Array(K);
  for (let k = 0; k < K; k++) kOff[k] = k;
  const acc = new Float64Array(16);
  const rowOf = (r: number): number => (r < N ? r : N) * K;
  for (let r = 0; r < N; r += 4) {
    const nr = Math.min(4, N - r);
    for (let q = 0; q < packed.quadsPerGroup; q++) {
      dot4x4(xs, rowOf(r), rowOf(r + 1), rowOf(r + 2), rowOf(r + 3), kOff, K, packed.wq, q * K * 4, acc);
      const nc = Math.min(4, O - 4 * q);
      for (let j = 0; j < nc; j++) {
        const c = 4 * q + j;
        const b = a.bias === null ? 0 : a.bias[c];
        const m0 = rq.multiplier[c], sh = rq.shift[c];
        for (let i = 0; i < nr; i++) out[(r + i) * O + c] = requantizeOne(acc[4 * i + j] + b, m0, sh, a.yZp, lo, hi);
      }
    }
  }
  return { data: out, shape: [N, O] };
}
