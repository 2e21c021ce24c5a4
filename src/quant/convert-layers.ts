/**
 * Module calls → integer nodes, the part of `convert` that predates graphs: QAT conv/linear
 * layers (int8 weights w_q = round(w_fq / S_w), int32 bias on S_x·S_w, per-channel fixed-point
 * multipliers M = S_x·S_w / S_y), pools, activations as requantize + clamp, Add/Concat,
 * Sigmoid as a table, and a BatchNorm2d no conv precedes as a depthwise 1×1 conv. Also the
 * shared pieces: GraphBuilder (value ids and qparams) and quantizer parameter reading.
 * Called by ./convert.ts and ./convert-walk.ts.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { noGrad } from "../tensor/grad-mode.js";
import { GELU, Hardtanh, ReLU, Sigmoid, Tanh } from "../nn/layers/activation.js";
import { Dropout } from "../nn/layers/dropout.js";
import { BatchNorm2d } from "../nn/layers/batchnorm.js";
import { Identity } from "../nn/layers/linear.js";
import { Add, Concat } from "../nn/layers/merge.js";
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from "../nn/layers/pooling.js";
import { Flatten } from "../nn/layers/shape.js";
import type { Module } from "../nn/module.js";
import type { TraceNode } from "../nn/trace.js";
import type { Int8Node, LutFunction, QParams, ValueInfo } from "../int8/graph.js";
import { type Int8Tensors } from "../int8/model.js";
import { quantizeMultiplier } from "../int8/fixed-point.js";
import { roundHalfEven } from "../int8/kernels/quantize.js";
import { convRequant, lutTable, quantizeBias, qaddParams } from "../int8/kernels/params.js";
import { exp, sigmoid, tanh } from "../ops/unary.js";
import { gelu } from "../ops/nn-functional.js";
import { QatConv2d, QatConvBn2d, QatLinear, QatLinearBn1d, QatWeightLayer, type ActClamp } from "./qat-modules.js";
import { DeQuantStub, outputQuantizerOf } from "./stubs.js";

export interface QuantizerLike {
  scale: Tensor;
  zero_point: Tensor;
  quantMin: number;
  quantMax: number;
}

/** Scales, zero points and range of a (learnable) fake-quantizer. */
export function quantizerParams(q: Module, where: string): { scales: number[]; zps: number[]; qmin: number; qmax: number } {
  const f = q as unknown as Partial<QuantizerLike>;
  if (!(f.scale instanceof Tensor) || !(f.zero_point instanceof Tensor) || typeof f.quantMin !== "number" || typeof f.quantMax !== "number") {
    throw new NotSupportedError(`convert: quantizer at '${where}' (${q.constructor.name}) exposes no scale/zero_point/quantMin/quantMax`);
  }
  const { quantMin: qmin, quantMax: qmax } = f as QuantizerLike;
  const scales = Array.from(f.scale.data, (s) => Math.abs(s));
  const zps = Array.from(f.zero_point.data, (z) => Math.min(qmax, Math.max(qmin, roundHalfEven(z))));
  if (scales.some((s) => !(s > 0) || !Number.isFinite(s))) throw new ValueError(`convert: quantizer at '${where}' has a non-positive scale; run calibration or training first`);
  return { scales, zps, qmin, qmax };
}

export function activationQParams(q: Module, where: string): QParams {
  const p = quantizerParams(q, where);
  if (p.scales.length !== 1) throw new NotSupportedError(`convert: activation quantizer at '${where}' is per-channel; activations must be per-tensor`);
  const dtype = p.qmin >= 0 ? "uint8" : "int8";
  return { scale: Math.fround(p.scales[0]), zeroPoint: p.zps[0], dtype, qmin: p.qmin, qmax: p.qmax };
}

