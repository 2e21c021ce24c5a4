/**
 * QConfigs of the dynamic and weight-only schemes (presets `dynamic`, `int4WeightOnly`,
 * `int8DynActInt4Weight` in qconfig.ts). Their activation factory is `FloatActivation`
 * (values stay float between layers, as in PyTorch's dynamically quantized models); their
 * weight factory is a grouped weight fake-quantizer that also names the run-time input
 * quantizer QatLinear builds (`input_fake_quant`: per tensor uint8, per token int8, or none
 * for weight-only). Only Linear layers use them: a Conv2d given one of these qconfigs is
 * refused by convert (it has no dynamic kernel).
 * Called by qconfig.ts and user code (`quant.dynamicQConfig({ groupSize: 64 })`).
 */
import { ValueError } from "../tensor/errors.js";
import type { Module } from "../nn/module.js";
import type { QConfig } from "./prepare.js";
import { DynamicFakeQuantize, FloatActivation } from "./dynamic-fake-quant.js";
import { GroupwiseFakeQuantize } from "./groupwise.js";

export interface DynamicQConfigOptions {
  /** Weight bits, 2–8 (default 8). */
  weightBits?: number;
  /** Input features per weight group, or "row" (per output channel; the default). */
  groupSize?: number | "row";
  /** Symmetric weights (default true). */
  symmetric?: boolean;
  /** Learned per-group weight scales (LSQ) instead of min/max at each forward (default false). */
  lsq?: boolean;
  /** Run-time input quantization: "per_tensor" (default, uint8), "per_token" (int8), "none" (weight-only). */
  activations?: "per_tensor" | "per_token" | "none";
  /** Storage of the dynamically quantized input (default uint8 per tensor, int8 per token). */
  activationDType?: "uint8" | "int8";
  name?: string;
}

/**
 * The options of a generated dynamicQConfig name (`dynamic-w4g32-lsq-pertoken`, …), so that
 * quant.qconfigByName and QAT checkpoints find it again; null for other names.
 */
export function parseDynamicQConfigName(name: string): DynamicQConfigOptions | null {
  const m = /^dynamic-w([2-8])(?:g(\d+))?(-asym)?(-lsq)?(-weightonly|-pertoken)?(-uint8|-int8)?$/.exec(name);
  if (!m) return null;
  const acts = m[5] === "-weightonly" ? "none" : m[5] === "-pertoken" ? "per_token" : "per_tensor";
  return {
    name, weightBits: Number(m[1]), groupSize: m[2] ? Number(m[2]) : "row", symmetric: !m[3], lsq: Boolean(m[4]), activations: acts,
    ...(m[6] ? { activationDType: m[6].slice(1) as "uint8" | "int8" } : {}),
  };
}

/** A qconfig for dynamic / weight-only quantization of Linear layers. */
export function dynamicQConfig(o: DynamicQConfigOptions = {}): QConfig {
  const acts = o.activations ?? "per_tensor";
  if (acts !== "per_tensor" && acts !== "per_token" && acts !== "none") throw new ValueError(`dynamicQConfig: activations must be "per_tensor", "per_token" or "none", got ${String(acts)}`);
  const dtype = o.activationDType ?? (acts === "per_token" ? "int8" : "uint8");
  const wb = o.weightBits ?? 8;
  const gs = o.groupSize ?? "row";
  const dtypeTag = o.activationDType && o.activationDType !== (acts === "per_token" ? "int8" : "uint8") ? `-${o.activationDType}` : "";
  const name = o.name ?? `dynamic-w${wb}${gs === "row" ? "" : `g${gs}`}${o.symmetric === false ? "-asym" : ""}${o.lsq ? "-lsq" : ""}${acts === "none" ? "-weightonly" : acts === "per_token" ? "-pertoken" : ""}${dtypeTag}`;
  // checks the options now rather than at the first layer
  new GroupwiseFakeQuantize({ bits: wb, groupSize: gs, symmetric: o.symmetric ?? true, scales: o.lsq ? "lsq" : "minmax" });
  const weight = (): Module => {
    const w = new GroupwiseFakeQuantize({ bits: wb, groupSize: gs, symmetric: o.symmetric ?? true, scales: o.lsq ? "lsq" : "minmax" });
    if (acts !== "none") w.inputQuantizer = () => new DynamicFakeQuantize({ granularity: acts, dtype });
    return w;
  };
  return { name, weight, activation: () => new FloatActivation() };
}
