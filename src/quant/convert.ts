/**
 * `convert(qatModel)` → Int8Model: the integer-only network that computes what the
 * fake-quant model promised (Jacob et al. 2018 §2; docs/NUMERICS.md) — PT2E's convert and
 * lowering in one walk over the prepared model's captured graph (src/graph).
 *
 * First the live model is frozen (observers off, BN statistics frozen, one forward so fused
 * fake-quantizers hold their scales): nothing a later forward does changes what convert or an
 * export reads. Then, node by node, every value gets the parameters of the quantizer that
 * produced it (input QuantStubs, module output quantizers, inserted activation_post_process_<k>
 * nodes) or shares its input's (max pool, reshape, transpose, …). Per layer (convert-layers.ts):
 *
 *   weights   w_q = round(w_fq / S_w) (+Z_w)    w_fq = the fake-quantized (folded) weight
 *   bias      b_q = round(b / (S_x·S_w[c]))     int32, zero point 0 (BN folded into b)
 *   multiplier M[c] = S_x·S_w[c] / S_y = M0·2^(shift−31)
 *   clamp     [q_min, q_max] of the output quantizer, narrowed by a fused ReLU/ReLU6
 *
 * Functional ops with an integer form (addFunction here) become integer nodes too; any other
 * op is a float island (convert-walk.ts: DQ → float op → Q), reported by convertWithReport,
 * or an error with `strict: true`.
 * Called by user code, the CLI and the ONNX exporter.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { zeros } from "../tensor/creation.js";
import { isFloatDType } from "../tensor/dtype.js";
import { noGrad } from "../tensor/grad-mode.js";
import { Hardtanh, ReLU } from "../nn/layers/activation.js";
import { cloneModule } from "../nn/clone.js";
import type { Module } from "../nn/module.js";
import { type GraphNode, refsOf } from "../graph/graph.js";
import { GraphModule } from "../graph/graph-module.js";
import { DataFlow } from "../graph/pattern.js";
import type { Int8Graph } from "../int8/graph.js";
import { Int8Model } from "../int8/model.js";
import { QatModel, outputQuantizerOf } from "./stubs.js";
import { disableObserver, freezeBnStats } from "./schedule.js";
import { type RangeWarning, lastRangeReport, rangeWarnings } from "./range-report.js";
import { SHARES_INPUT_QPARAMS, appliesInfiniteMask, parameterOnlyValues } from "./prepare.js";
import { addImportedOp } from "./convert-onnx.js";
import { addFunctionalLinear, addMaxMin, addMean, addProduct, addSharedLayout } from "./convert-functional.js";
import type { LutFunction, ValueInfo } from "../int8/graph.js";
import { functionalAct } from "./fuse.js";
import { QatWeightLayer } from "./qat-modules.js";
import { GraphBuilder, TABLE_ONNX_OPS, activationQParams, actRange, addNode, addWeightLayer, pairOf, pair, pushAdd, pushConcat, pushLut, pushRequantize } from "./convert-layers.js";
import type { IslandFn } from "../int8/islands.js";
import { type Walk, addIsland, isQuantizerNode, outputQuantizer, pathOf, storeTableOp, traceNodeOf } from "./convert-walk.js";
import { convertDynamic, isDynamicModel } from "./convert-dynamic.js";
import { addAddRelu } from "./convert-add-relu.js";
import { type IntegerOp, applyIntegerOps, checkIntegerOps } from "./convert-integer.js";
export { quantizerParams } from "./convert-layers.js";

export interface ConvertOptions {
  /** Optional: checked against the captured input shape (the graph was captured by prepare). */
  example?: Tensor;
  /** Fail (naming them) instead of leaving ops without an integer kernel as float islands. */
  strict?: boolean;
  /**
   * Ops to run integer-only instead of as float islands (convert-integer.ts, docs/NUMERICS.md §8c):
   * "softmax" (over the last dim, also after a constant −∞ mask) and "layerNorm" (over the last dim).
   * Default none: float islands. The fake-quant model is unchanged (float softmax / LayerNorm in QAT).
   */
  integerOps?: IntegerOp[];
}

/** What convert did: integer nodes, float islands (with where they come from). */
export interface ConvertReport {
  islands: { name: string; fn: string; source: string; reason: string }[];
  /** Activation ranges dominated by a few outliers in the last calibration (range-report.ts), if any. */
  rangeWarnings: RangeWarning[];
}

