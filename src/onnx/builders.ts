/**
 * Typed constructors for ONNX protobuf objects: attributes (`attr.int("axis", 1)`), nodes,
 * value infos with static or symbolic dims, initializers from Tensors or plain numbers (always
 * as little-endian raw_data, int64 for index-like data), and the model wrapper with its
 * opset imports. Called by the exporters (export.ts, op-map.ts, the QDQ / QOperator emitters)
 * and by tests that build hostile models by hand.
 */
import { ValueError, fmtShape } from "../tensor/errors.js";
import { numel } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import type { DType } from "../tensor/dtype.js";
import {
  AttrType, DataType, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type OperatorSetIdProto,
  type TensorProto, type ValueInfoProto,
} from "./proto.js";

const utf8 = new TextEncoder();

/** Attribute constructors, one per ONNX attribute type we emit. */
export const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: AttrType.INT, i: checkInt(name, i) }),
  ints: (name: string, ints: readonly number[]): AttributeProto => ({ name, type: AttrType.INTS, ints: ints.map((v) => checkInt(name, v)) }),
  float: (name: string, f: number): AttributeProto => ({ name, type: AttrType.FLOAT, f }),
  floats: (name: string, floats: readonly number[]): AttributeProto => ({ name, type: AttrType.FLOATS, floats: [...floats] }),
  string: (name: string, s: string): AttributeProto => ({ name, type: AttrType.STRING, s: utf8.encode(s) }),
  tensor: (name: string, t: TensorProto): AttributeProto => ({ name, type: AttrType.TENSOR, t }),
};

function checkInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v)) throw new ValueError(`onnx attribute '${name}': ${v} is not an integer`);
  return v;
}

export interface NodeOptions {
  name?: string;
  /** "" (default) is the ONNX domain; "com.microsoft" for contrib ops. */
  domain?: string;
  attributes?: AttributeProto[];
}

/** A NodeProto. Empty input names mark omitted optional inputs, as ONNX allows. */
export function makeNode(opType: string, inputs: readonly string[], outputs: readonly string[], opts: NodeOptions = {}): NodeProto {
  const node: NodeProto = { opType, input: [...inputs], output: [...outputs], attribute: opts.attributes ?? [] };
  if (opts.name) node.name = opts.name;
  if (opts.domain) node.domain = opts.domain;
  return node;
}

/** ONNX element type of one of our dtypes. */
export function onnxElemType(dtype: DType): number {
  const map: Record<DType, number> = { float32: DataType.FLOAT, float64: DataType.DOUBLE, int32: DataType.INT32, int8: DataType.INT8, uint8: DataType.UINT8 };
  return map[dtype];
}

/** A tensor value info; a string dim is symbolic (dim_param), a number static. */
export function makeValueInfo(name: string, elemType: number, dims: readonly (number | string)[]): ValueInfoProto {
  const dim = dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: checkInt(`${name} dim`, d) }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/** Little-endian bytes of numbers written by `write(view, byteOffset, value)`. */
function packLE(values: ArrayLike<number>, bytesPer: number, write: (v: DataView, o: number, x: number) => void): Uint8Array {
  const out = new Uint8Array(values.length * bytesPer);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) write(view, i * bytesPer, values[i]);
  return out;
}

/** raw_data for a typed array of one of our dtypes. */
function rawBytes(dtype: DType, data: ArrayLike<number>): Uint8Array {
  switch (dtype) {
    case "float32":
      return packLE(data, 4, (v, o, x) => v.setFloat32(o, x, true));
    case "float64":
      return packLE(data, 8, (v, o, x) => v.setFloat64(o, x, true));
    case "int32":
      return packLE(data, 4, (v, o, x) => v.setInt32(o, x, true));
    case "int8":
      return packLE(data, 1, (v, o, x) => v.setInt8(o, x));
    case "uint8":
      return Uint8Array.from(data);
  }
}

/** An initializer holding a tensor's values (dtype kept; raw_data little-endian). */
export function tensorProto(name: string, t: Tensor | { dtype: DType; shape: readonly number[]; data: ArrayLike<number> }): TensorProto {
  if (numel(t.shape) !== t.data.length) throw new ValueError(`tensorProto '${name}': shape ${fmtShape(t.shape)} does not match ${t.data.length} values`);
  return { name, dims: [...t.shape], dataType: onnxElemType(t.dtype), rawData: rawBytes(t.dtype, t.data) };
}

/**
 * An INT4 initializer (ONNX ≥ 1.16, opset 21): signed values in [-8, 7] packed two per byte,
 * element 2i in the low nibble and 2i+1 in the high one (an odd count leaves the last high
 * nibble 0); dims are the logical shape.
 */
export function int4TensorProto(name: string, values: ArrayLike<number>, dims: readonly number[] = [values.length]): TensorProto {
  if (numel(dims) !== values.length) throw new ValueError(`int4TensorProto '${name}': dims ${fmtShape(dims)} do not match ${values.length} values`);
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < -8 || v > 7) throw new ValueError(`int4TensorProto '${name}': value ${v} at ${i} is outside [-8, 7]`);
    out[i >> 1] |= (v & 0xf) << ((i & 1) * 4);
  }
  return { name, dims: [...dims], dataType: DataType.INT4, rawData: out };
}

/** A rank-0 initializer (a scale, a zero point) of one of our dtypes. */
export function scalarTensorProto(name: string, value: number, dtype: DType = "float32"): TensorProto {
  return tensorProto(name, { dtype, shape: [], data: [value] });
}

/** A float32 initializer from plain numbers. */
export function floatTensorProto(name: string, values: readonly number[], dims: readonly number[] = [values.length]): TensorProto {
  return tensorProto(name, { dtype: "float32", shape: dims, data: Float32Array.from(values) });
}

/** An int64 initializer (shapes, axes, indices) from safe integers. */
export function int64TensorProto(name: string, values: readonly number[], dims: readonly number[] = [values.length]): TensorProto {
  if (numel(dims) !== values.length) throw new ValueError(`int64TensorProto '${name}': dims ${fmtShape(dims)} do not match ${values.length} values`);
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(checkInt(name, v)), true));
  return { name, dims: [...dims], dataType: DataType.INT64, rawData: out };
}

export interface ModelOptions {
  /** Default-domain opset. */
  opset: number;
  /** Further opset imports, e.g. { domain: "com.microsoft", version: 1 }. */
  extraOpsets?: OperatorSetIdProto[];
  /** Defaults to the IR version that introduced `opset` (7 for 13). */
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
}

/** IR version paired with a default-domain opset (onnx/helper.py's VERSION_TABLE). */
export function irVersionForOpset(opset: number): number {
  const table: [number, number][] = [[8, 3], [9, 4], [10, 5], [11, 6], [14, 7], [18, 8], [20, 9]];
  for (const [maxOpset, ir] of table) if (opset <= maxOpset) return ir;
  return 10;
}

/** Wraps a graph into a ModelProto. */
export function makeModel(graph: GraphProto, opts: ModelOptions): ModelProto {
  const opsetImport: OperatorSetIdProto[] = [{ domain: "", version: opts.opset }, ...(opts.extraOpsets ?? [])];
  const model: ModelProto = {
    irVersion: opts.irVersion ?? irVersionForOpset(opts.opset),
    opsetImport,
    producerName: opts.producerName ?? "qat-ts",
    producerVersion: opts.producerVersion ?? "0.1.0",
    graph,
  };
  if (opts.docString) model.docString = opts.docString;
  return model;
}
