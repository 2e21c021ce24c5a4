/**
 * `prepareQat(model, { qconfig })`: turns a float model into a QAT model — PT2E's
 * `prepare_pt2e` over our graph, with the eager API's names:
 *
 * 1. copies the model (unless `inplace`) and captures it (src/graph/capture.ts) on
 *    `example` (or what exampleInputsFor finds): functional ops are nodes too;
 * 2. fuses conv→bn(→relu/relu6), conv→relu, linear(→bn)(→relu) by DATA FLOW
 *    (fuse.ts: each link the sole reader of the previous one), or the groups you pass;
 * 3. wraps the model in a GraphModule (same child names, same state-dict keys) and lets the
 *    quantizer annotate it (PT2E's Quantizer API, quantizer.ts): `options.quantizer`, or
 *    DefaultQuantizer.fromOptions(qconfig, overrides) — one code path for both;
 * 4. applies the annotations (quantizer-prepare.ts): Conv2d/Linear and fused groups with a weight
 *    spec become QAT modules whose weights pass through `weight_fake_quant` (BN folding
 *    simulated, qat-modules.ts); quantized values get quantizers — modules a child
 *    `activation_post_process`, functional ops and shared groups an inserted
 *    `activation_post_process_<k>` node; ops that keep their input's parameters (max pool,
 *    flatten, reshape, permute, transpose, slice, dropout, identity: SHARES_INPUT_QPARAMS) share;
 * 5. wraps the result in a QatModel with a QuantStub at the entry (input quantizer).
 * An op with no integer kernel still gets its output quantizer: convert makes it a float
 * island between dequantize and quantize.
 *
 * Per-node choices: `overrides` match by exact path (also applying to the module's
 * descendants, as PyTorch's module-name qconfig; a functional node by its graph name, e.g.
 * "add_1"), by RegExp on the path, or by layer class; the first match wins, and
 * `qconfig: null` keeps that node's computation in float (weights not fake-quantized; a float
 * island after convert) while its output is still quantized for its consumers.
 * Called by user code, the CLI and quant.loadPrepared.
 */
import { ValueError } from "../tensor/errors.js";
import { Conv2d } from "../nn/layers/conv.js";
import { Linear } from "../nn/layers/linear.js";
import { cloneModule } from "../nn/clone.js";
import type { Module } from "../nn/module.js";
import { Fused, type FusionMatch, applyFusion, fusionGroupsOf } from "./fuse.js";
import type { Tensor } from "../tensor/tensor.js";
import { NotSupportedError } from "../tensor/errors.js";
import { type Graph, type GraphNode, isRef, mapRefs, refsOf } from "../graph/graph.js";
import { DataFlow } from "../graph/pattern.js";
import { capture, isAtomicModule } from "../graph/capture.js";
import { exampleInputsFor } from "../graph/example.js";
import { GraphModule } from "../graph/graph-module.js";
import { QatConv2d, QatConvBn2d, QatLinear, QatLinearBn1d, QatWeightLayer, actClampOf } from "./qat-modules.js";
import { type PrepareDescription, QatModel, attachOutputQuantizer } from "./stubs.js";
import { type Quantizer, annotationOf } from "./quantizer.js";
import { DefaultQuantizer } from "./quantizer-default.js";
import { applyAnnotations, buildQuantizer } from "./quantizer-prepare.js";
import { MaxPool2d } from "../nn/layers/pooling.js";
import { Flatten } from "../nn/layers/shape.js";
import { Dropout } from "../nn/layers/dropout.js";
import { Identity as IdentityLayer } from "../nn/layers/linear.js";
import type { BatchNorm1d, BatchNorm2d } from "../nn/layers/batchnorm.js";

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
  /** The global qconfig (with `overrides`): prepare uses DefaultQuantizer.fromOptions(qconfig, overrides). */
  qconfig?: QConfig;
  overrides?: QConfigOverride[];
  /** A PT2E-style quantizer (quantizer.ts) instead of qconfig / overrides. */
  quantizer?: Quantizer;
  /** With qconfig: fuse add → ReLU pairs (DefaultQuantizer's addRelu, XNNPACK's add_relu; default false). */
  addRelu?: boolean;
  /** true (default): detect fusion groups; false: none; or explicit groups of paths. */
  fuse?: boolean | string[][];
  /** Modify `model` itself instead of a copy (default false). */
  inplace?: boolean;
  /**
   * Input batch(es) to capture the graph with (PT2E's example_inputs). Default: the model's
   * `exampleInputs()`, else zeros shaped like its last forward's inputs.
   */
  example?: Tensor | readonly Tensor[];
}

