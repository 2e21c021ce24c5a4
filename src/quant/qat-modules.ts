/**
 * QAT versions of the quantizable layers (PyTorch torch.ao.nn.qat / nn.intrinsic.qat):
 *
 * - `QatConv2d`, `QatLinear`: the float computation with the weight passed through
 *   `weight_fake_quant`, optionally followed by a fused ReLU/ReLU6 clamp.
 * - `QatConvBn2d`: conv→BN(→act) with simulated BN folding, exactly PyTorch's
 *   `_ConvBnNd._forward_approximate`:
 *
 *       σ_run = sqrt(running_var + ε),   s = γ / σ_run                       (per out channel)
 *       W_fold = fq(W · s)                                                  (fake-quantized folded weight)
 *       y_conv = conv(x, W_fold) / s  (+ conv bias)                          (undo the scale: "conv_orig")
 *       y = BN(y_conv)  — batch statistics while training and not frozen, running ones after
 *
 *   While BN uses batch statistics, BN(y_conv) = γ·(conv(x, fq(W·s))/s − μ_B)/σ_B + β, so the
 *   weights are quantized as they will be after folding, and once BN is frozen the output is
 *   exactly conv(x, fq(W·s)) + (β − γ·μ_run/σ_run) — the folded integer model.
 *   `freezeBnStats()` switches BN to running statistics for good (train() no longer
 *   changes it), like torch.ao.nn.intrinsic.qat.freeze_bn_stats.
 *
 * Parameters keep the float modules' tensors and PyTorch's names (weight, bias, bn.weight,
 * bn.running_mean, weight_fake_quant.scale, …). Created by src/quant/prepare.ts; read by
 * src/quant/convert.ts and src/onnx.
 */
