/**
 * safetensors encode / decode on bytes (browser-safe; file access is in src/nn/fs.ts).
 * Format (huggingface/safetensors): 8-byte little-endian u64 header length N, then N bytes
 * of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}},
 * then the raw little-endian tensor bytes; offsets are relative to the data section, and the
 * tensors must tile it exactly (contiguous from 0 to its end), as the reference reader checks.
 * Dtypes: F32, F64, I32, I8, U8 round-trip; I64 decodes to int32 (range-checked) and int32
 * tensors named *num_batches_tracked encode as I64 (PyTorch's dtype); F16, BF16 decode to
 * float32; BOOL decodes to uint8; I16/U16 decode to int32.
 */
import { type AnyArray, type DType, allocArray } from "../tensor/dtype.js";
import { FormatError, NotSupportedError, ValueError } from "../tensor/errors.js";
import { numel } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import type { StateDict } from "./state-dict.js";

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Largest header accepted (the reference implementation's limit). */
const MAX_HEADER = 100_000_000;

const WRITE_DTYPE: Record<DType, string> = { float32: "F32", float64: "F64", int32: "I32", int8: "I8", uint8: "U8" };

interface ReadType {
  bytes: number;
  dtype: DType;
  read(view: DataView, offset: number): number;
}

const READ_TYPES: Record<string, ReadType> = {
  F32: { bytes: 4, dtype: "float32", read: (v, o) => v.getFloat32(o, true) },
  F64: { bytes: 8, dtype: "float64", read: (v, o) => v.getFloat64(o, true) },
  I32: { bytes: 4, dtype: "int32", read: (v, o) => v.getInt32(o, true) },
  I8: { bytes: 1, dtype: "int8", read: (v, o) => v.getInt8(o) },
  U8: { bytes: 1, dtype: "uint8", read: (v, o) => v.getUint8(o) },
  BOOL: { bytes: 1, dtype: "uint8", read: (v, o) => (v.getUint8(o) ? 1 : 0) },
  I16: { bytes: 2, dtype: "int32", read: (v, o) => v.getInt16(o, true) },
  U16: { bytes: 2, dtype: "int32", read: (v, o) => v.getUint16(o, true) },
  I64: { bytes: 8, dtype: "int32", read: (v, o) => Number(v.getBigInt64(o, true)) },
  F16: { bytes: 2, dtype: "float32", read: (v, o) => halfToFloat(v.getUint16(o, true)) },
  BF16: { bytes: 2, dtype: "float32", read: (v, o) => bf16ToFloat(v.getUint16(o, true)) },
};

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

function bf16ToFloat(h: number): number {
  u32Scratch[0] = h << 16;
  return f32Scratch[0];
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export interface EncodeOptions {
  /** String → string metadata stored under "__metadata__". */
  metadata?: Record<string, string>;
  /** Which int32 tensors to store as I64 (default: names ending in "num_batches_tracked"). */
  asInt64?: (name: string, t: Tensor) => boolean;
}

const defaultAsInt64 = (name: string): boolean => name.endsWith("num_batches_tracked");

/** Serialises named tensors in their given order. */
export function encodeSafetensors(tensors: StateDict | Map<string, Tensor>, opts: EncodeOptions = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const asInt64 = opts.asInt64 ?? defaultAsInt64;
  const header: Record<string, unknown> = {};
  if (opts.metadata) {
    for (const [k, v] of Object.entries(opts.metadata)) {
      if (typeof v !== "string") throw new ValueError(`encodeSafetensors: metadata '${k}' must be a string, got ${typeof v}`);
    }
    header.__metadata__ = opts.metadata;
  }
  const plans: { t: Tensor; i64: boolean; begin: number }[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === "__metadata__") throw new ValueError("encodeSafetensors: '__metadata__' is reserved and cannot name a tensor");
    if (!(t instanceof Tensor)) throw new ValueError(`encodeSafetensors: '${name}' is not a Tensor`);
    const i64 = t.dtype === "int32" && asInt64(name, t);
    const nbytes = i64 ? t.size * 8 : t.data.byteLength;
    header[name] = { dtype: i64 ? "I64" : WRITE_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + nbytes] };
    plans.push({ t, i64, begin: offset });
    offset += nbytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned (as the reference writer does).
  const raw = new TextEncoder().encode(json);
  json += " ".repeat((8 - (raw.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  const base = 8 + headerBytes.length;
  for (const { t, i64, begin } of plans) writeTensor(view, out, base + begin, t, i64);
  return out;
}

function writeTensor(view: DataView, out: Uint8Array, at: number, t: Tensor, i64: boolean): void {
  const d = t.data;
  if (i64) {
    for (let i = 0; i < d.length; i++) view.setBigInt64(at + 8 * i, BigInt(d[i]), true);
  } else if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
  } else {
    const rt = READ_TYPES[WRITE_DTYPE[t.dtype]];
    for (let i = 0; i < d.length; i++) writeScalar(view, at + i * rt.bytes, t.dtype, d[i]);
  }
}

function writeScalar(view: DataView, o: number, dtype: DType, v: number): void {
  if (dtype === "float32") view.setFloat32(o, v, true);
  else if (dtype === "float64") view.setFloat64(o, v, true);
  else if (dtype === "int32") view.setInt32(o, v, true);
  else if (dtype === "int8") view.setInt8(o, v);
  else view.setUint8(o, v);
}

/** Decoded file: tensors in header order and the optional metadata. */
export interface SafetensorsContents {
  tensors: StateDict;
  metadata: Record<string, string> | null;
}

interface HeaderEntry {
  name: string;
  type: ReadType;
  shape: number[];
  begin: number;
  end: number;
}

function parseHeader(bytes: Uint8Array, src: string): { entries: HeaderEntry[]; metadata: Record<string, string> | null; dataStart: number } {
  if (bytes.length < 8) throw new FormatError(`safetensors ${src}: ${bytes.length} bytes is too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) {
    throw new FormatError(`safetensors ${src}: header length ${n} exceeds the file (${bytes.length} bytes) or the ${MAX_HEADER}-byte limit (truncated or not a safetensors file)`);
  }
  const len = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + len)));
  } catch (e) {
    throw new FormatError(`safetensors ${src}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new FormatError(`safetensors ${src}: header must be a JSON object`);
  let metadata: Record<string, string> | null = null;
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") metadata = parseMetadata(value, src);
    else entries.push(parseEntry(name, value, src));
  }
  return { entries, metadata, dataStart: 8 + len };
}

function parseMetadata(value: unknown, src: string): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new FormatError(`safetensors ${src}: __metadata__ must be an object of strings`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new FormatError(`safetensors ${src}: __metadata__ '${k}' is not a string`);
  }
  return value as Record<string, string>;
}

function parseEntry(name: string, value: unknown, src: string): HeaderEntry {
  const bad = (why: string): FormatError => new FormatError(`safetensors ${src}: tensor '${name}': ${why}`);
  if (typeof value !== "object" || value === null) throw bad("entry must be an object");
  const { dtype, shape, data_offsets: offs } = value as Record<string, unknown>;
  if (typeof dtype !== "string") throw bad("missing dtype");
  const type = READ_TYPES[dtype];
  if (!type) throw new NotSupportedError(`safetensors ${src}: tensor '${name}': dtype ${dtype} is not supported`);
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!Array.isArray(offs) || offs.length !== 2 || offs.some((o) => !Number.isSafeInteger(o) || o < 0) || offs[1] < offs[0]) {
    throw bad(`data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offs)}`);
  }
  const expected = numel(shape) * type.bytes;
  if (offs[1] - offs[0] !== expected) throw bad(`data_offsets span ${offs[1] - offs[0]} bytes, but shape [${shape.join(", ")}] of ${dtype} needs ${expected}`);
  return { name, type, shape: shape as number[], begin: offs[0], end: offs[1] };
}

/** Offsets must tile [0, dataLength) exactly. */
function checkLayout(entries: HeaderEntry[], dataLength: number, src: string): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    if (e.end > dataLength) throw new FormatError(`safetensors ${src}: tensor '${e.name}': data [${e.begin}, ${e.end}) runs past the ${dataLength}-byte data section (truncated file?)`);
    if (e.begin !== pos) throw new FormatError(`safetensors ${src}: tensor '${e.name}': data starts at ${e.begin}, expected ${pos} (offsets overlap or leave a gap)`);
    pos = e.end;
  }
  if (pos !== dataLength) throw new FormatError(`safetensors ${src}: tensors cover ${pos} bytes but the data section has ${dataLength} (trailing bytes)`);
}

