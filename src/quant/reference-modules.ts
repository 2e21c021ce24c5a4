/**
 * The modules of a reference quantized graph (PyTorch's quantize_per_tensor / dequantize nodes
 * and torch.ao.nn.quantized.reference modules; ONNX QuantizeLinear / DequantizeLinear), all in
 * float32, no autograd:
 *
 *   QuantizeLinear     q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax)  (codes held in float32)
 *   DequantizeLinear   x = (q − zero_point) · scale
 *   ReferenceConv2d / ReferenceLinear
 *                      float conv / linear on DQ(w_q) (per output channel) and DQ(b_q) with
 *                      bias scale fround(S_x · S_w[c]); the integer weights and bias are the
 *                      ones convert computes (weight_q, bias_q buffers). A fused ReLU is a
 *                      separate node after it in the graph.
 * Built by ./reference.ts, read back by ./reference-lower.ts.
 */
import { Tensor } from "../tensor/tensor.js";
import { Module } from "../nn/module.js";
import { noGrad } from "../tensor/grad-mode.js";
import { conv2d } from "../ops/conv.js";
import { linear } from "../ops/matmul.js";
import { roundHalfEven } from "../int8/kernels/quantize.js";
import type { QParams } from "../int8/graph.js";

const f32 = (xs: ArrayLike<number>) => Float32Array.from(xs);

/** ONNX QuantizeLinear (per tensor) in float32: integer codes as float32 values. */
export class QuantizeLinear extends Module {
  declare scale: Tensor;
  declare zero_point: Tensor;
  readonly qmin: number;
  readonly qmax: number;
  readonly dtype: "uint8" | "int8";

  constructor(q: QParams) {
    super();
    this.registerBuffer("scale", new Tensor(Float32Array.of(q.scale), [1]));
    this.registerBuffer("zero_point", new Tensor(Int32Array.of(q.zeroPoint), [1]));
    this.qmin = q.qmin;
    this.qmax = q.qmax;
    this.dtype = q.dtype;
  }

  /** The value's quantization parameters. */
  get qparams(): QParams {
    return { scale: this.scale.data[0], zeroPoint: this.zero_point.data[0], dtype: this.dtype, qmin: this.qmin, qmax: this.qmax };
  }

  forward(x: Tensor): Tensor {
    const s = this.scale.data[0];
    const z = this.zero_point.data[0];
    const out = new Float32Array(x.size);
    for (let i = 0; i < x.size; i++) out[i] = Math.min(this.qmax, Math.max(this.qmin, roundHalfEven(Math.fround(x.data[i] / s)) + z));
    return new Tensor(out, [...x.shape]);
  }

  override extraRepr(): string {
    return `scale=${this.scale.data[0]}, zero_point=${this.zero_point.data[0]}, [${this.qmin}, ${this.qmax}]`;
  }
}

/** ONNX DequantizeLinear (per tensor) in float32. */
export class DequantizeLinear extends Module {
  declare scale: Tensor;
  declare zero_point: Tensor;

  constructor(q: QParams) {
    super();
    this.registerBuffer("scale", new Tensor(Float32Array.of(q.scale), [1]));
    this.registerBuffer("zero_point", new Tensor(Int32Array.of(q.zeroPoint), [1]));
  }

  forward(q: Tensor): Tensor {
    const s = this.scale.data[0];
    const z = this.zero_point.data[0];
    const out = new Float32Array(q.size);
    for (let i = 0; i < q.size; i++) out[i] = Math.fround((q.data[i] - z) * s);
    return new Tensor(out, [...q.shape]);
  }

  override extraRepr(): string {
    return `scale=${this.scale.data[0]}, zero_point=${this.zero_point.data[0]}`;
  }
}

/** What a reference weight layer holds: integer weight and bias with their scales. */
export interface ReferenceWeights {
  /** int8 codes, [out, …]. */
  weightQ: Int8Array;
  wShape: number[];
  wScales: number[];
  wZeroPoints: number[];
  /** int32 codes (or null) and their scales fround(S_x·S_w[c]). */
  biasQ: Int32Array | null;
  biasScales: number[];
  /** The quantizer range of the weights (for lowering). */
  wQmin: number;
  wQmax: number;
}

abstract class ReferenceWeightLayer extends Module {
  static traceAtomic = true;
  declare weight_q: Tensor;
  declare weight_scale: Tensor;
  declare weight_zero_point: Tensor;
  declare bias_q: Tensor | null;
  declare bias_scale: Tensor;
  /** DQ(w_q), DQ(b_q) in float32. */
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly wQmin: number;
  readonly wQmax: number;

  constructor(w: ReferenceWeights) {
    super();
    const oc = w.wShape[0];
    const per = w.weightQ.length / oc;
    this.registerBuffer("weight_q", new Tensor(Int32Array.from(w.weightQ), [...w.wShape]));
    this.registerBuffer("weight_scale", new Tensor(f32(w.wScales), [oc]));
    this.registerBuffer("weight_zero_point", new Tensor(Int32Array.from(w.wZeroPoints), [oc]));
    this.registerBuffer("bias_q", w.biasQ ? new Tensor(Int32Array.from(w.biasQ), [oc]) : null);
    this.registerBuffer("bias_scale", new Tensor(f32(w.biasScales), [oc]));
    const wf = new Float32Array(w.weightQ.length);
    for (let c = 0; c < oc; c++) for (let k = 0; k < per; k++) wf[c * per + k] = Math.fround((w.weightQ[c * per + k] - w.wZeroPoints[c]) * w.wScales[c]);
    this.weight = new Tensor(wf, [...w.wShape]);
    this.bias = w.biasQ ? new Tensor(Float32Array.from(w.biasQ, (b, c) => b * w.biasScales[c]), [oc]) : null;
    this.wQmin = w.wQmin;
    this.wQmax = w.wQmax;
  }
}

export interface ReferenceConvGeometry {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export class ReferenceConv2d extends ReferenceWeightLayer {
  constructor(w: ReferenceWeights, readonly geometry: ReferenceConvGeometry) {
    super(w);
  }

  forward(x: Tensor): Tensor {
    const g = this.geometry;
    return noGrad(() => conv2d(x, this.weight, this.bias, { stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups }));
  }
}

export class ReferenceLinear extends ReferenceWeightLayer {
  forward(x: Tensor): Tensor {
    return noGrad(() => linear(x, this.weight, this.bias));
  }
}

export const isReferenceWeightLayer = (m: Module): m is ReferenceConv2d | ReferenceLinear => m instanceof ReferenceConv2d || m instanceof ReferenceLinear;
