/**
 * Pooling modules: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (torch.nn equivalents; no state).
 * Arguments are kept as given for the repr, as PyTorch does (`kernel_size=2`).
 */
import type { Tensor } from "../../tensor/tensor.js";
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from "../../ops/pool.js";
import { Module } from "../module.js";
import { pyBool, pyIntOrTuple } from "../repr.js";

export type IntPair = number | readonly [number, number];

export interface MaxPool2dOptions {
  /** Default: kernelSize. */
  stride?: IntPair | null;
  padding?: IntPair;
  dilation?: IntPair;
  ceilMode?: boolean;
}

export class MaxPool2d extends Module {
  readonly kernelSize: IntPair;
  readonly stride: IntPair;
  readonly padding: IntPair;
  readonly dilation: IntPair;
  readonly ceilMode: boolean;

  constructor(kernelSize: IntPair, opts: MaxPool2dOptions = {}) {
    super();
    this.kernelSize = kernelSize;
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.ceilMode = opts.ceilMode ?? false;
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode });
  }

  override extraRepr(): string {
    const f = pyIntOrTuple;
    return `kernel_size=${f(this.kernelSize)}, stride=${f(this.stride)}, padding=${f(this.padding)}, dilation=${f(this.dilation)}, ceil_mode=${pyBool(this.ceilMode)}`;
  }
}

export interface AvgPool2dOptions {
  /** Default: kernelSize. */
  stride?: IntPair | null;
  padding?: IntPair;
  ceilMode?: boolean;
  /** Padded cells count in the divisor (default true). */
  countIncludePad?: boolean;
}

export class AvgPool2d extends Module {
  readonly kernelSize: IntPair;
  readonly stride: IntPair;
  readonly padding: IntPair;
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;

  constructor(kernelSize: IntPair, opts: AvgPool2dOptions = {}) {
    super();
    this.kernelSize = kernelSize;
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.ceilMode = opts.ceilMode ?? false;
    this.countIncludePad = opts.countIncludePad ?? true;
  }

  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding, ceilMode: this.ceilMode, countIncludePad: this.countIncludePad });
  }

  override extraRepr(): string {
    return `kernel_size=${pyIntOrTuple(this.kernelSize)}, stride=${pyIntOrTuple(this.stride)}, padding=${pyIntOrTuple(this.padding)}`;
  }
}

/** Averages each channel down to outputSize (1 = global average pooling). */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: number | readonly [number | null, number | null];

  constructor(outputSize: number | readonly [number | null, number | null]) {
    super();
    this.outputSize = outputSize;
  }

  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }

  override extraRepr(): string {
    const o = this.outputSize;
    return `output_size=${typeof o === "number" ? o : `(${o.map((v) => (v === null ? "None" : v)).join(", ")})`}`;
  }
}