/** Functional ops with an integer form; returns false to make the node a float island. */
function addFunction(b: GraphBuilder, w: Walk, n: GraphNode): string | null {
  if (PRODUCTS.has(n.target)) return withOutput(b, w, n, (y) => (n.target === "linear" ? addFunctionalLinear(b, w, n, y) : addProduct(b, n, y)));
  if (n.target === "maximum" || n.target === "minimum") return withOutput(b, w, n, (y) => addMaxMin(b, w, n, y));
  const ins = refsOf(n.args);
  if (!ins.every((id) => b.values.has(id))) return "an input is a float tensor (parameter or constant)";
  const x = b.value(ins[0], pathOf(n));
  const out = n.outputs[0];
  const shape = w.graph.value(out).shape;
  const a = n.args;
  if (SHARES_INPUT_QPARAMS.has(n.target)) {
    if (n.target === "dropout") return b.alias(ins[0], out), null;
    if (["reshape", "flatten", "squeeze", "unsqueeze"].includes(n.target)) {
      if (shape[0] !== w.graph.value(ins[0]).shape[0]) return `${n.target} changes the batch dimension`;
      const y = b.define(out, shape, x.q, pathOf(n));
      b.nodes.push({ op: "reshape", name: pathOf(n), inputs: [x.id], output: y.id, shape: [-1, ...shape.slice(1)] });
      return null;
    }
    if (n.target === "permute" || n.target === "transpose") {
      const rank = w.graph.value(ins[0]).shape.length;
      const norm = (d: unknown) => ((d as number) < 0 ? (d as number) + rank : (d as number));
      const perm = n.target === "permute" ? (a[1] as number[]).map(norm) : swapPerm(rank, norm(a[1]), norm(a[2]));
      // a perm that moves dim 0 (a sequence-first layer's batch transposes) too: the batch is only a name
      const y = b.define(out, shape, x.q, pathOf(n));
      b.nodes.push({ op: "transpose", name: pathOf(n), inputs: [x.id], output: y.id, perm });
      return null;
    }
    if (n.target === "slice") {
      const inShape = w.graph.value(ins[0]).shape;
      const axis = (a[1] as number) < 0 ? (a[1] as number) + inShape.length : (a[1] as number);
      if (axis === 0) return "slice along the batch dimension";
      const dim = inShape[axis];
      const at = (i: number) => Math.min(Math.max(i < 0 ? i + dim : i, 0), dim);
      const start = at(a[2] as number), end = Math.max(start, at((a[3] as number | undefined) ?? dim));
      const y = b.define(out, shape, x.q, pathOf(n));
      b.nodes.push({ op: "slice", name: pathOf(n), inputs: [x.id], output: y.id, axis, start, end, step: (a[4] as number | undefined) ?? 1 });
      return null;
    }
    if (n.target === "maxPool2d") {
      const o = (a[2] ?? {}) as { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number | [number, number]; ceilMode?: boolean };
      const k = pair(a[1] as number | [number, number]);
      const y = b.define(out, shape, x.q, pathOf(n));
      b.nodes.push({ op: "maxpool2d", name: pathOf(n), inputs: [x.id], output: y.id, kernel: k, stride: pair(o.stride ?? k), padding: pair(o.padding ?? 0), dilation: pair(o.dilation ?? 1), ceilMode: o.ceilMode ?? false });
      return null;
    }
    if (n.target === "pad" || n.target === "broadcastTo") return addSharedLayout(b, w, n, x, shape);
    return `${n.target} has no integer kernel yet`;
  }
  const q = outputQuantizer(w, n);
  if (!q) return "its output has no quantizer";
  const y = b.define(out, shape, activationQParams(q.fq, q.where), pathOf(n));
  if (q.node) b.alias(out, q.node.outputs[0]);
  const relu = functionalAct(n);
  if (relu) {
    pushRequantize(b, pathOf(n), x, y, actRange(relu));
    return null;
  }
  const lut = lutOf(n);
  if (lut) {
    pushLut(b, pathOf(n), x, y, lut);
    return null;
  }
  if (n.target === "add" && ins.length === 2 && sameShape(w, ins)) {
    pushAdd(b, pathOf(n), x, b.value(ins[1], pathOf(n)), y);
    return null;
  }
  if (n.target === "concat") {
    const axis = (a[1] ?? 0) as number;
    pushConcat(b, pathOf(n), ins.map((id) => b.value(id, pathOf(n))), y, axis < 0 ? axis + shape.length : axis);
    return null;
  }
  const gap = globalPoolOf(n, w.graph.value(ins[0]).shape, shape);
  if (gap) {
    // global average pooling written functionally: adaptiveAvgPool2d(x, 1) or x.mean([2, 3])
    const hw = gap.hw;
    const keep = shape.length === 4;
    const pooled = keep ? y : b.define(-1 - out, [shape[0], shape[1], 1, 1], y.q, `${pathOf(n)}#pooled`);
    b.nodes.push({ op: "globalavgpool", name: pathOf(n), inputs: [x.id], output: pooled.id, multiplier: pairOf(x.q.scale / (y.q.scale * hw)), clamp: [y.q.qmin, y.q.qmax] });
    if (!keep) b.nodes.push({ op: "reshape", name: `${pathOf(n)}.reshape`, inputs: [pooled.id], output: y.id, shape: [-1, shape[1]] });
    return null;
  }
  const meanWhy = n.target === "mean" ? addMean(b, n, w.graph.value(ins[0]).shape, x, y) : undefined;
  if (meanWhy === null) return null;
  // not integer: undo the definition, the caller makes an island
  b.values.delete(out);
  if (q.node) b.values.delete(q.node.outputs[0]);
  return meanWhy ?? `${n.target} has no integer kernel`;
}