import { ValueError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { mul, div, add, sub } from "../ops/binary.js";
import { conv2d, conv2dAct } from "../ops/conv.js";
import type { FusedAct } from "../ops/fused-act.js";
import { reshape } from "../ops/layout.js";
import { linear, linearAct } from "../ops/matmul.js";
import { hardtanh, neg, reciprocal, relu, sqrt } from "../ops/unary.js";
import { channelAffine } from "../ops/channel-affine.js";
import { Hardtanh } from "../nn/layers/activation.js";
import type { BatchNorm1d, BatchNorm2d } from "../nn/layers/batchnorm.js";
import type { Conv2d } from "../nn/layers/conv.js";
import type { Linear } from "../nn/layers/linear.js";
import { Module } from "../nn/module.js";
import { defineOp } from "../autograd/custom.js";
import { Tensor as TensorClass } from "../tensor/tensor.js";
import { isCapturing } from "../tensor/capture-hook.js";
import { quantizeBias } from "../int8/kernels/params.js";
import { quantizerOfTensor } from "./stubs.js";

/**
 * Bias on the int32 grid S_x·S_w[c] (what convert stores), straight-through gradient:
 *   b_fq[c] = roundHalfEven(b[c] / fround(S_x·S_w[c])) · fround(S_x·S_w[c])
 */
const biasFakeQuant = defineOp<null>({
  name: "biasFakeQuant",
  forward([b, sx, sw]) {
    const scales = sw.data;
    const q = quantizeBias(b.data, sx.data[0], scales);
    const out = new TensorClass(b.data.slice(), b.shape);
    for (let c = 0; c < q.length; c++) out.data[c] = q[c] * Math.fround(Math.fround(sx.data[0]) * Math.fround(scales[scales.length === 1 ? 0 : c]));
    return { output: out, saved: null };
  },
  backward: (g) => [g, null, null],
});

/** Scale and fake-quant state of a quantizer module (duck-typed FakeQuantize / LSQ). */
interface GridQuantizer {
  scale: Tensor;
  fake_quant_enabled?: Tensor;
}

/**
 * The bias as the integer model will add it, when the input's grid is known (the input came
 * from an output quantizer) and the weight quantizer is active; otherwise b unchanged.
 */
export function simulatedBias(bias: Tensor, input: Tensor, weightFakeQuant: Module): Tensor {
  const xq = quantizerOfTensor(input) as unknown as GridQuantizer | null;
  const wq = weightFakeQuant as unknown as GridQuantizer;
  if (!xq || !(wq.scale instanceof TensorClass) || wq.fake_quant_enabled?.data[0] !== 1) return bias;
  const sx = new TensorClass(Float64Array.of(Math.abs(xq.scale.data[0])), [1]);
  const sw = new TensorClass(Float64Array.from(wq.scale.data, Math.abs), [wq.scale.size]);
  if (sw.size !== 1 && sw.size !== bias.size) return bias;
  return biasFakeQuant(bias, sx, sw);
}

/** The clamp a fused activation applies: ReLU = [0, ∞), ReLU6 = [0, 6]. */
export interface ActClamp {
  min: number;
  max: number;
}

/** The clamp of a fusable activation module (ReLU, ReLU6, Hardtanh(0, x)). */
export function actClampOf(act: Module | null): ActClamp | null {
  if (!act) return null;
  if (act instanceof Hardtanh) return { min: act.minVal, max: act.maxVal };
  return { min: 0, max: Infinity };
}

function applyAct(y: Tensor, act: ActClamp | null): Tensor {
  if (!act) return y;
  return act.max === Infinity ? relu(y) : hardtanh(y, act.min, act.max);
}

/** The same activation as applyAct, for the conv/linear kernels' fused epilogue (bitwise the same values and gradients). */
function fusedAct(act: ActClamp | null): FusedAct | null {
  if (!act) return null;
  return act.max === Infinity ? { kind: "relu" } : { kind: "hardtanh", min: act.min, max: act.max };
}

/** Conv geometry copied from a float Conv2d. */
export interface ConvGeometry {
  inChannels: number;
  outChannels: number;
  kernelSize: [number, number];
  stride: [number, number];
  padding: [number, number] | "same" | "valid";
  dilation: [number, number];
  groups: number;
}

function geometryOf(c: Conv2d): ConvGeometry {
  return { inChannels: c.inChannels, outChannels: c.outChannels, kernelSize: c.kernelSize, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups };
}

/** Common shape of the QAT weight layers: weight, bias, weight_fake_quant, fused clamp. */
export abstract class QatWeightLayer extends Module {
  static traceAtomic = true;
  weight: Tensor;
  bias: Tensor | null;
  weight_fake_quant: Module;
  act: ActClamp | null;

  constructor(weight: Tensor, bias: Tensor | null, weightFakeQuant: Module, act: ActClamp | null) {
    super();
    this.weight = this.registerParameter("weight", weight);
    this.bias = this.registerParameter("bias", bias);
    this.weight_fake_quant = this.registerModule("weight_fake_quant", weightFakeQuant);
    this.act = act;
  }

  /** The weight as the integer model will see it (float-valued, on the quantization grid). */
  abstract quantizedWeight(): Tensor;
}

export class QatConv2d extends QatWeightLayer {
  readonly geometry: ConvGeometry;

  constructor(conv: Conv2d, weightFakeQuant: Module, act: ActClamp | null = null) {
    super(conv.weight, conv.bias, weightFakeQuant, act);
    this.geometry = geometryOf(conv);
  }

  forward(x: Tensor): Tensor {
    const g = this.geometry;
    const w = this.weight_fake_quant.forward(this.weight);
    const b = this.bias ? simulatedBias(this.bias, x, this.weight_fake_quant) : null;
    return conv2dAct(x, w, b, { stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups }, fusedAct(this.act));
  }

  quantizedWeight(): Tensor {
    return this.weight_fake_quant.forward(this.weight);
  }
}

export class QatLinear extends QatWeightLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;

  /** Run-time input quantizer of the dynamic qconfigs (quant/dynamic-qconfig.ts), when the weight quantizer names one. */
  declare input_fake_quant?: Module;

  constructor(lin: Linear, weightFakeQuant: Module, act: ActClamp | null = null) {
    super(lin.weight, lin.bias, weightFakeQuant, act);
    this.inFeatures = lin.inFeatures;
    this.outFeatures = lin.outFeatures;
    // a weight quantizer that knows the layer (grouped weights: LSQ scales sized from the weight, so a
    // checkpoint loads before any forward) may name a run-time input quantizer for it (dynamic qconfigs)
    const bind = (weightFakeQuant as { bindLinear?: (weight: Tensor) => Module | null }).bindLinear;
    const input = bind ? bind.call(weightFakeQuant, lin.weight) : null;
    if (input) this.registerModule("input_fake_quant", input);
  }

  forward(x: Tensor): Tensor {
    if (this.input_fake_quant) x = this.input_fake_quant.forward(x);
    const w = this.weight_fake_quant.forward(this.weight);
    const b = this.bias ? simulatedBias(this.bias, x, this.weight_fake_quant) : null;
    return linearAct(x, w, b, fusedAct(this.act));
  }

  quantizedWeight(): Tensor {
    return this.weight_fake_quant.forward(this.weight);
  }
}

/** Shared BN-folding logic for conv (NCHW, weight OIHW) and linear ([N, F], weight [O, I]). */
abstract class QatBnFolded extends QatWeightLayer {
  bn: BatchNorm2d | BatchNorm1d;
  /** True after freezeBnStats(): BN uses running statistics from then on. */
  freezeBn = false;

  constructor(weight: Tensor, bias: Tensor | null, bn: BatchNorm2d | BatchNorm1d, weightFakeQuant: Module, act: ActClamp | null) {
    super(weight, bias, weightFakeQuant, act);
    if (!bn.runningVar || !bn.runningMean) throw new ValueError("QAT conv-bn fusion needs a BatchNorm with running statistics");
    this.bn = this.registerModule("bn", bn);
  }

  /** s = γ / sqrt(running_var + ε) per output channel. */
  protected scaleFactor(): Tensor {
    const std = sqrt(add(this.bn.runningVar!, this.bn.eps));
    return this.bn.weight ? div(this.bn.weight, std) : div(1, std);
  }

