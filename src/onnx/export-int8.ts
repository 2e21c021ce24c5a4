/**
 * Quantized ONNX export from an Int8Model (the integer graph quant.convert builds): every
 * scale, zero point, int8 weight and int32 bias is taken from it as is, so the ONNX file
 * computes what Int8Model.run computes (up to onnxruntime's float requantization: ±1 LSB at
 * rounding ties). `exportInt8Model(int8, { format })` writes "qdq" (export-qdq.ts) or
 * "qoperator" (export-qoperator.ts); both register here through `registerInt8Format`, and
 * `quantizedFormatExporter` plugs them into `exportModel` (which converts the QAT model
 * first — a clone with observers off — instead of tracing it).
 * QuantEmitter holds what both formats share: the ExportContext, scalar scale / zero-point
 * initializers (one per distinct pair), weight (export-int8-weights.ts: int8, or uint8 per the
 * `weightType` option) and bias initializers (per-axis on axis 0 when the channels differ), Conv / pool attributes and the integer-domain Clip that realises a
 * node's clamp (ReLU6, reduce_range's [0, 127]) exactly. Called by export.ts's registry,
 * users and the CLI.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import { Module } from "../nn/module.js";
import { Tensor } from "../tensor/tensor.js";
import { findExportRule } from "./op-map.js";
import { OnnxOp } from "./onnx-module.js";
import { exportFloatCall } from "./export.js";
import { FunctionCall } from "./export-graph.js";
import type { ConvNode, Int8Node, LinearNode, QParams, ValueInfo } from "../int8/graph.js";
import { Int8Model } from "../int8/model.js";
import { isFloatLiteral, isIslandTensorRef, islandTensor } from "../int8/islands.js";
import { convert } from "../quant/convert.js";
import { QatModel } from "../quant/stubs.js";
import { attr, floatTensorProto, int64TensorProto, makeModel, makeValueInfo, scalarTensorProto, tensorProto } from "./builders.js";
import { ExportContext } from "./export-context.js";
import { emitDynamicGraph, isDynamicGraph } from "./export-dynamic.js";
import { type WeightOptions, weightConst } from "./export-int8-weights.js";
import type { FormatExporter, ResolvedExportOptions, WeightType } from "./export.js";
import { DataType, encodeModel, type AttributeProto } from "./proto.js";

export type QuantizedFormat = "qdq" | "qoperator";

export interface Int8ExportOptions {
  format: QuantizedFormat;
  /** Default-domain opset (default 13). */
  opset?: number;
  inputName?: string;
  outputName?: string;
  /** Symbolic batch dim "N" on the graph input and output (default true). */
  dynamicBatch?: boolean;
  /** The static batch when dynamicBatch is false (default 1). */
  batch?: number;
  docString?: string;
  /** Conv / linear weight storage: "int8", "uint8" (Z_w + 128) or "auto" (default; see QuantEmitter.weight). */
  weightType?: WeightType;
}

/** Writes the nodes of one format; `minOpset` is checked before. */
export interface Int8Format {
  minOpset: number;
  emit(em: QuantEmitter): void;
}

const formats = new Map<QuantizedFormat, Int8Format>();

/** Installs the emitter of a quantized format (export-qdq.ts, export-qoperator.ts). */
export function registerInt8Format(format: QuantizedFormat, f: Int8Format): void {
  formats.set(format, f);
}

/** Input and output names of a weight / bias DequantizeLinear (or QLinear* operand). */
export interface QuantConst {
  data: string;
  scale: string;
  zeroPoint: string;
  /** Set when the scale is a vector (per-axis, axis 0). */
  axis?: number;
}

const storageRange = (d: QParams["dtype"]): [number, number] => (d === "uint8" ? [0, 255] : [-128, 127]);

/** The emitter state shared by the QDQ and QOperator writers. */
export class QuantEmitter {
  readonly ctx: ExportContext;
  readonly model: Int8Model;
  readonly opset: number;
  readonly inputName: string;
  /** Names of the further graph inputs of a multi-input model (`<inputName>_1`, …), with their values. */
  readonly extraInputs: { name: string; value: ValueInfo }[];
  readonly outputName: string;
  private readonly qparamNames = new Map<string, [string, string]>();
  /** Module islands emitted so far (synthetic value ids for the float exporter). */
  islandCount = 0;
  private readonly clampNames = new Map<string, [string, string]>();

