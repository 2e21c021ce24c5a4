/**
 * ONNX protobuf I/O through protobufjs: the schema text (schema.ts) is parsed once, lazily;
 * `encodeModel` / `decodeModel` turn plain objects (the camelCase form protobufjs uses,
 * typed below) into bytes and back. Decoding never throws anything but a FormatError.
 * Builders for nodes, attributes and value infos live in builders.ts, tensors in
 * tensor-proto.ts. Called by export.ts, import.ts and the quantized exporters.
 */
import protobuf from "protobufjs";
import { FormatError, ValueError } from "../tensor/errors.js";
import { ONNX_PROTO_TEXT } from "./schema.js";

/** TensorProto.DataType values (ONNX 1.16 numbering, float8 and int4 included). */
export const DataType = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
  FLOAT8E4M3FN: 17, FLOAT8E4M3FNUZ: 18, FLOAT8E5M2: 19, FLOAT8E5M2FNUZ: 20, UINT4: 21, INT4: 22,
} as const;
export type DataTypeName = keyof typeof DataType;

/** Name of a data type number, for messages ("INT64", or "unknown(99)"). */
export function dataTypeName(t: number | undefined): string {
  const entry = Object.entries(DataType).find(([, v]) => v === t);
  return entry ? entry[0] : `unknown(${t})`;
}

/** AttributeProto.AttributeType values. */
export const AttrType = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8,
  TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;

export interface StringStringEntryProto {
  key?: string;
  value?: string;
}

export interface TensorProto {
  name?: string;
  dims?: number[];
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  uint64Data?: number[];
  stringData?: Uint8Array[];
  dataLocation?: number;
  externalData?: StringStringEntryProto[];
  segment?: { begin?: number; end?: number };
  docString?: string;
}

export interface AttributeProto {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  refAttrName?: string;
  docString?: string;
}

export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute?: AttributeProto[];
  docString?: string;
}

export interface DimensionProto {
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
}

export interface TypeProto {
  tensorType?: { elemType?: number; shape?: { dim?: DimensionProto[] } };
  sequenceType?: unknown;
  mapType?: unknown;
  optionalType?: unknown;
  sparseTensorType?: unknown;
  denotation?: string;
}

export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  docString?: string;
}

export interface TensorAnnotation {
  tensorName?: string;
  quantParameterTensorNames?: StringStringEntryProto[];
}

export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  sparseInitializer?: unknown[];
  docString?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
  quantizationAnnotation?: TensorAnnotation[];
}

export interface OperatorSetIdProto {
  domain?: string;
  version?: number;
}

export interface ModelProto {
  irVersion?: number;
  opsetImport?: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  metadataProps?: StringStringEntryProto[];
  trainingInfo?: unknown[];
  functions?: unknown[];
}

let modelType: protobuf.Type | null = null;

/** The onnx.ModelProto message type (schema parsed on first use). */
function modelProtoType(): protobuf.Type {
  if (!modelType) {
    const parsed = protobuf.parse(ONNX_PROTO_TEXT, { keepCase: false });
    modelType = parsed.root.lookupType("onnx.ModelProto");
  }
  return modelType;
}

/** Largest model we decode: protobuf's own 2 GiB message limit. */
export const MAX_MODEL_BYTES = 2 ** 31 - 1;

/** Serialises a model. Throws ValueError when the object does not fit the schema. */
export function encodeModel(model: ModelProto): Uint8Array {
  const type = modelProtoType();
  let message: protobuf.Message;
  try {
    message = type.fromObject(model as Record<string, unknown>);
  } catch (e) {
    throw new ValueError(`onnx encode: model does not fit onnx.ModelProto: ${(e as Error).message}`);
  }
  // protobufjs may hand out a view into a shared pool (small messages under Node): copy.
  return Uint8Array.from(type.encode(message).finish());
}

/**
 * Parses ONNX bytes into the plain-object form: int64 fields become numbers (values beyond
 * 2^53 lose precision, which the importer's bounds reject anyway), bytes stay Uint8Arrays,
 * repeated fields are arrays (possibly empty). Any parse failure is a FormatError.
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  if (!(bytes instanceof Uint8Array)) throw new FormatError(`onnx decode: expected a Uint8Array, got ${typeof bytes}`);
  if (bytes.length === 0) throw new FormatError("onnx decode: the buffer is empty");
  if (bytes.length > MAX_MODEL_BYTES) throw new FormatError(`onnx decode: ${bytes.length} bytes is over protobuf's 2 GiB limit`);
  const type = modelProtoType();
  try {
    const message = type.decode(bytes);
    return type.toObject(message, { longs: Number, arrays: true, defaults: false }) as ModelProto;
  } catch (e) {
    const why = e instanceof RangeError && /call stack/i.test(e.message) ? "nesting too deep" : (e as Error).message;
    throw new FormatError(`onnx decode: not a valid ONNX model (${why})`);
  }
}
