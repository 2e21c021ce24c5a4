/**
 * `DefaultQuantizer`: the built-in quantizer, PT2E's XNNPACKQuantizer shape (setGlobal,
 * setModuleType, setModuleName, setModuleNameRegex) over our QConfig presets. It annotates
 * what prepareQat has always done — `prepareQat(model, { qconfig, overrides })` *is* this
 * quantizer (DefaultQuantizer.fromOptions), so both paths are one code path:
 *
 *   conv / linear / fused group   weight: the qconfig's weight spec; bias: derived (int32 on S_x·S_w);
 *                                 output: the activation spec (global one when the module's qconfig is null)
 *   max pool, flatten, reshape, permute, slice, … (SHARES_INPUT_QPARAMS, keepsInputGrid)
 *                                 output: SharedQuantizationSpec(its input edge)
 *   every other float-valued op   output: the activation spec (a float island after convert when
 *                                 there is no integer kernel)
 *   functional linear(x, W)       W (a parameter): the weight spec (matmul(x, W) too)
 *   graph input i                 the edges reading it: the spec of "quant" (i = 0) / "quant_<i>"
 *
 * `addRelu: true` also annotates XNNPACK's add_relu pattern: an add whose sole reader is a
 * ReLU / ReLU6 / clamp(0, x) gets no output quantizer, so convert makes one integer add that
 * clamps (default off: the add's output is quantized, then the ReLU's).
 * Rule order: setModuleName, then setModuleNameRegex, then setModuleType, then setGlobal
 * (PT2E's priority); fromOptions keeps the overrides' list order (first match wins).
 * Called by prepare.ts and user code.
 */
import { ValueError } from "../tensor/errors.js";
import type { Module } from "../nn/module.js";
import { Conv2d } from "../nn/layers/conv.js";
import { Linear } from "../nn/layers/linear.js";
import { Add } from "../nn/layers/merge.js";
import { type GraphNode, isRef, refsOf } from "../graph/graph.js";
import type { GraphModule } from "../graph/graph-module.js";
import { DataFlow } from "../graph/pattern.js";
import { Fused, functionalAct, isFusableAct } from "./fuse.js";
import { type PrepareDescription, QuantStub } from "./stubs.js";
import type { QConfig, QConfigOverride } from "./prepare.js";
import { SHARES_INPUT_QPARAMS, appliesInfiniteMask, keepsInputGrid, parameterOnlyValues } from "./prepare.js";
import { DerivedQuantizationSpec, QuantizationSpec, type Quantizer, SharedQuantizationSpec, annotate, annotationOf, edge } from "./quantizer.js";
import type { QScheme, QuantDType } from "./quant-spec.js";

/** PT2E's QuantizationConfig: the specs one rule hands out. */
export interface QuantizationConfig {
  name: string;
  /** Graph inputs and output quantizers of every op. */
  activation: QuantizationSpec;
  /** Conv / linear weights. */
  weight: QuantizationSpec;
}

const configs = new WeakMap<QConfig, QuantizationConfig>();

/** The specs of a QConfig (one object per QConfig, so equal choices share quantizers as PT2E's implicit sharing). */
export function quantizationConfigOf(qc: QConfig): QuantizationConfig {
  const known = configs.get(qc);
  if (known) return known;
  const sample = qc.activation() as unknown as { dtype?: string; quantMin?: number; quantMax?: number; qscheme?: QScheme };
  const isQuantDType = (d: unknown): d is QuantDType => d === "uint8" || d === "int8" || d === "int32";
  const activation = new QuantizationSpec({
    dtype: isQuantDType(sample.dtype) ? sample.dtype : "float32",
    qmin: sample.quantMin, qmax: sample.quantMax, qscheme: sample.qscheme,
    isDynamic: !isQuantDType(sample.dtype),
    observerOrFakeQuantCtr: () => qc.activation(),
  });
  const weight = new QuantizationSpec({ dtype: "int8", chAxis: 0, observerOrFakeQuantCtr: (_args, ctx) => qc.weight(ctx) });
  const cfg = { name: qc.name, activation, weight };
  configs.set(qc, cfg);
  return cfg;
}

type Rule = { name?: string; regex?: RegExp; type?: abstract new (...args: any[]) => Module; qconfig: QConfig | null };

/** Conv2d, Linear or a fused group of one: a module with a weight to quantize. */
export const isWeightModule = (m: Module): boolean => m instanceof Conv2d || m instanceof Linear || (m instanceof Fused && (m.layer instanceof Conv2d || m.layer instanceof Linear));

