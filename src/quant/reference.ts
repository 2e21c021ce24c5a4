/**
 * `convertToReference(qatModel)` → ReferenceModel: the reference quantized graph (PT2E's
 * convert_pt2e output, ONNX's QDQ form), before lowering. convert freezes the live model
 * (observers off, BN statistics frozen: convertWithReport), then every quantizer becomes a
 * QuantizeLinear → DequantizeLinear pair with its frozen parameters, every QAT conv / linear a
 * ReferenceConv2d / ReferenceLinear on DQ(w_q) and DQ(b_q) — the integer weights and bias convert
 * computes — with a fused ReLU as its own node after it, and every other op stays the float op
 * it was, between DQ and Q. It runs in float32 (round half to even, ONNX semantics) and is
 * inspectable: `reference.graph`, `reference.listing()` (nodes, islands marked with the reason
 * lowering gives). `lower(reference)` (reference-lower.ts) turns it into the Int8Model.
 * Functional weights keep their frozen weight_fake_quant_<k> node (Q→DQ of the parameter).
 * Called by user code.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "../nn/module.js";
import { cloneModule } from "../nn/clone.js";
import { Graph, type GraphNode, mapRefs, refsOf } from "../graph/graph.js";
import { GraphModule } from "../graph/graph-module.js";
import type { QParams } from "../int8/graph.js";
import { type PrepareDescription, OUTPUT_QUANTIZER, QatModel, outputQuantizerOf } from "./stubs.js";
import { QatConvBn2d, QatLinearBn1d, QatWeightLayer } from "./qat-modules.js";
import { SHARES_INPUT_QPARAMS, keepsInputGrid } from "./prepare.js";
import { type ConvertOptions, type ConvertReport, convertWithReport } from "./convert.js";
import { GraphBuilder, activationQParams, quantizerParams, weightLayerFields } from "./convert-layers.js";
import { isDynamicModel } from "./convert-dynamic.js";
import { DequantizeLinear, QuantizeLinear, ReferenceConv2d, ReferenceLinear, type ReferenceWeights } from "./reference-modules.js";

const isActivationQuantizer = (n: GraphNode) => n.kind === "call_module" && /^activation_post_process(_\d+)?$/.test(n.target);

/** The reference quantized model: a GraphModule of Q/DQ pairs around float ops. */
export class ReferenceModel extends Module {
  module: GraphModule;
  /** Ops lowering leaves in float (no integer kernel), with the reason. */
  readonly islands: ConvertReport["islands"];
  readonly description: PrepareDescription;
  readonly inputShape: number[];

  constructor(module: GraphModule, islands: ConvertReport["islands"], description: PrepareDescription, inputShape: number[]) {
    super();
    this.module = this.registerModule("module", module);
    this.islands = islands;
    this.description = description;
    this.inputShape = inputShape;
  }

  get graph(): Graph {
    return this.module.graph;
  }

  forward(...xs: Tensor[]): Tensor {
    return this.module.forward(...xs);
  }

  /** One line a node (as Graph.toString), float islands marked. */
  listing(): string {
    const lines = this.graph.toString().split("\n");
    return lines
      .map((l) => {
        const name = / # (\S+)$/.exec(l)?.[1];
        const n = name ? this.graph.nodes.find((x) => x.name === name) : undefined;
        const island = n?.meta?.island as string | undefined;
        return island ? `${l}   ← float island: ${island}` : l;
      })
      .join("\n");
  }
}

/** The integer weights and bias convert computes for a QAT layer, with their scales. */
function referenceWeights(m: QatWeightLayer, x: QParams, where: string): ReferenceWeights {
  const b = new GraphBuilder();
  const xv = b.define(-1, [1], x, where);
  const wq = quantizerParams(m.weight_fake_quant, `${where}.weight_fake_quant`);
  const wf = m.quantizedWeight();
  const biasF = m instanceof QatConvBn2d || m instanceof QatLinearBn1d ? m.foldedBias() : m.bias ? m.bias.data : null;
  const f = weightLayerFields(b, where, where, xv, xv, wf, wq, biasF, null);
  const oc = wf.shape[0];
  const zps = (b.tensors.get(`${where}.weight_zero_point`) as Int32Array | undefined) ?? new Int32Array(oc);
  return {
    weightQ: b.tensors.get(`${where}.weight`) as Int8Array, wShape: [...wf.shape], wScales: f.wScales, wZeroPoints: Array.from(zps),
    biasQ: (b.tensors.get(`${where}.bias`) as Int32Array | undefined) ?? null,
    biasScales: f.wScales.map((s) => Math.fround(Math.fround(x.scale) * Math.fround(s))),
    wQmin: wq.qmin, wQmax: wq.qmax,
  };
}