/** The unused `q` of an int32 input value. */
const INT_Q = { scale: 1, zeroPoint: 0, dtype: "int8", qmin: -128, qmax: 127 } as const;

/** Functional ops convert-functional.ts makes integer (or explains why not). */
const PRODUCTS = new Set(["linear", "matmul", "mul", "div"]);

/** Defines n's output from its quantizer, then runs `make`; undoes the definition when `make` gives a reason. */
function withOutput(b: GraphBuilder, w: Walk, n: GraphNode, make: (y: ValueInfo) => string | null): string | null {
  const q = outputQuantizer(w, n);
  if (!q) return "its output has no quantizer";
  const out = n.outputs[0];
  const y = b.define(out, w.graph.value(out).shape, activationQParams(q.fq, q.where), pathOf(n));
  const why = make(y);
  if (why === null) {
    if (q.node) b.alias(out, q.node.outputs[0]);
    return null;
  }
  b.values.delete(out);
  return why;
}

/** The table of a functional sigmoid / tanh / exp / gelu, or null. */
function lutOf(n: GraphNode): LutFunction | null {
  if (n.target === "sigmoid" || n.target === "tanh" || n.target === "exp") return n.target;
  if (n.target === "gelu") return n.args[1] === "tanh" ? "gelu_tanh" : n.args[1] === undefined || n.args[1] === "none" ? "gelu" : null;
  return null;
}

/** The permutation that swaps dims d0 and d1. */
function swapPerm(rank: number, d0: number, d1: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[d0], perm[d1]] = [perm[d1], perm[d0]];
  return perm;
}

/** A functional global average pool over H, W of a 4-D input: adaptiveAvgPool2d(x, 1), mean(x, [2, 3] | [-2, -1]). */
function globalPoolOf(n: GraphNode, inShape: readonly number[], outShape: readonly number[]): { hw: number } | null {
  if (inShape.length !== 4 || !(inShape[2] > 0 && inShape[3] > 0)) return null;
  const hw = inShape[2] * inShape[3];
  const [, a, o] = n.args;
  if (n.target === "adaptiveAvgPool2d" && (a === 1 || (Array.isArray(a) && a[0] === 1 && a[1] === 1))) return { hw };
  if (n.target === "mean" && Array.isArray(a) && a.length === 2) {
    const axes = (a as number[]).map((d) => (d < 0 ? d + 4 : d)).sort();
    const keepdim = (o as { keepdim?: boolean } | undefined)?.keepdim === true;
    if (axes[0] === 2 && axes[1] === 3 && outShape.length === (keepdim ? 4 : 2)) return { hw };
  }
  return null;
}

const sameShape = (w: Walk, ids: number[]): boolean => ids.every((id) => w.graph.value(id).shape.join() === w.graph.value(ids[0]).shape.join());

