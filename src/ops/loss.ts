/**
 * Loss functions as torch.nn.functional: crossEntropy (with label smoothing and ignoreIndex),
 * nllLoss and mseLoss. Called by training loops, the CLI and users.
 *
 * With log-probabilities ℓ = logSoftmax(logits) [N, C], targets t_i, smoothing ε, and the
 * rows R = {i : t_i ≠ ignoreIndex}:
 *   loss_i = (1 − ε)·(−ℓ[i, t_i]) + (ε/C)·(−Σ_c ℓ[i, c])   for i ∈ R, 0 otherwise
 *   "mean" = Σ_i loss_i / |R|  (NaN when every row is ignored, as PyTorch),  "sum" = Σ_i loss_i.
 * Class-probability targets (a float tensor shaped like the logits) are smoothed to
 * t·(1 − ε) + ε/C and give loss_i = −Σ_c t_ic·ℓ[i, c], "mean" dividing by N.
 * Per-class weights are not supported.
 */
import { DTypeError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import type { Tensor } from "../tensor/tensor.js";
import { mul, sub } from "./binary.js";
import { mean, sum } from "./reduce.js";
import { logSoftmax } from "./softmax.js";
import { empty, requireFloat } from "./util.js";

export type Reduction = "mean" | "sum" | "none";

export interface NllLossOptions {
  reduction?: Reduction;
  /** Target value whose rows contribute neither loss nor gradient (default −100, as PyTorch). */
  ignoreIndex?: number;
}

export interface CrossEntropyOptions extends NllLossOptions {
  /** ε in [0, 1]: the target mixes (1 − ε)·one-hot with ε·uniform (default 0). */
  labelSmoothing?: number;
}

function checkReduction(r: string, op: string): Reduction {
  if (r !== "mean" && r !== "sum" && r !== "none") throw new ValueError(`${op}: reduction must be "mean", "sum" or "none", got "${r}"`);
  return r;
}

/** Validates [N, C] log-probabilities and integer targets [N]; returns the class indices. */
function classTargets(logp: Tensor, target: Tensor, ignoreIndex: number, op: string): Int32Array {
  if (logp.ndim !== 2) throw new ShapeError(`${op}: input must be 2-D [N, C], got ${fmtShape(logp.shape)}`);
  if (target.dtype !== "int32" && target.dtype !== "int8" && target.dtype !== "uint8") {
    throw new DTypeError(`${op}: target must hold class indices (int32, int8 or uint8), got ${target.dtype} ${fmtShape(target.shape)}`);
  }
  const [n, c] = logp.shape;
  if (target.ndim !== 1 || target.shape[0] !== n) {
    throw new ShapeError(`${op}: target must be [${n}] for input ${fmtShape(logp.shape)}, got ${fmtShape(target.shape)}`);
  }
  const t = Int32Array.from(target.data as ArrayLike<number>);
  for (let i = 0; i < n; i++) {
    if (t[i] !== ignoreIndex && (t[i] < 0 || t[i] >= c)) {
      throw new ValueError(`${op}: target[${i}] = ${t[i]} is out of range [0, ${c}) for input ${fmtShape(logp.shape)}`);
    }
  }
  return t;
}

/**
 * The smoothed negative log-likelihood of the header on log-probabilities, with its vjp:
 * ∂loss_i/∂ℓ[i, c] = −((1 − ε)·[c = t_i] + ε/C) for i ∈ R (÷|R| for "mean").
 */
function smoothedNll(logp: Tensor, t: Int32Array, eps: number, reduction: Reduction, ignoreIndex: number, op: string): Tensor {
  const [n, c] = logp.shape;
  const l = logp.data;
  const rowLoss = new Float64Array(n);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    if (t[i] === ignoreIndex) continue;
    kept++;
    let rowSum = 0;
    if (eps !== 0) for (let j = 0; j < c; j++) rowSum += l[i * c + j];
    rowLoss[i] = -(1 - eps) * l[i * c + t[i]] - (eps / c) * rowSum;
  }
  const out = empty(reduction === "none" ? [n] : [], logp.dtype);
  if (reduction === "none") out.data.set(rowLoss);
  else {
    let s = 0;
    for (let i = 0; i < n; i++) s += rowLoss[i];
    out.data[0] = reduction === "sum" ? s : s / kept;
  }
  return record(out, op, [logp], (gy) => {
    const dl = empty(logp.shape, logp.dtype);
    const d = dl.data;
    for (let i = 0; i < n; i++) {
      if (t[i] === ignoreIndex) continue;
      const gi = reduction === "none" ? gy.data[i] : reduction === "sum" ? gy.data[0] : gy.data[0] / kept;
      const uniform = (-eps / c) * gi;
      for (let j = 0; j < c; j++) d[i * c + j] = uniform;
      d[i * c + t[i]] -= (1 - eps) * gi;
    }
    return [dl];
  });
}