  readonly weightType: WeightType;

  constructor(model: Int8Model, opset: number, inputName: string, outputName: string, weightType: WeightType = "auto") {
    this.model = model;
    this.weightType = weightType;
    this.opset = opset;
    this.ctx = new ExportContext(opset);
    this.inputName = this.ctx.reserve(inputName);
    this.extraInputs = (model.graph.extraInputs ?? []).map((v, i) => ({ name: this.ctx.reserve(`${inputName}_${i + 1}`), value: v }));
    this.outputName = this.ctx.reserve(outputName);
  }

  value(id: string): ValueInfo {
    return this.model.value(id);
  }

  /** Scalar scale (float32) and zero point (uint8 / int8) initializers of an activation. */
  qparams(q: QParams): [string, string] {
    const key = `${Math.fround(q.scale)}|${q.zeroPoint}|${q.dtype}`;
    let names = this.qparamNames.get(key);
    if (!names) {
      const i = this.qparamNames.size;
      names = [this.ctx.constant(scalarTensorProto(`scale_${i}`, Math.fround(q.scale))), this.ctx.constant(scalarTensorProto(`zero_point_${i}`, q.zeroPoint, q.dtype))];
      this.qparamNames.set(key, names);
    }
    return names;
  }

  /**
   * Clamps a quantized tensor to [lo, hi] with an integer Clip (opset ≥ 12) when that is
   * narrower than its storage range; returns the (possibly unchanged) tensor name.
   */
  clampInt(x: string, clamp: readonly [number, number], dtype: QParams["dtype"], base: string): string {
    const [qlo, qhi] = storageRange(dtype);
    const [lo, hi] = clamp;
    if (lo <= qlo && hi >= qhi) return x;
    if (this.opset < 12) throw new NotSupportedError(`onnx export: '${base}' clamps to [${lo}, ${hi}]; an integer Clip needs opset ≥ 12, got ${this.opset}`);
    const key = `${lo}|${hi}|${dtype}`;
    let names = this.clampNames.get(key);
    if (!names) {
      names = [this.ctx.constant(scalarTensorProto(`clip_min_${dtype}`, lo, dtype)), this.ctx.constant(scalarTensorProto(`clip_max_${dtype}`, hi, dtype))];
      this.clampNames.set(key, names);
    }
    const y = this.ctx.temp(`${base}_clamped`);
    this.ctx.addNode("Clip", [x, ...names], [y], { name: `${base}/Clip` });
    return y;
  }

  /**
   * The weight initializers of a conv / linear node: int8, uint8 (+128) where the weightType
   * asks for it, or packed INT4 (export-int8-weights.ts).
   */
  weight(node: ConvNode | LinearNode, opts: WeightOptions = {}): QuantConst {
    return weightConst(this, node, opts);
  }

  /** The int32 bias initializer (scale Sx·Sw[c], zero point 0), or null when the layer has none. */
  biasData(node: ConvNode | LinearNode): string | null {
    if (!node.bias) return null;
    const b = this.model.tensors.get(node.bias)!;
    return this.ctx.constant(tensorProto(`${node.name}.bias_quantized`, { dtype: "int32", shape: [b.length], data: b }));
  }

  /** The int32 bias with its DequantizeLinear parameters: scale fround(Sx·Sw[c]), zero point 0. */
  bias(node: ConvNode | LinearNode, w: QuantConst): QuantConst | null {
    const data = this.biasData(node);
    if (!data) return null;
    const sx = Math.fround(this.value(node.inputs[0]).q.scale);
    const scales = node.wScales.map((s) => Math.fround(sx * Math.fround(s)));
    if (w.axis === undefined) {
      return { data, scale: this.ctx.constant(scalarTensorProto(`${node.name}.bias_scale`, scales[0])), zeroPoint: this.ctx.constant(scalarTensorProto(`${node.name}.bias_zero_point`, 0, "int32")) };
    }
    const oc = scales.length;
    return {
      data, axis: 0,
      scale: this.ctx.constant(floatTensorProto(`${node.name}.bias_scale`, scales)),
      zeroPoint: this.ctx.constant(tensorProto(`${node.name}.bias_zero_point`, { dtype: "int32", shape: [oc], data: new Int32Array(oc) })),
    };
  }

