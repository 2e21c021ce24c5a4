/**
 * SGD with momentum, dampening, Nesterov and weight decay — torch.optim.SGD's update:
 *   d = g (+ wd·p);  maximize negates g
 *   buf = d on the first step, else buf = μ·buf + (1 − τ)·d        (μ momentum, τ dampening)
 *   d = d + μ·buf (Nesterov) or d = buf
 *   p = p − lr·d
 * Scalars are float64, buffers and parameters keep their dtype (float32), updated in place.
 * State key: momentum_buffer.
 */
import { ValueError } from "../tensor/errors.js";
import { wasmPathsActive } from "../backend/index.js";
import { sgdStepF32 } from "../backend/wasm/optim.js";
import { WASM_MIN_ELEMENTS } from "../backend/wasm/runtime.js";
import type { Tensor } from "../tensor/tensor.js";
import { type BaseOptions, Optimizer, type ParamGroup, type ParamsArg } from "./optimizer.js";

export interface SGDOptions extends BaseOptions {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsArg<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    if (opts?.lr === undefined) throw new ValueError("SGD: lr is required");
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...opts });
  }

  protected override validateGroup(g: ParamGroup<SGDOptions>): void {
    super.validateGroup(g);
    if (!(g.momentum >= 0)) throw new ValueError(`SGD: invalid momentum value ${g.momentum}`);
    if (!(g.weightDecay >= 0)) throw new ValueError(`SGD: invalid weightDecay value ${g.weightDecay}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new ValueError("SGD: Nesterov momentum requires a momentum and zero dampening");
  }

  protected updateGroup(g: ParamGroup<SGDOptions>): void {
    for (const p of g.params) {
      if (!p.grad) continue;
      let buf: Tensor | null = null;
      let first = false;
      if (g.momentum !== 0) {
        const s = this.stateOf(p);
        if (!s.momentum_buffer) {
          s.momentum_buffer = this.zerosLike(p);
          first = true;
        }
        buf = s.momentum_buffer as Tensor;
      }
      sgdUpdate(p.data as Float32Array, p.grad.data as Float32Array, buf ? (buf.data as Float32Array) : null, first, g);
    }
  }
}

function sgdUpdate(p: Float32Array, grad: Float32Array, buf: Float32Array | null, first: boolean, g: SGDOptions): void {
  if (p instanceof Float32Array && grad instanceof Float32Array && (buf === null || buf instanceof Float32Array) && p.length >= WASM_MIN_ELEMENTS && wasmPathsActive()) {
    return sgdStepF32(p, grad, buf, first, g); // the same arithmetic in wasm (assembly/optim.ts)
  }
  const { lr, momentum: mu, dampening, weightDecay: wd, nesterov, maximize } = g;
  const keep = 1 - dampening;
  for (let i = 0; i < p.length; i++) {
    let d = maximize ? -grad[i] : grad[i];
    if (wd !== 0) d += wd * p[i];
    if (buf) {
      buf[i] = first ? d : mu * buf[i] + keep * d;
      d = nesterov ? d + mu * buf[i] : buf[i];
    }
    p[i] -= lr * d;
  }
}