  /** Folded, fake-quantized weight fq(W·s) and the scale s used to fold it. */
  protected foldedWeight(): { w: Tensor; s: Tensor } {
    const s = this.scaleFactor();
    const wShape = [this.weight.shape[0], ...this.weight.shape.slice(1).map(() => 1)];
    return { w: this.weight_fake_quant.forward(mul(this.weight, reshape(s, wShape))), s };
  }

  /** y_conv → BN → act, y_conv already divided by s. */
  protected finish(yConv: Tensor, s: Tensor): Tensor {
    // y_conv / s (+ conv bias) in one pass (ops.channelAffine with scale 1/s).
    const y = channelAffine(yConv, reciprocal(s), this.bias);
    // BN → ReLU as one op (the same values and gradients, bit for bit) unless the BN module is observed
    if (this.act?.max === Infinity && !this.bn.hasForwardHooks() && !isCapturing()) return this.bn.forwardAct(y, "relu");
    return applyAct(this.bn.forward(y), this.act);
  }

  quantizedWeight(): Tensor {
    return this.foldedWeight().w;
  }

  /** β + s·(b − μ_run) as a differentiable tensor (BN on running statistics). */
  protected foldedBiasTensor(s: Tensor): Tensor {
    const centered = this.bias ? sub(this.bias, this.bn.runningMean!) : neg(this.bn.runningMean!);
    const scaled = mul(s, centered);
    return this.bn.bias ? add(this.bn.bias, scaled) : scaled;
  }

  /**
   * With BN on running statistics (frozen, or eval) the layer computes the folded form
   * directly — y = conv(x, fq(W·s)) + b_fold, b_fold on the int32 grid when the input grid is
   * known — which is what convert produces. Same function (and gradients) as the BN path,
   * plus the bias rounding.
   */
  protected runningForm(x: Tensor, w: Tensor, s: Tensor, layer: (x: Tensor, w: Tensor, b: Tensor, act: FusedAct | null) => Tensor): Tensor | null {
    if (this.bn.training) return null;
    const b = simulatedBias(this.foldedBiasTensor(s), x, this.weight_fake_quant);
    return layer(x, w, b, fusedAct(this.act));
  }

  /**
   * The bias of the folded layer: β − γ·μ_run/σ_run + s·b (b = conv bias or 0). Used by
   * convert once BN statistics are final.
   */
  foldedBias(): Float64Array {
    const n = this.weight.shape[0];
    const bn = this.bn;
    const out = new Float64Array(n);
    for (let c = 0; c < n; c++) {
      const std = Math.sqrt(bn.runningVar!.data[c] + bn.eps);
      const gamma = bn.weight ? bn.weight.data[c] : 1;
      const beta = bn.bias ? bn.bias.data[c] : 0;
      const b = this.bias ? this.bias.data[c] : 0;
      out[c] = beta + (gamma / std) * (b - bn.runningMean!.data[c]);
    }
    return out;
  }

  freezeBnStats(): this {
    this.freezeBn = true;
    this.bn.train(false);
    return this;
  }

  updateBnStats(): this {
    this.freezeBn = false;
    this.bn.train(this.training);
    return this;
  }

  override train(mode = true): this {
    this.training = mode;
    this.weight_fake_quant.train(mode);
    for (const [name, m] of this.namedChildren()) if (name !== "bn" && name !== "weight_fake_quant") m.train(mode);
    if (!this.freezeBn) this.bn.train(mode);
    return this;
  }
}

export class QatConvBn2d extends QatBnFolded {
  readonly geometry: ConvGeometry;

  constructor(conv: Conv2d, bn: BatchNorm2d, weightFakeQuant: Module, act: ActClamp | null = null) {
    super(conv.weight, conv.bias, bn, weightFakeQuant, act);
    this.geometry = geometryOf(conv);
  }

  forward(x: Tensor): Tensor {
    const g = this.geometry;
    const { w, s } = this.foldedWeight();
    const opts = { stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups };
    const folded = this.runningForm(x, w, s, (xx, ww, bb, act) => conv2dAct(xx, ww, bb, opts, act));
    if (folded) return folded;
    return this.finish(conv2d(x, w, null, opts), s);
  }
}

export class QatLinearBn1d extends QatBnFolded {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(lin: Linear, bn: BatchNorm1d, weightFakeQuant: Module, act: ActClamp | null = null) {
    super(lin.weight, lin.bias, bn, weightFakeQuant, act);
    this.inFeatures = lin.inFeatures;
    this.outFeatures = lin.outFeatures;
  }

  forward(x: Tensor): Tensor {
    const { w, s } = this.foldedWeight();
    return this.runningForm(x, w, s, linearAct) ?? this.finish(linear(x, w, null), s);
  }
}

/** Is `m` one of the BN-folding QAT modules? */
export function isBnFolded(m: Module): m is QatConvBn2d | QatLinearBn1d {
  return m instanceof QatBnFolded;
}