  /** A DequantizeLinear of a constant (weight or bias); returns its float output name. */
  dequantizeConst(c: QuantConst, base: string): string {
    const y = this.ctx.temp(base);
    this.ctx.addNode("DequantizeLinear", [c.data, c.scale, c.zeroPoint], [y], { name: `${base}/DequantizeLinear`, attributes: c.axis === undefined ? [] : [attr.int("axis", c.axis)] });
    return y;
  }

  /** Graph value infos, model wrapper and bytes. */
  finish(opts: Int8ExportOptions): Uint8Array {
    const g = this.model.graph;
    const dims = (shape: readonly number[]) => shape.map((d, i) => (i === 0 ? ((opts.dynamicBatch ?? true) ? "N" : (opts.batch ?? 1)) : d));
    const graph = this.ctx.toGraph(
      String(g.meta.name ?? "int8_model"),
      [makeValueInfo(this.inputName, g.input.int ? DataType.INT32 : DataType.FLOAT, dims(g.input.shape)), ...this.extraInputs.map((e) => makeValueInfo(e.name, e.value.int ? DataType.INT32 : DataType.FLOAT, dims(e.value.shape)))],
      [makeValueInfo(this.outputName, DataType.FLOAT, dims(this.value(g.output).shape))],
    );
    return encodeModel(makeModel(graph, { opset: this.opset, extraOpsets: this.ctx.extraOpsets(), docString: opts.docString ?? `qat-ts ${opts.format} export (qconfig ${String(g.meta.qconfig ?? "?")})` }));
  }
}

/** ONNX attributes of an int8 conv2d node (symmetric pads). */
export function convAttributes(n: ConvNode): AttributeProto[] {
  return [
    attr.ints("kernel_shape", n.wShape.slice(2)), attr.ints("strides", n.stride), attr.ints("pads", [...n.padding, ...n.padding]),
    attr.ints("dilations", n.dilation), attr.int("group", n.groups),
  ];
}

/** ONNX attributes of a max / average pool node. */
export function poolAttributes(n: Extract<Int8Node, { op: "maxpool2d" | "avgpool2d" }>, opset: number): AttributeProto[] {
  const a = [attr.ints("kernel_shape", n.kernel), attr.ints("strides", n.stride), attr.ints("pads", [...n.padding, ...n.padding])];
  if (n.op === "maxpool2d" && (n.dilation[0] !== 1 || n.dilation[1] !== 1)) a.push(attr.ints("dilations", n.dilation));
  if (n.ceilMode && opset >= 10) a.push(attr.int("ceil_mode", 1));
  else if (n.ceilMode) throw new NotSupportedError(`onnx export: pool '${n.name}' uses ceil_mode, which needs opset ≥ 10`);
  if (n.op === "avgpool2d" && n.countIncludePad) a.push(attr.int("count_include_pad", 1));
  return a;
}

/** Emits a flatten node on any tensor: Flatten for startDim 1, Reshape [0, …, 0, −1] otherwise. */
export function emitFlatten(em: QuantEmitter, x: string, startDim: number, name: string, y: string): void {
  if (startDim === 1) {
    em.ctx.addNode("Flatten", [x], [y], { name, attributes: [attr.int("axis", 1)] });
    return;
  }
  const shape = em.ctx.constant(int64TensorProto(`${name}.shape`, [...new Array<number>(startDim).fill(0), -1]));
  em.ctx.addNode("Reshape", [x, shape], [y], { name });
}

/** Emits a reshape of the quantized (or float) tensor: the batch dim (-1) copies (0), -2 is inferred (-1). */
export function emitReshape(em: QuantEmitter, x: string, n: Extract<Int8Node, { op: "reshape" }>, y: string): void {
  const shape = em.ctx.constant(int64TensorProto(`${n.name}.shape`, n.shape.map((d) => (d === -1 ? 0 : d === -2 ? -1 : d))));
  em.ctx.addNode("Reshape", [x, shape], [y], { name: n.name });
}

/**
 * A linear layer on [..., K] in ONNX ops that take 2-D inputs (QGemm): Reshape to [rows, K],
 * then `gemm(rows2d, y2d)`, then Reshape back to [-1, d1, …, O] (the non-batch dims of an
 * int8 value are static). Rank-2 inputs call `gemm` directly.
 */
