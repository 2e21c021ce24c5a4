/**
 * Constants for the quantized importer: initializers (read lazily through readTensorProto, so
 * every size is checked), plus the small constant subgraphs exporters leave in quantized
 * files — PyTorch 1.13 writes scales and zero points as Constant nodes and bias zero points
 * as ConstantOfShape → Cast — folded here. Also the readers of (De)QuantizeLinear
 * parameters: per-tensor scale / zero point with the storage dtype the zero point's type
 * gives (absent = uint8 0, as ONNX says), and per-axis vectors for weights and biases.
 * Called by import-quantized.ts and its op handlers.
 */
import { FormatError, NotSupportedError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import type { DType } from "../tensor/dtype.js";
import { describeNode, type IrGraph, type IrNode } from "./graph.js";
import { DataType, dataTypeName } from "./proto.js";
import { MAX_TENSOR_ELEMENTS, readTensorProto } from "./tensor-proto.js";

/** Element types Cast may produce here. */
const CAST_TO: Partial<Record<number, DType>> = {
  [DataType.FLOAT]: "float32", [DataType.UINT8]: "uint8", [DataType.INT8]: "int8", [DataType.INT32]: "int32", [DataType.INT64]: "int32",
};

const RANGES: Partial<Record<DType, [number, number]>> = { uint8: [0, 255], int8: [-128, 127], int32: [-(2 ** 31), 2 ** 31 - 1] };

/** Constant values by name: initializers and folded Constant / ConstantOfShape / Cast / Identity outputs. */
export class ConstTable {
  private readonly values = new Map<string, Tensor>();

  constructor(private readonly g: IrGraph) {}

  has(name: string): boolean {
    return this.values.has(name) || this.g.initializers.has(name);
  }

  get(name: string): Tensor | undefined {
    let t = this.values.get(name);
    if (!t) {
      const proto = this.g.initializers.get(name);
      if (!proto) return undefined;
      t = readTensorProto(proto, `onnx import: initializer '${name}'`);
      this.values.set(name, t);
    }
    return t;
  }

  set(name: string, t: Tensor): void {
    this.values.set(name, t);
  }

  /** Evaluates n when it is a foldable op on constants; false when it is not. */
  tryFold(n: IrNode): boolean {
    const ins = n.inputs.filter((i) => i !== "");
    if (!ins.every((i) => this.has(i)) || (n.opType !== "Constant" && ins.length === 0)) return false;
    const where = describeNode(n);
    let t: Tensor | undefined;
    switch (n.opType) {
      case "Constant":
        t = constantValue(n);
        break;
      case "Identity":
        t = this.get(ins[0]);
        break;
      case "Cast":
        t = cast(this.get(ins[0])!, n.attrs.int("to", 0), where);
        break;
      case "ConstantOfShape":
        t = constantOfShape(this.get(ins[0])!, n.attrs.tensor("value"), where);
        break;
      default:
        return false;
    }
    if (n.outputs.length !== 1 || !t) throw new FormatError(`onnx import: ${where} must have one output`);
    this.set(n.outputs[0], t);
    return true;
  }
}

function constantValue(n: IrNode): Tensor {
  const a = n.attrs;
  const t = a.tensor("value");
  if (t) return t;
  if (a.has("value_float")) return new Tensor(Float32Array.of(a.float("value_float", 0)), []);
  if (a.has("value_int")) return new Tensor(Int32Array.of(a.int("value_int", 0)), []);
  const floats = a.floats("value_floats");
  if (floats) return new Tensor(Float32Array.from(floats), [floats.length]);
  const ints = a.ints("value_ints");
  if (ints) return new Tensor(Int32Array.from(ints), [ints.length]);
  throw new NotSupportedError(`onnx import: ${describeNode(n)} has no value, value_float(s) or value_int(s) attribute`);
}

function cast(x: Tensor, to: number, where: string): Tensor {
  const dtype = CAST_TO[to];
  if (!dtype) throw new NotSupportedError(`onnx import: ${where} casts a constant to ${dataTypeName(to)}; supported: FLOAT, UINT8, INT8, INT32, INT64`);
  const range = RANGES[dtype];
  const out = dtype === "float32" ? new Float32Array(x.size) : dtype === "uint8" ? new Uint8Array(x.size) : dtype === "int8" ? new Int8Array(x.size) : new Int32Array(x.size);
  for (let i = 0; i < x.size; i++) {
    const v = range ? Math.trunc(x.data[i]) : x.data[i];
    if (range && !(v >= range[0] && v <= range[1])) throw new NotSupportedError(`onnx import: ${where} casts ${x.data[i]} to ${dtype}, which overflows`);
    out[i] = v;
  }
  return new Tensor(out, [...x.shape]);
}

function constantOfShape(shape: Tensor, value: Tensor | undefined, where: string): Tensor {
  const dims = Array.from(shape.data);
  let count = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new FormatError(`onnx import: ${where} has an invalid shape [${dims.join(", ")}]`);
    count *= d;
    if (count > MAX_TENSOR_ELEMENTS) throw new FormatError(`onnx import: ${where} asks for ${count} elements (limit ${MAX_TENSOR_ELEMENTS})`);
  }
  const v = value ?? new Tensor(Float32Array.of(0), [1]);
  if (v.size !== 1) throw new FormatError(`onnx import: ${where} value must hold one element`);
  const data = new (v.data.constructor as new (n: number) => Tensor["data"])(count);
  data.fill(v.data[0]);
  return new Tensor(data, dims);
}

