/**
 * Quantized ONNX → Int8Model (registered with registerQuantizedImporter on import, so
 * `onnx.importModel(bytes)` returns an Int8Model for any QDQ or QOperator graph).
 *
 * Reads QDQ graphs — ours (export-qdq.ts) and PyTorch 1.13's export of a converted model
 * (Constant nodes for scales, Q → Cast → DQ, ConstantOfShape → Cast bias zero points,
 * Conv → Relu → Q) — by pattern-matching DequantizeLinear → float op [→ Relu / Clip] →
 * QuantizeLinear [→ integer Clip] chains into int8 nodes, and QOperator graphs (ours:
 * QLinearConv, QGemm, QLinearMatMul, QLinearAdd, QLinearConcat, QLinear(Global)AveragePool,
 * MaxPool / Flatten / Reshape on quantized tensors). Multipliers, biases and clamps are
 * computed as quant.convert computes them (quant-import-nodes.ts), so export → import is
 * bit-exact. Any other op the float importer has a kernel for (onnx-ops.ts), reading
 * dequantized tensors, becomes a float island (DQ → float op(s) → Q, an Int8Model "float"
 * node); anything else is a NotSupportedError naming the node, its op type and the supported ops. The walk's state and the handlers live in quant-import-*.ts.
 * Called by import.ts (through the registry), users and the CLI.
 */
import { FormatError, NotSupportedError } from "../tensor/errors.js";
import type { Int8Model } from "../int8/model.js";
import { DataType, type ModelProto } from "./proto.js";
import type { IrGraph, IrNode } from "./graph.js";
import { registerQuantizedImporter } from "./import.js";
import { QDQ_HANDLERS } from "./quant-import-ops.js";
import { MS_HANDLERS, QOP_HANDLERS } from "./quant-import-qop.js";
import { type FloatIsland, QuantImporter, where } from "./quant-import-state.js";
import { GENERIC_OPS } from "./onnx-ops.js";
import { importDynamicGraph, isDynamicOnnxGraph } from "./quant-import-dynamic.js";

declare module "./import.js" {
  interface ImportedModels {
    quantized: Int8Model;
  }
}

const FOLDED = ["Constant", "ConstantOfShape", "Cast (constants)", "Identity (constants)"];

/** Op types the quantized importer understands (com.microsoft ones prefixed). */
export function supportedQuantizedOps(): string[] {
  return [...Object.keys(QDQ_HANDLERS), ...Object.keys(QOP_HANDLERS), ...Object.keys(MS_HANDLERS).map((k) => `com.microsoft::${k}`), ...FOLDED];
}

/** Builds the Int8Model of a validated quantized graph. */
export function importQuantizedGraph(model: ModelProto, g: IrGraph): Int8Model {
  if (isDynamicOnnxGraph(g)) return importDynamicGraph(model, g); // DynamicQuantizeLinear → MatMulInteger, MatMulNBits (quant-import-dynamic.ts)
  if (g.inputs.length !== 1) throw new NotSupportedError(`onnx import (quantized): the graph has ${g.inputs.length} inputs; an Int8Model has one`);
  if (g.inputs[0].elemType !== DataType.FLOAT) throw new NotSupportedError(`onnx import (quantized): the graph input '${g.inputs[0].name}' must be FLOAT`);
  const imp = new QuantImporter(g);
  imp.floats.set(g.inputs[0].name, { kind: "input" });
  // Constant subgraphs first (they never depend on activations), so every bound is known.
  g.nodes.forEach((n, i) => {
    if (imp.consts.tryFold(n)) imp.done.add(i);
  });
  g.nodes.forEach((n, i) => {
    if (imp.done.has(i)) return;
    if (n.outputs.length === 0 || n.outputs[0] === "") throw new FormatError(`${where(n)} has no output`);
    const handler = n.domain === "" ? (QDQ_HANDLERS[n.opType] ?? QOP_HANDLERS[n.opType]) : n.domain === "com.microsoft" ? MS_HANDLERS[n.opType] : undefined;
    if (handler && handler(imp, n) !== false) return;
    if (n.domain === "" && GENERIC_OPS[n.opType]) return floatIsland(imp, n);
    const op = n.domain ? `${n.domain}::${n.opType}` : n.opType;
    throw new NotSupportedError(`${where(n)}: op ${op} is not supported in quantized graphs; supported: ${supportedQuantizedOps().join(", ")}, and as float islands ${Object.keys(GENERIC_OPS).join(", ")}`);
  });
  const qoperator = g.nodes.some((n) => n.opType.startsWith("QLinear") || n.opType === "QGemm");
  return imp.finish({ producer: "qat-ts onnx import", format: qoperator ? "qoperator" : "qdq", source: model.producerName ?? "", graph: g.name });
}

/**
 * An op with no integer pattern whose inputs are dequantized activations (or other such ops,
 * or constants): a float island, run by its ONNX kernel between the DequantizeLinear and the
 * QuantizeLinear that follows it (onnxruntime's quantizer leaves unsupported ops like this).
 */
function floatIsland(imp: QuantImporter, n: IrNode): void {
  const consts = n.inputs.map((name) => (name === "" ? null : imp.consts.get(name) ?? undefined));
  const kernel = GENERIC_OPS[n.opType]({ opType: n.opType, where: where(n), attrs: n.attrs, opset: imp.g.opset, consts });
  const inputs = n.inputs.map((name, i): FloatIsland["inputs"][number] => {
    const c = consts[i];
    if (c !== undefined) return { kind: "const", t: c };
    const f = imp.float(name, n);
    if (f.kind === "dq") return { kind: "dq", v: f.v };
    if (f.kind === "pending" && f.p.op === "island" && !f.act) return { kind: "island", island: f.p.island };
    if (f.kind === "fconst") return { kind: "const", t: f.t };
    throw new NotSupportedError(`${where(n)}: float op input '${name}' must be dequantized (DequantizeLinear) or another float op's output`);
  });
  imp.floats.set(n.outputs[0], { kind: "pending", p: { op: "island", name: n.name || `${n.opType}_${n.index}`, shape: [], island: { opType: n.opType, kernel, inputs } }, act: null });
}

registerQuantizedImporter(importQuantizedGraph);