export function emitRowsGemm(em: QuantEmitter, n: LinearNode, x: string, y: string, gemm: (x2d: string, y2d: string) => void): void {
  if (em.value(n.inputs[0]).shape.length <= 2) return gemm(x, y);
  const { ctx } = em;
  const k = n.wShape[1];
  const x2d = ctx.temp(`${n.name}_rows`);
  ctx.addNode("Reshape", [x, ctx.constant(int64TensorProto(`${n.name}.rows_shape`, [-1, k]))], [x2d], { name: `${n.name}/Reshape_rows` });
  const y2d = ctx.temp(`${n.name}_rows_out`);
  gemm(x2d, y2d);
  const back = [-1, ...em.value(n.output).shape.slice(1)];
  ctx.addNode("Reshape", [y2d, ctx.constant(int64TensorProto(`${n.name}.out_shape`, back))], [y], { name: `${n.name}/Reshape_out` });
}

/** The float function of a table node on a float input (Sigmoid, Tanh, or GELU through the float exporter's rule). */
export function emitLutFloat(em: QuantEmitter, n: Extract<Int8Node, { op: "lut" }>, x: string, y: string): void {
  const simple: Partial<Record<string, string>> = { sigmoid: "Sigmoid", tanh: "Tanh", exp: "Exp" };
  if (simple[n.fn]) return void em.ctx.addNode(simple[n.fn]!, [x], [y], { name: n.name });
  const id = -1 - em.islandCount++;
  const shape = [...em.value(n.output).shape];
  if (n.fn === "onnx") {
    // the imported op itself (its module's export rule), in the process that converted it
    const mod = em.model.islandModule(n.name);
    if (!(mod instanceof Module)) throw new NotSupportedError(`onnx export: table '${n.name}' (${n.opType}) was tabulated from an imported op; export it in the process that converted it`);
    exportFloatCall(em.ctx, { path: n.name, module: mod, inputs: [x], inputShapes: [shape], output: id, outputShape: shape });
    em.ctx.addNode("Identity", [em.ctx.nameOf(id)], [y], { name: `${n.name}/Identity` });
    return;
  }
  const call = new FunctionCall("gelu", [{ input: 0 }, n.fn === "gelu_tanh" ? "tanh" : "none"]);
  exportFloatCall(em.ctx, { path: n.name, module: call, inputs: [x], inputShapes: [shape], output: id, outputShape: shape });
  em.ctx.addNode("Identity", [em.ctx.nameOf(id)], [y], { name: `${n.name}/Identity` });
}

/** A slice node as ONNX Slice (starts / ends / axes / steps as int64 inputs, opset ≥ 10). */
export function emitSlice(em: QuantEmitter, x: string, n: Extract<Int8Node, { op: "slice" }>, y: string): void {
  const c = (what: string, v: number) => em.ctx.constant(int64TensorProto(`${n.name}.${what}`, [v]));
  em.ctx.addNode("Slice", [x, c("starts", n.start), c("ends", n.end), c("axes", n.axis), c("steps", n.step)], [y], { name: n.name });
}

/** The ONNX op of a functional float island: type, attributes, and int64 vectors appended as constant inputs. */
interface IslandOnnx {
  op: string;
  attributes?: AttributeProto[];
  int64Inputs?: number[][];
}

/** ReduceMean / ReduceSum / ReduceMax / ReduceMin of ops' (x, axes?, { keepdim }): axes an attribute below opset 18 (13 for ReduceSum), an input from then on. */
function reduce(op: string, inputFrom: number) {
  return (a: unknown[], opset: number): IslandOnnx => {
    const axes = a[1] === undefined || a[1] === null ? null : Array.isArray(a[1]) ? (a[1] as number[]) : [a[1] as number];
    const keep = attr.int("keepdims", (a[2] as { keepdim?: boolean } | undefined)?.keepdim ? 1 : 0);
    if (axes === null) return { op, attributes: [keep] };
    return opset >= inputFrom ? { op, attributes: [keep], int64Inputs: [axes] } : { op, attributes: [keep, attr.ints("axes", axes)] };
  };
}

