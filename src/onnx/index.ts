/**
 * onnx: export (float now; QDQ / QOperator through registerFormatExporter), import (float
 * graphs → trainable OnnxModule; quantized graphs through registerQuantizedImporter), and
 * the protobuf helpers both sides and tests use. Exported from the package root as `onnx`.
 */
export {
  exportModel, registerFormatExporter, exportFloatCall, callOf,
  type ExportOptions, type ExportFormat, type ResolvedExportOptions, type FormatExporter, type QuantInfoLookup, type WeightType,
} from "./export.js";
export { ExportContext } from "./export-context.js";
export { exportInt8Model, registerInt8Format, QuantEmitter, type Int8ExportOptions, type Int8Format, type QuantizedFormat } from "./export-int8.js";
// Registration on import: the "qdq" and "qoperator" formats and the quantized importer.
import "./export-qdq.js";
import "./export-qoperator.js";
export { importQuantizedGraph, supportedQuantizedOps } from "./import-quantized.js";
export { registerExportRule, findExportRule, exportableModules, emitNode, type ExportCall, type ExportRule } from "./op-map.js";
export {
  importModel, importFloatModel, readGraph, registerQuantizedImporter, isQuantizedGraph, QUANTIZED_OPS,
  type ImportedModel, type ImportedModels, type QuantizedImporter,
} from "./import.js";
export { supportedFloatOps } from "./import-build.js";
export { OnnxModule, OnnxOp, OnnxContainer, OnnxBatchNorm, type OnnxStep, type InputSlot } from "./onnx-module.js";
export { parseGraph, describeNode, type IrGraph, type IrNode, type IrInput } from "./graph.js";
export { Attrs } from "./attrs.js";
export { readTensorProto, checkedDims, MAX_TENSOR_ELEMENTS } from "./tensor-proto.js";
export {
  attr, makeNode, makeValueInfo, makeModel, tensorProto, scalarTensorProto, floatTensorProto, int64TensorProto, onnxElemType, irVersionForOpset,
  type NodeOptions, type ModelOptions,
} from "./builders.js";
export {
  encodeModel, decodeModel, DataType, AttrType, dataTypeName,
  type ModelProto, type GraphProto, type NodeProto, type TensorProto, type AttributeProto, type ValueInfoProto, type TypeProto,
  type OperatorSetIdProto,
} from "./proto.js";
