/**
 * add → ReLU lowered as one integer add with the ReLU's clamp, where the quantizer asked for it
 * (XNNPACK's add_relu annotation, quantizer-default.ts annotateAddRelu): the add's output has
 * no quantizer and its only reader is a ReLU / ReLU6 / clamp(0, x) whose output is quantized.
 * Fake-quant computes Q_y(relu(a + b)); the integer add computes clamp(requant(a + b)) on
 * [Z_y (or the ReLU6 bound), q_max] — the same rounding of the same real sum, so they agree
 * within ±1 quantum as any integer add does. The exporters need nothing new: the add node's
 * clamp is written as an integer Clip after QuantizeLinear (QDQ) or QLinearAdd (QOperator).
 * Called by ./convert.ts.
 */
import { refsOf, type GraphNode } from "../graph/graph.js";
import { Add } from "../nn/layers/merge.js";
import type { Hardtanh, ReLU } from "../nn/layers/activation.js";
import type { AddNode } from "../int8/graph.js";
import { functionalAct, isFusableAct } from "./fuse.js";
import { outputQuantizerOf } from "./stubs.js";
import { type GraphBuilder, activationQParams, actRange, outputClamp, pushAdd } from "./convert-layers.js";
import { type Walk, outputQuantizer, pathOf } from "./convert-walk.js";

/** The activation node `r` applies, if it folds into a clamp. */
function actOf(w: Walk, r: GraphNode): ReLU | Hardtanh | null {
  const f = functionalAct(r);
  if (f) return f;
  if (r.kind !== "call_module") return null;
  const m = w.gm.getSubmodule(r.target);
  return isFusableAct(m) ? m : null;
}

/** Lowers `n` with the ReLU that reads it, when `n` is an unquantized add the annotation fused; false otherwise. */
export function addAddRelu(b: GraphBuilder, w: Walk, n: GraphNode): boolean {
  const ins = refsOf(n.args);
  const isAdd = n.kind === "call_function" ? n.target === "add" && n.args.length === 2 && ins.length === 2 : n.kind === "call_module" && w.gm.getSubmodule(n.target) instanceof Add;
  if (!isAdd || ins.length !== 2 || !ins.every((id) => b.values.has(id))) return false;
  if (n.kind === "call_module" && outputQuantizerOf(w.gm.getSubmodule(n.target))) return false;
  if (outputQuantizer(w, n)) return false; // the add's output is quantized: today's two nodes
  const shape = w.graph.value(n.outputs[0]).shape;
  if (ins.some((id) => w.graph.value(id).shape.join() !== shape.join())) return false;
  const r = w.flow.soleReader(n);
  if (!r || refsOf(r.args)[0] !== n.outputs[0]) return false;
  const act = actOf(w, r);
  const q = act ? outputQuantizer(w, r) : null;
  if (!act || !q) return false;
  const y = b.define(r.outputs[0], w.graph.value(r.outputs[0]).shape, activationQParams(q.fq, q.where), pathOf(r));
  if (q.node) b.alias(r.outputs[0], q.node.outputs[0]);
  const name = `${pathOf(n)}+${r.kind === "call_module" ? r.target : r.name}`;
  pushAdd(b, name, b.value(ins[0], name), b.value(ins[1], name), y);
  (b.nodes[b.nodes.length - 1] as AddNode).clamp = outputClamp(y.q, actRange(act));
  return true;
}