/** Output clamp: the quantizer range narrowed by a fused activation; bounds rounded half to even, as fake-quant rounds the clamped float. */
export function outputClamp(q: QParams, act: ActClamp | null): [number, number] {
  if (!act) return [q.qmin, q.qmax];
  const lo = Math.max(q.qmin, Math.min(q.qmax, q.zeroPoint + roundHalfEven(act.min / q.scale)));
  const hi = act.max === Infinity ? q.qmax : Math.max(lo, Math.min(q.qmax, q.zeroPoint + roundHalfEven(act.max / q.scale)));
  return [lo, hi];
}

export const pairOf = (real: number): [number, number] => {
  const m = quantizeMultiplier(real);
  return [m.multiplier, m.shift];
};

/** Builds the graph while walking the trace. */
export class GraphBuilder {
  readonly values = new Map<number, ValueInfo>();
  readonly nodes: Int8Node[] = [];
  readonly tensors: Int8Tensors = new Map();
  private count = 0;

  value(id: number, where: string): ValueInfo {
    const v = this.values.get(id);
    if (!v) throw new NotSupportedError(`convert: '${where}' consumes a tensor that is not quantized (is a module before it kept in float?)`);
    return v;
  }

  define(id: number, shape: readonly number[], q: QParams, source: string): ValueInfo {
    const v: ValueInfo = { id: `v${this.count++}`, shape: [-1, ...shape.slice(1)], q, source };
    this.values.set(id, v);
    return v;
  }

  alias(from: number, to: number): void {
    this.values.set(to, this.values.get(from)!);
  }
}

/** The float range an activation module keeps: ReLU [0, ∞), Hardtanh/ReLU6 [min, max]. */
export function actRange(m: ReLU | Hardtanh): ActClamp {
  return m instanceof Hardtanh ? { min: m.minVal, max: m.maxVal } : { min: 0, max: Infinity };
}

/** y = requantize(x) clamped to y's range narrowed by `act` (a standalone activation). */
export function pushRequantize(b: GraphBuilder, name: string, x: ValueInfo, y: ValueInfo, act: ActClamp | null): void {
  b.nodes.push({ op: "requantize", name, inputs: [x.id], output: y.id, multiplier: pairOf(x.q.scale / y.q.scale), clamp: outputClamp(y.q, act) });
}

/** The float function of each table (the op the float island would run). */
const LUT_OPS: Record<Exclude<LutFunction, "onnx">, (x: Tensor) => Tensor> = {
  sigmoid: (x) => sigmoid(x),
  tanh: (x) => tanh(x),
  gelu: (x) => gelu(x, "none"),
  gelu_tanh: (x) => gelu(x, "tanh"),
  exp: (x) => exp(x),
};

/**
 * y = f(x) as a 256-entry table: exactly what the float island DQ → f → Q computes, with
 * integers only. `module` is the elementwise module of an imported ONNX op (fn "onnx").
 */
export function pushLut(b: GraphBuilder, name: string, x: ValueInfo, y: ValueInfo, fn: LutFunction, module?: Module & { opType: string }): void {
  const key = `${name}.table`;
  const op = fn === "onnx" ? (t: Tensor) => module!.forward(t) : LUT_OPS[fn];
  const f = (xs: Float32Array) => Float32Array.from(noGrad(() => op(new Tensor(xs, [xs.length]))).data as ArrayLike<number>);
  const clamp: [number, number] = [y.q.qmin, y.q.qmax];
  b.tensors.set(key, lutTable(x.q, y.q, clamp, f));
  b.nodes.push({ op: "lut", name, inputs: [x.id], output: y.id, fn, table: key, clamp, ...(module ? { opType: module.opType } : {}) });
}

/** ONNX ops that are elementwise functions of one input with constant attributes: a table when their input is 8-bit. */
export const TABLE_ONNX_OPS = new Set(["LeakyRelu", "HardSwish", "HardSigmoid", "Tanh", "Sigmoid", "Exp", "Erf", "Softplus", "Softsign", "Elu", "Selu", "Celu", "ThresholdedRelu", "Gelu", "Mish", "Neg", "Abs", "Sqrt", "Reciprocal", "Log", "Sin", "Cos", "Floor", "Ceil", "Round", "Sign"]);

