/**
 * Adam and AdamW — torch.optim.Adam / AdamW (1.13) updates, t = step count:
 *   Adam:  g = g + wd·p (L2 penalty);   AdamW: p = p·(1 − lr·wd) (decoupled decay)
 *   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  v̂ = max(v̂, v) with amsgrad
 *   p = p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 * Scalars in float64; state tensors and parameters keep their dtype, updated in place.
 * State keys: step, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad).
 */
import { ValueError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { type BaseOptions, Optimizer, type ParamGroup, type ParamsArg } from "./optimizer.js";

export interface AdamOptions extends BaseOptions {
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

interface AdamBuffers {
  m: Float32Array;
  v: Float32Array;
  vmax: Float32Array | null;
}

/** Shared implementation; `decoupled` selects AdamW's weight decay. */
abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected override validateGroup(g: ParamGroup<AdamOptions>): void {
    super.validateGroup(g);
    const [b1, b2] = g.betas;
    if (!(b1 >= 0 && b1 < 1)) throw new ValueError(`${this.constructor.name}: invalid beta parameter at index 0: ${b1}`);
    if (!(b2 >= 0 && b2 < 1)) throw new ValueError(`${this.constructor.name}: invalid beta parameter at index 1: ${b2}`);
    if (!(g.eps >= 0)) throw new ValueError(`${this.constructor.name}: invalid epsilon value ${g.eps}`);
    if (!(g.weightDecay >= 0)) throw new ValueError(`${this.constructor.name}: invalid weightDecay value ${g.weightDecay}`);
  }

  private buffers(p: Tensor, amsgrad: boolean): { step: number; bufs: AdamBuffers } {
    const s = this.stateOf(p);
    if (s.exp_avg === undefined) {
      s.step = 0;
      s.exp_avg = this.zerosLike(p);
      s.exp_avg_sq = this.zerosLike(p);
    }
    if (amsgrad && s.max_exp_avg_sq === undefined) s.max_exp_avg_sq = this.zerosLike(p);
    s.step = (s.step as number) + 1;
    const data = (k: string): Float32Array => (s[k] as Tensor).data as Float32Array;
    return { step: s.step, bufs: { m: data("exp_avg"), v: data("exp_avg_sq"), vmax: amsgrad ? data("max_exp_avg_sq") : null } };
  }

  protected updateGroup(g: ParamGroup<AdamOptions>): void {
    for (const p of g.params) {
      if (!p.grad) continue;
      const { step, bufs } = this.buffers(p, g.amsgrad);
      adamUpdate(p.data as Float32Array, p.grad.data as Float32Array, bufs, step, g, this.decoupled);
    }
  }
}

function adamUpdate(p: Float32Array, grad: Float32Array, bufs: AdamBuffers, step: number, g: AdamOptions, decoupled: boolean): void {
  const { lr, eps, weightDecay: wd, maximize } = g;
  const [b1, b2] = g.betas;
  const { m, v, vmax } = bufs;
  const stepSize = lr / (1 - b1 ** step);
  const bc2Sqrt = Math.sqrt(1 - b2 ** step);
  const decay = 1 - lr * wd;
  for (let i = 0; i < p.length; i++) {
    let gi = maximize ? -grad[i] : grad[i];
    if (decoupled) p[i] *= decay;
    else if (wd !== 0) gi += wd * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    let second = v[i];
    if (vmax) {
      if (v[i] > vmax[i]) vmax[i] = v[i];
      second = vmax[i];
    }
    p[i] -= (stepSize * m[i]) / (Math.sqrt(second) / bc2Sqrt + eps);
  }
}

export class Adam extends AdamBase {
  protected readonly decoupled = false;

  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...opts });
  }
}

export class AdamW extends AdamBase {
  protected readonly decoupled = true;

  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, ...opts });
  }
}