/** ONNX ops for functional float islands: op name → ONNX op type and attributes from the literal args. */
const ISLAND_ONNX: Record<string, (args: unknown[], opset: number) => IslandOnnx> = {
  add: () => ({ op: "Add" }), sub: () => ({ op: "Sub" }), mul: () => ({ op: "Mul" }), div: () => ({ op: "Div" }),
  maximum: () => ({ op: "Max" }), minimum: () => ({ op: "Min" }), matmul: () => ({ op: "MatMul" }),
  exp: () => ({ op: "Exp" }), log: () => ({ op: "Log" }), sqrt: () => ({ op: "Sqrt" }), abs: () => ({ op: "Abs" }), neg: () => ({ op: "Neg" }),
  tanh: () => ({ op: "Tanh" }), sigmoid: () => ({ op: "Sigmoid" }), relu: () => ({ op: "Relu" }),
  softmax: (a) => ({ op: "Softmax", attributes: [attr.int("axis", typeof a[1] === "number" ? a[1] : -1)] }),
  logSoftmax: (a) => ({ op: "LogSoftmax", attributes: [attr.int("axis", typeof a[1] === "number" ? a[1] : -1)] }),
  mean: reduce("ReduceMean", 18), sum: reduce("ReduceSum", 13), max: reduce("ReduceMax", 18), min: reduce("ReduceMin", 18),
};

/**
 * The float op of an island node on float inputs (the writers put DequantizeLinear before and
 * QuantizeLinear after): functional islands whose op ONNX has; module islands are not
 * exportable yet and are named in the error.
 */
export function emitIslandFloat(em: QuantEmitter, n: Extract<Int8Node, { op: "float" }>, inputs: string[], y: string): void {
  const mod = em.model.islandModule(n.name);
  const dynamic = mod instanceof OnnxOp ? mod.slots.filter((sl) => sl.kind === "dynamic").length : n.inputs.length;
  if (dynamic !== n.inputs.length) {
    throw new NotSupportedError(`onnx export: float island '${n.name}' (${n.fn} from '${n.source}') computes part of its inputs at run time (shape arithmetic); its ONNX form is not written yet`);
  }
  if (mod instanceof Module && findExportRule(mod)) {
    // a module island: the float exporter's rule for that module, on the dequantized inputs
    const id = -1 - em.islandCount++;
    const shape = em.value(n.output).shape;
    exportFloatCall(em.ctx, { path: n.source, module: mod, inputs, inputShapes: n.inputs.map((i) => em.value(i).shape), output: id, outputShape: shape });
    em.ctx.addNode("Identity", [em.ctx.nameOf(id)], [y], { name: `${n.name}/Identity` });
    return;
  }
  const steps = n.call ? null : n.steps;
  if (steps) {
    // several ops (a −∞ mask, then softmax): each through the float exporter's rule, in order
    const names: string[] = [];
    steps.forEach((st, j) => {
      const ins: string[] = [];
      const shapes: number[][] = [];
      const bind = (a: unknown): unknown => {
        if (Array.isArray(a)) return a.map(bind);
        if (a === null || typeof a !== "object" || a instanceof Tensor) return a;
        const o = a as { input?: number; step?: number };
        const key = Object.keys(o).join();
        if (key === "input" || key === "step") {
          ins.push(key === "input" ? inputs[o.input!] : names[o.step!]);
          shapes.push([...(key === "input" ? em.value(n.inputs[o.input!]).shape : em.value(n.output).shape)]);
          return { input: ins.length - 1 };
        }
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, bind(v)]));
      };
      const args = exportArgs(em, st.args, n.name).map(bind);
      const id = -1 - em.islandCount++;
      const last = j === steps.length - 1;
      exportFloatCall(em.ctx, { path: `${n.name}.${j}`, module: new FunctionCall(st.op, args), inputs: ins, inputShapes: shapes, output: id, outputShape: em.value(n.output).shape });
      names.push(em.ctx.nameOf(id));
      if (last) em.ctx.addNode("Identity", [em.ctx.nameOf(id)], [y], { name: `${n.name}/Identity` });
    });
    return;
  }
  // a functional island: the float exporter's rule for that op (export-graph.ts), its parameters as initializers
  if (n.call && (hasTensorRef(n.call.args) || !ISLAND_ONNX[n.call.op])) {
    const id = -1 - em.islandCount++;
    const fc = new FunctionCall(n.call.op, exportArgs(em, n.call.args, n.name));
    exportFloatCall(em.ctx, { path: n.name, module: fc, inputs, inputShapes: n.inputs.map((i) => em.value(i).shape), output: id, outputShape: em.value(n.output).shape });
    em.ctx.addNode("Identity", [em.ctx.nameOf(id)], [y], { name: `${n.name}/Identity` });
    return;
  }
  const rule = n.call ? ISLAND_ONNX[n.call.op] : undefined;
  const inputsAreArgs = n.call && n.call.args.every((a, i) => i >= inputs.length || (typeof a === "object" && a !== null && (a as { input?: number }).input === i));
  if (!rule || !n.call || !inputsAreArgs) {
    throw new NotSupportedError(`onnx export: float island '${n.name}' (${n.fn} from '${n.source}') has no ONNX mapping yet; it runs in Int8Model, or keep that layer quantizable`);
  }
  const { op, attributes, int64Inputs } = rule(n.call.args, em.opset);
  const extra = (int64Inputs ?? []).map((v, i) => em.ctx.constant(int64TensorProto(`${n.name}.arg${i}`, v)));
  em.ctx.addNode(op, [...inputs, ...extra], [y], { name: n.name, ...(attributes ? { attributes } : {}) });
}

