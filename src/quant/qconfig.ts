/**
 * QConfig presets (DESIGN.md §3) and a builder for any bit width:
 *
 *   x86         = PyTorch 1.13 get_default_qat_qconfig("x86"): uint8 activations [0, 255] with
 *                 reduce_range (→ [0, 127]), MovingAverageMinMax (c = 0.01); int8 [−128, 127]
 *                 per-channel symmetric weights, MovingAveragePerChannelMinMax.
 *   onednn      = the same without reduce_range (full 8-bit activations).
 *   onnxruntime = uint8 asymmetric activations with reduce_range (7-bit, [0, 127]), int8
 *                 per-channel symmetric weights (zp 0) — what onnxruntime's QLinearConv / QDQ
 *                 fusion wants. The 7-bit range matters on x86 CPUs without VNNI: onnxruntime's
 *                 fused u8×s8 kernels (AVX2 vpmaddubsw) saturate pairwise sums with full 8-bit
 *                 activations (measured here: up to 41 quanta off, top-1 86.5 %), and are
 *                 exact with 7-bit ones — the same reason PyTorch's x86 preset reduces the range.
 *   tflite      = int8 asymmetric activations [−128, 127], narrow-range int8 weights [−127, 127]
 *                 per channel (TFLite's int8 spec).
 *   w4a8        = 4-bit per-channel symmetric LSQ weights, 8-bit activations.
 *
 *   dynamic              = int8 per-channel symmetric weights (PyTorch's per-channel qint8 rule,
 *                          S = amax/127.5), activations stay float and each Linear quantizes its
 *                          input at run time, per tensor, uint8 (onnxruntime DynamicQuantizeLinear).
 *   int4WeightOnly       = 4-bit grouped weights (groupSize 32, asymmetric uint4 with an integer
 *                          zero point, as MatMulNBits stores), float activations.
 *   int8DynActInt4Weight = "8da4w": 4-bit grouped symmetric weights (groupSize 32), int8 per-token
 *                          dynamic activations (torchao's Int8DynActInt4WeightQATQuantizer).
 *   torchao's QAT quantizers default to groupsize 256; 32 here so that widths of 64 divide it
 *   (any divisor of in_features works: dynamicQConfig({ groupSize })).
 *
 * `qconfigFor({ weightBits, activationBits, … })` builds the same kind of config for 2–8 bits,
 * with LSQ (learnable step size) optional on either side. Called by user code and the CLI.
 */
import { ValueError } from "../tensor/errors.js";
import type { Module } from "../nn/module.js";
import { FakeQuantize } from "./fake-quantize.js";
import { defaultFusedActFakeQuant, defaultFusedPerChannelWtFakeQuant } from "./fake-quantize-defaults.js";
import { lsqActivationFakeQuant, lsqWeightFakeQuant } from "./lsq-presets.js";
import { MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver } from "./observer.js";
import type { QConfig, WeightContext } from "./prepare.js";
import { dynamicQConfig, parseDynamicQConfigName } from "./dynamic-qconfig.js";

export interface QConfigOptions {
  /** 2–8 (default 8). */
  weightBits?: number;
  /** 2–8 (default 8). */
  activationBits?: number;
  /** Per-output-channel weight scales (default true). */
  perChannel?: boolean;
  /** Weights in [−(2^(b−1) − 1), 2^(b−1) − 1] (TFLite narrow range; default false). */
  narrowRange?: boolean;
  /** Activation storage: "uint8" (default, asymmetric) or "int8". */
  activationDType?: "uint8" | "int8";
  /** Halve the activation range (PyTorch x86/fbgemm reduce_range; default false). */
  reduceRange?: boolean;
  /** Learnable step sizes (LSQ) for weights / activations (default false). */
  lsqWeights?: boolean;
  lsqActivations?: boolean;
  name?: string;
}

function checkBits(bits: number, what: string): void {
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new ValueError(`qconfig: ${what} must be an integer from 2 to 8, got ${bits}`);
}

