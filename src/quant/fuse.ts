/**
 * Module fusion before QAT: conv→bn(→relu/relu6), conv→relu/relu6, linear(→bn)(→relu/relu6)
 * become one `Fused` container (PyTorch's torch.ao.nn.intrinsic modules: a Sequential whose
 * children are "0" conv/linear, "1" bn and/or act), and the absorbed modules become Identity
 * — exactly what `torch.ao.quantization.fuse_modules_qat` does. prepareQat then swaps each
 * Fused container for its QAT module (BN folding simulated, see qat-modules.ts).
 *
 * `fuseModules(model, [["conv1","bn1","relu1"], …])` fuses listed groups (for models written
 * by hand); `findFusionGroups(model)` detects them automatically: consecutive children of the
 * same parent, in registration order, forming a supported pattern with matching channel
 * counts. Called by src/quant/prepare.ts and user code.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import { Hardtanh, ReLU, ReLU6 } from "../nn/layers/activation.js";
import { BatchNorm1d, BatchNorm2d } from "../nn/layers/batchnorm.js";
import { Sequential } from "../nn/layers/container.js";
import { Conv2d } from "../nn/layers/conv.js";
import { Identity, Linear } from "../nn/layers/linear.js";
import type { Module } from "../nn/module.js";

export type FusionPattern = "conv-bn" | "conv-bn-act" | "conv-act" | "linear-act" | "linear-bn" | "linear-bn-act";

/** A fused float group: "0" = Conv2d | Linear, then BatchNorm and/or the activation. */
export class Fused extends Sequential {
  readonly pattern: FusionPattern;

  constructor(pattern: FusionPattern, modules: Module[]) {
    super(...modules);
    this.pattern = pattern;
  }

  get layer(): Conv2d | Linear {
    return this.at(0) as Conv2d | Linear;
  }

  get bn(): BatchNorm1d | BatchNorm2d | null {
    return this.pattern.includes("bn") ? (this.at(1) as BatchNorm1d | BatchNorm2d) : null;
  }

  get act(): ReLU | Hardtanh | null {
    return this.pattern.endsWith("act") ? (this.at(-1) as ReLU | Hardtanh) : null;
  }

  override extraRepr(): string {
    return this.pattern;
  }
}

/** Activations that fold into a quantized output clamp: ReLU, ReLU6, Hardtanh(0, x). */
export function isFusableAct(m: Module): m is ReLU | Hardtanh {
  return m instanceof ReLU || m instanceof ReLU6 || (m instanceof Hardtanh && m.minVal === 0);
}

/** The pattern formed by `mods`, or null. Checks channel counts. */
export function patternOf(mods: readonly Module[]): FusionPattern | null {
  const [a, b, c] = mods;
  const bnFits = (bn: Module | undefined, n: number, conv: boolean) =>
    (conv ? bn instanceof BatchNorm2d : bn instanceof BatchNorm1d) && (bn as BatchNorm2d).numFeatures === n && (bn as BatchNorm2d).trackRunningStats;
  if (a instanceof Conv2d) {
    if (mods.length === 3 && bnFits(b, a.outChannels, true) && isFusableAct(c)) return "conv-bn-act";
    if (mods.length === 2 && bnFits(b, a.outChannels, true)) return "conv-bn";
    if (mods.length === 2 && isFusableAct(b)) return "conv-act";
  }
  if (a instanceof Linear) {
    if (mods.length === 3 && bnFits(b, a.outFeatures, false) && isFusableAct(c)) return "linear-bn-act";
    if (mods.length === 2 && bnFits(b, a.outFeatures, false)) return "linear-bn";
    if (mods.length === 2 && isFusableAct(b)) return "linear-act";
  }
  return null;
}

/** Fuses each group of dotted module paths in place (or on `model` itself; prepare clones first). */
export function fuseModules(model: Module, groups: readonly (readonly string[])[]): Module {
  for (const group of groups) {
    if (group.length < 2) throw new ValueError(`fuseModules: a group needs at least two module paths, got [${group.join(", ")}]`);
    const mods = group.map((p) => model.getSubmodule(p));
    const pattern = patternOf(mods);
    if (!pattern) {
      throw new NotSupportedError(
        `fuseModules: cannot fuse [${group.join(", ")}] (${mods.map((m) => m.constructor.name).join(" → ")}); ` +
          "supported: Conv2d→BatchNorm2d(→ReLU|ReLU6), Conv2d→ReLU|ReLU6, Linear(→BatchNorm1d)(→ReLU|ReLU6), with matching channels",
      );
    }
    model.setSubmodule(group[0], new Fused(pattern, mods));
    for (const p of group.slice(1)) model.setSubmodule(p, new Identity());
  }
  return model;
}

/** Groups of consecutive children (dotted paths) that form a fusion pattern, longest first. */
export function findFusionGroups(model: Module): string[][] {
  const groups: string[][] = [];
  for (const [path, parent] of model.namedModules()) {
    if (parent instanceof Fused) continue;
    const kids = parent.namedChildren();
    for (let i = 0; i < kids.length; i++) {
      for (const len of [3, 2]) {
        const slice = kids.slice(i, i + len);
        if (slice.length === len && patternOf(slice.map(([, m]) => m))) {
          groups.push(slice.map(([name]) => (path ? `${path}.${name}` : name)));
          i += len - 1;
          break;
        }
      }
    }
  }
  return groups;
}
