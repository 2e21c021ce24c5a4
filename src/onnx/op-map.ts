/**
 * Float export rules: one function per layer type, turning a traced module call into ONNX
 * nodes and initializers through an ExportContext. Linear→Gemm (transB=1; MatMul+Add above
 * rank 2), Conv2d→Conv, BatchNorm→BatchNormalization, ReLU→Relu, ReLU6/Hardtanh→Clip (min/max
 * inputs, opset ≥ 11), Sigmoid, MaxPool2d→MaxPool, AvgPool2d→AveragePool,
 * AdaptiveAvgPool2d→GlobalAveragePool (1×1) or AveragePool (divisible sizes), Flatten,
 * Add, Concat, LSTM / GRU → ONNX LSTM / GRU (opset ≥ 14); Identity and Dropout are aliases (no node). Imported graphs' generic nodes
 * (OnnxOp) re-emit themselves (refused at an opset where their form differs from the one they
 * were imported at); each used output of an imported Split / LSTM / GRU (OnnxSplitPart)
 * re-emits the whole node. `registerExportRule` adds or overrides a rule (newest wins),
 * which is how quantized modules plug in. Called by export.ts.
 */
import { NotSupportedError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { Hardtanh, ReLU, Sigmoid } from "../nn/layers/activation.js";
import { BatchNormBase } from "../nn/layers/batchnorm.js";
import { Conv2d } from "../nn/layers/conv.js";
import { Dropout } from "../nn/layers/dropout.js";
import { Identity, Linear } from "../nn/layers/linear.js";
import { Add, Concat } from "../nn/layers/merge.js";
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from "../nn/layers/pooling.js";
import { Flatten } from "../nn/layers/shape.js";
import { GRU, LSTM } from "../nn/layers/rnn.js";
import type { Module } from "../nn/module.js";
import { attr, floatTensorProto, int64TensorProto } from "./builders.js";
import type { ExportContext } from "./export-context.js";
import { OnnxOp } from "./onnx-module.js";
import { OnnxSplitPart, checkExportOpset } from "./onnx-imported-op.js";
import type { AttributeProto } from "./proto.js";

/** One traced module call, with its inputs already named. */
export interface ExportCall {
  /** Dotted module path ("" for the root). */
  path: string;
  module: Module;
  /** Value names of the tensor inputs, in call order. */
  inputs: string[];
  inputShapes: number[][];
  /** Tensor id of the output (pass to ctx.produce). */
  output: number;
  outputShape: number[];
}

export type ExportRule = (ctx: ExportContext, call: ExportCall) => void;

type ModuleClass = abstract new (...args: any[]) => Module;

interface RuleEntry {
  type: ModuleClass;
  rule: ExportRule;
}

const rules: RuleEntry[] = [];

/** Adds a rule for a module class (and its subclasses); later registrations win. */
export function registerExportRule(type: ModuleClass, rule: ExportRule): void {
  rules.unshift({ type, rule });
}

/** The rule for a module, or undefined. */
export function findExportRule(m: Module): ExportRule | undefined {
  return rules.find((r) => m instanceof r.type)?.rule;
}

/** Class names that have a rule (for error messages). */
export function exportableModules(): string[] {
  return [...new Set(rules.map((r) => r.type.name))].sort();
}

/** Emits one node producing the call's output, named after the module path. */
export function emitNode(ctx: ExportContext, call: ExportCall, opType: string, inputs: readonly string[], attributes: AttributeProto[] = []): string {
  const out = ctx.produce(call.output, `${call.path || opType}_out`);
  ctx.addNode(opType, inputs, [out], { name: call.path || opType, attributes });
  return out;
}

/** `path.suffix`, or just `suffix` for the root module. */
function at(call: ExportCall, suffix: string): string {
  return call.path ? `${call.path}.${suffix}` : suffix;
}

const alias: ExportRule = (ctx, call) => ctx.bind(call.output, call.inputs[0]);

function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

function linearRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as Linear;
  const w = ctx.initializer(m.weight, at(call, "weight"));
  const b = m.bias ? ctx.initializer(m.bias, at(call, "bias")) : null;
  if (call.inputShapes[0].length === 2) {
    emitNode(ctx, call, "Gemm", b ? [call.inputs[0], w, b] : [call.inputs[0], w], [attr.int("transB", 1)]);
    return;
  }
  const wt = ctx.temp(at(call, "weight_t"));
  ctx.addNode("Transpose", [w], [wt], { name: at(call, "transpose"), attributes: [attr.ints("perm", [1, 0])] });
  if (!b) {
    emitNode(ctx, call, "MatMul", [call.inputs[0], wt]);
    return;
  }
  const mm = ctx.temp(at(call, "matmul_out"));
  ctx.addNode("MatMul", [call.inputs[0], wt], [mm], { name: at(call, "matmul") });
  emitNode(ctx, call, "Add", [mm, b]);
}

function convRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as Conv2d;
  const [kh, kw] = m.kernelSize;
  let pads: number[];
  if (m.padding === "valid") pads = [0, 0, 0, 0];
  else if (m.padding === "same") {
    const total = [m.dilation[0] * (kh - 1), m.dilation[1] * (kw - 1)];
    const lo = total.map((t) => Math.floor(t / 2));
    pads = [lo[0], lo[1], total[0] - lo[0], total[1] - lo[1]];
  } else pads = [m.padding[0], m.padding[1], m.padding[0], m.padding[1]];
  const inputs = [call.inputs[0], ctx.initializer(m.weight, at(call, "weight"))];
  if (m.bias) inputs.push(ctx.initializer(m.bias, at(call, "bias")));
  emitNode(ctx, call, "Conv", inputs, [
    attr.ints("kernel_shape", [kh, kw]), attr.ints("strides", m.stride), attr.ints("pads", pads),
    attr.ints("dilations", m.dilation), attr.int("group", m.groups),
  ]);
}

function batchNormRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as BatchNormBase;
  if (!m.running_mean || !m.running_var) {
    throw new NotSupportedError(`onnx export: '${call.path}' (${m.constructor.name}) has no running statistics (trackRunningStats=false); ONNX BatchNormalization needs them`);
  }
  const c = m.numFeatures;
  const scale = m.weight ? ctx.initializer(m.weight, at(call, "weight")) : ctx.constant(floatTensorProto(at(call, "weight"), new Array(c).fill(1)));
  const bias = m.bias ? ctx.initializer(m.bias, at(call, "bias")) : ctx.constant(floatTensorProto(at(call, "bias"), new Array(c).fill(0)));
  const mean = ctx.initializer(m.running_mean, at(call, "running_mean"));
  const variance = ctx.initializer(m.running_var, at(call, "running_var"));
  emitNode(ctx, call, "BatchNormalization", [call.inputs[0], scale, bias, mean, variance], [
    attr.float("epsilon", m.eps), attr.float("momentum", 1 - (m.momentum ?? 0.1)),
  ]);
}

function clipRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as Hardtanh;
  const lo = ctx.constant(floatTensorProto(at(call, "min"), [m.minVal], []));
  const hi = ctx.constant(floatTensorProto(at(call, "max"), [m.maxVal], []));
  emitNode(ctx, call, "Clip", [call.inputs[0], lo, hi]);
}

function maxPoolRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as MaxPool2d;
  const [ph, pw] = pair(m.padding);
  emitNode(ctx, call, "MaxPool", [call.inputs[0]], [
    attr.ints("kernel_shape", pair(m.kernelSize)), attr.ints("strides", pair(m.stride)), attr.ints("pads", [ph, pw, ph, pw]),
    attr.ints("dilations", pair(m.dilation)), attr.int("ceil_mode", m.ceilMode ? 1 : 0),
  ]);
}

function avgPoolRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as AvgPool2d;
  const [ph, pw] = pair(m.padding);
  emitNode(ctx, call, "AveragePool", [call.inputs[0]], [
    attr.ints("kernel_shape", pair(m.kernelSize)), attr.ints("strides", pair(m.stride)), attr.ints("pads", [ph, pw, ph, pw]),
    attr.int("ceil_mode", m.ceilMode ? 1 : 0), attr.int("count_include_pad", m.countIncludePad ? 1 : 0),
  ]);
}

function adaptiveAvgPoolRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as AdaptiveAvgPool2d;
  const shape = call.inputShapes[0];
  const [h, w] = shape.slice(-2);
  const req = typeof m.outputSize === "number" ? [m.outputSize, m.outputSize] : m.outputSize;
  const oh = req[0] ?? h;
  const ow = req[1] ?? w;
  if (oh === 1 && ow === 1) {
    emitNode(ctx, call, "GlobalAveragePool", [call.inputs[0]]);
    return;
  }
  if (h % oh !== 0 || w % ow !== 0) {
    throw new NotSupportedError(
      `onnx export: '${call.path}' AdaptiveAvgPool2d to ${oh}×${ow} on a ${h}×${w} input has uneven windows; ONNX has no adaptive pooling (use sizes that divide the input)`,
    );
  }
  const k = [h / oh, w / ow];
  emitNode(ctx, call, "AveragePool", [call.inputs[0]], [attr.ints("kernel_shape", k), attr.ints("strides", k)]);
}

function flattenRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as Flatten;
  const rank = call.inputShapes[0].length;
  const start = m.startDim < 0 ? m.startDim + rank : m.startDim;
  const end = m.endDim < 0 ? m.endDim + rank : m.endDim;
  if (start === 1 && end === rank - 1) {
    emitNode(ctx, call, "Flatten", [call.inputs[0]], [attr.int("axis", 1)]);
    return;
  }
  // Reshape keeps dims before `start` (0 = copy, so the batch stays dynamic), merges start..end (-1), keeps the rest.
  const target = [...call.inputShapes[0].slice(0, start).map(() => 0), -1, ...call.inputShapes[0].slice(end + 1)];
  const shapeName = ctx.constant(int64TensorProto(at(call, "shape"), target));
  emitNode(ctx, call, "Reshape", [call.inputs[0], shapeName]);
}

function concatRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as Concat;
  const rank = call.outputShape.length;
  emitNode(ctx, call, "Concat", call.inputs, [attr.int("axis", m.dim < 0 ? m.dim + rank : m.dim)]);
}

/** The input names of a node kept from an imported graph: its own inputs, parameters and constants. */
function onnxOpInputs(ctx: ExportContext, call: ExportCall, m: OnnxOp): string[] {
  let next = 0;
  return m.slots.map((slot, i) => {
    if (slot.kind === "dynamic") return call.inputs[next++];
    if (slot.kind === "absent") return "";
    const t: Tensor = slot.kind === "param" ? m.getParameter(slot.name) : slot.value;
    const base = at(call, slot.kind === "param" ? slot.name : `in${i}`);
    return slot.kind === "const" && slot.int64 ? ctx.constant(int64TensorProto(base, t.toList(), t.shape)) : ctx.initializer(t, base);
  });
}

/** Re-emits a node kept from an imported graph, with current parameter values. */
function onnxOpRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as OnnxOp;
  checkExportOpset(m, ctx.opset, call.path);
  const inputs = onnxOpInputs(ctx, call, m);
  const out = ctx.produce(call.output, `${call.path || m.opType}_out`);
  ctx.addNode(m.opType, inputs, [out], { name: call.path || m.opType, attributes: m.attributes, domain: m.domain || undefined });
}

/** One used output of an imported Split: the whole Split again, the other outputs left unread. */
function splitPartRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as OnnxSplitPart;
  checkExportOpset(m, ctx.opset, call.path);
  const inputs = onnxOpInputs(ctx, call, m);
  const base = call.path || m.opType;
  const outputs = [...Array(m.outputCount).keys()].map((k) => (k === m.outputIndex ? ctx.produce(call.output, `${base}_out`) : ctx.uniqueName(`${base}_unused${k}`)));
  ctx.addNode(m.opType, inputs, outputs, { name: base, attributes: m.attributes });
}

/** Rows of a [G·H, …] gate tensor in another gate order (blocks of H rows), as a new tensor. */
function gateRows(t: Tensor, h: number, order: readonly number[]): Float32Array {
  const row = t.size / t.shape[0];
  const out = new Float32Array(t.size);
  order.forEach((k, j) => out.set(Float32Array.from(t.data.subarray(k * h * row, (k + 1) * h * row) as ArrayLike<number>), j * h * row));
  return out;
}

/**
 * nn.LSTM / nn.GRU → one ONNX LSTM / GRU node per layer (both directions in one node; GRU with
 * linear_before_reset = 1, PyTorch's form). Gate rows go from PyTorch's order to ONNX's (LSTM
 * i f g o → i o f c, GRU r z n → z r h); between layers Y [T, D, B, H] is transposed and
 * reshaped to [T, B, D·H]; batch_first input is transposed in and out. Needs opset ≥ 14.
 */