export interface DefaultQuantizerOptions {
  /** Annotate add → ReLU so that no quantizer sits between them (XNNPACK's add_relu; default false). */
  addRelu?: boolean;
}

export class DefaultQuantizer implements Quantizer {
  private global: QConfig | null = null;
  private readonly rules: Rule[] = [];
  /** true: rules in list order (fromOptions); false: PT2E priority (name, regex, type). */
  private ordered = false;
  readonly addRelu: boolean;

  constructor(opts: DefaultQuantizerOptions = {}) {
    this.addRelu = opts.addRelu ?? false;
  }

  /** The quantizer `prepareQat(model, { qconfig, overrides })` uses. */
  static fromOptions(qconfig: QConfig, overrides: readonly QConfigOverride[] = [], opts: DefaultQuantizerOptions = {}): DefaultQuantizer {
    for (const o of overrides) {
      const n = Number(o.name !== undefined) + Number(o.regex !== undefined) + Number(o.type !== undefined);
      if (n !== 1) throw new ValueError("prepareQat: each override needs exactly one of name, regex or type");
    }
    const q = new DefaultQuantizer(opts).setGlobal(qconfig);
    q.rules.push(...overrides.map((o) => ({ ...o })));
    q.ordered = true;
    return q;
  }

  get name(): string {
    return this.global?.name ?? "custom";
  }

  setGlobal(qconfig: QConfig | null): this {
    this.global = qconfig;
    return this;
  }

  /** Every module of this class (and functional ops never match a type). */
  setModuleType(type: abstract new (...args: any[]) => Module, qconfig: QConfig | null): this {
    this.rules.push({ type, qconfig });
    return this;
  }

  /** The module at this dotted path and its descendants, or a functional node by its graph name ("add_1"). */
  setModuleName(name: string, qconfig: QConfig | null): this {
    this.rules.push({ name, qconfig });
    return this;
  }

  setModuleNameRegex(regex: RegExp, qconfig: QConfig | null): this {
    this.rules.push({ regex, qconfig });
    return this;
  }

  /**
   * This quantizer as a prepare description (qconfig name, overrides in first-match order,
   * addRelu): what a checkpoint stores and `prepareQat(model, { qconfig, overrides, addRelu })`
   * rebuilds. Type rules are listed by class name (loadPrepared cannot restore those).
   */
  describe(): Omit<PrepareDescription, "fusionGroups"> {
    const byPriority = this.ordered ? this.rules : [(o: Rule) => o.name !== undefined, (o: Rule) => o.regex !== undefined, (o: Rule) => o.type !== undefined].flatMap((pick) => this.rules.filter(pick).reverse());
    return {
      qconfig: this.global?.name ?? "custom",
      overrides: byPriority.map((o) => ({ name: o.name, regex: o.regex?.source, type: o.type?.name, qconfig: o.qconfig ? o.qconfig.name : null })),
      ...(this.addRelu ? { addRelu: true } : {}),
    };
  }

  /** The qconfig for a node path (module or null for a functional op / an input). */
  qconfigFor(path: string, m: Module | null): QConfig | null {
    // PT2E's module-type filter sees the original modules: a fused group matches its conv / linear's type too (setModuleType only)
    const fusedLayer = !this.ordered && m instanceof Fused ? m.layer : null;
    const hit = (o: Rule) =>
      (o.name !== undefined && (path === o.name || path.startsWith(o.name + "."))) || (o.regex !== undefined && o.regex.test(path)) ||
      (o.type !== undefined && m !== null && (m instanceof o.type || (fusedLayer !== null && fusedLayer instanceof o.type)));
    if (this.ordered) {
      const r = this.rules.find(hit);
      return r ? r.qconfig : this.global;
    }
    for (const pick of [(o: Rule) => o.name !== undefined, (o: Rule) => o.regex !== undefined, (o: Rule) => o.type !== undefined]) {
      const r = this.rules.filter(pick).reverse().find(hit);
      if (r) return r.qconfig;
    }
    return this.global;
  }