/** y = x + xb with TFLite-style rescaling multipliers. */
export function pushAdd(b: GraphBuilder, name: string, x: ValueInfo, xb: ValueInfo, y: ValueInfo): void {
  const p = qaddParams(x.q.scale, xb.q.scale, y.q.scale);
  const mp = (q: { multiplier: number; shift: number }): [number, number] => [q.multiplier, q.shift];
  b.nodes.push({ op: "add", name, inputs: [x.id, xb.id], output: y.id, aMultiplier: mp(p.aMultiplier), bMultiplier: mp(p.bMultiplier), outMultiplier: mp(p.outMultiplier), leftShift: p.leftShift, clamp: [y.q.qmin, y.q.qmax] });
}

/** y = concat(ins, axis), each input rescaled to y's parameters unless already on them. */
export function pushConcat(b: GraphBuilder, name: string, ins: ValueInfo[], y: ValueInfo, axis: number): void {
  const multipliers = ins.map((v) => (v.q.scale === y.q.scale && v.q.zeroPoint === y.q.zeroPoint ? null : pairOf(v.q.scale / y.q.scale)));
  b.nodes.push({ op: "concat", name, inputs: ins.map((v) => v.id), output: y.id, axis, multipliers });
}

export function addWeightLayer(b: GraphBuilder, n: TraceNode, m: QatWeightLayer, out?: { fq: Module; where: string }): void {
  const x = b.value(n.inputs[0], n.path);
  // a layer called more than once has one quantizer node per call (`out`) instead of its own child
  const fq = out?.fq ?? outputQuantizerOf(m);
  if (!fq) throw new NotSupportedError(`convert: layer '${n.path}' has no output quantizer`);
  const y = b.define(n.output, n.outputShape, activationQParams(fq, out?.where ?? `${n.path}.activation_post_process`), n.path);
  const wq = quantizerParams(m.weight_fake_quant, `${n.path}.weight_fake_quant`);
  const wf = noGrad(() => m.quantizedWeight());
  const biasF = m instanceof QatConvBn2d || m instanceof QatLinearBn1d ? m.foldedBias() : m.bias ? m.bias.data : null;
  const common = weightLayerFields(b, n.path || "layer", n.path, x, y, wf, wq, biasF, m.act);
  if (m instanceof QatConv2d || m instanceof QatConvBn2d) {
    const g = m.geometry;
    if (typeof g.padding === "string") throw new NotSupportedError(`convert: '${n.path}' uses padding='${g.padding}'; give explicit padding`);
    b.nodes.push({ ...common, op: "conv2d", stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups });
  } else if (m instanceof QatLinear || m instanceof QatLinearBn1d) {
    if (m instanceof QatLinearBn1d && n.inputShapes[0].length !== 2) throw new NotSupportedError(`convert: linear+bn '${n.path}' needs 2-D input, got rank ${n.inputShapes[0].length}`);
    b.nodes.push({ ...common, op: "linear" });
  }
}

/**
 * The integer weight-layer fields shared by conv and linear (module or functional): int8
 * weights w_q = clamp(round(w_fq / S_w[c]) + Z_w[c]), the int32 bias on S_x·S_w[c], per-channel
 * multipliers S_x·S_w[c]/S_y and the output clamp; the tensors go in the builder's table under `key`.
 */
