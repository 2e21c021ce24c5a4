/**
 * The PT2E Quantizer API (torch.ao.quantization.quantizer) over our graph: a `Quantizer`
 * annotates graph nodes — `node.meta.quantizationAnnotation = { inputQSpecMap, outputQSpec }` —
 * and prepareQat inserts fake-quantizers from those annotations (quantizer-prepare.ts).
 *
 *   QuantizationSpec             dtype, qmin/qmax, qscheme, chAxis, isDynamic and the
 *                                observerOrFakeQuantCtr (a `withArgs` factory) that builds it
 *   FixedQParamsQuantizationSpec a fixed scale / zero point (sigmoid's 1/256, 0)
 *   SharedQuantizationSpec       the same quantizer as an edge (value → user) or a node's output
 *   DerivedQuantizationSpec      qparams computed from others (a bias from input and weight scales)
 *
 * Keys of `inputQSpecMap`: a value id read by the node (an activation edge, or a parameter a
 * functional linear reads as its weight), or "weight" / "bias" for the parameters of a module
 * call (Conv2d, Linear, a fused group). As in PT2E, an input edge whose spec equals the spec of
 * its value's producer shares that quantizer (implicit sharing), and so do equal specs of several
 * users of one value. Specs are equal when they are the same object, or have the same fields
 * and the same constructor.
 * Called by quantizer-default.ts, quantizer-prepare.ts and user quantizers.
 */
import { ValueError } from "../tensor/errors.js";
import type { Module } from "../nn/module.js";
import type { GraphNode } from "../graph/graph.js";
import type { GraphModule } from "../graph/graph-module.js";
import type { QScheme, QuantDType } from "./quant-spec.js";
import type { WeightContext } from "./prepare.js";

/** What prepare passes to an observerOrFakeQuantCtr (PT2E passes the spec's fields to with_args). */
export type QuantizerCtorArgs = {
  dtype?: QuantDType;
  quantMin?: number;
  quantMax?: number;
  qscheme?: QScheme;
  chAxis?: number;
};

/** Builds a fake-quantizer: a `withArgs` factory (called with the spec's fields) or any function. */
export type ObserverOrFakeQuantCtr = (args: QuantizerCtorArgs, ctx?: WeightContext) => Module;

/** An edge: value `value` as read by node `user`. */
export interface Edge {
  readonly value: number;
  readonly user: GraphNode;
}
/** A node stands for its (first) output value. */
export type EdgeOrNode = Edge | GraphNode;

export const edge = (value: number, user: GraphNode): Edge => ({ value, user });
export const isEdge = (e: EdgeOrNode): e is Edge => typeof (e as Edge).value === "number" && (e as Edge).user !== undefined;

export interface QuantizationSpecOptions {
  dtype: QuantDType | "float32";
  observerOrFakeQuantCtr: ObserverOrFakeQuantCtr;
  qmin?: number;
  qmax?: number;
  qscheme?: QScheme;
  chAxis?: number;
  isDynamic?: boolean;
}

/** How one value is quantized (PT2E's QuantizationSpec). */
export class QuantizationSpec {
  readonly kind = "spec";
  readonly dtype: QuantDType | "float32";
  readonly observerOrFakeQuantCtr: ObserverOrFakeQuantCtr;
  readonly qmin?: number;
  readonly qmax?: number;
  readonly qscheme?: QScheme;
  readonly chAxis?: number;
  readonly isDynamic: boolean;

  constructor(o: QuantizationSpecOptions) {
    if (typeof o?.observerOrFakeQuantCtr !== "function") throw new ValueError("QuantizationSpec: observerOrFakeQuantCtr must be a factory (e.g. FakeQuantize.withArgs({...}))");
    if (o.qmin !== undefined && o.qmax !== undefined && !(o.qmin < o.qmax)) throw new ValueError(`QuantizationSpec: qmin ${o.qmin} must be below qmax ${o.qmax}`);
    this.dtype = o.dtype;
    this.observerOrFakeQuantCtr = o.observerOrFakeQuantCtr;
    this.qmin = o.qmin;
    this.qmax = o.qmax;
    this.qscheme = o.qscheme;
    this.chAxis = o.chAxis;
    this.isDynamic = o.isDynamic ?? false;
  }

  /** The quantizer module this spec describes. */
  build(ctx?: WeightContext): Module {
    const args: QuantizerCtorArgs = {};
    if (this.dtype !== "float32") args.dtype = this.dtype;
    if (this.qmin !== undefined) args.quantMin = this.qmin;
    if (this.qmax !== undefined) args.quantMax = this.qmax;
    if (this.qscheme !== undefined) args.qscheme = this.qscheme;
    if (this.chAxis !== undefined) args.chAxis = this.chAxis;
    return this.observerOrFakeQuantCtr(args, ctx);
  }
}

export interface FixedQParamsQuantizationSpecOptions {
  dtype: QuantDType;
  scale: number;
  zeroPoint: number;
  qmin?: number;
  qmax?: number;
  qscheme?: QScheme;
}

/** A fixed scale and zero point (PT2E's FixedQParamsQuantizationSpec): built as a FixedQParamsFakeQuantize. */
export class FixedQParamsQuantizationSpec {
  readonly kind = "fixed";
  readonly dtype: QuantDType;
  readonly scale: number;
  readonly zeroPoint: number;
  readonly qmin?: number;
  readonly qmax?: number;
  readonly qscheme?: QScheme;