function readTensor(bytes: Uint8Array, at: number, e: HeaderEntry, src: string): Tensor {
  const n = numel(e.shape);
  const out: AnyArray = allocArray(e.type.dtype, n);
  const native = READ_TYPES[WRITE_DTYPE[e.type.dtype]] === e.type;
  if (native && LITTLE_ENDIAN) {
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes.subarray(at + e.begin, at + e.end));
    return new Tensor(out, e.shape);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + at + e.begin, e.end - e.begin);
  for (let i = 0; i < n; i++) {
    const v = e.type.read(view, i * e.type.bytes);
    if (e.type === READ_TYPES.I64 && (v < -2147483648 || v > 2147483647)) {
      throw new FormatError(`safetensors ${src}: tensor '${e.name}': I64 value ${v} at index ${i} does not fit int32`);
    }
    out[i] = v;
  }
  return new Tensor(out, e.shape);
}

/** Parses a safetensors buffer (`source` names it in errors). */
export function decodeSafetensorsWithMetadata(bytes: Uint8Array, source = "<bytes>"): SafetensorsContents {
  const { entries, metadata, dataStart } = parseHeader(bytes, source);
  checkLayout(entries, bytes.length - dataStart, source);
  const tensors: StateDict = {};
  for (const e of entries) {
    // defineProperty: a tensor may be named "__proto__" without touching the prototype.
    Object.defineProperty(tensors, e.name, { value: readTensor(bytes, dataStart, e, source), enumerable: true, writable: true, configurable: true });
  }
  return { tensors, metadata };
}

/** Parses a safetensors buffer into a state dict (tensors in header order). */
export function decodeSafetensors(bytes: Uint8Array, source = "<bytes>"): StateDict {
  return decodeSafetensorsWithMetadata(bytes, source).tensors;
}
