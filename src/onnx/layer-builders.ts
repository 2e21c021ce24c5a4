/**
 * Import rules that turn an ONNX node into a standard layer: Conv→Conv2d, Gemm / MatMul with
 * a constant weight→Linear, BatchNormalization→BatchNorm2d (after Conv) / BatchNorm1d (after
 * Gemm, MatMul, Flatten) / OnnxBatchNorm, Relu→ReLU, Clip→ReLU6 / ReLU / Hardtanh, Sigmoid,
 * MaxPool→MaxPool2d, AveragePool→AvgPool2d, GlobalAveragePool→AdaptiveAvgPool2d(1),
 * Flatten(axis 1)→Flatten, Add→nn.Add and Concat→nn.Concat between computed tensors,
 * Dropout→Dropout. Conv with explicit asymmetric pads becomes Sequential(zero Pad, Conv2d).
 * Attributes are validated; what a layer cannot express (auto_pad SAME with strides,
 * 1-D kernels, a weight computed at run time) falls back to the functional kernels of
 * onnx-ops-conv.ts; `null` means "use a generic OnnxOp".
 * Weights are copied in; an initializer used by several layers stays one shared parameter.
 * Called by import.ts.
 */
import { FormatError, NotSupportedError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { pad } from "../ops/layout.js";
import { Hardtanh, ReLU, ReLU6, Sigmoid } from "../nn/layers/activation.js";
import { BatchNorm1d, BatchNorm2d, type BatchNormBase } from "../nn/layers/batchnorm.js";
import { Conv2d } from "../nn/layers/conv.js";
import { Dropout } from "../nn/layers/dropout.js";
import { Linear } from "../nn/layers/linear.js";
import { Add, Concat } from "../nn/layers/merge.js";
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from "../nn/layers/pooling.js";
import { Flatten } from "../nn/layers/shape.js";
import { Sequential } from "../nn/layers/container.js";
import type { Module } from "../nn/module.js";
import { shortestFloat32 } from "./attrs.js";
import type { IrNode } from "./graph.js";
import { OnnxBatchNorm, OnnxOp } from "./onnx-module.js";
import { IMPORTED_OPSET } from "./onnx-imported-op.js";

/** What a builder can ask about the node's inputs. */
export interface BuildContext {
  node: IrNode;
  where: string;
  opset: number;
  /** Value of input i when known at import (initializer or constant), null when omitted, undefined when computed. */
  value(i: number): Tensor | null | undefined;
  /** The initializer name behind input i, if any (for sharing parameters). */
  initializerName(i: number): string | undefined;
  /** Op type of the node producing input i, if any. */
  producerOp(i: number): string | undefined;
  /** A parameter already made for an initializer, and registration of a new one. */
  sharedParam(init: string): Tensor | undefined;
  rememberParam(init: string, t: Tensor): void;
}

export interface BuiltLayer {
  module: Module;
  /** Node input indices passed to forward, in order. */
  dynamicInputs: number[];
}

type Builder = (b: BuildContext) => BuiltLayer | null;

function constInput(b: BuildContext, i: number, what: string): Tensor {
  const t = b.value(i);
  if (t === undefined) throw new NotSupportedError(`${b.where}: ${what} computed at run time is not supported (it must be an initializer or constant)`);
  if (t === null) throw new FormatError(`${b.where}: ${what} is missing`);
  if (t.dtype !== "float32" && t.dtype !== "float64") throw new FormatError(`${b.where}: ${what} must be a float tensor, got ${t.dtype}`);
  return t;
}

function isDynamic(b: BuildContext, i: number): boolean {
  return b.value(i) === undefined;
}

/** Copies `src` into the layer's tensor `slot`, or shares the parameter already made for its initializer. */
function fill(b: BuildContext, layer: Module, slot: string, src: Tensor, input: number | null, what: string): void {
  const m = layer as unknown as Record<string, Tensor>;
  const dst = m[slot];
  if (dst.size !== src.size) throw new FormatError(`${b.where}: ${what} has shape ${fmtShape(src.shape)}, expected ${fmtShape(dst.shape)}`);
  const init = input === null ? undefined : b.initializerName(input);
  const shared = init ? b.sharedParam(init) : undefined;
  if (shared && shared.shape.length === dst.shape.length && shared.shape.every((d, k) => d === dst.shape[k]) && layer.namedParameters("", false).some(([n]) => n === slot)) {
    m[slot] = shared;
    return;
  }
  (dst.data as Float32Array).set(src.data as ArrayLike<number>);
  if (init && layer.namedParameters("", false).some(([n]) => n === slot)) b.rememberParam(init, dst);
}

function checkedPads(b: BuildContext, rank: number): [number, number] {
  const pads = b.node.attrs.ints("pads", new Array(2 * rank).fill(0));
  if (pads.length !== 4 || pads.some((p) => p < 0)) throw new FormatError(`${b.where}: pads must be 4 non-negative integers, got [${pads.join(", ")}]`);
  if (pads[0] !== pads[2] || pads[1] !== pads[3]) throw new NotSupportedError(`${b.where}: asymmetric pads [${pads.join(", ")}] are not supported`);
  return [pads[0], pads[1]];
}

function pairAttr(b: BuildContext, name: string, dflt: number, min: number): [number, number] {
  const v = b.node.attrs.ints(name, [dflt, dflt]);
  if (v.length !== 2 || v.some((x) => x < min || x > 65536)) throw new FormatError(`${b.where}: ${name} must be 2 integers in [${min}, 65536], got [${v.join(", ")}]`);
  return [v[0], v[1]];
}

function convPadding(b: BuildContext, k: [number, number], dil: [number, number], stride: [number, number]): [number, number] | "same" {
  const autoPad = b.node.attrs.string("auto_pad", "NOTSET");
  if (autoPad === "VALID") return [0, 0];
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const total = [dil[0] * (k[0] - 1), dil[1] * (k[1] - 1)];
    if (stride[0] === 1 && stride[1] === 1 && (autoPad === "SAME_UPPER" || total.every((t) => t % 2 === 0))) return "same";
    throw new NotSupportedError(`${b.where}: auto_pad ${autoPad} with strides [${stride.join(", ")}] is not supported`);
  }
  if (autoPad !== "NOTSET") throw new FormatError(`${b.where}: unknown auto_pad '${autoPad}'`);
  return checkedPads(b, 2);
}

