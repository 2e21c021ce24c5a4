/**
 * `lower(reference)` → Int8Model: lowering of a reference quantized graph (./reference.ts) —
 * PyTorch's _lower_to_native_backend, onnxruntime's QDQ fusion. The reference is read back
 * into the form convert's walk lowers (one lowering for both paths):
 *
 *   Q → DQ pair after a graph input        the QuantStub's quantizer
 *   Q → DQ pair after a module call         that module's output quantizer (when it is its
 *                                           only reader and the module is called once)
 *   any other Q → DQ pair                   an activation_post_process_<k> node
 *   ReferenceConv2d / Linear (+ its ReLU)   a QAT conv / linear holding DQ(w_q) and DQ(b_q) with
 *                                           a frozen weight quantizer (S_w, Z_w), the ReLU folded
 *                                           back as its clamp
 *
 * every quantizer a FixedQParams one with the pair's scale and zero point; then convert's walk
 * turns DQ → op → Q into integer kernels (conv, linear, add, concat, pools, clamps, tables, …)
 * and leaves every other op a float island. `lower(convertToReference(m))` ≡ `convert(m)` bit
 * for bit (tested): the integer weights are the reference's (w_q = round(DQ(w_q) / S_w) + Z_w
 * exactly), the bias b_q·fround(S_x·S_w) rounds back to b_q for |b_q| < 2^23.
 * Called by user code.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { Module } from "../nn/module.js";
import { cloneModule } from "../nn/clone.js";
import { Conv2d } from "../nn/layers/conv.js";
import { Linear } from "../nn/layers/linear.js";
import { Graph, type GraphNode, mapRefs, refsOf } from "../graph/graph.js";
import { GraphModule } from "../graph/graph-module.js";
import { DataFlow } from "../graph/pattern.js";
import type { Int8Model } from "../int8/model.js";
import { FixedQParamsFakeQuantize } from "./fake-quantize.js";
import { FixedQParamsObserver } from "./observer-fixed.js";
import { OUTPUT_QUANTIZER, QatModel, attachOutputQuantizer } from "./stubs.js";
import { type ActClamp, QatConv2d, QatLinear } from "./qat-modules.js";
import { keepsInputGrid } from "./prepare.js";
import { type ConvertOptions, type ConvertReport, convertWithReport } from "./convert.js";
import { DequantizeLinear, QuantizeLinear, type ReferenceConv2d, ReferenceLinear, isReferenceWeightLayer } from "./reference-modules.js";
import { ReferenceModel } from "./reference.js";
import type { QParams } from "../int8/graph.js";

/** A frozen per-channel weight quantizer: the reference layer's S_w, Z_w (what convert reads). */
class FrozenWeightQuantizer extends Module {
  declare scale: Tensor;
  declare zero_point: Tensor;
  declare fake_quant_enabled: Tensor;

  constructor(scales: Tensor, zps: Tensor, readonly quantMin: number, readonly quantMax: number) {
    super();
    this.registerBuffer("scale", new Tensor(Float32Array.from(scales.data), [scales.size]));
    this.registerBuffer("zero_point", new Tensor(Int32Array.from(zps.data), [zps.size]));
    this.registerBuffer("fake_quant_enabled", new Tensor(Uint8Array.of(1), [1]));
  }

  /** The reference weights are DQ(w_q) already: on the grid. */
  forward(w: Tensor): Tensor {
    return w;
  }
}

const fixedQuantizer = (q: QParams): Module =>
  new FixedQParamsFakeQuantize({ observer: FixedQParamsObserver.withArgs({ scale: q.scale, zeroPoint: q.zeroPoint, dtype: q.dtype, quantMin: q.qmin, quantMax: q.qmax }) });

/** The QAT layer a reference weight layer lowers through (weights DQ(w_q), bias DQ(b_q)). */
function qatLayerOf(r: ReferenceConv2d | ReferenceLinear, act: ActClamp | null): QatConv2d | QatLinear {
  const wq = new FrozenWeightQuantizer(r.weight_scale, r.weight_zero_point, r.wQmin, r.wQmax);
  const [oc, icg, kh, kw] = r.weight.shape;
  let layer: Conv2d | Linear;
  if (r instanceof ReferenceLinear) layer = new Linear(r.weight.shape[1], oc, { bias: r.bias !== null });
  else {
    const g = r.geometry;
    layer = new Conv2d(icg * g.groups, oc, [kh, kw], { stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups, bias: r.bias !== null });
  }
  (layer.weight.data as Float32Array).set(r.weight.data as Float32Array);
  if (r.bias && layer.bias) (layer.bias.data as Float32Array).set(r.bias.data as Float32Array);
  return layer instanceof Linear ? new QatLinear(layer, wq, act) : new QatConv2d(layer, wq, act);
}

/** The Int8Model of a reference graph; see the file header. */
export function lower(reference: ReferenceModel, opts: ConvertOptions = {}): Int8Model {
  return lowerWithReport(reference, opts).model;
}