  annotate(gm: GraphModule): void {
    const g = gm.graph;
    const isFloat = (id: number) => g.value(id).dtype === "float32" || g.value(id).dtype === "float64";
    const act = (qc: QConfig) => quantizationConfigOf(qc).activation;
    const calls = new Map<string, GraphNode[]>();
    for (const n of g.nodes) if (n.kind === "call_module") calls.set(n.target, [...(calls.get(n.target) ?? []), n]);
    for (const [path, nodes] of calls) {
      const mod = gm.getSubmodule(path);
      const own = this.qconfigFor(path, mod);
      // qconfig null: the op stays float (a float island after convert); its output is still quantized (global)
      const qc = own ?? this.global;
      const floatOut = nodes.every((n) => isFloat(n.outputs[0]));
      for (const n of nodes) {
        const ins = refsOf(n.args);
        if (own && isWeightModule(mod)) {
          annotate(n, { inputQSpecMap: [["weight", quantizationConfigOf(own).weight], ["bias", new DerivedQuantizationSpec({ derivedFrom: [edge(ins[0], n), "weight"], dtype: "int32" })]] });
        }
        if (keepsInputGrid(mod) && ins.length > 0) annotate(n, { outputQSpec: new SharedQuantizationSpec(edge(ins[0], n)) });
        else if (qc && floatOut) annotate(n, { outputQSpec: act(qc) });
      }
    }
    const constant = parameterOnlyValues(g);
    for (const n of g.nodes) {
      if (n.kind !== "call_function") continue;
      // matmul(x, W) with W a parameter too (its weight quantizer then works on W's axis 1)
      const weightOf = n.target === "linear" || (n.target === "matmul" && !refsOf([n.args[0]]).every((r) => constant.has(r)));
      if (weightOf && isRef(n.args[1]) && constant.has(n.args[1].ref)) {
        const qc = this.qconfigFor(n.name, null);
        if (qc) annotate(n, { inputQSpecMap: [[n.args[1].ref, quantizationConfigOf(qc).weight]] });
      }
      if (n.outputs.length !== 1 || !isFloat(n.outputs[0]) || constant.has(n.outputs[0]) || appliesInfiniteMask(n)) continue;
      if (SHARES_INPUT_QPARAMS.has(n.target)) {
        const x = refsOf(n.args)[0];
        if (x !== undefined) annotate(n, { outputQSpec: new SharedQuantizationSpec(edge(x, n)) });
        continue;
      }
      const qc = this.qconfigFor(n.name, null) ?? this.global;
      if (qc) annotate(n, { outputQSpec: act(qc) });
    }
    this.annotateInputs(gm);
    if (this.addRelu) annotateAddRelu(gm);
  }

  /** Graph input i: the edges that read it get the spec of `quant` (i = 0) or `quant_<i>`. */
  private annotateInputs(gm: GraphModule): void {
    const g = gm.graph;
    const flow = new DataFlow(g);
    g.inputs.forEach((v, i) => {
      const qc = i === 0 ? this.qconfigFor("quant", new QuantStub()) : this.qconfigFor(`quant_${i}`, null) ?? this.global;
      if (i === 0 && !qc && this.global) throw new ValueError("prepareQat: the input quantizer (QuantStub `quant`) cannot be left float: an override maps it to null");
      if (!qc || g.value(v).dtype === "int32") return;
      for (const r of new Set(flow.readersOf(v))) annotate(r, { inputQSpecMap: [[v, quantizationConfigOf(qc).activation]] });
    });
  }
}

/** An add of two values of the output's shape (functional or an Add module): what the integer add takes. */
function isAdd(gm: GraphModule, n: GraphNode): boolean {
  const ins = refsOf(n.args);
  const shape = (id: number) => gm.graph.value(id).shape.join();
  if (ins.length !== 2 || n.outputs.length !== 1 || !ins.every((id) => shape(id) === shape(n.outputs[0]))) return false;
  if (n.kind === "call_function") return n.target === "add" && n.args.length === 2;
  return n.kind === "call_module" && gm.getSubmodule(n.target) instanceof Add;
}

/** A ReLU / ReLU6 / clamp(0, x) node (module or functional). */
export function reluLike(gm: GraphModule, n: GraphNode): boolean {
  if (functionalAct(n)) return true;
  return n.kind === "call_module" && isFusableAct(gm.getSubmodule(n.target));
}

/**
 * XNNPACK's add_relu pattern: an add whose output is read by a ReLU alone, and whose ReLU's
 * output is quantized, loses its output quantizer (the pair becomes one integer add with the
 * ReLU's clamp at convert). Usable from any quantizer, after its other annotations.
 */
export function annotateAddRelu(gm: GraphModule): GraphNode[] {
  const flow = new DataFlow(gm.graph);
  const fused: GraphNode[] = [];
  for (const n of gm.graph.nodes) {
    if (!isAdd(gm, n)) continue;
    const r = flow.soleReader(n);
    if (!r || !reluLike(gm, r) || refsOf(r.args)[0] !== n.outputs[0]) continue;
    const out = annotationOf(r)?.outputQSpec;
    if (!out || out.kind === "shared") continue;
    annotate(n, { outputQSpec: null });
    fused.push(n);
  }
  return fused;
}
