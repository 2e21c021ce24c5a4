/**
 * Dropout (torch.nn.Dropout): in training zeroes each element with probability p and scales
 * the rest by 1/(1−p); identity in eval. Masks come from the default generator unless one
 * is given. No state.
 */
import { ValueError } from "../../tensor/errors.js";
import type { Generator } from "../../tensor/random.js";
import type { Tensor } from "../../tensor/tensor.js";
import { dropout } from "../../ops/dropout.js";
import { Module } from "../module.js";
import { pyFloat } from "../repr.js";

export class Dropout extends Module {
  readonly p: number;
  generator: Generator | undefined;

  constructor(p = 0.5, opts: { generator?: Generator } = {}) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError(`Dropout: probability must be in [0, 1], got ${p}`);
    this.p = p;
    this.generator = opts.generator;
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }

  override extraRepr(): string {
    return `p=${pyFloat(this.p)}, inplace=False`;
  }
}