const hasTensorRef = (a: unknown): boolean => isIslandTensorRef(a) || (Array.isArray(a) ? a.some(hasTensorRef) : a !== null && typeof a === "object" && Object.values(a).some(hasTensorRef));

/**
 * Stored island call arguments as the float exporter's rules read them: parameter references as
 * the Tensors of the model's tensor table, non-finite literals as numbers, and `{ batchOf: k }`
 * (a reshape to the run-time batch) as ONNX Reshape's 0 (copy that dim).
 */
function exportArgs(em: QuantEmitter, args: unknown[], where: string): unknown[] {
  const walk = (a: unknown): unknown => {
    if (isIslandTensorRef(a)) return islandTensor(a, em.model.tensors, where);
    if (isFloatLiteral(a)) return Number(a.float);
    if (a !== null && typeof a === "object" && Object.keys(a).join() === "batchOf") return 0;
    if (Array.isArray(a)) return a.map(walk);
    if (a !== null && typeof a === "object") return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, walk(v)]));
    return a;
  };
  return args.map(walk);
}

/** The quantized ONNX bytes of an integer model. */
export function exportInt8Model(int8: Int8Model, opts: Int8ExportOptions): Uint8Array {
  if (!(int8 instanceof Int8Model)) throw new ValueError("exportInt8Model: expected an Int8Model (quant.convert's result)");
  const format = formats.get(opts?.format);
  if (!format) throw new ValueError(`exportInt8Model: unknown format '${String(opts?.format)}' (qdq, qoperator)`);
  const opset = opts.opset ?? 13;
  if (!Number.isInteger(opset) || opset > 21) throw new ValueError(`exportInt8Model: opset must be an integer ≤ 21, got ${opset}`);
  if (opset < format.minOpset) throw new NotSupportedError(`onnx export: format '${opts.format}' needs opset ≥ ${format.minOpset}, got ${opset}`);
  const inputName = opts.inputName ?? "input";
  const outputName = opts.outputName ?? "output";
  if (!inputName || !outputName || inputName === outputName) throw new ValueError("exportInt8Model: input and output names must be distinct and non-empty");
  const weightType = opts.weightType ?? "auto";
  if (!["int8", "uint8", "auto"].includes(weightType)) throw new ValueError(`exportInt8Model: weightType must be "int8", "uint8" or "auto", got '${String(weightType)}'`);
  const em = new QuantEmitter(int8, opset, inputName, outputName, weightType);
  if (isDynamicGraph(int8.graph)) emitDynamicGraph(em); // float values: DynamicQuantizeLinear + MatMulInteger, MatMulNBits (export-dynamic.ts)
  else format.emit(em);
  return em.finish(opts);
}

/** The exportModel plug-in of a quantized format: convert, then exportInt8Model. */
export function quantizedFormatExporter(format: QuantizedFormat, minOpset: number): FormatExporter {
  return {
    minOpset,
    emit() {
      throw new NotSupportedError(`onnx export: format '${format}' exports through exportWhole`);
    },
    exportWhole(model: Module, o: ResolvedExportOptions): Uint8Array {
      if (!(model instanceof QatModel)) {
        throw new ValueError(`onnx export: format '${format}' needs the model returned by quant.prepareQat (calibrated or trained); for an Int8Model use onnx.exportInt8Model`);
      }
      const int8 = convert(model, { example: o.example, integerOps: o.integerOps });
      return exportInt8Model(int8, { format, opset: o.opset, inputName: o.inputName, outputName: o.outputName, dynamicBatch: o.dynamicBatch, batch: o.example.shape[0], docString: o.docString, weightType: o.weightType });
    },
  };
}
