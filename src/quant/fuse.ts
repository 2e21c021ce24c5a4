/**
 * Module fusion before QAT: conv→bn(→relu/relu6), conv→relu/relu6, linear(→bn)(→relu/relu6)
 * become one `Fused` container (PyTorch's torch.ao.nn.intrinsic modules: a Sequential whose
 * children are "0" conv/linear, "1" bn and/or act), and the absorbed modules become Identity
 * — exactly what `torch.ao.quantization.fuse_modules_qat` does. prepareQat then swaps each
 * Fused container for its QAT module (BN folding simulated, see qat-modules.ts).
 *
 * `fuseModules(model, [["conv1","bn1","relu1"], …])` fuses listed groups (for models written
 * by hand); `fusionGroupsOf(graph, model)` detects them on the captured graph by DATA FLOW
 * (never by registration order: a ReLU registered after bn2 but applied after a residual add
 * must not fuse), and `applyFusion` rewrites module tree and graph together.
 * Called by src/quant/prepare.ts and user code.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import { Hardtanh, ReLU, ReLU6 } from "../nn/layers/activation.js";
import { BatchNorm1d, BatchNorm2d } from "../nn/layers/batchnorm.js";
import { Sequential } from "../nn/layers/container.js";
import { Conv2d } from "../nn/layers/conv.js";
import { Identity, Linear } from "../nn/layers/linear.js";
import type { Module } from "../nn/module.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Graph, GraphNode } from "../graph/graph.js";
import { capture, isAtomicModule } from "../graph/capture.js";
import { exampleInputsFor } from "../graph/example.js";
import { DataFlow } from "../graph/pattern.js";

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

/** A fusion group found in a graph: the member nodes, in data-flow order. */
export interface FusionMatch {
  pattern: FusionPattern;
  nodes: GraphNode[];
  /** Module paths of the members; a functional activation appears as "<node>()". */
  paths: string[];
}

/** The activation a functional node applies, if it folds into an output clamp. */
export function functionalAct(n: GraphNode): ReLU | ReLU6 | Hardtanh | null {
  if (n.kind !== "call_function") return null;
  const [, a, b] = n.args;
  if (n.target === "relu" && n.args.length === 1) return new ReLU();
  if (n.target === "relu6" && n.args.length === 1) return new ReLU6();
  if ((n.target === "hardtanh" || n.target === "clamp") && a === 0 && typeof b === "number" && b > 0) return b === 6 ? new ReLU6() : new Hardtanh(0, b);
  return null;
}

/**
 * Fusion groups by data flow (DESIGN.md §1): conv→bn→act, conv→bn, conv→act, linear(→bn)(→act),
 * where each link is the sole reader of the previous node's output (DataFlow.matchChain), every
 * member module is called exactly once in the graph, and channel counts match. The activation
 * may be a module (ReLU, ReLU6, Hardtanh(0, x)) or a functional relu/relu6/clamp(0, x).
 */
export function fusionGroupsOf(graph: Graph, root: Module): FusionMatch[] {
  const calls = new Map<string, number>();
  for (const n of graph.nodes) if (n.kind === "call_module") calls.set(n.target, (calls.get(n.target) ?? 0) + 1);
  const moduleAt = (n: GraphNode): Module | null => (n.kind === "call_module" && calls.get(n.target) === 1 ? root.getSubmodule(n.target) : null);
  const flow = new DataFlow(graph);
  const matches: FusionMatch[] = [];
  const taken = new Set<GraphNode>();
  for (const anchor of graph.nodes) {
    const layer = moduleAt(anchor);
    if (!(layer instanceof Conv2d || layer instanceof Linear) || taken.has(anchor)) continue;
    const isConv = layer instanceof Conv2d;
    const n = isConv ? layer.outChannels : layer.outFeatures;
    const chain = flow.matchChain(anchor, [
      { match: () => true },
      { match: (x) => bnFits(moduleAt(x), n, isConv), optional: true },
      { match: (x) => (moduleAt(x) !== null && isFusableAct(moduleAt(x)!)) || functionalAct(x) !== null, optional: true },
    ]);
    if (!chain || chain.length < 2 || chain.some((x) => taken.has(x))) continue;
    const mods = chain.map((x) => moduleAt(x) ?? functionalAct(x)!);
    const pattern = patternOf(mods);
    if (!pattern) continue;
    for (const x of chain) taken.add(x);
    matches.push({ pattern, nodes: chain, paths: chain.map((x) => (x.kind === "call_module" ? x.target : `${x.name}()`)) });
  }
  return matches;
}

function bnFits(bn: Module | null, n: number, conv: boolean): boolean {
  return (conv ? bn instanceof BatchNorm2d : bn instanceof BatchNorm1d) && (bn as BatchNorm2d).numFeatures === n && (bn as BatchNorm2d).trackRunningStats;
}

/**
 * Applies a match to `root` and its graph: a Fused container at the first member's path, the
 * other member modules become Identity, and the graph keeps one call_module node that
 * produces what the last member produced.
 */
export function applyFusion(root: Module, graph: Graph, m: FusionMatch): void {
  const mods = m.nodes.map((x) => (x.kind === "call_module" ? root.getSubmodule(x.target) : functionalAct(x)!));
  const [first, ...rest] = m.nodes;
  root.setSubmodule(first.target, new Fused(m.pattern, mods));
  for (const x of rest) if (x.kind === "call_module") root.setSubmodule(x.target, new Identity());
  first.outputs = [...rest[rest.length - 1].outputs];
  graph.nodes = graph.nodes.filter((x) => !rest.includes(x));
}

/**
 * The fusion groups of `model` (module paths; a functional activation as "<node>()"), found by
 * capturing it on `example` (default: exampleInputsFor) — the groups prepareQat fuses.
 */
export function findFusionGroups(model: Module, example?: Tensor | readonly Tensor[]): string[][] {
  const graph = capture(model, exampleInputsFor(model, example, "findFusionGroups"), { atomic: (m) => m instanceof Fused || isAtomicModule(m) });
  return fusionGroupsOf(graph, model).map((g) => g.paths);
}
