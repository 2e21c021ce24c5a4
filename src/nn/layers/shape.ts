/**
 * Shape modules: Flatten (torch.nn.Flatten, dims startDim..endDim into one; default keeps
 * the batch dim). No state.
 */
import type { Tensor } from "../../tensor/tensor.js";
import { flatten } from "../../ops/layout.js";
import { Module } from "../module.js";

export class Flatten extends Module {
  readonly startDim: number;
  readonly endDim: number;

  constructor(startDim = 1, endDim = -1) {
    super();
    this.startDim = startDim;
    this.endDim = endDim;
  }

  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }

  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}