export function weightLayerFields(
  b: GraphBuilder, key: string, name: string, x: ValueInfo, y: ValueInfo, wf: Tensor,
  wq: { scales: number[]; zps: number[]; qmin: number; qmax: number }, biasF: ArrayLike<number> | null, act: ActClamp | null,
) {
  const oc = wf.shape[0];
  const per = wf.size / oc;
  const sw = wq.scales.length === 1 ? new Array<number>(oc).fill(wq.scales[0]) : wq.scales;
  const zw = wq.zps.length === 1 ? new Array<number>(oc).fill(wq.zps[0]) : wq.zps;
  if (sw.length !== oc) throw new ValueError(`convert: '${name}' has ${oc} output channels but its weight quantizer has ${sw.length} scales`);
  const wInt = new Int8Array(wf.size);
  for (let c = 0; c < oc; c++) {
    for (let k = 0; k < per; k++) wInt[c * per + k] = Math.min(wq.qmax, Math.max(wq.qmin, roundHalfEven(wf.data[c * per + k] / sw[c]) + zw[c]));
  }
  b.tensors.set(`${key}.weight`, wInt);
  // Symmetric weights have zero points 0; PyTorch's fused observer gives a one-signed channel
  // an affine zero point (e.g. 127), which the kernels subtract while packing.
  const hasZp = zw.some((z) => z !== 0);
  if (hasZp) b.tensors.set(`${key}.weight_zero_point`, Int32Array.from(zw));
  if (biasF) b.tensors.set(`${key}.bias`, quantizeBias(biasF, x.q.scale, sw));
  const rq = convRequant(x.q.scale, sw, y.q.scale);
  b.tensors.set(`${key}.multiplier`, rq.multiplier);
  b.tensors.set(`${key}.shift`, rq.shift);
  const bits = Math.ceil(Math.log2(wq.qmax - wq.qmin + 1));
  return {
    name, inputs: [x.id], output: y.id, weight: `${key}.weight`, wShape: [...wf.shape], bias: biasF ? `${key}.bias` : null,
    requant: { multiplier: `${key}.multiplier`, shift: `${key}.shift` }, clamp: outputClamp(y.q, act), wScales: sw, weightBits: bits,
    ...(hasZp ? { wZeroPoints: `${key}.weight_zero_point` } : {}),
  };
}

export function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

/** Converts one traced call; returns false if the module is not handled here. */
export function addNode(b: GraphBuilder, n: TraceNode): void {
  const m = n.module;
  if (m instanceof QatWeightLayer) return addWeightLayer(b, n, m);
  if (m instanceof Identity || m instanceof Dropout || m instanceof DeQuantStub) return b.alias(n.inputs[0], n.output);
  const x = b.value(n.inputs[0], n.path);
  const fq = outputQuantizerOf(m);
  const own = () => b.define(n.output, n.outputShape, activationQParams(fq!, `${n.path}.activation_post_process`), n.path);
  if (m instanceof MaxPool2d) {
    const y = b.define(n.output, n.outputShape, x.q, n.path);
    b.nodes.push({ op: "maxpool2d", name: n.path, inputs: [x.id], output: y.id, kernel: pair(m.kernelSize), stride: pair(m.stride), padding: pair(m.padding), dilation: pair(m.dilation), ceilMode: m.ceilMode });
    return;
  }
  if (m instanceof Flatten) {
    if (m.endDim !== -1 && m.endDim !== n.inputShapes[0].length - 1) throw new NotSupportedError(`convert: Flatten '${n.path}' must flatten to the last dim`);
    const y = b.define(n.output, n.outputShape, x.q, n.path);
    b.nodes.push({ op: "flatten", name: n.path, inputs: [x.id], output: y.id, startDim: m.startDim });
    return;
  }
  if (!fq) throw new NotSupportedError(`convert: module '${n.path}' (${m.constructor.name}) has no integer implementation or output quantizer (kept in float, or not fused?)`);
  const y = own();
  if (m instanceof ReLU || m instanceof Hardtanh) {
    pushRequantize(b, n.path, x, y, actRange(m));
  } else if (m instanceof BatchNorm2d) {
    addBatchNorm(b, n, m, x, y);
  } else if (m instanceof Sigmoid || m instanceof Tanh || m instanceof GELU) {
    pushLut(b, n.path, x, y, m instanceof Sigmoid ? "sigmoid" : m instanceof Tanh ? "tanh" : m.approximate === "tanh" ? "gelu_tanh" : "gelu");
  } else if (m instanceof Add) {
    pushAdd(b, n.path, x, b.value(n.inputs[1], n.path), y);
  } else if (m instanceof Concat) {
    pushConcat(b, n.path, n.inputs.map((id) => b.value(id, n.path)), y, m.dim < 0 ? m.dim + n.outputShape.length : m.dim);
  } else if (m instanceof AdaptiveAvgPool2d && n.outputShape[2] === 1 && n.outputShape[3] === 1) {
    const hw = n.inputShapes[0][2] * n.inputShapes[0][3];
    b.nodes.push({ op: "globalavgpool", name: n.path, inputs: [x.id], output: y.id, multiplier: pairOf(x.q.scale / (y.q.scale * hw)), clamp: [y.q.qmin, y.q.qmax] });
  } else if (m instanceof AvgPool2d) {
    const mid = b.define(-n.output - 1, n.outputShape, x.q, `${n.path}#pooled`);
    b.nodes.push({ op: "avgpool2d", name: n.path, inputs: [x.id], output: mid.id, kernel: pair(m.kernelSize), stride: pair(m.stride), padding: pair(m.padding), ceilMode: m.ceilMode, countIncludePad: m.countIncludePad });
    pushRequantize(b, `${n.path}.requant`, mid, y, null);
  } else {
    throw new NotSupportedError(`convert: module '${n.path}' (${m.constructor.name}) has no integer implementation`);
  }
}