  constructor(o: FixedQParamsQuantizationSpecOptions) {
    if (!(o?.scale > 0) || !Number.isFinite(o.scale)) throw new ValueError(`FixedQParamsQuantizationSpec: scale must be a positive number, got ${o?.scale}`);
    if (!Number.isInteger(o.zeroPoint)) throw new ValueError(`FixedQParamsQuantizationSpec: zeroPoint must be an integer, got ${o.zeroPoint}`);
    this.dtype = o.dtype;
    this.scale = o.scale;
    this.zeroPoint = o.zeroPoint;
    this.qmin = o.qmin;
    this.qmax = o.qmax;
    this.qscheme = o.qscheme;
  }
}

/** The same quantizer as another edge or node output (PT2E's SharedQuantizationSpec). */
export class SharedQuantizationSpec {
  readonly kind = "shared";
  constructor(readonly edgeOrNode: EdgeOrNode) {
    if (!edgeOrNode) throw new ValueError("SharedQuantizationSpec: needs an edge or a node");
  }
}

/** Derived qparams (PT2E's DerivedQuantizationSpec): here the int32 bias on S_x·S_w of a conv/linear. */
export class DerivedQuantizationSpec {
  readonly kind = "derived";
  readonly derivedFrom: readonly (EdgeOrNode | "weight")[];
  readonly dtype: QuantDType;
  readonly qscheme?: QScheme;
  readonly chAxis?: number;

  constructor(o: { derivedFrom: readonly (EdgeOrNode | "weight")[]; dtype: QuantDType; qscheme?: QScheme; chAxis?: number }) {
    if (!Array.isArray(o?.derivedFrom) || o.derivedFrom.length === 0) throw new ValueError("DerivedQuantizationSpec: derivedFrom lists the edges/nodes the qparams come from");
    this.derivedFrom = o.derivedFrom;
    this.dtype = o.dtype;
    this.qscheme = o.qscheme;
    this.chAxis = o.chAxis;
  }
}

export type QuantizationSpecBase = QuantizationSpec | FixedQParamsQuantizationSpec | SharedQuantizationSpec | DerivedQuantizationSpec;

/** Input key of a module call's parameters. */
export type ParamKey = "weight" | "bias";

/** What a quantizer decided for one node (PT2E's QuantizationAnnotation). */
export interface QuantizationAnnotation {
  /** Per input value id (or "weight" / "bias" of a module call): its spec; null = leave float. */
  inputQSpecMap: Map<number | ParamKey, QuantizationSpecBase | null>;
  /** The spec of the node's output; null = leave float. */
  outputQSpec: QuantizationSpecBase | null;
  /** Let equal specs share one quantizer (default true, as PT2E). */
  allowImplicitSharing?: boolean;
}

/**
 * A quantizer (PT2E's torch.ao.quantization.quantizer.Quantizer): `annotate` writes
 * annotations on the captured, fused graph of `model` (the GraphModule prepareQat builds; its
 * modules are reachable with model.getSubmodule(node.target)); `validate` may reject it.
 */
export interface Quantizer {
  /** Stored in the prepared model's description (checkpoints). */
  readonly name?: string;
  annotate(model: GraphModule): GraphModule | void;
  validate?(model: GraphModule): void;
}

/** The annotation on `node`, if any. */
export function annotationOf(node: GraphNode): QuantizationAnnotation | null {
  return (node.meta?.quantizationAnnotation as QuantizationAnnotation | undefined) ?? null;
}

/**
 * Sets (or merges into) the annotation of `node`: given input entries replace existing ones,
 * a given outputQSpec replaces the old one.
 */
export function annotate(node: GraphNode, a: { inputQSpecMap?: Map<number | ParamKey, QuantizationSpecBase | null> | [number | ParamKey, QuantizationSpecBase | null][]; outputQSpec?: QuantizationSpecBase | null; allowImplicitSharing?: boolean }): QuantizationAnnotation {
  const old = annotationOf(node);
  const ann: QuantizationAnnotation = old ?? { inputQSpecMap: new Map(), outputQSpec: null };
  for (const [k, s] of a.inputQSpecMap ?? []) ann.inputQSpecMap.set(k, s);
  if (a.outputQSpec !== undefined) ann.outputQSpec = a.outputQSpec;
  if (a.allowImplicitSharing !== undefined) ann.allowImplicitSharing = a.allowImplicitSharing;
  node.meta = { ...(node.meta ?? {}), quantizationAnnotation: ann };
  return ann;
}

/** Whether two specs describe the same quantizer (for implicit sharing). */
export function sameSpec(a: QuantizationSpecBase, b: QuantizationSpecBase): boolean {
  if (a === b) return true;
  if (a.kind === "spec" && b.kind === "spec") {
    return a.observerOrFakeQuantCtr === b.observerOrFakeQuantCtr && a.dtype === b.dtype && a.qmin === b.qmin && a.qmax === b.qmax && a.qscheme === b.qscheme && a.chAxis === b.chAxis && a.isDynamic === b.isDynamic;
  }
  if (a.kind === "fixed" && b.kind === "fixed") return a.dtype === b.dtype && a.scale === b.scale && a.zeroPoint === b.zeroPoint && a.qmin === b.qmin && a.qmax === b.qmax;
  return false;
}
