/**
 * Linear (torch.nn.Linear: y = x·Wᵀ + b, W [out, in]) and Identity. State-dict keys:
 * `weight`, `bias`. Default init as PyTorch: U(−1/√in, 1/√in) for both.
 */
import { zeros } from "../../tensor/creation.js";
import { ValueError } from "../../tensor/errors.js";
import type { Generator } from "../../tensor/random.js";
import type { Tensor } from "../../tensor/tensor.js";
import { linear } from "../../ops/matmul.js";
import { defaultLayerInit } from "../init.js";
import { Module } from "../module.js";
import { pyBool } from "../repr.js";

export interface LinearOptions {
  /** Learnable additive bias (default true). */
  bias?: boolean;
  /** Generator for the initial weights (default: the default generator). */
  generator?: Generator;
}

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    for (const [name, v] of [["inFeatures", inFeatures], ["outFeatures", outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new ValueError(`Linear: ${name} must be a non-negative integer, got ${v}`);
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = this.registerParameter("weight", zeros([outFeatures, inFeatures]));
    this.bias = this.registerParameter("bias", opts.bias === false ? null : zeros([outFeatures]));
    defaultLayerInit(this.weight, this.bias, { generator: opts.generator });
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${pyBool(this.bias !== null)}`;
  }
}

/** Returns its input unchanged (torch.nn.Identity); a placeholder for swapped-out modules. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
