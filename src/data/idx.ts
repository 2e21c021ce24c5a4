/**
 * IDX file format (LeCun's MNIST container), decode and encode. Layout, all big-endian:
 *   bytes 0-1  zero; byte 2  dtype code; byte 3  number of dims d;
 *   then d uint32 sizes; then prod(sizes) elements, row-major.
 * Dtype codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
 * Browser-safe (bytes in, bytes out); src/data/fs.ts reads files and gunzips before calling
 * parseIdx. Every error is a FormatError naming the file (or the name the caller gave).
 */
import { FormatError } from "../tensor/errors.js";

export type IdxDType = "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX array: dtype, shape and the elements in row-major order (host byte order). */
export interface IdxArray {
  dtype: IdxDType;
  shape: number[];
  data: IdxData;
}

interface DTypeInfo {
  code: number;
  bytes: number;
  make: (n: number) => IdxData;
  read: (v: DataView, off: number) => number;
  write: (v: DataView, off: number, x: number) => void;
}

const DTYPES: Record<IdxDType, DTypeInfo> = {
  uint8: { code: 0x08, bytes: 1, make: (n) => new Uint8Array(n), read: (v, o) => v.getUint8(o), write: (v, o, x) => v.setUint8(o, x) },
  int8: { code: 0x09, bytes: 1, make: (n) => new Int8Array(n), read: (v, o) => v.getInt8(o), write: (v, o, x) => v.setInt8(o, x) },
  int16: { code: 0x0b, bytes: 2, make: (n) => new Int16Array(n), read: (v, o) => v.getInt16(o), write: (v, o, x) => v.setInt16(o, x) },
  int32: { code: 0x0c, bytes: 4, make: (n) => new Int32Array(n), read: (v, o) => v.getInt32(o), write: (v, o, x) => v.setInt32(o, x) },
  float32: { code: 0x0d, bytes: 4, make: (n) => new Float32Array(n), read: (v, o) => v.getFloat32(o), write: (v, o, x) => v.setFloat32(o, x) },
  float64: { code: 0x0e, bytes: 8, make: (n) => new Float64Array(n), read: (v, o) => v.getFloat64(o), write: (v, o, x) => v.setFloat64(o, x) },
};

function dtypeOfCode(code: number): IdxDType | undefined {
  for (const [name, info] of Object.entries(DTYPES)) if (info.code === code) return name as IdxDType;
  return undefined;
}

function hex(b: number): string {
  return `0x${b.toString(16).padStart(2, "0")}`;
}

/** Reads the header: dtype, shape and where the elements start. */
function parseHeader(bytes: Uint8Array, name: string): { dtype: IdxDType; shape: number[]; offset: number } {
  if (bytes.length < 4) throw new FormatError(`${name}: not an IDX file (${bytes.length} bytes, the header alone needs 4)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const hint = bytes[0] === 0x1f && bytes[1] === 0x8b ? " (gzip data: decompress first)" : "";
    throw new FormatError(`${name}: not an IDX file (magic starts ${hex(bytes[0])} ${hex(bytes[1])}, expected 0x00 0x00)${hint}`);
  }
  const dtype = dtypeOfCode(bytes[2]);
  if (dtype === undefined) {
    throw new FormatError(`${name}: unknown IDX dtype code ${hex(bytes[2])} (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)`);
  }
  const ndim = bytes[3];
  const offset = 4 + 4 * ndim;
  if (bytes.length < offset) {
    throw new FormatError(`${name}: truncated IDX header (${ndim} dims need ${offset} header bytes, file has ${bytes.length})`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i));
  return { dtype, shape, offset };
}

/**
 * Total size (header + elements) that the header at the start of `head` declares, or
 * undefined when `head` is too short to hold the whole header (unless `final`: then the short
 * header is a FormatError). Bad magic or dtype is a FormatError as soon as 4 bytes are there.
 * Lets src/data/fs.ts bound decompression before inflating the body.
 */
export function idxDeclaredSize(head: Uint8Array, name: string, final = false): number | undefined {
  if (head.length < 4 || head.length < 4 + 4 * head[3]) {
    if (!final) return undefined;
  }
  const { dtype, shape, offset } = parseHeader(head, name);
  let count = 1;
  for (const d of shape) count *= d;
  return offset + count * DTYPES[dtype].bytes;
}

/** Decodes IDX bytes (already decompressed). `name` is used in error messages. */
export function parseIdx(bytes: Uint8Array, name = "<idx bytes>"): IdxArray {
  const { dtype, shape, offset } = parseHeader(bytes, name);
  const info = DTYPES[dtype];
  let count = 1;
  for (const d of shape) count *= d;
  const expected = offset + count * info.bytes;
  if (!Number.isSafeInteger(expected) || bytes.length !== expected) {
    const what = bytes.length < expected ? "truncated" : "has trailing bytes";
    throw new FormatError(
      `${name}: ${what}: IDX ${dtype} of shape [${shape.join(", ")}] needs ${expected} bytes, file has ${bytes.length}`,
    );
  }
  let data: IdxData;
  if (info.bytes === 1) {
    // A plain Uint8Array copy (a Node Buffer's slice() would be a view, not a copy).
    const copy = new Uint8Array(bytes.subarray(offset, expected));
    data = dtype === "uint8" ? copy : new Int8Array(copy.buffer);
  } else {
    data = info.make(count);
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * info.bytes);
    for (let i = 0; i < count; i++) data[i] = info.read(view, i * info.bytes);
  }
  return { dtype, shape, data };
}

function dtypeOfData(data: IdxData): IdxDType {
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Float32Array) return "float32";
  return "float64";
}

/** Encodes an array as IDX bytes (big-endian). The dtype defaults to the typed array's. */
export function encodeIdx(arr: { shape: readonly number[]; data: IdxData; dtype?: IdxDType }): Uint8Array {
  const dtype = arr.dtype ?? dtypeOfData(arr.data);
  const info = DTYPES[dtype];
  if (arr.shape.length > 255) throw new FormatError(`encodeIdx: IDX allows at most 255 dims, got ${arr.shape.length}`);
  let count = 1;
  for (const d of arr.shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw new FormatError(`encodeIdx: invalid dim ${d} in shape [${arr.shape.join(", ")}]`);
    count *= d;
  }
  if (count !== arr.data.length) {
    throw new FormatError(`encodeIdx: shape [${arr.shape.join(", ")}] needs ${count} elements, data has ${arr.data.length}`);
  }
  const offset = 4 + 4 * arr.shape.length;
  const out = new Uint8Array(offset + count * info.bytes);
  const view = new DataView(out.buffer);
  out[2] = info.code;
  out[3] = arr.shape.length;
  arr.shape.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  if (info.bytes === 1 && arr.data.BYTES_PER_ELEMENT === 1) {
    out.set(new Uint8Array(arr.data.buffer, arr.data.byteOffset, count), offset);
  } else {
    for (let i = 0; i < count; i++) info.write(view, offset + i * info.bytes, arr.data[i]);
  }
  return out;
}

/**
 * Checks a decoded array has the dtype and rank a loader expects (e.g. MNIST images are
 * uint8 with 3 dims, labels uint8 with 1 dim); throws a FormatError naming the file.
 */
export function expectIdx(arr: IdxArray, name: string, dtype: IdxDType, ndim: number): void {
  if (arr.dtype !== dtype || arr.shape.length !== ndim) {
    throw new FormatError(
      `${name}: expected IDX ${dtype} with ${ndim} dim${ndim === 1 ? "" : "s"}, ` +
        `got ${arr.dtype} of shape [${arr.shape.join(", ")}]`,
    );
  }
}