/** The reference quantized graph of a prepared (trained or calibrated) QAT model; see the file header. */
export function convertToReference(model: QatModel, opts: ConvertOptions = {}): ReferenceModel {
  if (!(model instanceof QatModel) || !(model.module instanceof GraphModule)) throw new ValueError("convertToReference: expected the model returned by quant.prepareQat");
  if (isDynamicModel(model)) throw new NotSupportedError("convertToReference: dynamic / weight-only schemes have no static reference graph (activations stay float); use convert");
  const { report } = convertWithReport(model, opts); // freezes the live model; its islands are the reference's
  const m = cloneModule(model);
  const src = m.module as GraphModule;
  const g0 = src.graph;
  const g = new Graph();
  const gm = new GraphModule(src, g);
  for (const [k, t] of g0.constants) g.constants.set(k, t);
  const env = new Map<number, number>();
  const gridOf = new Map<number, QParams>(); // value → the grid it lies on (DQ outputs, ops that keep it)
  const at = (id: number, where: string) => {
    const v = env.get(id);
    if (v === undefined) throw new ValueError(`convertToReference: '${where}' reads %${id} before it is computed`);
    return v;
  };
  let k = 0;
  const qdq = (v: number, q: QParams, of: string): number => {
    const [qn, dn] = [`quantize_${k}`, `dequantize_${k}`];
    k++;
    gm.registerModule(qn, new QuantizeLinear(q));
    gm.registerModule(dn, new DequantizeLinear(q));
    const shape = g.value(v).shape;
    const a = g.addValue(shape, "float32");
    g.addNode({ kind: "call_module", target: qn, args: [{ ref: v }], outputs: [a], name: qn, meta: { quantizes: of } });
    const b = g.addValue(shape, "float32");
    g.addNode({ kind: "call_module", target: dn, args: [{ ref: a }], outputs: [b], name: dn });
    gridOf.set(b, q);
    return b;
  };
  const copy = (n: GraphNode, target = n.target, meta?: Record<string, unknown>): GraphNode => {
    const outs = n.outputs.map((o) => {
      const v = g.addValue(g0.value(o).shape, g0.value(o).dtype);
      env.set(o, v);
      return v;
    });
    const node = g.addNode({ kind: n.kind, target, args: mapRefs(n.args, (id) => at(id, n.name)), outputs: outs, name: n.name, ...(meta ? { meta } : {}) });
    const x = refsOf(node.args)[0];
    const keeps = n.kind === "call_function" ? SHARES_INPUT_QPARAMS.has(n.target) : n.kind === "call_module" && keepsInputGrid(src.getSubmodule(n.target));
    if (keeps && x !== undefined && gridOf.has(x)) gridOf.set(outs[0], gridOf.get(x)!);
    return node;
  };
  g0.inputs.forEach((id, i) => {
    const v = g.addValue(g0.value(id).shape, g0.value(id).dtype);
    g.inputs.push(v);
    const fq = outputQuantizerOf(i === 0 ? m.quant : m.extraInputStubs[i - 1]);
    env.set(id, fq ? qdq(v, activationQParams(fq, i === 0 ? "quant" : `quant_${i}`), i === 0 ? "quant" : `quant_${i}`) : v);
  });
  const replaced = new Set<string>();
  for (const n of g0.nodes) {
    if (isActivationQuantizer(n)) {
      const x = at(refsOf(n.args)[0], n.name);
      env.set(n.outputs[0], qdq(x, activationQParams(src.getSubmodule(n.target), n.target), n.target));
      continue;
    }
    if (n.kind !== "call_module") {
      copy(n);
      continue;
    }
    const mod = src.getSubmodule(n.target);
    const fq = outputQuantizerOf(mod);
    const q = fq ? activationQParams(fq, `${n.target}.${OUTPUT_QUANTIZER}`) : null;
    if (fq) mod.registerModule(OUTPUT_QUANTIZER, null); // its Q → DQ is a node of the graph now
    const xq = gridOf.get(at(refsOf(n.args)[0], n.name));
    if (mod instanceof QatWeightLayer && xq) {
      if (!replaced.has(n.target)) {
        const w = referenceWeights(mod, xq, n.target);
        const geo = (mod as { geometry?: { stride: [number, number]; padding: [number, number] | string; dilation: [number, number]; groups: number } }).geometry;
        if (geo && typeof geo.padding === "string") throw new NotSupportedError(`convertToReference: '${n.target}' uses padding='${geo.padding}'; give explicit padding`);
        gm.setSubmodule(n.target, geo ? new ReferenceConv2d(w, { stride: geo.stride, padding: geo.padding as [number, number], dilation: geo.dilation, groups: geo.groups }) : new ReferenceLinear(w));
        replaced.add(n.target);
      }
      const node = copy(n);
      let out = node.outputs[0];
      if (mod.act) {
        // the fused ReLU / ReLU6 / clamp: its own node, read back into the layer by lower()
        out = g.addValue(g.value(out).shape, "float32");
        const relu = mod.act.min === 0 && mod.act.max === Infinity;
        g.addNode({ kind: "call_function", target: relu ? "relu" : "clamp", args: relu ? [{ ref: node.outputs[0] }] : [{ ref: node.outputs[0] }, mod.act.min, mod.act.max], outputs: [out], name: `${n.name}_act`, meta: { fusedActOf: n.target } });
        env.set(n.outputs[0], out);
      }
      if (q) env.set(n.outputs[0], qdq(out, q, `${n.target}.${OUTPUT_QUANTIZER}`));
      continue;
    }
    const node = copy(n);
    if (q) env.set(n.outputs[0], qdq(node.outputs[0], q, `${n.target}.${OUTPUT_QUANTIZER}`));
  }
  g.outputs = g0.outputs.map((id) => at(id, "graph output"));
  // islands: the ops lowering leaves in float (convert's report), marked on their nodes
  const reasons = new Map(report.islands.map((i) => [i.source, i.reason]));
  for (const n of g.nodes) {
    const reason = reasons.get(`module.${n.kind === "call_module" ? n.target : n.name}`);
    if (reason && !/^(quantize|dequantize)_\d+$/.test(n.name)) n.meta = { ...(n.meta ?? {}), island: reason };
  }
  const ref = new ReferenceModel(gm, report.islands, model.description, [...(model.inputShape ?? g0.value(g0.inputs[0]).shape)]);
  ref.eval();
  return ref;
}

/** PT2E's name: convert_pt2e returns the reference quantized model (Q/DQ around float ops). */
export const convertPt2e = convertToReference;