/** A QConfig for the given bit widths and schemes. */
export function qconfigFor(o: QConfigOptions = {}): QConfig {
  const wb = o.weightBits ?? 8;
  const ab = o.activationBits ?? 8;
  checkBits(wb, "weightBits");
  checkBits(ab, "activationBits");
  const perChannel = o.perChannel ?? true;
  const wMax = 2 ** (wb - 1) - 1;
  const wMin = o.narrowRange ? -wMax : -wMax - 1;
  const aDType = o.activationDType ?? "uint8";
  let aMin = aDType === "uint8" ? 0 : -(2 ** (ab - 1));
  let aMax = aDType === "uint8" ? 2 ** ab - 1 : 2 ** (ab - 1) - 1;
  const lsqTag = o.lsqWeights && o.lsqActivations ? "-lsq" : o.lsqWeights ? "-lsqw" : o.lsqActivations ? "-lsqa" : "";
  const name = o.name ?? `w${wb}a${ab}${lsqTag}`;
  const weight = (ctx?: WeightContext): Module => {
    if (o.lsqWeights) return lsqWeightFakeQuant({ quantMin: wMin, quantMax: wMax, perChannel, channelLen: ctx?.outChannels });
    return perChannel
      ? new FakeQuantize({ observer: MovingAveragePerChannelMinMaxObserver, quantMin: wMin, quantMax: wMax, dtype: "int8", qscheme: "per_channel_symmetric", chAxis: 0 })
      : new FakeQuantize({ observer: MovingAverageMinMaxObserver, quantMin: wMin, quantMax: wMax, dtype: "int8", qscheme: "per_tensor_symmetric" });
  };
  const reduce = o.reduceRange ?? false;
  if (reduce && o.lsqActivations) {
    aMin = Math.trunc(aMin / 2);
    aMax = Math.trunc(aMax / 2);
  }
  const activation = (): Module => {
    if (o.lsqActivations) return lsqActivationFakeQuant({ quantMin: aMin, quantMax: aMax, dtype: aDType });
    return new FakeQuantize({ observer: MovingAverageMinMaxObserver, quantMin: aMin, quantMax: aMax, dtype: aDType, reduceRange: reduce });
  };
  return { name, weight, activation };
}

/**
 * PyTorch 1.13's default QAT qconfig (version 1): fused moving-average observer + fake-quant
 * modules for activations (uint8 [0, 255], reduce_range for x86) and per-channel int8 weights.
 */
function torchDefault(name: string, reduceRange: boolean): QConfig {
  return {
    name,
    activation: () => defaultFusedActFakeQuant(reduceRange ? { reduceRange: true } : {}),
    weight: () => defaultFusedPerChannelWtFakeQuant(),
  };
}

/** The presets of DESIGN.md §3. */
export const qconfigs = {
  get x86(): QConfig {
    return torchDefault("x86", true);
  },
  get onednn(): QConfig {
    return torchDefault("onednn", false);
  },
  get onnxruntime(): QConfig {
    return qconfigFor({ name: "onnxruntime", reduceRange: true });
  },
  get tflite(): QConfig {
    return qconfigFor({ name: "tflite", activationDType: "int8", narrowRange: true });
  },
  get w4a8(): QConfig {
    return qconfigFor({ name: "w4a8", weightBits: 4, lsqWeights: true });
  },
  get dynamic(): QConfig {
    return dynamicQConfig({ name: "dynamic" });
  },
  get int4WeightOnly(): QConfig {
    return dynamicQConfig({ name: "int4WeightOnly", weightBits: 4, groupSize: 32, symmetric: false, activations: "none" });
  },
  get int8DynActInt4Weight(): QConfig {
    return dynamicQConfig({ name: "int8DynActInt4Weight", weightBits: 4, groupSize: 32, activations: "per_token" });
  },
};

export type QConfigPreset = keyof typeof qconfigs;

/**
 * A preset by name, or a bit-width spec `w<bits>a<bits>` with optional `-lsq` (LSQ on weights
 * and activations), `-lsqw` (weights only) or `-lsqa`, or a dynamicQConfig name
 * (`dynamic-w4g32-lsq-pertoken`); unknown names list the choices.
 */
export function qconfigByName(name: string): QConfig {
  if (Object.prototype.hasOwnProperty.call(qconfigs, name)) return qconfigs[name as QConfigPreset];
  const dyn = parseDynamicQConfigName(name);
  if (dyn) return dynamicQConfig(dyn);
  const m = /^w([2-8])a([2-8])(-lsq(w|a)?)?$/.exec(name);
  if (!m) throw new ValueError(`unknown qconfig '${name}'; choose one of ${Object.keys(qconfigs).join(", ")}, w<2-8>a<2-8>[-lsq|-lsqw|-lsqa] or dynamic-w<2-8>[g<size>][-asym][-lsq][-weightonly|-pertoken]`);
  const lsq = m[3] !== undefined;
  return qconfigFor({
    name, weightBits: Number(m[1]), activationBits: Number(m[2]),
    lsqWeights: lsq && m[4] !== "a", lsqActivations: lsq && m[4] !== "w",
  });
}