/** The QAT replacement for a float layer or fused group (weights through `weight()`), or null to keep it. */
function swapFor(m: Module, weight: () => Module): Module | null {
  const layer0 = m instanceof Fused ? m.layer : m;
  if (!(layer0 instanceof Conv2d || layer0 instanceof Linear)) return null;
  if (m instanceof Fused) {
    const act = actClampOf(m.act);
    const layer = m.layer;
    const bn = m.bn;
    if (layer instanceof Conv2d) return bn ? new QatConvBn2d(layer, bn as BatchNorm2d, weight(), act) : new QatConv2d(layer, weight(), act);
    return bn ? new QatLinearBn1d(layer, bn as BatchNorm1d, weight(), act) : new QatLinear(layer, weight(), act);
  }
  if (m instanceof Conv2d) return new QatConv2d(m, weight());
  if (m instanceof Linear) return new QatLinear(m, weight());
  return null;
}

function describe(opts: PrepareOptions, groups: string[][]): PrepareDescription {
  // a DefaultQuantizer describes itself as qconfig + overrides (what loadPrepared rebuilds); another quantizer by its name
  if (!opts.qconfig) return opts.quantizer instanceof DefaultQuantizer ? { ...opts.quantizer.describe(), fusionGroups: groups } : { qconfig: opts.quantizer?.name ?? "custom", overrides: [], fusionGroups: groups };
  return {
    qconfig: opts.qconfig.name,
    overrides: (opts.overrides ?? []).map((o) => ({ name: o.name, regex: o.regex?.source, type: o.type?.name, qconfig: o.qconfig ? o.qconfig.name : null })),
    fusionGroups: groups,
    ...(opts.addRelu ? { addRelu: true } : {}),
  };
}

/** Modules (or ONNX ops) that keep their input's quantization parameters. */
export function keepsInputGrid(m: Module): boolean {
  if (m instanceof MaxPool2d || m instanceof Flatten || m instanceof Dropout || m instanceof IdentityLayer) return true;
  const opType = (m as unknown as { opType?: unknown }).opType;
  return typeof opType === "string" && PASS_THROUGH_ONNX.has(opType);
}

