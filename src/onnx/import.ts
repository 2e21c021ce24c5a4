/**
 * `importModel(bytes)`: ONNX → a qat-ts model. Decode (proto.ts), validate and sort the graph
 * (graph.ts), then:
 *   - a float graph → a trainable OnnxModule (import-build.ts);
 *   - a quantized graph (QuantizeLinear / DequantizeLinear / QLinear* / *Integer nodes) →
 *     whatever the registered quantized importer returns (the Int8Model importer plugs in
 *     through `registerQuantizedImporter`; until then a NotSupportedError).
 * Every failure is a QatError: FormatError for malformed or hostile files, NotSupportedError
 * naming the op type, node and supported list for valid files we cannot run.
 * Called by users, the CLI (`qat import`) and tests.
 */
import { NotSupportedError } from "../tensor/errors.js";
import { describeNode, parseGraph, type IrGraph } from "./graph.js";
import { buildOnnxModule, supportedFloatOps } from "./import-build.js";
import { OnnxModule } from "./onnx-module.js";
import { decodeModel, type ModelProto } from "./proto.js";

/**
 * What importModel can return, by kind. The quantized importer extends it by declaration
 * merging: `declare module "../onnx/import.js" { interface ImportedModels { quantized: Int8Model } }`.
 */
export interface ImportedModels {
  float: OnnxModule;
}
export type ImportedModel = ImportedModels[keyof ImportedModels];

/** Builds the model of a validated quantized graph. */
export type QuantizedImporter = (model: ModelProto, graph: IrGraph) => ImportedModel;

let quantizedImporter: QuantizedImporter | null = null;

/** Installs the importer for QDQ / QOperator graphs (src/int8 or src/quant does this). */
export function registerQuantizedImporter(importer: QuantizedImporter | null): void {
  quantizedImporter = importer;
}

/** Op types that make a graph "quantized". */
export const QUANTIZED_OPS: ReadonlySet<string> = new Set([
  "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul",
  "QLinearGlobalAveragePool", "QLinearConcat", "QLinearAveragePool", "QLinearSigmoid", "QLinearLeakyRelu",
  "MatMulInteger", "ConvInteger", "DynamicQuantizeLinear", "QGemm",
  "MatMulNBits", // com.microsoft block-quantized weights (quant-import-dynamic.ts)
  "DynamicQuantizeLSTM", // com.microsoft quantized LSTM (quant-import-dynamic-rnn.ts)
]);

export function isQuantizedGraph(g: IrGraph): boolean {
  return g.nodes.some((n) => QUANTIZED_OPS.has(n.opType));
}

/** Throws NotSupportedError for the first node the float importer has no rule for. */
function checkFloatOps(g: IrGraph): void {
  const supported = supportedFloatOps();
  const known = new Set(supported);
  for (const n of g.nodes) {
    if (n.domain !== "" || !known.has(n.opType)) {
      const op = n.domain ? `${n.domain}::${n.opType}` : n.opType;
      throw new NotSupportedError(`onnx import: op ${op} (${describeNode(n)}) is not supported; supported ops: ${supported.join(", ")}`);
    }
  }
}

/** Parses and validates ONNX bytes (no model is built). */
export function readGraph(bytes: Uint8Array): { model: ModelProto; graph: IrGraph } {
  const model = decodeModel(bytes);
  return { model, graph: parseGraph(model) };
}

/** ONNX bytes → OnnxModule (float graph) or the quantized importer's model. */
export function importModel(bytes: Uint8Array): ImportedModel {
  const { model, graph } = readGraph(bytes);
  if (isQuantizedGraph(graph)) {
    if (!quantizedImporter) throw new NotSupportedError("onnx import: this is a quantized graph (QDQ / QOperator); quantized import is not available in this build yet");
    return quantizedImporter(model, graph);
  }
  checkFloatOps(graph);
  return buildOnnxModule(graph);
}

/** Like importModel, but only for float graphs: always an OnnxModule. */
export function importFloatModel(bytes: Uint8Array): OnnxModule {
  const { graph } = readGraph(bytes);
  if (isQuantizedGraph(graph)) throw new NotSupportedError("onnx importFloatModel: the graph is quantized (QDQ / QOperator); use importModel");
  checkFloatOps(graph);
  return buildOnnxModule(graph);
}
