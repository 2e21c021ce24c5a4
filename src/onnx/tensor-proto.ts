/**
 * TensorProto → Tensor with every size checked before anything is allocated: dims must be
 * integers in [0, 2^31), the element count at most MAX_TENSOR_ELEMENTS, and the stored data
 * (raw_data or the typed *_data field) exactly that many elements — so no declared size can
 * make us allocate more than the file itself holds. INT64 becomes int32 (range-checked, or
 * saturated on request: `saturateInt64`, read as BigInt), INT16 / UINT16 / UINT32 / UINT64
 * int32 too (the unsigned 32/64-bit ones range-checked), BOOL uint8. Called by import.ts (initializers, Constant nodes) and the quantized importer.
 */
import { type AnyArray, type DType, allocArray, intRange, isFloatDType } from "../tensor/dtype.js";
import { FormatError, NotSupportedError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { DataType, dataTypeName, type TensorProto } from "./proto.js";

/** Largest tensor we accept (2^28 elements = 1 GiB of float32). */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;
/** Largest rank we accept. */
export const MAX_RANK = 8;

interface ElemSpec {
  dtype: DType;
  bytes: number;
  field: "floatData" | "int32Data" | "int64Data" | "doubleData" | "uint64Data";
  read: (v: DataView, offset: number) => number;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function readInt64(v: DataView, o: number): number {
  const x = v.getBigInt64(o, true);
  if (x < BigInt(INT32_MIN) || x > BigInt(INT32_MAX)) return Number.NaN;
  return Number(x);
}

const SPECS: Partial<Record<number, ElemSpec>> = {
  [DataType.FLOAT]: { dtype: "float32", bytes: 4, field: "floatData", read: (v, o) => v.getFloat32(o, true) },
  [DataType.DOUBLE]: { dtype: "float64", bytes: 8, field: "doubleData", read: (v, o) => v.getFloat64(o, true) },
  [DataType.INT32]: { dtype: "int32", bytes: 4, field: "int32Data", read: (v, o) => v.getInt32(o, true) },
  [DataType.INT64]: { dtype: "int32", bytes: 8, field: "int64Data", read: readInt64 },
  // Widened to int32: INT16 / UINT16 losslessly, UINT32 / UINT64 range-checked (as INT64).
  [DataType.INT16]: { dtype: "int32", bytes: 2, field: "int32Data", read: (v, o) => v.getInt16(o, true) },
  [DataType.UINT16]: { dtype: "int32", bytes: 2, field: "int32Data", read: (v, o) => v.getUint16(o, true) },
  [DataType.UINT32]: { dtype: "int32", bytes: 4, field: "uint64Data", read: (v, o) => v.getUint32(o, true) },
  [DataType.UINT64]: { dtype: "int32", bytes: 8, field: "uint64Data", read: (v, o) => { const x = v.getBigUint64(o, true); return x > BigInt(INT32_MAX) ? Number.NaN : Number(x); } },
  [DataType.INT8]: { dtype: "int8", bytes: 1, field: "int32Data", read: (v, o) => v.getInt8(o) },
  [DataType.UINT8]: { dtype: "uint8", bytes: 1, field: "int32Data", read: (v, o) => v.getUint8(o) },
  [DataType.BOOL]: { dtype: "uint8", bytes: 1, field: "int32Data", read: (v, o) => (v.getUint8(o) ? 1 : 0) },
};

/** Validated dims and element count of a TensorProto (or of a declared shape). */
export function checkedDims(dims: readonly unknown[] | undefined, what: string): { dims: number[]; count: number } {
  const list = dims ?? [];
  if (list.length > MAX_RANK) throw new FormatError(`${what}: rank ${list.length} is over the limit of ${MAX_RANK}`);
  let count = 1;
  const out: number[] = [];
  for (const d of list) {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0 || d > INT32_MAX) throw new FormatError(`${what}: invalid dimension ${String(d)}`);
    count *= d;
    if (count > MAX_TENSOR_ELEMENTS) throw new FormatError(`${what}: declared size [${list.join(", ")}] is over the limit of ${MAX_TENSOR_ELEMENTS} elements`);
    out.push(d);
  }
  return { dims: out, count };
}

function checkStorage(tp: TensorProto, what: string): void {
  if (tp.dataLocation === 1 || (tp.externalData?.length ?? 0) > 0) {
    throw new NotSupportedError(`${what}: tensors stored in external data files are not supported; save the model with all tensors inline`);
  }
  if (tp.segment) throw new NotSupportedError(`${what}: segmented tensors are not supported`);
}

export interface ReadOptions {
  /**
   * INT64 values outside int32 (our int64 storage): "strict" (default) is a FormatError;
   * "saturate" clamps them to [−2^31, 2^31 − 1] — exporters write INT64_MAX / INT64_MIN for
   * "to the end" in Slice starts / ends and Shape / Split bounds, which clamp to the axis anyway.
   * raw_data is read as BigInt, so values beyond 2^53 clamp exactly.
   */
  int64?: "strict" | "saturate";
}

/** v clamped to the int32 range (BigInt or Number input). */
export function clampToInt32(v: bigint | number): number {
  if (typeof v === "bigint") return v < BigInt(INT32_MIN) ? INT32_MIN : v > BigInt(INT32_MAX) ? INT32_MAX : Number(v);
  return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : v;
}

/**
 * An INT64 TensorProto with every value clamped to int32 (see ReadOptions.int64); other
 * element types are returned unchanged. raw_data values are read as BigInt.
 */
export function saturateInt64(tp: TensorProto): TensorProto {
  if (tp.dataType !== DataType.INT64) return tp;
  const raw = tp.rawData;
  if (raw && raw.length > 0 && raw.length % 8 === 0) {
    const src = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Uint8Array(raw.length);
    const dst = new DataView(out.buffer);
    for (let o = 0; o < raw.length; o += 8) dst.setBigInt64(o, BigInt(clampToInt32(src.getBigInt64(o, true))), true);
    return { ...tp, rawData: out };
  }
  if (tp.int64Data) return { ...tp, int64Data: tp.int64Data.map((v) => (typeof v === "number" && !Number.isNaN(v) ? clampToInt32(v) : v)) };
  return tp;
}

/** Converts an initializer or Constant value; `what` names it in errors. */
export function readTensorProto(tp: TensorProto, what = `tensor '${tp.name ?? ""}'`, opts: ReadOptions = {}): Tensor {
  if (opts.int64 === "saturate") tp = saturateInt64(tp);
  checkStorage(tp, what);
  const spec = SPECS[tp.dataType ?? 0];
  if (!spec) {
    const known = Object.values(DataType).includes(tp.dataType as never);
    const msg = `${what}: element type ${dataTypeName(tp.dataType)} is not supported (FLOAT, DOUBLE, INT64, INT32, INT16, INT8, UINT64, UINT32, UINT16, UINT8, BOOL)`;
    throw known ? new NotSupportedError(msg) : new FormatError(msg);
  }
  const { dims, count } = checkedDims(tp.dims, what);
  const out = allocValues(tp, spec, count, what);
  return new Tensor(out, dims);
}

function allocValues(tp: TensorProto, spec: ElemSpec, count: number, what: string): AnyArray {
  const arr = allocArray(spec.dtype, count);
  const isFloat = isFloatDType(spec.dtype);
  const [lo, hi] = isFloat ? [-Infinity, Infinity] : intRange(spec.dtype);
  const put = (i: number, v: unknown): void => {
    if (typeof v !== "number" || (!isFloat && !(Number.isInteger(v) && v >= lo && v <= hi))) {
      throw new FormatError(`${what}: element ${i} (${String(v)}) is not a valid ${dataTypeName(tp.dataType)} value here (${spec.dtype} range)`);
    }
    arr[i] = v;
  };
  const raw = tp.rawData;
  if (raw && raw.length > 0) {
    if (raw.length !== count * spec.bytes) {
      throw new FormatError(`${what}: raw_data has ${raw.length} bytes, shape ${fmtShape(tp.dims ?? [])} of ${dataTypeName(tp.dataType)} needs ${count * spec.bytes}`);
    }
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) put(i, spec.read(view, i * spec.bytes));
    return arr;
  }
  const typed = tp[spec.field];
  const n = typed?.length ?? 0;
  if (n !== count) throw new FormatError(`${what}: holds ${n} values, shape ${fmtShape(tp.dims ?? [])} needs ${count}`);
  for (let i = 0; i < count; i++) put(i, spec.dtype === "uint8" && tp.dataType === DataType.BOOL ? (typed![i] ? 1 : 0) : typed![i]);
  return arr;
}
