/**
 * convert for dynamic models (qconfigs `dynamic`, `int4WeightOnly`, `int8DynActInt4Weight`,
 * dynamicQConfig): every value stays float (the model's quantizers are FloatActivation), each
 * QatLinear with a grouped weight quantizer becomes an integer node that quantizes its input
 * at run time — `dynamic_linear` (groupSize "row" and a run-time input quantizer: int8
 * weights, onnxruntime's DynamicQuantizeLinear + MatMulInteger arithmetic) or `linear_nbits`
 * (blocks of 2/4/8-bit codes; float input for weight-only, run-time quantized otherwise) —
 * and every other op is a float island on float values, as PyTorch's dynamically quantized
 * models are float graphs with integer GEMMs. A fused ReLU / ReLU6 follows as a float island.
 * A functional linear on a parameter behind prepare's weight_fake_quant_<k> (attention's packed
 * in-projection) becomes a weight-only linear_nbits: QAT fake-quantizes that weight only.
 * Weight codes come from the weight quantizer itself (GroupwiseFakeQuantize.quantizeCodes), so
 * the Int8Model computes what the fake-quant model did, up to float summation order.
 * An nn.LSTM / nn.GRU whose qconfig (the model's, or an override by name, regex or type) is an
 * int8 per-row weight qconfig with per-tensor run-time activations (the `dynamic` preset)
 * becomes a dynamic_lstm / dynamic_gru node (quantize-dynamic-rnn.ts; post-training, as
 * PyTorch's quantize_dynamic: the prepared model trains the recurrent layer in float); under
 * other qconfigs it stays a float island.
 * Called by convert() (src/quant/convert.ts) when the model's input quantizer is a FloatActivation.
 */
