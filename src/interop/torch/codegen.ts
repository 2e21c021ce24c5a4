/**
 * Prepared QAT model → `model.py`: a readable PyTorch nn.Module generated from the captured
 * graph (src/graph/graph.ts). Every module of the graph is placed at its qat-ts path (so the
 * state-dict keys are qat-ts's: module.conv1.weight, module.conv1.bn.running_mean,
 * module.conv1.weight_fake_quant.scale, …) and forward() is the graph, one line a node, with
 * the QAT layers told which quantizer put their input on its grid (qat-ts's simulatedBias).
 * Supported: QAT conv / linear (± BN, ± fused ReLU/ReLU6), BN, ReLU/Hardtanh, max/avg/adaptive
 * pooling, add, concat, flatten, reshape, permute/transpose, dropout, identity, and the
 * quantizers of ./quantizers.ts; anything else is a NotSupportedError naming the node.
 * Called by ./export-torch.ts.
 */
import { NotSupportedError, ValueError } from "../../tensor/errors.js";
import type { Module } from "../../nn/module.js";
import { GraphModule } from "../../graph/graph-module.js";
import { type Arg, type GraphNode, isBatchDim, isRef } from "../../graph/graph.js";
import { Conv2d } from "../../nn/layers/conv.js";
import { Identity, Linear } from "../../nn/layers/linear.js";
import { BatchNorm1d, BatchNorm2d } from "../../nn/layers/batchnorm.js";
import { Hardtanh, ReLU } from "../../nn/layers/activation.js";
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from "../../nn/layers/pooling.js";
import { Flatten } from "../../nn/layers/shape.js";
import { Add, Concat } from "../../nn/layers/merge.js";
import { Dropout } from "../../nn/layers/dropout.js";
import { QatConv2d, QatConvBn2d, QatLinear, QatLinearBn1d, QatWeightLayer, type ActClamp, type ConvGeometry, isBnFolded } from "../../quant/qat-modules.js";
import { type QatModel, outputQuantizerOf } from "../../quant/stubs.js";
import { SHARES_INPUT_QPARAMS, keepsInputGrid } from "../../quant/prepare.js";
import { isQuantizer, pyLiteral, pyNum, quantizerExpr } from "./quantizers.js";

const PY_KEYWORDS = new Set("False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield".split(" "));
/** nn.Module attributes a child name must not shadow in attribute syntax. */
const MODULE_ATTRS = new Set("forward train eval training modules children parameters buffers state_dict apply cuda cpu to float double half type zero_grad add_module register_buffer register_parameter register_module get_submodule get_parameter get_buffer named_modules named_children named_parameters named_buffers extra_repr load_state_dict requires_grad_ share_memory bfloat16 dump_patches".split(" "));

/** Python attribute access for a dotted module path under `self`. */
export function pyPath(path: string): string {
  let s = "self";
  for (const part of path.split(".")) {
    if (/^\d+$/.test(part)) s += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(part) && !PY_KEYWORDS.has(part) && !MODULE_ATTRS.has(part)) s += `.${part}`;
    else s += `._modules[${JSON.stringify(part)}]`;
  }
  return s;
}

const pair = (v: number | readonly number[]): string => pyLiteral(typeof v === "number" ? [v, v] : [...v]);
const actArg = (a: ActClamp | null): string => (a ? `(${pyNum(a.min)}, ${pyNum(a.max)})` : "None");
const convArgs = (g: ConvGeometry): string =>
  `${g.inChannels}, ${g.outChannels}, ${pair(g.kernelSize)}, ${pair(g.stride)}, ${typeof g.padding === "string" ? JSON.stringify(g.padding) : pair(g.padding)}, ${pair(g.dilation)}, ${g.groups}`;

function bnExpr(bn: BatchNorm1d | BatchNorm2d): string {
  const cls = bn instanceof BatchNorm2d ? "BatchNorm2d" : "BatchNorm1d";
  return `${cls}(${bn.numFeatures}, eps=${pyNum(bn.eps)}, momentum=${bn.momentum === null ? "None" : pyNum(bn.momentum)}, affine=${pyLiteral(bn.affine)}, track_running_stats=${pyLiteral(bn.trackRunningStats)})`;
}

