/**
 * batchNorm (torch.nn.functional.batch_norm) over input [N, C, *] (rank ≥ 2: [N, C],
 * [N, C, L], [N, C, H, W], …), channel axis 1, on the backend's batch-norm kernels.
 * Called by nn.BatchNorm1d/2d and by the fused conv-bn QAT modules.
 *
 *   training:  μ, σ² = batch mean and biased variance per channel (over N and *);
 *              running_mean ← (1 − m)·running_mean + m·μ,
 *              running_var  ← (1 − m)·running_var  + m·σ²·M/(M − 1)   (unbiased, M = N·|*|),
 *              updated IN PLACE when given.
 *   eval:      μ, σ² = running_mean, running_var.
 *   y = (x − μ)/√(σ² + eps)·γ + β
 * Statistics are kept in float64 whatever the input dtype. The vjp covers x, weight (γ) and
 * bias (β); in training it includes the dependence of μ and σ² on x.
 * `batchNormAct(…, "relu")` is relu(batchNorm(…)) as one op — the same values and gradients as
 * the two ops, bit for bit — on the fused kernels where the backend has its own
 * (Kernels.batchNormTrain: statistics and apply per channel while it is in cache, then ReLU;
 * batchNormReluBackward: the ReLU mask recomputed from x, no mask pass), else on the unfused
 * kernels. Training-mode batchNorm takes batchNormTrain the same way. Called by the
 * BatchNorm → ReLU module pairs (src/nn/layers/batchnorm.ts batchNormRelu).
 */
import { kernels } from "../backend/index.js";
import type { FloatArray } from "../tensor/dtype.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import { numel } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { hasOwnKernel, maskGrad } from "./fused-act.js";
import { empty, requireFloat, uninit } from "./util.js";