import { NotSupportedError } from "../tensor/errors.js";
import { isFloatDType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { cloneModule } from "../nn/clone.js";
import type { Module } from "../nn/module.js";
import type { TraceNode } from "../nn/trace.js";
import { type GraphNode, isRef, refsOf } from "../graph/graph.js";
import type { GraphModule } from "../graph/graph-module.js";
import { DataFlow } from "../graph/pattern.js";
import type { Int8Graph, Int8Node, ValueInfo } from "../int8/graph.js";
import { FLOAT_Q, type DynamicActivation, f32Bits, packCodes } from "../int8/graph-dynamic.js";
import { Int8Model } from "../int8/model.js";
import { QatLinear, QatWeightLayer } from "./qat-modules.js";
import { type QatModel, outputQuantizerOf } from "./stubs.js";
import { disableObserver } from "./schedule.js";
import { GraphBuilder } from "./convert-layers.js";
import { type Walk, evalParameterValues, isQuantizerNode, islandClosure, islandFunction, literalCall, pathOf, storedModuleCall, traceNodeOf } from "./convert-walk.js";
import { parameterOnlyValues } from "./prepare.js";
import type { ConvertReport } from "./convert.js";
import { isDynamicFakeQuantize, isFloatActivation } from "./dynamic-fake-quant.js";
import { GroupwiseFakeQuantize } from "./groupwise.js";
import { GRU, LSTM } from "../nn/layers/rnn.js";
import { dynamicRnnNode } from "./quantize-dynamic-rnn.js";
import { qconfigByName } from "./qconfig.js";

/** Does `model` use a dynamic qconfig (its input stays float)? */
export function isDynamicModel(model: QatModel): boolean {
  const q = outputQuantizerOf(model.quant);
  if (q) return isFloatActivation(q);
  // an int32 token input has no quantizer: the model's other output quantizers say which scheme it uses
  return model.namedModules().some(([path, m]) => /(^|\.)activation_post_process(_\d+)?$/.test(path) && isFloatActivation(m));
}

function defineFloat(b: GraphBuilder, id: number, shape: readonly number[], source: string, int = false): ValueInfo {
  const v = b.define(id, shape, FLOAT_Q, source);
  // an int32 token input passes through to the embedding island
  if (int) v.int = true;
  else v.float = true;
  return v;
}

/** The integer node of a dynamic Linear module (see the file header). */
export function addDynamicLinear(b: GraphBuilder, n: TraceNode, m: QatLinear, y: ValueInfo): void {
  const x = b.value(n.inputs[0], n.path);
  const inq = m.input_fake_quant;
  if (inq && !isDynamicFakeQuantize(inq)) throw new NotSupportedError(`convert: '${n.path}' has an input quantizer of type ${inq.constructor.name}; dynamic convert knows DynamicFakeQuantize`);
  const act: DynamicActivation | null = inq && isDynamicFakeQuantize(inq) ? { granularity: inq.granularity, dtype: inq.dtype } : null;
  pushDynamicLinear(b, { path: n.path, x, y, weight: m.weight, bias: m.bias ? m.bias.data : null, wq: m.weight_fake_quant as GroupwiseFakeQuantize, act });
}

interface DynamicLinearSpec {
  path: string;
  x: ValueInfo;
  y: ValueInfo;
  /** The float weight [N, K] before fake quantization. */
  weight: Tensor;
  bias: ArrayLike<number> | null;
  wq: GroupwiseFakeQuantize;
  act: DynamicActivation | null;
}

/** dynamic_linear (groupSize "row" with a run-time quantized input) or linear_nbits, codes from the weight quantizer. */
function pushDynamicLinear(b: GraphBuilder, s: DynamicLinearSpec): void {
  const { wq, act } = s;
  const c = wq.quantizeCodes(s.weight);
  const [nOut, k] = s.weight.shape;
  const key = s.path || "linear";
  const bias = s.bias ? `${key}.bias` : null;
  if (s.bias) b.tensors.set(`${key}.bias`, f32Bits(s.bias));
  const base = { name: s.path, inputs: [s.x.id], output: s.y.id, wShape: [nOut, k] as [number, number], bias };
  if (wq.groupSizeOption === "row" && act) {
    // signed int8 weights: symmetric codes as they are, asymmetric ones moved down by 2^(b−1) with their zero points
    const shift = wq.symmetric ? 0 : 2 ** (wq.bits - 1);
    const w = Int8Array.from(c.codes, (q) => q - shift);
    const zps = Int32Array.from(c.zeroPoints, (z) => z - shift);
    b.tensors.set(`${key}.weight`, w);
    b.tensors.set(`${key}.weight_scale`, f32Bits(c.scales));
    const hasZp = zps.some((z) => z !== 0);
    if (hasZp) b.tensors.set(`${key}.weight_zero_point`, zps);
    b.nodes.push({ ...base, op: "dynamic_linear", wInt8: `${key}.weight`, wScales: `${key}.weight_scale`, ...(hasZp ? { wZeroPoints: `${key}.weight_zero_point` } : {}), act, weightBits: wq.bits });
    return;
  }
  if (![2, 4, 8].includes(wq.bits)) throw new NotSupportedError(`convert: '${s.path}' has ${wq.bits}-bit grouped weights; linear_nbits packs 2, 4 or 8 bits (use one of them, or groupSize "row" with dynamic activations)`);
  // unsigned codes: symmetric q ∈ [−2^(b−1), 2^(b−1) − 1] becomes q + 2^(b−1) with the default zero point 2^(b−1)
  const shift = wq.symmetric ? 2 ** (wq.bits - 1) : 0;
  b.tensors.set(`${key}.weight_packed`, packCodes(Int32Array.from(c.codes, (q) => q + shift), nOut, k, wq.bits, c.groupSize));
  b.tensors.set(`${key}.weight_scale`, f32Bits(c.scales));
  if (!wq.symmetric) b.tensors.set(`${key}.weight_zero_point`, Int32Array.from(c.zeroPoints));
  b.nodes.push({
    ...base, op: "linear_nbits", wPacked: `${key}.weight_packed`, bits: wq.bits, blockSize: c.groupSize, scales: `${key}.weight_scale`,
    zeroPoints: wq.symmetric ? null : `${key}.weight_zero_point`, act,
  });
}

/** Parameter-only value `id`, with `subst` reading a fake-quantizer's input in place of its output. */
function evalConst(w: Walk, id: number, subst: ReadonlyMap<number, number> = new Map()): Tensor {
  return evalParameterValues(w, [id], { subst }).get(subst.get(id) ?? id)!;
}

/**
 * A functional `linear(x, W, b)` whose W is a parameter (or rows of one: attention's packed
 * in_proj_weight) behind a grouped weight fake-quantizer node (prepare's weight_fake_quant_<k>):
 * an integer node whose input is quantized at run time when prepare put an input_fake_quant_<k>
 * before it (8da4w), else weight-only.
 */
function addFunctionalLinear(b: GraphBuilder, w: Walk, n: GraphNode): boolean {
  if (n.kind !== "call_function" || n.target !== "linear" || !isRef(n.args[0]) || !isRef(n.args[1]) || !b.values.has(n.args[0].ref)) return false;
  const wid = n.args[1].ref;
  let p = w.graph.producer(wid);
  if (p?.kind === "call_function" && p.target === "slice" && isRef(p.args[0])) p = w.graph.producer(p.args[0].ref);
  if (!p || p.kind !== "call_module" || !(w.gm.getSubmodule(p.target) instanceof GroupwiseFakeQuantize) || !isRef(p.args[0])) return false;
  const wq = w.gm.getSubmodule(p.target) as GroupwiseFakeQuantize;
  const raw = evalConst(w, wid, new Map([[p.outputs[0], p.args[0].ref]]));
  const bias = n.args[2] !== undefined && n.args[2] !== null ? (isRef(n.args[2]) && w.constant.has(n.args[2].ref) ? evalConst(w, n.args[2].ref) : undefined) : null;
  if (bias === undefined) return false;
  const path = pathOf(n);
  const x = b.value(n.args[0].ref, path);
  const y = defineFloat(b, n.outputs[0], w.graph.value(n.outputs[0]).shape, path);
  // prepare's input_fake_quant_<k> before the linear (8da4w): its run-time quantization
  const xp = w.graph.producer(n.args[0].ref);
  const inq = xp?.kind === "call_module" && /^input_fake_quant_\d+$/.test(xp.target) ? w.gm.getSubmodule(xp.target) : null;
  const act: DynamicActivation | null = inq && isDynamicFakeQuantize(inq) ? { granularity: inq.granularity, dtype: inq.dtype } : null;
  pushDynamicLinear(b, { path, x, y, weight: raw, bias: bias ? bias.data : null, wq, act });
  return true;
}

/** A float island on float values: the op or module runs as it did in the QAT model. */
function addFloatIsland(b: GraphBuilder, w: Walk, n: GraphNode, reason: string): void {
  const source = pathOf(n);
  const mod = n.kind === "call_module" ? w.gm.getSubmodule(n.target) : null;
  const fn = mod ? mod.typeName : n.target;
  if (w.strict) throw new NotSupportedError(`convert (strict): '${source}' (${fn}) runs in float: ${reason}`);
  if (n.outputs.length !== 1) throw new NotSupportedError(`convert: '${source}' (${fn}) has ${n.outputs.length} outputs; a float island has one`);
  const { leaves, side } = islandClosure(b, w, n);
  const y = defineFloat(b, n.outputs[0], w.graph.value(n.outputs[0]).shape, source);
  const name = `${source}#float`;
  const node: Int8Node = { op: "float", name, inputs: leaves.map((id) => b.value(id, source).id), output: y.id, fn, source };
  const call = n.kind === "call_function" && side.length === 0 ? literalCall(n, leaves) : null;
  if (call) node.call = call;
  else {
    const stored = mod ? storedModuleCall(b, w, n, mod, name, leaves, side) : null; // an imported op: its ONNX node, so files run it
    if (stored) node.call = stored;
    w.islands.set(name, islandFunction(w, n, leaves, side));
  }
  b.nodes.push(node);
  w.report.islands.push({ name, fn, source, reason });
}

/** The qconfig name that applies to module `path` (the prepare description's overrides, first match), or null. */
function qconfigNameFor(model: QatModel, path: string, m: Module): string | null {
  for (const o of model.description.overrides) {
    if (o.name !== undefined && (path === o.name || path.startsWith(`${o.name}.`))) return o.qconfig;
    if (o.regex !== undefined && new RegExp(o.regex).test(path)) return o.qconfig;
    if (o.type !== undefined && m.constructor.name === o.type) return o.qconfig;
  }
  return model.description.qconfig;
}

/** An LSTM / GRU under an int8 per-row, per-tensor-activation dynamic qconfig: a dynamic_lstm / dynamic_gru node. */
function addDynamicRnn(b: GraphBuilder, w: Walk, model: QatModel, n: GraphNode, mod: Module): boolean {
  if (!(mod instanceof LSTM || mod instanceof GRU) || n.kind !== "call_module" || n.outputs.length !== 1 || refsOf(n.args).length !== 1) return false;
  const name = qconfigNameFor(model, n.target, mod);
  const wq = name === null ? null : qconfigByName(name).weight({ outChannels: 1 });
  const inq = wq instanceof GroupwiseFakeQuantize ? wq.inputQuantizer?.() : undefined;
  const ok = wq instanceof GroupwiseFakeQuantize && wq.bits === 8 && wq.groupSizeOption === "row" && wq.symmetric && inq && isDynamicFakeQuantize(inq) && inq.granularity === "per_tensor" && inq.dtype === "uint8";
  if (!ok) return false;
  const path = pathOf(n);
  const x = b.value(refsOf(n.args)[0], path);
  const y = defineFloat(b, n.outputs[0], w.graph.value(n.outputs[0]).shape, path);
  const r = dynamicRnnNode(mod, path, "per_channel", { input: x.id, output: y.id });
  for (const [k, t] of r.tensors) b.tensors.set(k, t);
  b.nodes.push(r.node);
  return true;
}

/** A dynamic QatLinear: a weight quantizer that is grouped. */
function isDynamicLinear(m: Module): m is QatLinear {
  return m instanceof QatLinear && m.weight_fake_quant instanceof GroupwiseFakeQuantize;
}

/** The Int8Model of a dynamic QAT model (see the file header). */
export function convertDynamic(model: QatModel, opts: { strict?: boolean } = {}): { model: Int8Model; report: ConvertReport } {
  disableObserver(model);
  const m = cloneModule(model);
  const gm = m.module as GraphModule;
  const graph = gm.graph;
  const constant = parameterOnlyValues(graph);
  const w: Walk = { gm, graph, flow: new DataFlow(graph), islands: new Map(), report: { islands: [], rangeWarnings: [] }, strict: opts.strict ?? false, constant };
  const b = new GraphBuilder();
  const isInt = (id: number) => graph.value(id).dtype === "int32";
  const input = defineFloat(b, graph.inputs[0], graph.value(graph.inputs[0]).shape, "quant", isInt(graph.inputs[0]));
  const extraInputs = graph.inputs.slice(1).map((id, i) => defineFloat(b, id, graph.value(id).shape, `quant_${i + 1}`, isInt(id)));
  for (const n of graph.nodes) {
    if (n.kind === "get_attr" || n.kind === "constant") continue;
    // shape arithmetic and values computed from parameters alone run inside the islands that read them
    if (n.outputs.every((o) => !isFloatDType(graph.value(o).dtype) || constant.has(o))) continue;
    if (n.kind === "call_module" && /^input_fake_quant_\d+$/.test(n.target)) {
      // the run-time input quantizer of a functional linear: the integer node quantizes its float input itself
      b.alias(refsOf(n.args)[0], n.outputs[0]);
      continue;
    }
    if (isQuantizerNode(gm, n)) {
      const q = gm.getSubmodule(n.target);
      if (!isFloatActivation(q)) throw new NotSupportedError(`convert: '${pathOf(n)}' (${q.constructor.name}) quantizes statically in a dynamic model; give every op a dynamic qconfig (or none)`);
      b.alias(refsOf(n.args)[0], n.outputs[0]);
      continue;
    }
    const mod = n.kind === "call_module" ? gm.getSubmodule(n.target) : null;
    const own = mod ? outputQuantizerOf(mod) : null;
    if (own && !isFloatActivation(own)) throw new NotSupportedError(`convert: '${pathOf(n)}' has a static output quantizer (${own.constructor.name}) in a dynamic model; give every op a dynamic qconfig (or none)`);
    if (mod && isDynamicLinear(mod)) {
      const t = traceNodeOf(w, n);
      const act = mod.act;
      const mid = act ? defineFloat(b, -1 - n.outputs[0], t.outputShape, `${t.path}#linear`) : defineFloat(b, n.outputs[0], t.outputShape, t.path);
      addDynamicLinear(b, t, mod, mid);
      if (act) {
        const y = defineFloat(b, n.outputs[0], t.outputShape, t.path);
        const call = act.max === Infinity ? { op: "relu", args: [{ input: 0 }] } : { op: "hardtanh", args: [{ input: 0 }, act.min, act.max] };
        b.nodes.push({ op: "float", name: `${t.path}#act`, inputs: [mid.id], output: y.id, fn: call.op, source: t.path, call });
      }
      continue;
    }
    if (addFunctionalLinear(b, w, n)) continue;
    if (mod && addDynamicRnn(b, w, model, n, mod)) continue;
    if (mod instanceof QatWeightLayer) throw new NotSupportedError(`convert: '${pathOf(n)}' (${mod.typeName}) has no dynamic kernel (dynamic qconfigs quantize Linear layers only); override it with qconfig null to keep it float`);
    addFloatIsland(b, w, n, mod ? `${mod.typeName} runs in float in a dynamic model` : `${n.target} runs in float in a dynamic model`);
  }
  if (graph.outputs.length !== 1) throw new NotSupportedError(`convert: the model has ${graph.outputs.length} outputs; Int8Model returns one`);
  const out = b.value(graph.outputs[0], "model output");
  const int8Graph: Int8Graph = {
    input, output: out.id, ...(extraInputs.length ? { extraInputs } : {}),
    values: [...new Map([...b.values.values()].map((v) => [v.id, v])).values()],
    nodes: b.nodes,
    meta: { qconfig: model.description.qconfig, producer: "qat-ts convert (dynamic)", floatIslands: w.report.islands.map((i) => i.source) },
  };
  return { model: new Int8Model(int8Graph, b.tensors, w.islands), report: w.report };
}