/** The Python constructor of the module called by graph node `node` (full path `path`). */
function layerExpr(m: Module, path: string, node: GraphNode): string {
  if (m instanceof QatConvBn2d) return `QatConvBn2d(${convArgs(m.geometry)}, bias=${pyLiteral(m.bias !== null)}, bn=${bnExpr(m.bn)}, act=${actArg(m.act)})`;
  if (m instanceof QatConv2d) return `QatConv2d(${convArgs(m.geometry)}, bias=${pyLiteral(m.bias !== null)}, act=${actArg(m.act)})`;
  if (m instanceof QatLinearBn1d) return `QatLinearBn1d(${m.inFeatures}, ${m.outFeatures}, bias=${pyLiteral(m.bias !== null)}, bn=${bnExpr(m.bn)}, act=${actArg(m.act)})`;
  if (m instanceof QatLinear) return `QatLinear(${m.inFeatures}, ${m.outFeatures}, bias=${pyLiteral(m.bias !== null)}, act=${actArg(m.act)})`;
  if (m instanceof Conv2d) {
    const g = m;
    const pad = typeof g.padding === "string" ? JSON.stringify(g.padding) : pair(g.padding);
    return `nn.Conv2d(${g.inChannels}, ${g.outChannels}, ${pair(g.kernelSize)}, stride=${pair(g.stride)}, padding=${pad}, dilation=${pair(g.dilation)}, groups=${g.groups}, bias=${pyLiteral(g.bias !== null)})`;
  }
  if (m instanceof Linear) return `nn.Linear(${m.inFeatures}, ${m.outFeatures}, bias=${pyLiteral(m.bias !== null)})`;
  if (m instanceof BatchNorm2d || m instanceof BatchNorm1d) return bnExpr(m);
  if (m instanceof Hardtanh) return `nn.Hardtanh(${pyNum(m.minVal)}, ${pyNum(m.maxVal)})`;
  if (m instanceof ReLU) return "nn.ReLU()";
  if (m instanceof MaxPool2d) return `nn.MaxPool2d(${pair(m.kernelSize)}, stride=${pair(m.stride)}, padding=${pair(m.padding)}, dilation=${pair(m.dilation)}, ceil_mode=${pyLiteral(m.ceilMode)})`;
  if (m instanceof AvgPool2d) {
    return `nn.AvgPool2d(${pair(m.kernelSize)}, stride=${pair(m.stride)}, padding=${pair(m.padding)}, ceil_mode=${pyLiteral(m.ceilMode)}, count_include_pad=${pyLiteral(m.countIncludePad)})`;
  }
  if (m instanceof AdaptiveAvgPool2d) return `nn.AdaptiveAvgPool2d(${typeof m.outputSize === "number" ? m.outputSize : pyLiteral([...m.outputSize])})`;
  if (m instanceof Flatten) return `nn.Flatten(${m.startDim}, ${m.endDim})`;
  if (m instanceof Add) return "Add()";
  if (m instanceof Concat) return `Concat(${m.dim})`;
  if (m instanceof Dropout) return `nn.Dropout(${pyNum(m.p)})`;
  if (m instanceof Identity) return "nn.Identity()";
  if (isQuantizer(m)) return quantizerExpr(m, path);
  throw new NotSupportedError(`exportTorch: graph node '${node.name}' calls module '${path}' (${m.typeName}), which the PyTorch export does not support`);
}

/** Python for one argument tree (refs become variables). */
function argExpr(a: Arg, v: (id: number) => string): string {
  if (isRef(a)) return v(a.ref);
  if (isBatchDim(a)) return `${v(a.batchOf)}.shape[0]`;
  if (Array.isArray(a)) return `[${(a as Arg[]).map((x) => argExpr(x, v)).join(", ")}]`;
  if (typeof a === "object" && a !== null) throw new ValueError("exportTorch: an options object must be read field by field");
  return pyLiteral(a);
}

type Opts = { [key: string]: Arg };
const opt = (a: Arg | undefined): Opts => (typeof a === "object" && a !== null && !Array.isArray(a) && !isRef(a) && !isBatchDim(a) ? (a as Opts) : {});