/** The integer-only model of a prepared (and trained or calibrated) QAT model. */
export function convert(model: QatModel, opts: ConvertOptions = {}): Int8Model {
  return convertWithReport(model, opts).model;
}

/**
 * convert, also returning the report (float islands with their reasons). Freezes the live
 * model first: observers off and BN statistics frozen (PyTorch's convert ends training), so
 * nothing a later forward does can change what convert or an export reads.
 */
export function convertWithReport(model: QatModel, opts: ConvertOptions = {}): { model: Int8Model; report: ConvertReport } {
  if (!(model instanceof QatModel)) throw new ValueError("convert: expected the model returned by quant.prepareQat");
  if (!(model.module instanceof GraphModule)) throw new ValueError("convert: the QAT model has no captured graph; prepare it with quant.prepareQat");
  if (isDynamicModel(model)) return convertDynamic(model, opts); // dynamic qconfigs: float values, run-time quantized Linear layers
  disableObserver(model);
  freezeBnStats(model);
  const inGraph = (model.module as GraphModule).graph;
  const inShape = inGraph.value(inGraph.inputs[0]).shape;
  if (opts.example) checkExample(opts.example, inShape);
  // One forward with observers off: fused fake-quantizers (PyTorch's FusedMovingAvgObsFakeQuantize)
  // derive their scale from the observed range only when they run, so the live model's scale
  // buffers become the ones convert reads (and an export after more forwards reads the same).
  const wasTraining = model.training;
  model.eval();
  try {
    // at the batch the graph was captured with: an imported graph may have that batch baked in (a GRU's h0 initializer)
    const zerosOf = (id: number) => zeros([...inGraph.value(id).shape], { dtype: inGraph.value(id).dtype });
    const rest = inGraph.inputs.slice(1).map(zerosOf);
    noGrad(() => model.forward(opts.example ?? zerosOf(inGraph.inputs[0]), ...rest));
  } finally {
    model.train(wasTraining);
  }
  const m = cloneModule(model);
  const gm = m.module as GraphModule;
  const graph = gm.graph;
  const w: Walk = {
    gm, graph, flow: new DataFlow(graph), islands: new Map(), report: { islands: [], rangeWarnings: rangeWarnings(lastRangeReport(model) ?? []) },
    strict: opts.strict ?? false, constant: parameterOnlyValues(graph),
  };
  const b = new GraphBuilder();
  // an int32 input (token ids) is passed through unquantized to the islands that read it (an embedding)
  const defineInput = (id: number, stub: Module, where: string): ValueInfo => {
    if (graph.value(id).dtype === "int32") return Object.assign(b.define(id, graph.value(id).shape, INT_Q, where), { int: true });
    const fq = outputQuantizerOf(stub);
    // a quantizer (quant.Quantizer) may leave a model input float; the integer model needs it quantized
    if (!fq) throw new NotSupportedError(`convert: model input '${where}' has no quantizer (the quantizer left it float); annotate an edge that reads it`);
    return b.define(id, graph.value(id).shape, activationQParams(fq, `${where}.activation_post_process`), where);
  };
  const input = defineInput(graph.inputs[0], m.quant, "quant");
  const extraInputs = graph.inputs.slice(1).map((id, i) => defineInput(id, m.extraInputStubs[i], `quant_${i + 1}`));
  for (const n of graph.nodes) {
    if (n.kind === "get_attr" || n.kind === "constant" || (isQuantizerNode(gm, n) && b.values.has(n.outputs[0]))) continue;
    // weights and other values computed from parameters alone are read by the nodes that use them
    if (n.outputs.every((o) => w.constant.has(o))) continue;
    // integer-valued shape arithmetic and −∞ masking run inside the islands that read them (islandClosure)
    if (n.outputs.every((o) => !isFloatDType(graph.value(o).dtype)) || appliesInfiniteMask(n)) continue;
    if (isQuantizerNode(gm, n)) {
      // a quantizer after a value no node defined yet (e.g. after a module called twice): requantize
      const x = b.value(refsOf(n.args)[0], pathOf(n));
      const y = b.define(n.outputs[0], graph.value(n.outputs[0]).shape, activationQParams(gm.getSubmodule(n.target), pathOf(n)), pathOf(n));
      pushRequantize(b, pathOf(n), x, y, null);
      continue;
    }
    // computed by the node before it (an add with the ReLU the quantizer fused into it)
    if (n.outputs.length > 0 && n.outputs.every((o) => b.values.has(o))) continue;
    if (addAddRelu(b, w, n)) continue;
    const why = n.kind === "call_function" ? addFunction(b, w, n) : addModuleCall(b, w, n);
    if (why !== null) addIsland(b, w, n, why);
  }
  const out = b.value(graph.outputs[0], "model output");
  if (graph.outputs.length !== 1) throw new NotSupportedError(`convert: the model has ${graph.outputs.length} outputs; Int8Model returns one`);
  const int8Graph: Int8Graph = {
    input, output: out.id, ...(extraInputs.length ? { extraInputs } : {}),
    values: [...new Map([...b.values.values()].map((v) => [v.id, v])).values()],
    nodes: b.nodes,
    meta: { qconfig: model.description.qconfig, producer: "qat-ts convert", floatIslands: w.report.islands.map((i) => i.source) },
  };
  if (opts.integerOps?.length) {
    const done = new Set(applyIntegerOps(int8Graph, b.tensors, w.islands, checkIntegerOps(opts.integerOps)).replaced);
    w.report.islands = w.report.islands.filter((i) => !done.has(i.source));
    int8Graph.meta.floatIslands = w.report.islands.map((i) => i.source);
  }
  return { model: new Int8Model(int8Graph, b.tensors, w.islands), report: w.report };
}

