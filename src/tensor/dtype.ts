/**
 * Data types and the typed arrays that store them. Storage is always a row-major contiguous
 * typed array; float64 exists for reference checks (gradcheck) and is never used by models.
 * Called by Tensor, ops (type promotion) and backends (allocation).
 */
import { DTypeError } from "./errors.js";

export type DType = "float32" | "float64" | "int32" | "int8" | "uint8";
export const DTYPES: readonly DType[] = ["float32", "float64", "int32", "int8", "uint8"];

export type FloatArray = Float32Array | Float64Array;
export type IntArray = Int32Array | Int8Array | Uint8Array;
export type AnyArray = FloatArray | IntArray;

export interface ArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  int8: Int8Array;
  uint8: Uint8Array;
}

const CTORS = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
} as const;

/**
 * Where tensor storage comes from: a fast backend may place arrays in its own memory (the
 * WebAssembly backend allocates them inside its linear memory, so kernels run in place).
 * Returns null to decline (the array is then an ordinary one). The result must be zero-filled
 * unless `zero` is false (allocUninit: the caller overwrites every element).
 */
export type ArrayAllocator = (dtype: DType, n: number, zero: boolean) => AnyArray | null;

let arrayAllocator: ArrayAllocator | null = null;

/** Installs (or with null removes) the storage allocator; returns the previous one. */
export function setArrayAllocator(allocator: ArrayAllocator | null): ArrayAllocator | null {
  const prev = arrayAllocator;
  arrayAllocator = allocator;
  return prev;
}

/**
 * A fresh zero-filled typed array of `n` elements of `dtype`. It may be a view into a larger
 * buffer (byteOffset ≠ 0, buffer shared with other tensors): view its bytes with
 * `new Uint8Array(a.buffer, a.byteOffset, a.byteLength)`, never `new Uint8Array(a.buffer)`.
 */
export function allocArray<D extends DType>(dtype: D, n: number): ArrayOf[D] {
  if (arrayAllocator) {
    const a = arrayAllocator(dtype, n, true);
    if (a) return a as ArrayOf[D];
  }
  return new CTORS[dtype](n) as ArrayOf[D];
}

/**
 * Like allocArray, but the contents are unspecified (a reused wasm-memory block keeps its old
 * bytes; an ordinary typed array is still zero): only for outputs that a kernel overwrites
 * element by element before anything reads them. Saves the zero-fill of reused blocks.
 */
export function allocArrayUninit<D extends DType>(dtype: D, n: number): ArrayOf[D] {
  if (arrayAllocator) {
    const a = arrayAllocator(dtype, n, false);
    if (a) return a as ArrayOf[D];
  }
  return new CTORS[dtype](n) as ArrayOf[D];
}

/** The dtype a typed array stores. */
export function dtypeOfArray(a: AnyArray): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Int8Array) return "int8";
  if (a instanceof Uint8Array) return "uint8";
  throw new DTypeError(`unsupported typed array ${(a as object).constructor.name}`);
}

export function isFloatDType(d: DType): d is "float32" | "float64" {
  return d === "float32" || d === "float64";
}

export function assertDType(d: string): DType {
  if ((DTYPES as readonly string[]).includes(d)) return d as DType;
  throw new DTypeError(`unknown dtype '${d}' (expected one of ${DTYPES.join(", ")})`);
}

/**
 * Result dtype of a binary op (a subset of PyTorch's promotion lattice): float64 > float32 >
 * int32 > {int8, uint8}; int8 with uint8 promotes to int32 (PyTorch uses int16, which we lack).
 */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  if (a === "float64" || b === "float64") return "float64";
  if (a === "float32" || b === "float32") return "float32";
  return "int32";
}

/** Inclusive integer range of an integer dtype. */
export function intRange(d: DType): [number, number] {
  switch (d) {
    case "int8":
      return [-128, 127];
    case "uint8":
      return [0, 255];
    case "int32":
      return [-2147483648, 2147483647];
    default:
      throw new DTypeError(`intRange: ${d} is not an integer dtype`);
  }
}