const PASS_THROUGH_ONNX = new Set(["Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "MaxPool", "Identity", "Dropout", "Slice", "Split", "Pad", "Expand", "Resize", "Upsample"]);

/**
 * Functional ops that keep their input's quantization parameters (the integer engine moves
 * bytes, PT2E's SharedQuantizationSpec). Every other float-valued functional op gets its own
 * output quantizer: an integer kernel where one exists, a float island otherwise.
 */
export const SHARES_INPUT_QPARAMS = new Set(["reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "maxPool2d", "slice", "dropout", "broadcastTo", "pad"]);

const isFloatValue = (graph: Graph, id: number) => graph.value(id).dtype === "float32" || graph.value(id).dtype === "float64";

/**
 * Weight quantizers for functional `linear(x, W, b)` whose W is a parameter (or rows of one,
 * `W.slice(0, …)`, as attention's packed in_proj_weight): a `weight_fake_quant_<k>` node after
 * the parameter's get_attr, per output channel (axis 0), read by those linears only — the
 * functional counterpart of a QAT Linear's weight_fake_quant. `matmul(x, W)` with a 2-D parameter
 * W [K, N] becomes `linear(x, Wᵀ)` with the quantizer on Wᵀ (per output channel: W's axis 1).
 * convert makes them integer linear layers.
 * A linear with `qconfig: null` (by its node name) keeps a float weight.
 */
function quantizeFunctionalWeights(gm: GraphModule): void {
  const g = gm.graph;
  const flow = new DataFlow(g);
  for (const p of [...g.nodes]) {
    if (p.kind !== "get_attr" || !isFloatValue(g, p.outputs[0]) || g.value(p.outputs[0]).shape.length !== 2) continue;
    const uses = weightUses(flow, p.outputs[0]);
    if (uses.length === 0) continue;
    // the weight spec each linear's annotation gives the value it reads as its weight (the parameter or its rows)
    const specs = uses.map((u) => annotationOf(u.linear)?.inputQSpecMap.get((u.linear.args[1] as { ref: number }).ref) ?? null);
    if (specs.some((q) => q === null)) continue;
    // matmul(x, W): W is [K, N], its output channels on axis 1 (a parameter read both ways stays float)
    const transposed = uses.some((u) => u.linear.target === "matmul");
    if (transposed && !uses.every((u) => u.linear.target === "matmul" && u.reader === u.linear)) continue;
    const fq = buildQuantizer(specs[0]!, `functional ${uses[0].linear.target} '${uses[0].linear.name}' weight`, { outChannels: g.value(p.outputs[0]).shape[transposed ? 1 : 0] });
    const taken = new Set(gm.namedChildren().map(([n]) => n));
    let k = 0;
    while (taken.has(`weight_fake_quant_${k}`)) k++;
    const name = `weight_fake_quant_${k}`;
    gm.registerModule(name, fq);
    let from = p.outputs[0];
    if (transposed) {
      // matmul(x, W) ≡ linear(x, Wᵀ): the quantizer sees Wᵀ [N, K], per output channel, and the matmuls become those linears
      const [k, outF] = g.value(from).shape;
      const t = g.addValue([outF, k], g.value(from).dtype);
      g.addNode({ kind: "call_function", target: "transpose", args: [{ ref: from }, 0, 1], outputs: [t], name: `${name}_transpose` }, g.nodes.indexOf(p) + 1);
      for (const u of uses) u.linear.target = "linear";
      from = t;
    }
    const v = g.addValue(g.value(from).shape, g.value(from).dtype);
    g.addNode({ kind: "call_module", target: name, args: [{ ref: from }], outputs: [v], name }, g.nodes.indexOf(g.producer(from)!) + 1);
    for (const u of uses) u.reader.args = mapRefs(u.reader.args, (id) => (id === p.outputs[0] ? v : id));
    // a dynamic scheme (8da4w): each of these linears quantizes its input at run time, as a QatLinear's input_fake_quant does
    const bind = (fq as { bindLinear?: (w: Tensor) => Module | null }).bindLinear;
    if (!bind || transposed) continue;
    let input = bind.call(fq, gm.attr(p.target));
    for (const u of uses) {
      if (!input) break;
      const x = u.linear.args[0];
      if (!isRef(x)) continue;
      let j = 0;
      while (gm.namedChildren().some(([n]) => n === `input_fake_quant_${j}`)) j++;
      const qn = `input_fake_quant_${j}`;
      gm.registerModule(qn, input);
      const xv = g.addValue(g.value(x.ref).shape, g.value(x.ref).dtype);
      g.addNode({ kind: "call_module", target: qn, args: [{ ref: x.ref }], outputs: [xv], name: qn }, g.nodes.indexOf(u.linear));
      u.linear.args = [{ ref: xv }, ...u.linear.args.slice(1)];
      input = (fq as { inputQuantizer?: () => Module }).inputQuantizer?.() ?? null;
    }
  }
}

/** Readers of parameter `id` that feed a linear's weight argument, directly or through a slice of rows. */
function weightUses(flow: DataFlow, id: number): { reader: GraphNode; linear: GraphNode }[] {
  const out: { reader: GraphNode; linear: GraphNode }[] = [];
  for (const r of flow.readersOf(id)) {
    if (r.kind !== "call_function") return [];
    if ((r.target === "linear" || r.target === "matmul") && isRef(r.args[1]) && r.args[1].ref === id && !refsOf([r.args[0]]).includes(id)) out.push({ reader: r, linear: r });
    else if (r.target === "slice" && (r.args[1] === 0 || r.args[1] === -2) && flow.readersOf(r.outputs[0]).every((l) => l.kind === "call_function" && l.target === "linear" && isRef(l.args[1]) && l.args[1].ref === r.outputs[0])) {
      for (const l of flow.readersOf(r.outputs[0])) out.push({ reader: r, linear: l });
    } else return []; // the parameter is read as something else too: leave it float
  }
  return out;
}

/**
 * An op that writes ±∞ into a value — attention masking `where(mask, scores, -Infinity)`: its
 * output gets no quantizer (no grid holds −∞); convert runs it in float inside the island of the
 * op that reads it (softmax), as onnxruntime's quantizer leaves a mask Add before Softmax float.
 */
export function appliesInfiniteMask(n: GraphNode): boolean {
  return n.kind === "call_function" && n.target === "where" && n.args.slice(1).some((a) => typeof a === "number" && !Number.isFinite(a));
}

/** Values computed from parameters and constants alone (no graph input reaches them). */
export function parameterOnlyValues(g: Graph): Set<number> {
  const out = new Set<number>();
  for (const n of g.nodes) {
    const only = n.kind === "get_attr" || n.kind === "constant" || (refsOf(n.args).length > 0 && refsOf(n.args).every((id) => out.has(id)));
    if (only) for (const o of n.outputs) out.add(o);
  }
  return out;
}

/** The fusion groups to apply: all found, none, or the listed ones (each must be found). */
function chooseGroups(found: FusionMatch[], fuse: PrepareOptions["fuse"]): FusionMatch[] {
  if (fuse === false) return [];
  if (!Array.isArray(fuse)) return found;
  return fuse.map((paths) => {
    const m = found.find((f) => f.paths.join("|") === paths.join("|"));
    if (!m) {
      throw new NotSupportedError(
        `prepareQat: cannot fuse [${paths.join(", ")}]: in the captured graph these are not a conv/linear → bn → act chain where each reads the previous one alone ` +
          `(fusable here: ${found.map((f) => `[${f.paths.join(", ")}]`).join(" ") || "none"})`,
      );
    }
    return m;
  });
}

/** Modules captured as one node during prepare. */
const atomicForPrepare = (m: Module): boolean => m instanceof Fused || m instanceof QatWeightLayer || isAtomicModule(m);

/** Captures, fuses by data flow, annotates (the quantizer), inserts quantizers; see the file header. */
export function prepareQat(model: Module, opts: PrepareOptions): QatModel {
  if (!opts || (!opts.qconfig && !opts.quantizer)) throw new ValueError("prepareQat: options.qconfig is required (e.g. quant.qconfigs.x86), or options.quantizer");
  if (opts.qconfig && opts.quantizer) throw new ValueError("prepareQat: give options.qconfig (with overrides) or options.quantizer, not both");
  if (opts.quantizer && opts.overrides?.length) throw new ValueError("prepareQat: overrides go with qconfig; a quantizer makes its own per-node choices");
  const quantizer: Quantizer = opts.quantizer ?? DefaultQuantizer.fromOptions(opts.qconfig!, opts.overrides ?? [], { addRelu: opts.addRelu });
  if (swapFor(model, () => model)) throw new ValueError("prepareQat: the model itself is a single layer; wrap it in nn.Sequential");
  const examples = exampleInputsFor(model, opts.example, "prepareQat");
  const m = opts.inplace ? model : cloneModule(model);
  const graph = capture(m, examples, { atomic: atomicForPrepare });
  const groups = chooseGroups(fusionGroupsOf(graph, m), opts.fuse);
  for (const group of groups) applyFusion(m, graph, group);
  const gm = new GraphModule(m, graph);
  quantizer.annotate(gm);
  quantizer.validate?.(gm);
  const { inputQuantizers } = applyAnnotations(gm, swapFor);
  quantizeFunctionalWeights(gm);
  const qm = new QatModel(gm, describe(opts, groups.map((g) => g.paths)));
  // The input quantizer is addressed as `quant` (or by type QuantStub) in overrides, as
  // PyTorch users set `model.quant.qconfig`; e.g. keep 8-bit images in front of a W4A4 network.
  // An int32 input (token ids) gets no quantizer: the embedding that reads it is its quantization point.
  if (inputQuantizers[0]) attachOutputQuantizer(qm.quant, inputQuantizers[0]);
  for (let i = 1; i < graph.inputs.length; i++) {
    const stub = qm.addInputStub();
    if (inputQuantizers[i]) attachOutputQuantizer(stub, inputQuantizers[i]!);
  }
  qm.inputShape = [...examples[0].shape];
  qm.train(model.training);
  return qm;
}

/** PT2E's prepare_qat_pt2e(model, quantizer): prepareQat with a quantizer (captured on `example` or the model's own example inputs). */
export function prepareQatPt2e(model: Module, quantizer: Quantizer, example?: Tensor | readonly Tensor[]): QatModel {
  return prepareQat(model, { quantizer, example });
}