/** torch.nn.functional.nll_loss on log-probabilities [N, C] and class indices [N]. */
export function nllLoss(logProbs: Tensor, target: Tensor, opts: NllLossOptions = {}): Tensor {
  requireFloat(logProbs, "nllLoss");
  const reduction = checkReduction(opts.reduction ?? "mean", "nllLoss");
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const t = classTargets(logProbs, target, ignoreIndex, "nllLoss");
  return smoothedNll(logProbs, t, 0, reduction, ignoreIndex, "nllLoss");
}

/** torch.nn.functional.cross_entropy on logits [N, C] (see the header for the formula). */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  requireFloat(logits, "crossEntropy");
  const reduction = checkReduction(opts.reduction ?? "mean", "crossEntropy");
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new ValueError(`crossEntropy: labelSmoothing must be in [0, 1], got ${eps}`);
  if (logits.ndim !== 2) throw new ShapeError(`crossEntropy: input must be 2-D [N, C], got ${fmtShape(logits.shape)}`);
  if (target.dtype === "float32" || target.dtype === "float64") return softTargets(logits, target, eps, reduction);
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const t = classTargets(logits, target, ignoreIndex, "crossEntropy");
  return smoothedNll(logSoftmax(logits, 1), t, eps, reduction, ignoreIndex, "crossEntropy");
}

/** Cross entropy against class probabilities: −Σ_c t'·ℓ with t' = t·(1 − ε) + ε/C. */
function softTargets(logits: Tensor, target: Tensor, eps: number, reduction: Reduction): Tensor {
  if (target.ndim !== 2 || target.shape[0] !== logits.shape[0] || target.shape[1] !== logits.shape[1]) {
    throw new ShapeError(`crossEntropy: probability targets must match the input ${fmtShape(logits.shape)}, got ${fmtShape(target.shape)}`);
  }
  if (target.dtype !== logits.dtype) throw new DTypeError(`crossEntropy: target is ${target.dtype} but input is ${logits.dtype}`);
  const c = logits.shape[1];
  const smoothed = eps === 0 ? target : empty(target.shape, target.dtype);
  if (eps !== 0) for (let i = 0; i < target.size; i++) smoothed.data[i] = target.data[i] * (1 - eps) + eps / c;
  const perRow = sum(mul(logSoftmax(logits, 1), smoothed), 1);
  const rows = mul(perRow, -1);
  return reduction === "none" ? rows : reduction === "sum" ? sum(rows) : mean(rows);
}

/** torch.nn.functional.mse_loss: (a − b)² (a and b broadcast), reduced by mean (default) or sum. */
export function mseLoss(a: Tensor, b: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  requireFloat(a, "mseLoss", "input");
  requireFloat(b, "mseLoss", "target");
  const reduction = checkReduction(opts.reduction ?? "mean", "mseLoss");
  const d = sub(a, b);
  const sq = mul(d, d);
  return reduction === "none" ? sq : reduction === "sum" ? sum(sq) : mean(sq);
}
