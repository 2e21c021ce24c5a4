/** A user-written attention module for the transformer capture and export tests. */
import * as ops from "../../src/ops/index.js";
import * as nn from "../../src/nn/index.js";
import { randn } from "../../src/tensor/creation.js";
import type { Tensor } from "../../src/tensor/tensor.js";

/** Single-head attention written by hand with functional ops, plus an MLP with GELU and LayerNorm. */
export class UserAttention extends nn.Module {
  readonly q = this.registerModule("q", new nn.Linear(8, 8));
  readonly k = this.registerModule("k", new nn.Linear(8, 8));
  readonly v = this.registerModule("v", new nn.Linear(8, 8));
  readonly w = this.registerParameter("w", randn([8, 8]));
  readonly g = this.registerParameter("g", randn([8]));

  constructor(readonly useSdpa: boolean) {
    super();
  }

  forward(x: Tensor): Tensor {
    const [q, k, v] = [this.q.forward(x), this.k.forward(x), this.v.forward(x)];
    const a = this.useSdpa
      ? ops.scaledDotProductAttention(q, k, v, { isCausal: true })
      : ops.matmul(ops.softmax(ops.mul(ops.matmul(q, ops.transpose(k, 1, 2)), 1 / Math.sqrt(8)), -1), v);
    const h = ops.layerNorm(ops.add(x, a), [8], this.g, null);
    return ops.add(h, ops.gelu(ops.linear(h, this.w), "tanh"));
  }
}