/** Per-tensor activation parameters of a (De)QuantizeLinear / QLinear* operand. */
export interface ActParams {
  scale: number;
  zeroPoint: number;
  dtype: "uint8" | "int8";
}

/** Weight / bias parameters: one scale and zero point per channel (or one for all). */
export interface VectorParams {
  scales: number[];
  zeroPoints: number[];
  /** Element type of the zero point (uint8 when absent). */
  dtype: DType;
}

/** Reads a scale / zero-point pair as vectors (a scalar is a 1-vector). */
export function vectorParams(c: ConstTable, scaleName: string, zpName: string | undefined, where: string): VectorParams {
  const s = c.get(scaleName);
  if (!s) throw new NotSupportedError(`onnx import: ${where}: scale '${scaleName}' is not a constant`);
  if (s.dtype !== "float32") throw new NotSupportedError(`onnx import: ${where}: scale '${scaleName}' must be FLOAT, got ${s.dtype}`);
  if (s.ndim > 1) throw new NotSupportedError(`onnx import: ${where}: scale '${scaleName}' must be a scalar or a 1-D tensor`);
  const scales = Array.from(s.data);
  if (scales.some((v) => !(v > 0) || !Number.isFinite(v))) throw new FormatError(`onnx import: ${where}: scale '${scaleName}' must be positive and finite`);
  if (!zpName) return { scales, zeroPoints: scales.map(() => 0), dtype: "uint8" };
  const z = c.get(zpName);
  if (!z) throw new NotSupportedError(`onnx import: ${where}: zero point '${zpName}' is not a constant`);
  if (z.size !== s.size) throw new FormatError(`onnx import: ${where}: ${z.size} zero points for ${s.size} scales`);
  return { scales, zeroPoints: Array.from(z.data), dtype: z.dtype };
}

/** Reads per-tensor activation parameters (uint8 / int8 zero point). */
export function actParams(c: ConstTable, scaleName: string, zpName: string | undefined, where: string): ActParams {
  const p = vectorParams(c, scaleName, zpName, where);
  if (p.scales.length !== 1) throw new NotSupportedError(`onnx import: ${where}: activations must be quantized per tensor, got ${p.scales.length} scales`);
  if (p.dtype !== "uint8" && p.dtype !== "int8") throw new NotSupportedError(`onnx import: ${where}: activation zero point must be UINT8 or INT8, got ${p.dtype}`);
  return { scale: p.scales[0], zeroPoint: p.zeroPoints[0], dtype: p.dtype };
}

/** Storage range of a quantized dtype. */
export function storageRange(d: "uint8" | "int8"): [number, number] {
  return d === "uint8" ? [0, 255] : [-128, 127];
}
