/**
 * BatchNorm1d / BatchNorm2d (torch.nn.BatchNorm*). Parameters `weight` (γ = 1), `bias`
 * (β = 0) when affine; buffers `running_mean` (0), `running_var` (1) and
 * `num_batches_tracked` when tracking running stats — the same keys and order as PyTorch.
 * num_batches_tracked is an int32 scalar here (PyTorch: int64); safetensors files store it
 * as I64 so PyTorch reads them unchanged. In training each forward adds 1 to it and updates
 * the running statistics in place (momentum null = cumulative average, factor 1/count).
 * `forwardAct(x, "relu")` is relu(forward(x)) as one fused op, for the BatchNorm → ReLU pairs
 * of ./fused-pairs.ts (which decide when skipping the two modules' hooks is invisible).
 */
import { ones, zeros } from "../../tensor/creation.js";
import { ShapeError, ValueError, fmtShape } from "../../tensor/errors.js";
import type { Tensor } from "../../tensor/tensor.js";
import { batchNormAct } from "../../ops/batchnorm.js";
import { Module } from "../module.js";
import { pyBool, pyFloat } from "../repr.js";

export interface BatchNormOptions {
  eps?: number;
  /** Running-average factor (default 0.1); null = cumulative moving average. */
  momentum?: number | null;
  /** Learnable γ and β (default true). */
  affine?: boolean;
  /** Keep running statistics for eval (default true). */
  trackRunningStats?: boolean;
}

/** Shared implementation (torch _BatchNorm); subclasses check the input rank. */
export abstract class BatchNormBase extends Module {
  readonly numFeatures: number;
  eps: number;
  momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  weight: Tensor | null;
  bias: Tensor | null;
  running_mean: Tensor | null;
  running_var: Tensor | null;
  num_batches_tracked: Tensor | null;

  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new ValueError(`${new.target.name}: numFeatures must be a positive integer, got ${numFeatures}`);
    this.numFeatures = numFeatures;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    this.weight = this.registerParameter("weight", this.affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter("bias", this.affine ? zeros([numFeatures]) : null);
    const track = this.trackRunningStats;
    this.running_mean = this.registerBuffer("running_mean", track ? zeros([numFeatures]) : null);
    this.running_var = this.registerBuffer("running_var", track ? ones([numFeatures]) : null);
    this.num_batches_tracked = this.registerBuffer("num_batches_tracked", track ? zeros([], { dtype: "int32" }) : null);
  }

  /** camelCase aliases of the buffers. */
  get runningMean(): Tensor | null {
    return this.running_mean;
  }

  get runningVar(): Tensor | null {
    return this.running_var;
  }

  get numBatchesTracked(): Tensor | null {
    return this.num_batches_tracked;
  }

  /** Throws a ShapeError unless the input rank fits this layer. */
  protected abstract checkInputDim(x: Tensor): void;

  /** Running stats back to mean 0, variance 1, count 0. */
  resetRunningStats(): void {
    this.running_mean?.data.fill(0);
    this.running_var?.data.fill(1);
    this.num_batches_tracked?.data.fill(0);
  }

  forward(x: Tensor): Tensor {
    return this.forwardAct(x, null);
  }

  /** forward, then `act` in the same op (relu(forward(x)) exactly); runs no hooks. */
  forwardAct(x: Tensor, act: "relu" | null): Tensor {
    this.checkInputDim(x);
    let factor = this.momentum ?? 0;
    if (this.training && this.trackRunningStats && this.num_batches_tracked) {
      const count = (this.num_batches_tracked.data[0] += 1);
      factor = this.momentum ?? 1 / count;
    }
    const useBatchStats = this.training || (this.running_mean === null && this.running_var === null);
    const useRunning = !this.training || this.trackRunningStats;
    return batchNormAct(
      x, useRunning ? this.running_mean : null, useRunning ? this.running_var : null, this.weight, this.bias,
      { training: useBatchStats, momentum: factor, eps: this.eps }, act,
    );
  }

  override extraRepr(): string {
    const m = this.momentum === null ? "None" : pyFloat(this.momentum);
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${m}, affine=${pyBool(this.affine)}, track_running_stats=${pyBool(this.trackRunningStats)}`;
  }
}

/** Batch norm over [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNormBase {
  protected checkInputDim(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) throw new ShapeError(`BatchNorm1d: expected 2D or 3D input (got ${x.ndim}D input ${fmtShape(x.shape)})`);
  }
}

/** Batch norm over [N, C, H, W]. */
export class BatchNorm2d extends BatchNormBase {
  protected checkInputDim(x: Tensor): void {
    if (x.ndim !== 4) throw new ShapeError(`BatchNorm2d: expected 4D input (got ${x.ndim}D input ${fmtShape(x.shape)})`);
  }
}