/** lower, also returning convert's report (float islands). */
export function lowerWithReport(reference: ReferenceModel, opts: ConvertOptions = {}): { model: Int8Model; report: ConvertReport } {
  if (!(reference instanceof ReferenceModel)) throw new ValueError("lower: expected the model returned by quant.convertToReference");
  const r = cloneModule(reference) as ReferenceModel;
  const src = r.module;
  const g0 = src.graph;
  const flow = new DataFlow(g0);
  const g = new Graph();
  const gm = new GraphModule(src, g);
  for (const [k, t] of g0.constants) g.constants.set(k, t);
  const env = new Map<number, number>();
  const made = new Map<number, GraphNode>(); // value → the view's module call that produced it (attach target)
  const skip = new Set<GraphNode>();
  const stubQuantizers: (Module | null)[] = g0.inputs.map(() => null);
  const calls = new Map<string, number>();
  for (const n of g0.nodes) if (n.kind === "call_module") calls.set(n.target, (calls.get(n.target) ?? 0) + 1);
  const at = (id: number, where: string) => {
    const v = env.get(id);
    if (v === undefined) throw new ValueError(`lower: '${where}' reads %${id} before it is computed`);
    return v;
  };
  g0.inputs.forEach((id) => {
    const v = g.addValue(g0.value(id).shape, g0.value(id).dtype);
    g.inputs.push(v);
    env.set(id, v);
  });
  let k = 0;
  for (const n of g0.nodes) {
    if (skip.has(n)) continue;
    const mod = n.kind === "call_module" ? src.getSubmodule(n.target) : null;
    if (mod instanceof DequantizeLinear) throw new NotSupportedError(`lower: '${n.name}' dequantizes a value no QuantizeLinear produced`);
    if (mod instanceof QuantizeLinear) {
      const dq = flow.soleReader(n);
      if (!dq || !(src.getSubmodule(dq.target) instanceof DequantizeLinear)) throw new NotSupportedError(`lower: '${n.name}' is not followed by its DequantizeLinear alone`);
      skip.add(dq);
      const x = refsOf(n.args)[0];
      const fq = fixedQuantizer(mod.qparams);
      const input = g0.inputs.indexOf(x);
      const producer = made.get(x);
      if (input >= 0 && stubQuantizers[input] === null && flow.readersOf(x).length === 1) {
        stubQuantizers[input] = fq;
        env.set(dq.outputs[0], at(x, n.name));
      } else if (producer && calls.get(producer.target) === 1 && flow.readersOf(x).length === 1 && !keepsInputGrid(gm.getSubmodule(producer.target))) {
        const target = gm.getSubmodule(producer.target);
        if (target.namedChildren().some(([c]) => c === OUTPUT_QUANTIZER) || (target as unknown as Record<string, unknown>)[OUTPUT_QUANTIZER] === null) target.registerModule(OUTPUT_QUANTIZER, fq);
        else attachOutputQuantizer(target, fq);
        env.set(dq.outputs[0], at(x, n.name));
      } else {
        let name = `activation_post_process_${k++}`;
        while (gm.namedChildren().some(([c]) => c === name)) name = `activation_post_process_${k++}`;
        gm.registerModule(name, fq);
        const v = g.addValue(g0.value(x).shape, "float32");
        g.addNode({ kind: "call_module", target: name, args: [{ ref: at(x, n.name) }], outputs: [v], name });
        env.set(dq.outputs[0], v);
      }
      continue;
    }
    let outs = n.outputs;
    if (mod && isReferenceWeightLayer(mod)) {
      // the fused ReLU the reference wrote after the layer folds back into the layer's clamp
      const actNode = flow.soleReader(n);
      const fused = actNode?.meta?.fusedActOf === n.target ? actNode : null;
      const act: ActClamp | null = fused ? (fused.target === "relu" ? { min: 0, max: Infinity } : { min: fused.args[1] as number, max: fused.args[2] as number }) : null;
      if (!(gm.getSubmodule(n.target) instanceof QatConv2d || gm.getSubmodule(n.target) instanceof QatLinear)) gm.setSubmodule(n.target, qatLayerOf(mod, act));
      if (fused) {
        skip.add(fused);
        outs = fused.outputs;
      }
    }
    const vs = outs.map((o) => {
      const v = g.addValue(g0.value(o).shape, g0.value(o).dtype);
      env.set(o, v);
      return v;
    });
    const { meta: _meta, ...rest } = n;
    const node = g.addNode({ ...rest, args: mapRefs(n.args, (id) => at(id, n.name)), outputs: vs });
    if (n.kind === "call_module") for (const o of outs) made.set(o, node);
  }
  g.outputs = g0.outputs.map((id) => at(id, "graph output"));
  const view = new QatModel(gm, reference.description);
  if (stubQuantizers[0]) attachOutputQuantizer(view.quant, stubQuantizers[0]);
  for (let i = 1; i < g.inputs.length; i++) {
    const stub = view.addInputStub();
    if (stubQuantizers[i]) attachOutputQuantizer(stub, stubQuantizers[i]!);
  }
  view.inputShape = [...reference.inputShape];
  view.eval();
  return convertWithReport(view, opts);
}
