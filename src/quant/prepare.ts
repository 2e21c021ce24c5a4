/**
 * `prepareQat(model, { qconfig })`: turns a float model into a QAT model, like
 * torch.ao.quantization.prepare_qat after fuse_modules_qat, but automatic:
 *
 * 1. copies the model (unless `inplace`),
 * 2. fuses conv→bn(→relu/relu6), conv→relu, linear(→bn)(→relu) (auto-detected, or the
 *    groups you pass as `fuse`),
 * 3. swaps Conv2d/Linear and fused groups for QAT modules whose weights pass through
 *    `weight_fake_quant` (BN folding simulated, src/quant/qat-modules.ts),
 * 4. attaches an output quantizer (`activation_post_process`) after every op whose output
 *    gets new quantization parameters: conv/linear (after the fused activation), standalone
 *    ReLU/ReLU6/Hardtanh/Sigmoid, Add, Concat, average pools — while MaxPool, Flatten,
 *    Dropout and Identity keep their input's parameters, as in the integer engine,
 * 5. wraps the result in a QatModel with a QuantStub at the entry (input quantizer).
 *
 * Per-module choices: `overrides` match by exact path (also applying to the module's
 * descendants, as PyTorch's module-name qconfig), by RegExp on the path, or by layer class;
 * the first match wins, and `qconfig: null` keeps that module in float.
 * Called by user code, the CLI and quant.loadPrepared.
 */
import { ValueError } from "../tensor/errors.js";
import { Hardtanh, ReLU, Sigmoid } from "../nn/layers/activation.js";
import { Conv2d } from "../nn/layers/conv.js";
import { Linear } from "../nn/layers/linear.js";
import { Add, Concat } from "../nn/layers/merge.js";
import { AdaptiveAvgPool2d, AvgPool2d } from "../nn/layers/pooling.js";
import { cloneModule } from "../nn/clone.js";
import type { Module } from "../nn/module.js";
import { Fused, findFusionGroups, fuseModules } from "./fuse.js";
import { QatConv2d, QatConvBn2d, QatLinear, QatLinearBn1d, QatWeightLayer, actClampOf } from "./qat-modules.js";
import { type PrepareDescription, QatModel, attachGridPassThrough, attachOutputQuantizer } from "./stubs.js";
import { MaxPool2d } from "../nn/layers/pooling.js";
import { Flatten } from "../nn/layers/shape.js";
import { Dropout } from "../nn/layers/dropout.js";
import { Identity as IdentityLayer } from "../nn/layers/linear.js";
import { type BatchNorm1d, BatchNorm2d } from "../nn/layers/batchnorm.js";

/** What a weight-quantizer factory learns about the layer it quantizes. */
export interface WeightContext {
  /** Output channels (the per-channel axis 0 length). */
  outChannels: number;
}

/** Factories for the weight and activation quantizers of a module. */
export interface QConfig {
  /** Preset or user label, stored in checkpoints. */
  name: string;
  activation: () => Module;
  weight: (ctx?: WeightContext) => Module;
}

/** A per-module qconfig choice; exactly one of name / regex / type. */
export interface QConfigOverride {
  /** Dotted module path (as in model.namedModules()); applies to descendants too. */
  name?: string;
  regex?: RegExp;
  type?: abstract new (...args: any[]) => Module;
  qconfig: QConfig | null;
}

export interface PrepareOptions {
  qconfig: QConfig;
  overrides?: QConfigOverride[];
  /** true (default): detect fusion groups; false: none; or explicit groups of paths. */
  fuse?: boolean | string[][];
  /** Modify `model` itself instead of a copy (default false). */
  inplace?: boolean;
}

function resolver(opts: PrepareOptions): (path: string, m: Module) => QConfig | null {
  const overrides = opts.overrides ?? [];
  for (const o of overrides) {
    const n = Number(o.name !== undefined) + Number(o.regex !== undefined) + Number(o.type !== undefined);
    if (n !== 1) throw new ValueError("prepareQat: each override needs exactly one of name, regex or type");
  }
  return (path, m) => {
    for (const o of overrides) {
      if (o.name !== undefined && (path === o.name || path.startsWith(o.name + "."))) return o.qconfig;
      if (o.regex && o.regex.test(path)) return o.qconfig;
      if (o.type && m instanceof o.type) return o.qconfig;
    }
    return opts.qconfig;
  };
}