export interface BatchNormOptions {
  training: boolean;
  /** Weight of the batch statistic in the running average (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/** [N, C, rest] view of x: the batch count, the channel count, the per-channel plane size. */
function viewOf(x: Tensor, op: string): { n: number; c: number; hw: number } {
  if (x.ndim < 2) throw new ShapeError(`${op}: input must be [N, C, *] (rank ≥ 2), got ${fmtShape(x.shape)}`);
  const [n, c] = x.shape;
  return { n, c, hw: numel(x.shape.slice(2)) };
}

function checkChannelVector(t: Tensor | null, name: string, c: number, x: Tensor): void {
  if (!t) return;
  if (t.ndim !== 1 || t.shape[0] !== c) {
    throw new ShapeError(`batchNorm: ${name} must be [${c}] for input ${fmtShape(x.shape)}, got ${fmtShape(t.shape)}`);
  }
  requireFloat(t, "batchNorm", name);
}

/** Per-channel batch mean and biased variance of x [N, C, *] (no autograd), in x's dtype. */
export function batchNormStatsOf(x: Tensor): { mean: Tensor; variance: Tensor } {
  requireFloat(x, "batchNormStatsOf");
  const { n, c, hw } = viewOf(x, "batchNormStatsOf");
  if (n * hw === 0) throw new ShapeError(`batchNormStatsOf: input ${fmtShape(x.shape)} has no values per channel`);
  const mean = empty([c], x.dtype);
  const variance = empty([c], x.dtype);
  kernels().batchNormStats(x.data as FloatArray, n, c, hw, mean.data as FloatArray, variance.data as FloatArray);
  return { mean, variance };
}

/** torch.nn.functional.batch_norm (see the header for the formulas). */
export function batchNorm(
  x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null,
  opts: BatchNormOptions,
): Tensor {
  return batchNormAct(x, runningMean, runningVar, weight, bias, opts, null);
}

function checkArgs(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null, opts: BatchNormOptions): void {
  requireFloat(x, "batchNorm");
  const { c } = viewOf(x, "batchNorm");
  checkChannelVector(runningMean, "runningMean", c, x);
  checkChannelVector(runningVar, "runningVar", c, x);
  checkChannelVector(weight, "weight", c, x);
  checkChannelVector(bias, "bias", c, x);
  for (const [t, name] of [[weight, "weight"], [bias, "bias"]] as const) {
    if (t && t.dtype !== x.dtype) throw new DTypeError(`batchNorm: ${name} is ${t.dtype} but input is ${x.dtype}`);
  }
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum ?? 0.1;
  if (!(eps >= 0 && Number.isFinite(eps))) throw new ValueError(`batchNorm: eps must be finite and ≥ 0, got ${eps}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new ValueError(`batchNorm: momentum must be in [0, 1], got ${momentum}`);
}

/** batchNorm followed by `act` ("relu", or null for none) as one op (see the header). */
export function batchNormAct(
  x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null,
  opts: BatchNormOptions, act: "relu" | null,
): Tensor {
  checkArgs(x, runningMean, runningVar, weight, bias, opts);
  const { n, c, hw } = viewOf(x, "batchNorm");
  const eps = opts.eps ?? 1e-5;
  const training = opts.training;
  const relu = act === "relu";
  const mean = new Float64Array(c);
  const invStd = new Float64Array(c);
  const gamma = weight ? (weight.data as FloatArray) : null;
  const beta = bias ? (bias.data as FloatArray) : null;
  const out = uninit(x.shape, x.dtype);
  const xd = x.data as FloatArray, yd = out.data as FloatArray;
  const k = kernels();
  if (training) {
    const count = n * hw;
    if (count <= 1) throw new ValueError(`batchNorm: expected more than 1 value per channel when training, got input ${fmtShape(x.shape)}`);
    const variance = new Float64Array(c);
    if (hasOwnKernel("batchNormTrain")) {
      k.batchNormTrain(xd, n, c, hw, eps, gamma, beta, yd, mean, variance, invStd, relu);
    } else {
      k.batchNormStats(xd, n, c, hw, mean, variance);
      for (let ch = 0; ch < c; ch++) invStd[ch] = 1 / Math.sqrt(variance[ch] + eps);
      k.batchNormApply(xd, mean, invStd, gamma, beta, yd, n, c, hw);
      if (relu) k.unary("relu", yd, yd);
    }
    updateRunning(runningMean, runningVar, mean, variance, opts.momentum ?? 0.1, count / (count - 1));
  } else {
    if (!runningMean || !runningVar) {
      throw new ValueError(`batchNorm: eval mode needs runningMean and runningVar (input ${fmtShape(x.shape)}); pass training: true to use batch statistics`);
    }
    const rm = runningMean.data;
    const rv = runningVar.data;
    for (let ch = 0; ch < c; ch++) {
      mean[ch] = rm[ch];
      invStd[ch] = 1 / Math.sqrt(rv[ch] + eps);
    }
    k.batchNormApply(xd, mean, invStd, gamma, beta, yd, n, c, hw);
    if (relu) k.unary("relu", yd, yd);
  }
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(out, relu ? "batchNormRelu" : "batchNorm", inputs, (gy) => {
    const dx = uninit(x.shape, x.dtype);
    const dgamma = weight ? empty([c], weight.dtype) : null;
    const dbeta = bias ? empty([c], bias.dtype) : null;
    const [dxd, dgd, dbd] = [dx.data as FloatArray, dgamma ? (dgamma.data as FloatArray) : null, dbeta ? (dbeta.data as FloatArray) : null];
    if (relu && hasOwnKernel("batchNormReluBackward")) {
      kernels().batchNormReluBackward(gy.data as FloatArray, xd, mean, invStd, gamma, beta, dxd, dgd, dbd, n, c, hw, training);
    } else {
      const g = relu ? maskGrad(gy, out, 0, Infinity) : gy;
      kernels().batchNormBackward(g.data as FloatArray, xd, mean, invStd, gamma, dxd, dgd, dbd, n, c, hw, training);
    }
    return [x.requiresGrad ? dx : null, ...(weight ? [dgamma] : []), ...(bias ? [dbeta] : [])];
  });
}

/** running ← (1 − m)·running + m·batch, the variance with Bessel's factor `unbias`. */
function updateRunning(rm: Tensor | null, rv: Tensor | null, mean: Float64Array, variance: Float64Array, m: number, unbias: number): void {
  if (rm) for (let ch = 0; ch < mean.length; ch++) rm.data[ch] = (1 - m) * rm.data[ch] + m * mean[ch];
  if (rv) for (let ch = 0; ch < mean.length; ch++) rv.data[ch] = (1 - m) * rv.data[ch] + m * variance[ch] * unbias;
}
