/**
 * LayerNorm (torch.nn.LayerNorm): normalizes the trailing `normalizedShape` dims with the
 * biased variance, then applies the elementwise affine `weight` (1) and `bias` (0) — the
 * state-dict keys PyTorch uses. `bias: false` drops the bias (PyTorch ≥ 2.1). Used by the
 * transformer layers (./transformer.ts) and the ViT zoo model.
 */
import { ones, zeros } from "../../tensor/creation.js";
import { ValueError } from "../../tensor/errors.js";
import type { Tensor } from "../../tensor/tensor.js";
import { layerNorm } from "../../ops/nn-functional.js";
import { Module } from "../module.js";
import { pyBool, pyFloat, pyTuple } from "../repr.js";

export interface LayerNormOptions {
  eps?: number;
  /** Learnable weight and bias (default true). */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, also a learnable bias (default true). */
  bias?: boolean;
}

export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  weight: Tensor | null;
  bias: Tensor | null;

  constructor(normalizedShape: number | readonly number[], opts: LayerNormOptions = {}) {
    super();
    const ns = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
    if (ns.length === 0 || ns.some((d) => !Number.isInteger(d) || d < 1)) throw new ValueError(`LayerNorm: normalizedShape must be positive integers, got ${JSON.stringify(normalizedShape)}`);
    const eps = opts.eps ?? 1e-5;
    if (!(eps >= 0)) throw new ValueError(`LayerNorm: eps must be ≥ 0, got ${eps}`);
    this.normalizedShape = ns;
    this.eps = eps;
    this.elementwiseAffine = opts.elementwiseAffine ?? true;
    this.weight = this.registerParameter("weight", this.elementwiseAffine ? ones(ns) : null);
    this.bias = this.registerParameter("bias", this.elementwiseAffine && opts.bias !== false ? zeros(ns) : null);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `${pyTuple(this.normalizedShape)}, eps=${pyFloat(this.eps)}, elementwise_affine=${pyBool(this.elementwiseAffine)}`;
  }
}
