/**
 * `exportModel(model, { example, format, opset })` → ONNX bytes. The model is captured on the
 * example (src/graph: every atomic module call and every functional op, export-graph.ts), then a format
 * exporter writes nodes through an ExportContext and the result is checked (unique names,
 * topological order, graph input/output shapes; the batch dim symbolic "N" by default).
 *
 * Formats plug in through `registerFormatExporter(format, exporter)`: an exporter may pick
 * which modules are atomic, derive a per-node quantization lookup from the model
 * (`quantInfo`), and emits the traced calls — `exportFloatCall` gives any call's float nodes,
 * so a QDQ exporter wraps those in QuantizeLinear/DequantizeLinear. "float" is built in;
 * "qdq" and "qoperator" are NotSupportedError until their exporters are registered.
 * Called by users, the CLI (`qat export`) and tests.
 */
import { DTypeError, NotSupportedError, ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import type { Module } from "../nn/module.js";
import { type Trace, type TraceNode, isAtomic } from "../nn/trace.js";
import { graphTrace } from "./export-graph.js";
import { makeModel, makeValueInfo } from "./builders.js";
import { ExportContext } from "./export-context.js";
import { type ExportCall, exportableModules, findExportRule } from "./op-map.js";
import { OnnxModule } from "./onnx-module.js";
import { DataType } from "./proto.js";
import { encodeModel } from "./proto.js";
import type { IntegerOp } from "../quant/convert-integer.js";

export type ExportFormat = "float" | "qdq" | "qoperator";

/** Storage type of quantized conv / linear weights (export-int8.ts's QuantEmitter.weight). */
export type WeightType = "int8" | "uint8" | "auto";

export interface ExportOptions {
  /** An input the model runs on (its shape fixes every dim but the batch). */
  example: Tensor;
  /** Default "float". */
  format?: ExportFormat;
  /** Default-domain opset (default 13; an imported graph exported as "float": its own opset, at least 11). */
  opset?: number;
  /** Graph input name (default "input"). */
  inputNames?: string[];
  /** Graph output name (default "output"). */
  outputNames?: string[];
  /** Symbolic batch dim "N" on the graph input and output (default true). */
  dynamicBatch?: boolean;
  docString?: string;
  /** Quantized formats: softmax / LayerNorm as integer-only nodes (convert's `integerOps`), exported as exact integer ONNX ops. */
  integerOps?: IntegerOp[];
  /**
   * Quantized formats: conv / linear weights stored as int8, as uint8 (zero points + 128, the
   * same dequantized values), or "auto" (default): uint8 only where onnxruntime's u8×s8 AVX2
   * kernels could saturate their int16 pair sums (export-int8.ts, docs/ONNX.md).
   */
  weightType?: WeightType;
}

export interface ResolvedExportOptions {
  example: Tensor;
  format: ExportFormat;
  opset: number;
  inputName: string;
  outputName: string;
  dynamicBatch: boolean;
  docString?: string;
  integerOps?: IntegerOp[];
  weightType?: WeightType;
}

/** Per traced call: the quantization parameters an emitter needs (undefined = float). */
export type QuantInfoLookup<Q = unknown> = (node: TraceNode) => Q | undefined;

export interface FormatExporter {
  /** Lowest opset the format supports. */
  minOpset: number;
  /** Which modules are single trace nodes (default nn.trace's isAtomic). */
  atomic?: (m: Module) => boolean;
  /** Checks the model and returns the per-node quantization lookup (QDQ / QOperator). */
  quantInfo?: (model: Module, opts: ResolvedExportOptions) => QuantInfoLookup | undefined;
  /** Emits every traced call (in order) into ctx. */
  emit(ctx: ExportContext, trace: Trace, quantInfo: QuantInfoLookup | undefined, opts: ResolvedExportOptions): void;
  /**
   * Takes over the whole export instead (no trace of `model`, `emit` unused): the quantized
   * formats convert the model — a clone, observers off — and write its integer graph, so
   * exporting never runs the caller's observers.
   */
  exportWhole?: (model: Module, opts: ResolvedExportOptions) => Uint8Array;
}

const exporters = new Map<ExportFormat, FormatExporter>();

/** Installs (or replaces) the exporter of a format. */
export function registerFormatExporter(format: ExportFormat, exporter: FormatExporter): void {
  exporters.set(format, exporter);
}

/** The ExportCall view of a traced node, with its inputs' value names. */
export function callOf(ctx: ExportContext, node: TraceNode): ExportCall {
  return {
    path: node.path, module: node.module, inputs: node.inputs.map((id) => ctx.nameOf(id)),
    inputShapes: node.inputShapes, output: node.output, outputShape: node.outputShape,
  };
}

/** Emits the float nodes of one call via the op-map rule table. */
export function exportFloatCall(ctx: ExportContext, call: ExportCall): void {
  const rule = findExportRule(call.module);
  if (!rule) {
    throw new NotSupportedError(
      `onnx export: module '${call.path || "<root>"}' (${call.module.constructor.name}) has no ONNX mapping; supported: ${exportableModules().join(", ")}`,
    );
  }
  rule(ctx, call);
}

registerFormatExporter("float", {
  minOpset: 11,
  emit(ctx, trace) {
    for (const node of trace.nodes) exportFloatCall(ctx, callOf(ctx, node));
  },
});

function resolveOptions(opts: ExportOptions, model?: Module): ResolvedExportOptions {
  if (!opts || !(opts.example instanceof Tensor)) throw new ValueError("onnx export: options.example must be a Tensor the model can run on");
  // float32 inputs, or int32 token ids (a language model's embedding reads them; ONNX INT32 input)
  if (opts.example.dtype !== "float32" && opts.example.dtype !== "int32") throw new DTypeError(`onnx export: the example must be float32 (or int32 token ids), got ${opts.example.dtype}`);
  if (opts.example.ndim < 1) throw new ValueError("onnx export: the example must have a batch dimension");
  const format = opts.format ?? "float";
  if (!["float", "qdq", "qoperator"].includes(format)) throw new ValueError(`onnx export: unknown format '${format}' (float, qdq, qoperator)`);
  // a float export of an imported graph defaults to the graph's own opset (its nodes' forms are that opset's)
  const own = (opts.format ?? "float") === "float" && model instanceof OnnxModule ? Math.max(model.opset, 11) : undefined;
  const opset = opts.opset ?? own ?? 13;
  if (!Number.isInteger(opset) || opset < 7 || opset > 21) throw new ValueError(`onnx export: opset must be an integer in [7, 21], got ${opset}`);
  const [inputName = "input"] = opts.inputNames ?? [];
  const [outputName = "output"] = opts.outputNames ?? [];
  if ((opts.inputNames?.length ?? 1) !== 1 || (opts.outputNames?.length ?? 1) !== 1) throw new ValueError("onnx export: models have one input and one output; give one name each");
  if (!inputName || !outputName || inputName === outputName) throw new ValueError(`onnx export: input and output names must be distinct and non-empty`);
  return { example: opts.example, format, opset, inputName, outputName, dynamicBatch: opts.dynamicBatch ?? true, docString: opts.docString, integerOps: opts.integerOps, weightType: opts.weightType };
}

/** The batch dim symbolic when asked (only where it equals the example's batch). */
function dimsOf(shape: readonly number[], batch: number, dynamic: boolean): (number | string)[] {
  return shape.map((d, i) => (i === 0 && dynamic && d === batch ? "N" : d));
}

/** Traces `model` on `example` and returns the ONNX bytes of the requested format. */
export function exportModel(model: Module, opts: ExportOptions): Uint8Array {
  const o = resolveOptions(opts, model);
  const exporter = exporters.get(o.format);
  if (!exporter) {
    throw new NotSupportedError(`onnx export: format '${o.format}' is not available in this build yet (needs the quantized exporter); use format "float"`);
  }
  if (o.opset < exporter.minOpset) throw new NotSupportedError(`onnx export: format '${o.format}' needs opset ≥ ${exporter.minOpset}, got ${o.opset}`);
  if (exporter.exportWhole) return exporter.exportWhole(model, o);
  const quantInfo = exporter.quantInfo?.(model, o);
  const trace = graphTrace(model, o.example, exporter.atomic ?? isAtomic);
  const ctx = new ExportContext(o.opset);
  ctx.bind(trace.input, ctx.reserve(o.inputName));
  ctx.setGraphOutput(trace.output, o.outputName);
  exporter.emit(ctx, trace, quantInfo, o);
  if (ctx.nameOf(trace.output) !== o.outputName) ctx.addNode("Identity", [ctx.nameOf(trace.output)], [o.outputName], { name: "output_identity" });
  const batch = trace.inputShape[0];
  const graph = ctx.toGraph(
    (model instanceof OnnxModule ? model.graphName : model.constructor.name) || "model",
    [makeValueInfo(o.inputName, o.example.dtype === "int32" ? DataType.INT32 : DataType.FLOAT, dimsOf(trace.inputShape, batch, o.dynamicBatch))],
    [makeValueInfo(o.outputName, DataType.FLOAT, dimsOf(trace.outputShape, batch, o.dynamicBatch))],
  );
  return encodeModel(makeModel(graph, { opset: o.opset, extraOpsets: ctx.extraOpsets(), docString: o.docString }));
}