const conv: Builder = (b) => {
  const w = constInput(b, 1, "Conv weight");
  if (w.ndim !== 4) throw new NotSupportedError(`${b.where}: only 2-D convolution is supported (weight ${fmtShape(w.shape)})`);
  const bias = b.node.inputs.length > 2 ? b.value(2) : null;
  const group = b.node.attrs.int("group", 1);
  const kernel: [number, number] = [w.shape[2], w.shape[3]];
  const declared = b.node.attrs.ints("kernel_shape");
  if (declared && (declared.length !== 2 || declared[0] !== kernel[0] || declared[1] !== kernel[1])) {
    throw new FormatError(`${b.where}: kernel_shape [${declared.join(", ")}] does not match weight ${fmtShape(w.shape)}`);
  }
  if (group < 1 || group > w.shape[0]) throw new FormatError(`${b.where}: group ${group} is invalid for ${w.shape[0]} output channels`);
  const stride = pairAttr(b, "strides", 1, 1);
  const dilation = pairAttr(b, "dilations", 1, 1);
  const explicit = asymmetricPads(b);
  const padding = explicit ? ([0, 0] as [number, number]) : convPadding(b, kernel, dilation, stride);
  const layer = new Conv2d(w.shape[1] * group, w.shape[0], kernel, { stride, padding, dilation, groups: group, bias: bias !== null });
  fill(b, layer, "weight", w, 1, "Conv weight");
  if (bias !== null) fill(b, layer, "bias", constInput(b, 2, "Conv bias"), 2, "Conv bias");
  return { module: explicit ? new Sequential(zeroPad(b, explicit), layer) : layer, dynamicInputs: [0] };
};

/** Explicit pads [top, left, bottom, right] when they differ between the two sides (TF "SAME" written out), else null. */
function asymmetricPads(b: BuildContext): number[] | null {
  if (b.node.attrs.string("auto_pad", "NOTSET") !== "NOTSET") return null;
  const p = b.node.attrs.ints("pads", [0, 0, 0, 0]);
  if (p.length !== 4 || p.some((v) => v < 0 || v > 65536)) throw new FormatError(`${b.where}: pads must be 4 integers in [0, 65536], got [${p.join(", ")}]`);
  return p[0] !== p[2] || p[1] !== p[3] ? p : null;
}

/**
 * A constant zero Pad node in front of a Conv2d with padding 0: an asymmetric-pad Conv imports
 * as Sequential(Pad, Conv2d), so the convolution stays a layer that prepare fuses and convert
 * makes integer (the Pad is a float island that moves no value off its grid).
 */
function zeroPad(b: BuildContext, p: readonly number[]): OnnxOp {
  const torchOrder = [p[1], p[3], p[0], p[2]];
  const onnxPads = [0, 0, p[0], p[1], 0, 0, p[2], p[3]];
  const op = new OnnxOp({
    opType: "Pad", domain: "", attributes: [],
    slots: [{ kind: "dynamic" }, { kind: "const", value: new Tensor(Int32Array.from(onnxPads), [8]), int64: true }],
    kernel: (i) => pad(i[0]!, torchOrder),
    params: [],
  });
  // Made here, not read from the file: in Pad's opset-11 form (pads as an input), which float export (opset ≥ 11) writes.
  IMPORTED_OPSET.set(op, Math.max(b.opset, 11));
  return op;
}