function rnnRule(ctx: ExportContext, call: ExportCall): void {
  const m = call.module as LSTM | GRU;
  const isLstm = m instanceof LSTM;
  if (call.inputs.length !== 1) throw new NotSupportedError(`onnx export: '${call.path}' (${m.constructor.name}) is called with an initial state; export supports the zero initial state only`);
  if (ctx.opset < 14) throw new NotSupportedError(`onnx export: '${call.path}' (${m.constructor.name}) needs opset ≥ 14, got ${ctx.opset}`);
  const rank = call.inputShapes[0].length;
  if (rank !== 3) throw new NotSupportedError(`onnx export: '${call.path}' (${m.constructor.name}) exports batched [T, B, I] / [B, T, I] input only, got rank ${rank}`);
  const h = m.hiddenSize;
  const order = isLstm ? [0, 3, 1, 2] : [1, 0, 2];
  const g = order.length;
  const dirs = m.suffixes();
  let x = call.inputs[0];
  if (m.batchFirst) {
    const t = ctx.temp(at(call, "time_major"));
    ctx.addNode("Transpose", [x], [t], { name: at(call, "to_time_major"), attributes: [attr.ints("perm", [1, 0, 2])] });
    x = t;
  }
  const merge = ctx.constant(int64TensorProto(at(call, "merge_dirs"), [0, 0, -1]));
  for (let l = 0; l < m.numLayers; l++) {
    const ws = dirs.map((sfx) => m.weights(l, sfx));
    const inF = ws[0].wih.shape[1];
    const stackRows = (pick: (k: number) => Float32Array) => Float32Array.from(dirs.flatMap((_, k) => Array.from(pick(k))));
    const w = ctx.initializer(new Tensor(stackRows((k) => gateRows(ws[k].wih, h, order)), [dirs.length, g * h, inF]), at(call, `W_l${l}`));
    const r = ctx.initializer(new Tensor(stackRows((k) => gateRows(ws[k].whh, h, order)), [dirs.length, g * h, h]), at(call, `R_l${l}`));
    const bias = (k: number) => {
      const { bih, bhh } = ws[k];
      const out = new Float32Array(2 * g * h);
      if (bih && bhh) {
        out.set(gateRows(bih, h, order), 0);
        out.set(gateRows(bhh, h, order), g * h);
      }
      return out;
    };
    const b = ctx.initializer(new Tensor(stackRows(bias), [dirs.length, 2 * g * h]), at(call, `B_l${l}`));
    const y = ctx.temp(at(call, `Y_l${l}`));
    const attributes = [attr.int("hidden_size", h), attr.string("direction", dirs.length === 2 ? "bidirectional" : "forward")];
    if (!isLstm) attributes.push(attr.int("linear_before_reset", 1));
    ctx.addNode(isLstm ? "LSTM" : "GRU", [x, w, r, b], [y], { name: at(call, `${isLstm ? "LSTM" : "GRU"}_l${l}`), attributes });
    const yt = ctx.temp(at(call, `Y_l${l}_tbdh`));
    ctx.addNode("Transpose", [y], [yt], { name: at(call, `Y_l${l}_transpose`), attributes: [attr.ints("perm", [0, 2, 1, 3])] });
    const last = l === m.numLayers - 1 && !m.batchFirst;
    x = last ? ctx.produce(call.output, `${call.path || "rnn"}_out`) : ctx.temp(at(call, `H_l${l}`));
    ctx.addNode("Reshape", [yt, merge], [x], { name: at(call, `Y_l${l}_merge`) });
  }
  if (m.batchFirst) emitNode(ctx, call, "Transpose", [x], [attr.ints("perm", [1, 0, 2])]);
}

registerExportRule(OnnxOp, onnxOpRule);
registerExportRule(OnnxSplitPart, splitPartRule);
registerExportRule(Identity, alias);
registerExportRule(Dropout, alias);
registerExportRule(Concat, concatRule);
registerExportRule(Add, (ctx, call) => void emitNode(ctx, call, "Add", call.inputs));
registerExportRule(Flatten, flattenRule);
registerExportRule(AdaptiveAvgPool2d, adaptiveAvgPoolRule);
registerExportRule(AvgPool2d, avgPoolRule);
registerExportRule(MaxPool2d, maxPoolRule);
registerExportRule(Sigmoid, (ctx, call) => void emitNode(ctx, call, "Sigmoid", call.inputs));
registerExportRule(Hardtanh, clipRule);
registerExportRule(ReLU, (ctx, call) => void emitNode(ctx, call, "Relu", call.inputs));
registerExportRule(BatchNormBase, batchNormRule);
registerExportRule(Conv2d, convRule);
registerExportRule(Linear, linearRule);
registerExportRule(LSTM, rnnRule);
registerExportRule(GRU, rnnRule);
