/**
 * Activation modules: ReLU, ReLU6, Hardtanh, Sigmoid, Tanh, GELU, Softmax (torch.nn equivalents; no state).
 * Quantization maps ReLU/ReLU6/Hardtanh onto integer clamps, so they stay separate modules.
 */
import { ValueError } from "../../tensor/errors.js";
import type { Tensor } from "../../tensor/tensor.js";
import { hardtanh, relu, sigmoid, tanh } from "../../ops/unary.js";
import { type GeluApproximate, gelu } from "../../ops/nn-functional.js";
import { softmax } from "../../ops/softmax.js";
import { Module } from "../module.js";
import { pyFloat } from "../repr.js";

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** clamp(x, minVal, maxVal), gradient 1 strictly inside (torch.nn.Hardtanh). */
export class Hardtanh extends Module {
  readonly minVal: number;
  readonly maxVal: number;

  constructor(minVal = -1, maxVal = 1) {
    super();
    if (!(minVal < maxVal)) throw new ValueError(`Hardtanh: need minVal < maxVal, got ${minVal} and ${maxVal}`);
    this.minVal = minVal;
    this.maxVal = maxVal;
  }

  forward(x: Tensor): Tensor {
    return hardtanh(x, this.minVal, this.maxVal);
  }

  override extraRepr(): string {
    return `min_val=${pyFloat(this.minVal)}, max_val=${pyFloat(this.maxVal)}`;
  }
}

/** min(max(x, 0), 6) (torch.nn.ReLU6, a Hardtanh(0, 6)). */
export class ReLU6 extends Hardtanh {
  constructor() {
    super(0, 6);
  }

  override extraRepr(): string {
    return "";
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** x·Φ(x) (torch.nn.GELU); approximate "tanh" uses the tanh form. */
export class GELU extends Module {
  readonly approximate: GeluApproximate;

  constructor(opts: { approximate?: GeluApproximate } = {}) {
    super();
    const a = opts.approximate ?? "none";
    if (a !== "none" && a !== "tanh") throw new ValueError(`GELU: approximate must be "none" or "tanh", got ${JSON.stringify(a)}`);
    this.approximate = a;
  }

  forward(x: Tensor): Tensor {
    return gelu(x, this.approximate);
  }

  override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

/** softmax along `dim` (torch.nn.Softmax; PyTorch's dim=None legacy guess is not offered: give the dim). */
export class Softmax extends Module {
  readonly dim: number;

  constructor(dim = -1) {
    super();
    if (!Number.isInteger(dim)) throw new ValueError(`Softmax: dim must be an integer, got ${dim}`);
    this.dim = dim;
  }

  forward(x: Tensor): Tensor {
    return softmax(x, this.dim);
  }

  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}
