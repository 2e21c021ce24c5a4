/**
 * `quant.quantizeDynamic(model, { modules, dtype, groupSize })` — PyTorch's
 * `torch.ao.quantization.quantize_dynamic`: a copy of the model whose selected Linear layers
 * are `DynamicQuantizedLinear` modules running the integer kernels of the Int8Model's dynamic
 * nodes (src/int8/kernels/dynamic.ts) on their float input; everything else stays float.
 *
 *   dtype "int8" (default): int8 per-channel symmetric weights, input quantized per tensor to
 *                 uint8 at run time (onnxruntime's DynamicQuantizeLinear) → dynamic_linear
 *   dtype "int4": 4-bit grouped symmetric weights (groupSize, default 32), input quantized per
 *                 token to int8 (torchao's 8da4w) → linear_nbits
 *   activations "none": weight-only (float input times the dequantized weight)
 *
 * The weights are quantized by the same GroupwiseFakeQuantize the dynamic qconfigs use, so a
 * layer computes exactly what the Int8Model of `prepareQat(model, { qconfig }) → convert` does
 * for the matching qconfig (qconfigFor below). Modules: a list of class names ("Linear",
 * "LSTM", "GRU") or a predicate on (path, module). nn.LSTM / nn.GRU (dtype int8 only) become
 * DynamicQuantizedLSTM / GRU (./quantize-dynamic-rnn.ts; weights per row, or per tensor with
 * `rnnWeights: "per_tensor"`, PyTorch's default). Called by user code.
 */
import { ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { noGrad } from "../tensor/grad-mode.js";
import { cloneModule } from "../nn/clone.js";
import { Linear } from "../nn/layers/linear.js";
import { Module } from "../nn/module.js";
import { FLOAT_Q, type DynamicLinearNode, type LinearNBitsNode } from "../int8/graph-dynamic.js";
import { dynamicLinear, linearNBits } from "../int8/kernels/dynamic.js";
import type { QuantArray } from "../int8/kernels/common.js";
import type { QConfig } from "./prepare.js";
import { QatLinear } from "./qat-modules.js";
import { GraphBuilder } from "./convert-layers.js";
import { addDynamicLinear } from "./convert-dynamic.js";
import { dynamicQConfig } from "./dynamic-qconfig.js";
import { GRU, LSTM } from "../nn/layers/rnn.js";
import { DynamicQuantizedGRU, DynamicQuantizedLSTM, type RnnWeightGranularity } from "./quantize-dynamic-rnn.js";

export interface QuantizeDynamicOptions {
  /** Which layers: class names ("Linear", "LSTM", "GRU"; default ["Linear"]) or a predicate on (path, module). */
  modules?: string[] | ((path: string, m: Module) => boolean);
  /** "int8" (default) or "int4". */
  dtype?: "int8" | "int4";
  /** Input features per weight group (int4 default 32; int8 default "row" = per channel). */
  groupSize?: number | "row";
  /** Run-time input quantization: default "per_tensor" for int8, "per_token" for int4; "none" = weight-only. */
  activations?: "per_tensor" | "per_token" | "none";
  /** LSTM / GRU weight scales: per output row (default) or per tensor (PyTorch's default_dynamic_qconfig). */
  rnnWeights?: RnnWeightGranularity;
}

/** The dynamic qconfig quantizeDynamic applies (use it with prepareQat for the QAT / Int8Model path). */
export function quantizeDynamicQConfig(o: QuantizeDynamicOptions = {}): QConfig {
  const dtype = o.dtype ?? "int8";
  if (dtype !== "int8" && dtype !== "int4") throw new ValueError(`quantizeDynamic: dtype must be "int8" or "int4", got ${String(dtype)}`);
  const int4 = dtype === "int4";
  return dynamicQConfig({
    weightBits: int4 ? 4 : 8, groupSize: o.groupSize ?? (int4 ? 32 : "row"), symmetric: true,
    activations: o.activations ?? (int4 ? "per_token" : "per_tensor"), name: `quantizeDynamic-${dtype}`,
  });
}

/** A Linear whose forward is the integer kernel of a dynamic Int8Model node (float in, float out). */
export class DynamicQuantizedLinear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** The Int8Model node this layer runs, and its tensors. */
  readonly node: DynamicLinearNode | LinearNBitsNode;
  readonly tensors: Map<string, Int8Array | Int32Array>;

  constructor(lin: Linear, qconfig: QConfig, path = "linear") {
    super();
    this.inFeatures = lin.inFeatures;
    this.outFeatures = lin.outFeatures;
    const qat = new QatLinear(lin, qconfig.weight({ outChannels: lin.outFeatures }));
    const b = new GraphBuilder();
    const x = b.define(0, [1, lin.inFeatures], FLOAT_Q, "x");
    const y = b.define(1, [1, lin.outFeatures], FLOAT_Q, path);
    x.float = y.float = true;
    noGrad(() => addDynamicLinear(b, { path, module: qat, inputs: [0], output: 1, inputShapes: [[1, lin.inFeatures]], outputShape: [1, lin.outFeatures] }, qat, y));
    this.node = b.nodes[0] as DynamicLinearNode | LinearNBitsNode;
    this.tensors = b.tensors;
  }

  forward(x: Tensor): Tensor {
    const data = x.dtype === "float32" ? (x.data as Float32Array) : Float32Array.from(x.data as ArrayLike<number>);
    const input = { data: data as unknown as QuantArray, shape: [...x.shape] };
    const r = this.node.op === "dynamic_linear" ? dynamicLinear(this.node, input, this.tensors) : linearNBits(this.node, input, this.tensors);
    return new Tensor(r.data as unknown as Float32Array, r.shape);
  }

  override extraRepr(): string {
    const n = this.node;
    const w = n.op === "dynamic_linear" ? `weight_bits=${n.weightBits}` : `bits=${n.bits}, block_size=${n.blockSize}`;
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, ${w}, activations=${n.act ? `${n.act.granularity} ${n.act.dtype}` : "float"}`;
  }
}

/** A copy of `model` with the selected Linear (and LSTM / GRU) layers dynamically quantized (see the file header). */
export function quantizeDynamic<M extends Module>(model: M, opts: QuantizeDynamicOptions = {}): M {
  const qconfig = quantizeDynamicQConfig(opts);
  const sel = opts.modules ?? ["Linear"];
  const known = ["Linear", "LSTM", "GRU"];
  if (Array.isArray(sel) && sel.some((s) => !known.includes(s))) throw new ValueError(`quantizeDynamic: modules may list ${known.map((k) => `"${k}"`).join(", ")} (the layers with a dynamic kernel), got ${JSON.stringify(sel)}`);
  const rnnWeights = opts.rnnWeights ?? "per_channel";
  if (rnnWeights !== "per_channel" && rnnWeights !== "per_tensor") throw new ValueError(`quantizeDynamic: rnnWeights must be "per_channel" or "per_tensor", got ${String(rnnWeights)}`);
  const pick = (p: string, mod: Module): boolean => (typeof sel === "function" ? sel(p, mod) : sel.includes(mod instanceof Linear ? "Linear" : mod instanceof LSTM ? "LSTM" : mod instanceof GRU ? "GRU" : ""));
  const swap = (p: string, mod: Module): Module | null => {
    if (!(mod instanceof Linear || mod instanceof LSTM || mod instanceof GRU) || !pick(p, mod)) return null;
    if (mod instanceof Linear) return new DynamicQuantizedLinear(mod, qconfig, p);
    if ((opts.dtype ?? "int8") !== "int8" || (opts.activations ?? "per_tensor") !== "per_tensor" || (opts.groupSize ?? "row") !== "row") {
      throw new ValueError(`quantizeDynamic: '${p}' (${mod.constructor.name}) quantizes to int8 weights with per-tensor uint8 activations only (dtype "int8", the default activations and groupSize); quantize it in a separate call, or leave it out of modules`);
    }
    return mod instanceof LSTM ? new DynamicQuantizedLSTM(mod, rnnWeights, p) : new DynamicQuantizedGRU(mod, rnnWeights, p);
  };
  const m = cloneModule(model);
  const root = swap("", m);
  if (root) return root as unknown as M;
  const targets = m.namedModules().filter(([p]) => p !== "");
  for (const [path, mod] of targets) {
    const r = swap(path, mod);
    if (r) m.setSubmodule(path, r);
  }
  return m;
}