/** Gemm(A, B, C) with constant B (and C) as Linear: W = alpha·(transB ? B : Bᵀ), b = beta·C. */
const gemm: Builder = (b) => {
  const a = b.node.attrs;
  if (a.int("transA", 0) !== 0 || !isDynamic(b, 0) || b.value(1) === undefined) return null;
  const w = constInput(b, 1, "Gemm B");
  const c = b.node.inputs.length > 2 ? b.value(2) : null;
  if (c === undefined || w.ndim !== 2) return null;
  const transB = a.int("transB", 0) !== 0;
  const [alpha, beta] = [a.float("alpha", 1), a.float("beta", 1)];
  const [outF, inF] = transB ? w.shape : [w.shape[1], w.shape[0]];
  if (c && !(c.size === outF || c.size === 1) ) return null;
  const layer = new Linear(inF, outF, { bias: c !== null });
  if (transB && alpha === 1) fill(b, layer, "weight", w, 1, "Gemm B");
  else {
    const wd = layer.weight.data;
    for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) wd[o * inF + i] = alpha * (transB ? w.data[o * inF + i] : w.data[i * outF + o]);
  }
  if (c && layer.bias) {
    if (c.size === outF && beta === 1) fill(b, layer, "bias", c, 2, "Gemm C");
    else for (let o = 0; o < outF; o++) layer.bias.data[o] = beta * c.data[c.size === 1 ? 0 : o];
  }
  return { module: layer, dynamicInputs: [0] };
};

/** MatMul(A, B) with a constant 2-D B: Linear without bias, W = Bᵀ. */
const matmul: Builder = (b) => {
  const w = b.value(1);
  if (!isDynamic(b, 0) || !w || w.ndim !== 2 || (w.dtype !== "float32" && w.dtype !== "float64")) return null;
  const [inF, outF] = w.shape;
  const layer = new Linear(inF, outF, { bias: false });
  for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) layer.weight.data[o * inF + i] = w.data[i * outF + o];
  return { module: layer, dynamicInputs: [0] };
};

const batchNorm: Builder = (b) => {
  const a = b.node.attrs;
  if (a.int("spatial", 1) !== 1) throw new NotSupportedError(`${b.where}: BatchNormalization with spatial=0 is not supported`);
  if (a.int("training_mode", 0) === 1) return null; // a training graph's BN: the functional kernel (onnx-ops-conv.ts)
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => constInput(b, i, `BatchNormalization input ${i}`));
  const c = scale.size;
  if (scale.ndim !== 1 || [bias, mean, variance].some((t) => t.ndim !== 1 || t.size !== c)) {
    throw new FormatError(`${b.where}: scale, B, mean and var must all be [C], got ${[scale, bias, mean, variance].map((t) => fmtShape(t.shape)).join(", ")}`);
  }
  const momentum = shortestFloat32(1 - a.float("momentum", 0.9));
  const eps = a.float("epsilon", 1e-5);
  if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1)) throw new FormatError(`${b.where}: epsilon ${eps} or momentum ${1 - momentum} is out of range`);
  const producer = b.producerOp(0);
  const opts = { eps, momentum };
  const layer: BatchNormBase = producer === "Conv" ? new BatchNorm2d(c, opts)
    : producer === "Gemm" || producer === "MatMul" || producer === "Flatten" ? new BatchNorm1d(c, opts) : new OnnxBatchNorm(c, opts);
  fill(b, layer, "weight", scale, 1, "BatchNormalization scale");
  fill(b, layer, "bias", bias, 2, "BatchNormalization B");
  fill(b, layer, "running_mean", mean, 3, "BatchNormalization mean");
  fill(b, layer, "running_var", variance, 4, "BatchNormalization var");
  return { module: layer, dynamicInputs: [0] };
};

function clipBound(b: BuildContext, i: number, attr: string, dflt: number): number | null {
  if (b.opset < 11) return b.node.attrs.float(attr, dflt);
  if (b.node.inputs.length <= i || b.node.inputs[i] === "") return dflt;
  const t = b.value(i);
  return t && t.size === 1 ? t.item() : null;
}

const clip: Builder = (b) => {
  const lo = clipBound(b, 1, "min", -Infinity);
  const hi = clipBound(b, 2, "max", Infinity);
  if (lo === null || hi === null || !(lo < hi)) return null;
  const module = lo === 0 && hi === 6 ? new ReLU6() : lo === 0 && hi === Infinity ? new ReLU() : new Hardtanh(lo, hi);
  return { module, dynamicInputs: [0] };
};