/** Modules whose output gets its own quantization parameters. */
function needsOutputQuantizer(m: Module): boolean {
  return m instanceof ReLU || m instanceof Hardtanh || m instanceof Sigmoid || m instanceof Add || m instanceof Concat || m instanceof BatchNorm2d ||
    m instanceof AvgPool2d || m instanceof AdaptiveAvgPool2d || m instanceof QatWeightLayer;
}

/** The QAT replacement for a float layer or fused group, or null to keep it. */
function swapFor(m: Module, qc0: QConfig): Module | null {
  const layer0 = m instanceof Fused ? m.layer : m;
  if (!(layer0 instanceof Conv2d || layer0 instanceof Linear)) return null;
  const ctx = { outChannels: layer0.weight.shape[0] };
  const qc = { weight: () => qc0.weight(ctx) };
  if (m instanceof Fused) {
    const act = actClampOf(m.act);
    const layer = m.layer;
    const bn = m.bn;
    if (layer instanceof Conv2d) return bn ? new QatConvBn2d(layer, bn as BatchNorm2d, qc.weight(), act) : new QatConv2d(layer, qc.weight(), act);
    return bn ? new QatLinearBn1d(layer, bn as BatchNorm1d, qc.weight(), act) : new QatLinear(layer, qc.weight(), act);
  }
  if (m instanceof Conv2d) return new QatConv2d(m, qc.weight());
  if (m instanceof Linear) return new QatLinear(m, qc.weight());
  return null;
}

function describe(opts: PrepareOptions, groups: string[][]): PrepareDescription {
  return {
    qconfig: opts.qconfig.name,
    overrides: (opts.overrides ?? []).map((o) => ({ name: o.name, regex: o.regex?.source, type: o.type?.name, qconfig: o.qconfig ? o.qconfig.name : null })),
    fusionGroups: groups,
  };
}

/** Fuses, swaps in QAT modules, attaches quantizers; see the file header. */
export function prepareQat(model: Module, opts: PrepareOptions): QatModel {
  if (!opts || !opts.qconfig) throw new ValueError("prepareQat: options.qconfig is required (e.g. quant.qconfigs.x86)");
  const m = opts.inplace ? model : cloneModule(model);
  const groups = opts.fuse === false ? [] : Array.isArray(opts.fuse) ? opts.fuse : findFusionGroups(m);
  fuseModules(m, groups);
  const qconfigFor = resolver(opts);
  // Paths whose subtree is settled: kept float, or replaced by a QAT module.
  const done: string[] = [];
  for (const [path, mod] of m.namedModules()) {
    if (path === "" || done.some((p) => path.startsWith(p + "."))) continue;
    const qc = qconfigFor(path, mod);
    if (!qc) {
      done.push(path);
      continue;
    }
    const swapped = swapFor(mod, qc);
    const target = swapped ?? mod;
    if (swapped) {
      m.setSubmodule(path, swapped);
      done.push(path);
    }
    if (needsOutputQuantizer(target)) attachOutputQuantizer(target, qc.activation());
    else if (target instanceof MaxPool2d || target instanceof Flatten || target instanceof Dropout || target instanceof IdentityLayer) attachGridPassThrough(target);
  }
  const top = swapFor(m, opts.qconfig);
  if (top) throw new ValueError("prepareQat: the model itself is a single layer; wrap it in nn.Sequential");
  const qm = new QatModel(m, describe(opts, groups));
  // The input quantizer is addressed as `quant` (or by type QuantStub) in overrides, as
  // PyTorch users set `model.quant.qconfig`; e.g. keep 8-bit images in front of a W4A4 network.
  const inputQc = qconfigFor("quant", qm.quant);
  if (!inputQc) throw new ValueError("prepareQat: the input quantizer (QuantStub `quant`) cannot be left float: an override maps it to null");
  attachOutputQuantizer(qm.quant, inputQc.activation());
  qm.train(model.training);
  return qm;
}