/** Python for a functional node, or a NotSupportedError naming it. */
function functionExpr(n: GraphNode, v: (id: number) => string): string {
  const a = (i: number) => argExpr(n.args[i], v);
  const has = (i: number) => n.args.length > i && n.args[i] !== undefined;
  switch (n.target) {
    case "add":
      return `torch.add(${a(0)}, ${a(1)})`;
    case "relu":
      return `F.relu(${a(0)})`;
    case "relu6":
      return `F.hardtanh(${a(0)}, 0.0, 6.0)`;
    case "hardtanh":
      return `F.hardtanh(${a(0)}, ${has(1) ? a(1) : "-1.0"}, ${has(2) ? a(2) : "1.0"})`;
    case "concat":
      return `torch.cat(${a(0)}, ${has(1) ? a(1) : "0"})`;
    case "flatten":
      return `torch.flatten(${a(0)}, ${has(1) ? a(1) : "0"}, ${has(2) ? a(2) : "-1"})`;
    case "reshape":
      return `${a(0)}.reshape(${a(1)})`;
    case "permute":
      return `${a(0)}.permute(${a(1)})`;
    case "transpose":
      return `${a(0)}.transpose(${a(1)}, ${a(2)})`;
    case "dropout":
      return `F.dropout(${a(0)}, ${a(1)}, self.training)`;
    case "maxPool2d": {
      const o = opt(n.args[2]);
      const k = n.args[1] as number | number[];
      return `F.max_pool2d(${a(0)}, ${pair(k)}, ${pair((o.stride as number) ?? k)}, ${pair((o.padding as number) ?? 0)}, ${pair((o.dilation as number) ?? 1)}, ${pyLiteral(o.ceilMode ?? false)})`;
    }
    case "avgPool2d": {
      const o = opt(n.args[2]);
      const k = n.args[1] as number | number[];
      return `F.avg_pool2d(${a(0)}, ${pair(k)}, ${pair((o.stride as number) ?? k)}, ${pair((o.padding as number) ?? 0)}, ${pyLiteral(o.ceilMode ?? false)}, ${pyLiteral(o.countIncludePad ?? true)})`;
    }
    case "adaptiveAvgPool2d":
      return `F.adaptive_avg_pool2d(${a(0)}, ${a(1)})`;
    default:
      throw new NotSupportedError(`exportTorch: graph node '${n.name}' calls op '${n.target}', which the PyTorch export does not support (conv/linear/bn/relu/pool/add/concat/flatten/reshape are)`);
  }
}

export interface GeneratedModel {
  /** model.py source. */
  source: string;
  /** Paths of conv-bn / linear-bn modules whose BN statistics are frozen. */
  frozenBn: string[];
}

