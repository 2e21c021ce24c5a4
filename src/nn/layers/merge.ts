/**
 * Modules for multi-input operations, so that quantization can observe and requantize them
 * (PyTorch's FloatFunctional plays this role): Add (a + b, residual joins) and Concat
 * (concatenation along `dim`). No state.
 */
import type { Tensor } from "../../tensor/tensor.js";
import { add } from "../../ops/binary.js";
import { concat } from "../../ops/layout.js";
import { Module } from "../module.js";

export class Add extends Module {
  forward(a: Tensor, b: Tensor): Tensor {
    return add(a, b);
  }
}

export class Concat extends Module {
  readonly dim: number;

  constructor(dim = 1) {
    super();
    this.dim = dim;
  }

  /** Accepts tensors as separate arguments or as one array. */
  forward(...xs: (Tensor | readonly Tensor[])[]): Tensor {
    return concat(xs.flat(), this.dim);
  }

  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}
