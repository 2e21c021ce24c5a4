/**
 * Conv2d (torch.nn.Conv2d): weight [out, in/groups, kH, kW], optional bias [out], NCHW input.
 * State-dict keys `weight`, `bias`. Default init as PyTorch: U(−1/√fan_in, 1/√fan_in) with
 * fan_in = in/groups·kH·kW, for weight and bias.
 */
import { zeros } from "../../tensor/creation.js";
import { ValueError } from "../../tensor/errors.js";
import type { Generator } from "../../tensor/random.js";
import type { Tensor } from "../../tensor/tensor.js";
import { type Conv2dOptions as Conv2dOpOptions, type IntPair, conv2d } from "../../ops/conv.js";
import { defaultLayerInit } from "../init.js";
import { Module } from "../module.js";
import { pyTuple } from "../repr.js";

export type { IntPair };

/** The functional conv2d's geometry options, plus the layer's own. */
export interface Conv2dOptions extends Conv2dOpOptions {
  /** Learnable bias (default true). */
  bias?: boolean;
  generator?: Generator;
}

function toPair(v: IntPair, name: string, min: number): [number, number] {
  const p: [number, number] = typeof v === "number" ? [v, v] : [v[0], v[1]];
  if (p.some((x) => !Number.isInteger(x) || x < min)) throw new ValueError(`Conv2d: ${name} must be integer(s) ≥ ${min}, got ${JSON.stringify(v)}`);
  return p;
}

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | "same" | "valid";
  readonly dilation: [number, number];
  readonly groups: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(inChannels: number, outChannels: number, kernelSize: IntPair, opts: Conv2dOptions = {}) {
    super();
    const groups = opts.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1) throw new ValueError(`Conv2d: groups must be a positive integer, got ${groups}`);
    if (!Number.isInteger(inChannels) || inChannels < 1 || inChannels % groups !== 0) {
      throw new ValueError(`Conv2d: in_channels (${inChannels}) must be a positive multiple of groups (${groups})`);
    }
    if (!Number.isInteger(outChannels) || outChannels < 1 || outChannels % groups !== 0) {
      throw new ValueError(`Conv2d: out_channels (${outChannels}) must be a positive multiple of groups (${groups})`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = toPair(kernelSize, "kernelSize", 1);
    this.stride = toPair(opts.stride ?? 1, "stride", 1);
    const pad = opts.padding ?? 0;
    this.padding = pad === "same" || pad === "valid" ? pad : toPair(pad, "padding", 0);
    if (pad === "same" && (this.stride[0] !== 1 || this.stride[1] !== 1)) throw new ValueError("Conv2d: padding='same' is not supported for strided convolutions");
    this.dilation = toPair(opts.dilation ?? 1, "dilation", 1);
    this.groups = groups;
    const [kh, kw] = this.kernelSize;
    this.weight = this.registerParameter("weight", zeros([outChannels, inChannels / groups, kh, kw]));
    this.bias = this.registerParameter("bias", opts.bias === false ? null : zeros([outChannels]));
    defaultLayerInit(this.weight, this.bias, { generator: opts.generator });
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${pyTuple(this.kernelSize)}, stride=${pyTuple(this.stride)}`;
    const p = this.padding;
    if (typeof p === "string") s += `, padding=${p}`;
    else if (p[0] !== 0 || p[1] !== 0) s += `, padding=${pyTuple(p)}`;
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) s += `, dilation=${pyTuple(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += ", bias=False";
    return s;
  }
}