/** Generates model.py for a prepared model. */
export function generateModel(qm: QatModel): GeneratedModel {
  const gm = qm.module;
  if (!(gm instanceof GraphModule)) throw new ValueError("exportTorch: the model is not a prepared graph model (QatModel from quant.prepareQat)");
  const g = gm.graph;
  const init: string[] = [];
  const body: string[] = [];
  const grid = new Map<number, string>();
  const v = (id: number) => `v${id}`;
  const place = (path: string, expr: string) => init.push(`        place(self, ${JSON.stringify(path)}, ${expr})`);
  // inputs and their quantizers (QuantStub `quant`, `quant_1`, …)
  const stubs = ["quant", ...qm.extraInputStubs.map((_, i) => `quant_${i + 1}`)];
  const params = g.inputs.map((_, i) => (i === 0 ? "x" : `x_${i}`));
  stubs.forEach((name, i) => {
    const stub = qm.getSubmodule(name);
    const q = outputQuantizerOf(stub);
    place(name, "Node()");
    if (q) {
      place(`${name}.activation_post_process`, quantizerExpr(q, `${name}.activation_post_process`));
      body.push(`        ${v(g.inputs[i])} = ${pyPath(`${name}.activation_post_process`)}(${params[i]})`);
      grid.set(g.inputs[i], pyPath(`${name}.activation_post_process`));
    } else body.push(`        ${v(g.inputs[i])} = ${params[i]}`);
  });
  const placed = new Set<string>();
  const frozenBn: string[] = [];
  for (const n of g.nodes) {
    if (n.kind === "get_attr" || n.kind === "constant") {
      throw new NotSupportedError(`exportTorch: graph node '${n.name}' (${n.kind} ${n.target}) reads a tensor inside forward; the PyTorch export supports module calls and functional ops only`);
    }
    if (n.outputs.length !== 1) throw new NotSupportedError(`exportTorch: graph node '${n.name}' has ${n.outputs.length} outputs; the PyTorch export supports single-output nodes`);
    const out = n.outputs[0];
    const refs = n.args.map((x) => (isRef(x) ? x.ref : null));
    if (n.kind === "call_function") {
      body.push(`        ${v(out)} = ${functionExpr(n, v)}  # ${n.name}`);
      if (SHARES_INPUT_QPARAMS.has(n.target) && refs[0] !== null && grid.has(refs[0])) grid.set(out, grid.get(refs[0])!);
      continue;
    }
    const m = gm.getSubmodule(n.target);
    const path = `module.${n.target}`;
    const acc = pyPath(path);
    if (!placed.has(path)) {
      placed.add(path);
      place(path, layerExpr(m, path, n));
      if (m instanceof QatWeightLayer) place(`${path}.weight_fake_quant`, quantizerExpr(m.weight_fake_quant, `${path}.weight_fake_quant`));
      const oq = outputQuantizerOf(m);
      if (oq && !isQuantizer(m)) place(`${path}.activation_post_process`, quantizerExpr(oq, `${path}.activation_post_process`));
      if (isBnFolded(m) && m.freezeBn) frozenBn.push(path);
    }
    const args = n.args.map((x) => argExpr(x, v)).join(", ");
    if (m instanceof QatWeightLayer) {
      const xq = refs[0] !== null ? (grid.get(refs[0]) ?? "None") : "None";
      body.push(`        ${v(out)} = ${acc}(${args}, ${xq})  # ${n.name}: ${m.typeName}`);
    } else if (m instanceof Concat) {
      body.push(`        ${v(out)} = ${acc}(*${args})  # ${n.name}`);
    } else body.push(`        ${v(out)} = ${acc}(${args})  # ${n.name}${isQuantizer(m) ? "" : `: ${m.typeName}`}`);
    if (isQuantizer(m)) grid.set(out, acc);
    else if (outputQuantizerOf(m)) {
      body.push(`        ${v(out)} = ${acc}.activation_post_process(${v(out)})`);
      grid.set(out, `${acc}.activation_post_process`);
    } else if (keepsInputGrid(m) && refs[0] !== null && grid.has(refs[0])) grid.set(out, grid.get(refs[0])!);
  }
  body.push(`        return ${v(g.outputs[0])}`);
  const source = [
    `"""${gm.sourceType} prepared for QAT, generated by qat-ts exportTorch from its captured graph (${g.nodes.length} nodes).`,
    "",
    "Module paths and state-dict keys are qat-ts's; forward() is the graph, one line a node. The",
    "quantizers (qat_runtime.py) and QAT layers (qat_layers.py) reproduce qat-ts's numerics.",
    '"""',
    "import math  # noqa: F401 (inf in quantizer arguments)",
    "",
    "import torch",
    "import torch.nn as nn",
    "import torch.nn.functional as F  # noqa: F401",
    "",
    "from qat_layers import Add, BatchNorm1d, BatchNorm2d, Concat, Node, QatConv2d, QatConvBn2d, QatLinear, QatLinearBn1d, place  # noqa: F401",
    "from qat_runtime import FakeQuantize, FusedMovingAvgObsFakeQuantize, LearnableFakeQuantize, MovingAverageMinMaxObserver  # noqa: F401",
    "",
    `FROZEN_BN = ${JSON.stringify(frozenBn)}`,
    `INPUT_SHAPE = ${JSON.stringify(qm.inputShape ?? g.value(g.inputs[0]).shape)}`,
    "",
    "",
    "class QatModel(nn.Module):",
    "    def __init__(self):",
    "        super().__init__()",
    ...init,
    "        for path in FROZEN_BN:",
    "            self.get_submodule(path).freeze_bn_stats()",
    "",
    `    def forward(self, ${params.join(", ")}):`,
    ...body,
    "",
  ].join("\n");
  return { source, frozenBn };
}