/**
 * A BatchNorm2d not fused into a conv (e.g. BN → ReLU → conv), with running statistics, is the
 * per-channel affine y = a_c·x + b_c, a_c = γ_c/√(σ²_c + ε), b_c = β_c − μ_c·a_c — emitted as a
 * depthwise 1×1 integer convolution: weight ±127 (0 when a_c = 0) with scale |a_c|/127, int32
 * bias b_c on the grid Sx·Sw_c, the usual requantization (PyTorch's quantized BatchNorm2d
 * computes the same affine map).
 */
export function addBatchNorm(b: GraphBuilder, n: TraceNode, m: BatchNorm2d, x: ValueInfo, y: ValueInfo): void {
  if (!m.running_mean || !m.running_var) throw new NotSupportedError(`convert: BatchNorm2d '${n.path}' has no running statistics (track_running_stats=false)`);
  const c = m.numFeatures;
  const a = new Array<number>(c), bias = new Float64Array(c), scales = new Array<number>(c);
  const w = new Int8Array(c);
  for (let i = 0; i < c; i++) {
    a[i] = (m.weight ? m.weight.data[i] : 1) / Math.sqrt(m.running_var.data[i] + m.eps);
    bias[i] = (m.bias ? m.bias.data[i] : 0) - m.running_mean.data[i] * a[i];
    w[i] = a[i] > 0 ? 127 : a[i] < 0 ? -127 : 0;
    scales[i] = a[i] !== 0 ? Math.abs(a[i]) / 127 : 1;
  }
  const key = n.path || "batchnorm";
  const rq = convRequant(x.q.scale, scales, y.q.scale);
  b.tensors.set(`${key}.weight`, w);
  b.tensors.set(`${key}.bias`, quantizeBias(bias, x.q.scale, scales));
  b.tensors.set(`${key}.multiplier`, rq.multiplier);
  b.tensors.set(`${key}.shift`, rq.shift);
  b.nodes.push({
    op: "conv2d", name: n.path, inputs: [x.id], output: y.id, weight: `${key}.weight`, wShape: [c, 1, 1, 1], bias: `${key}.bias`,
    requant: { multiplier: `${key}.multiplier`, shift: `${key}.shift` }, clamp: [y.q.qmin, y.q.qmax], wScales: scales, weightBits: 8,
    stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: c,
  });
}