function poolGeometry(b: BuildContext): { kernel: [number, number]; stride: [number, number]; padding: [number, number]; ceilMode: boolean } {
  const a = b.node.attrs;
  const k = a.ints("kernel_shape");
  if (!k || k.length !== 2) throw new NotSupportedError(`${b.where}: only 2-D pooling is supported (kernel_shape ${k ? `[${k.join(", ")}]` : "missing"})`);
  if (k.some((x) => x < 1 || x > 65536)) throw new FormatError(`${b.where}: invalid kernel_shape [${k.join(", ")}]`);
  const autoPad = a.string("auto_pad", "NOTSET");
  if (autoPad !== "NOTSET" && autoPad !== "VALID") throw new NotSupportedError(`${b.where}: auto_pad ${autoPad} is not supported for pooling`);
  const padding = autoPad === "VALID" ? ([0, 0] as [number, number]) : checkedPads(b, 2);
  if (padding[0] > k[0] / 2 || padding[1] > k[1] / 2) throw new NotSupportedError(`${b.where}: pads larger than half the kernel are not supported`);
  return { kernel: [k[0], k[1]], stride: pairAttr(b, "strides", 1, 1), padding, ceilMode: a.int("ceil_mode", 0) === 1 };
}

const maxPool: Builder = (b) => {
  if (b.node.attrs.int("storage_order", 0) !== 0) throw new NotSupportedError(`${b.where}: storage_order 1 is not supported`);
  const g = poolGeometry(b);
  const dilation = pairAttr(b, "dilations", 1, 1);
  return { module: new MaxPool2d(g.kernel, { stride: g.stride, padding: g.padding, dilation, ceilMode: g.ceilMode }), dynamicInputs: [0] };
};

const avgPool: Builder = (b) => {
  const g = poolGeometry(b);
  const dilation = pairAttr(b, "dilations", 1, 1);
  if (dilation[0] !== 1 || dilation[1] !== 1) throw new NotSupportedError(`${b.where}: dilated average pooling is not supported`);
  const countIncludePad = b.node.attrs.int("count_include_pad", 0) === 1;
  return { module: new AvgPool2d(g.kernel, { stride: g.stride, padding: g.padding, ceilMode: g.ceilMode, countIncludePad }), dynamicInputs: [0] };
};

const dropout: Builder = (b) => {
  let ratio = b.opset < 12 ? b.node.attrs.float("ratio", 0.5) : 0.5;
  if (b.opset >= 12 && b.node.inputs.length > 1 && b.node.inputs[1] !== "") {
    const r = b.value(1);
    if (!r || r.size !== 1) return null;
    ratio = r.item();
  }
  if (!(ratio >= 0 && ratio < 1)) throw new FormatError(`${b.where}: dropout ratio ${ratio} is out of range`);
  return { module: new Dropout(ratio), dynamicInputs: [0] };
};

const allDynamic = (b: BuildContext): boolean => b.node.inputs.length > 0 && b.node.inputs.every((_, i) => isDynamic(b, i));
const simple = (make: () => Module): Builder => (b) => (b.node.inputs.length === 1 && isDynamic(b, 0) ? { module: make(), dynamicInputs: [0] } : null);

/**
 * A builder whose NotSupportedError (a weight computed at run time, 1-D kernels, asymmetric
 * pads, auto_pad SAME with strides, …) means "use the functional kernel" (onnx-ops-conv.ts).
 */
const orGeneric = (builder: Builder): Builder => (b) => {
  try {
    return builder(b);
  } catch (e) {
    if (e instanceof NotSupportedError) return null;
    throw e;
  }
};

/** Builders by op type (default domain). */
export const LAYER_BUILDERS: Readonly<Record<string, Builder>> = {
  Conv: orGeneric(conv),
  Gemm: gemm,
  MatMul: matmul,
  BatchNormalization: batchNorm,
  Relu: simple(() => new ReLU()),
  Sigmoid: simple(() => new Sigmoid()),
  Clip: (b) => (isDynamic(b, 0) ? clip(b) : null),
  MaxPool: orGeneric(maxPool),
  AveragePool: orGeneric(avgPool),
  GlobalAveragePool: simple(() => new AdaptiveAvgPool2d(1)),
  Flatten: (b) => (b.node.attrs.int("axis", 1) === 1 && isDynamic(b, 0) ? { module: new Flatten(1, -1), dynamicInputs: [0] } : null),
  Add: (b) => (b.node.inputs.length === 2 && allDynamic(b) ? { module: new Add(), dynamicInputs: [0, 1] } : null),
  Concat: (b) => {
    const axis = b.node.attrs.int("axis");
    if (axis === undefined || !allDynamic(b)) return null;
    return { module: new Concat(axis), dynamicInputs: b.node.inputs.map((_, i) => i) };
  },
  Dropout: (b) => (isDynamic(b, 0) ? dropout(b) : null),
};