/** A module call: its integer form, or the reason it becomes a float island. */
function addModuleCall(b: GraphBuilder, w: Walk, n: GraphNode): string | null {
  const t = traceNodeOf(w, n);
  if (!t.inputs.every((id) => b.values.has(id))) return "an input is a float tensor";
  const m = t.module;
  const q = outputQuantizerOf(m) ? null : outputQuantizer(w, n);
  if (q?.node && (m instanceof ReLU || m instanceof Hardtanh)) {
    // a module called more than once: its quantizer is a graph node after each call
    const x = b.value(t.inputs[0], n.target);
    const y = b.define(t.output, t.outputShape, activationQParams(q.fq, q.where), n.target);
    b.alias(t.output, q.node.outputs[0]);
    pushRequantize(b, `${pathOf(n)}#${n.name}`, x, y, actRange(m));
    return null;
  }
  // layout, Max / Min and ReduceMean nodes of an imported ONNX model (convert-onnx.ts)
  const imported = addImportedOp(b, t, (make) => withOutput(b, w, n, make));
  if (imported !== undefined) return imported;
  const opType = (m as { opType?: unknown }).opType;
  const dynamicInputs = ((m as { slots?: { kind: string }[] }).slots ?? []).filter((s) => s.kind === "dynamic").length;
  if (typeof opType === "string" && TABLE_ONNX_OPS.has(opType) && dynamicInputs === 1 && t.inputs.length === 1) {
    // an elementwise op of an imported ONNX model: a 256-entry table of its own forward
    return withOutput(b, w, n, (y) => {
      pushLut(b, t.path, b.value(t.inputs[0], t.path), y, "onnx", m as Module & { opType: string });
      storeTableOp(b, m); // the op itself, stored with the table: a loaded model exports it
      const fn: IslandFn = (xs) => (m as Module).forward(xs[0]);
      fn.module = m; // the exporters write the op itself
      w.islands.set(t.path, fn);
      return null;
    });
  }
  if (q?.node && m instanceof QatWeightLayer) {
    // a conv / linear called more than once: each call its own integer layer, with its own output parameters
    addWeightLayer(b, { ...t, path: `${t.path}#${n.name}` }, m, q);
    b.alias(t.output, q.node.outputs[0]);
    return null;
  }
  try {
    addNode(b, t);
    return null;
  } catch (e) {
    if (e instanceof NotSupportedError && /no integer implementation/.test(e.message)) return `${t.module.typeName} has no integer kernel`;
    throw e;
  }
}

function checkExample(x: Tensor, shape: readonly number[]): void {
  if (x.ndim !== shape.length || x.shape.some((d, i) => i > 0 && d !== shape[i])) {
    throw new ValueError(`convert: example of shape [${x.shape.join(", ")}] does not match the captured input [N, ${shape.slice(1).join(", ")}]`);
  }
}
