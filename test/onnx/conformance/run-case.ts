/**
 * The ONNX backend conformance runner's core: reads the bundle written by
 * scripts/onnx-conformance/generate.py (test/onnx/conformance/cases.json.gz), turns a case's
 * first input into a Tensor, imports the model with `onnx.importModel`, runs forward and
 * compares every output with onnx's expected values the way onnx's backend runner does
 * (np.testing.assert_allclose: |got − want| ≤ atol + rtol·|want|, NaN equal to NaN; integer
 * and bool outputs exactly). Used by test/onnx/conformance.test.ts and by
 * scripts/onnx-conformance/report.ts (per-op pass counts for docs/OPS.md).
 */
import "../../../src/autograd/backward.js";
import "../../../src/ops/index.js";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { Tensor } from "../../../src/tensor/tensor.js";
import { noGrad } from "../../../src/tensor/grad-mode.js";
import { importModel, OnnxModule } from "../../../src/onnx/index.js";

export interface CaseTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** Little-endian raw bytes, base64. */
  data: string;
}

export interface ConformanceCase {
  name: string;
  op: string;
  opset: number;
  rtol: number;
  atol: number;
  /** The rewritten model (inputs after the first baked in as initializers), base64. */
  model: string;
  input: CaseTensor | null;
  outputs: CaseTensor[];
}

export interface Bundle {
  onnx: string;
  ops: string[];
  cases: ConformanceCase[];
}

export function loadBundle(): Bundle {
  const path = fileURLToPath(new URL("./cases.json.gz", import.meta.url));
  return JSON.parse(gunzipSync(readFileSync(path)).toString("utf8")) as Bundle;
}

/** Raw values of a case tensor as numbers (int64 / uint64 as Number, possibly inexact beyond 2^53). */
export function values(t: CaseTensor): number[] {
  const b = Buffer.from(t.data, "base64");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const read: Record<string, [number, (o: number) => number]> = {
    float32: [4, (o) => v.getFloat32(o, true)], float64: [8, (o) => v.getFloat64(o, true)],
    int64: [8, (o) => Number(v.getBigInt64(o, true))], uint64: [8, (o) => Number(v.getBigUint64(o, true))],
    int32: [4, (o) => v.getInt32(o, true)], uint32: [4, (o) => v.getUint32(o, true)],
    int16: [2, (o) => v.getInt16(o, true)], uint16: [2, (o) => v.getUint16(o, true)],
    int8: [1, (o) => v.getInt8(o)], uint8: [1, (o) => v.getUint8(o)], bool: [1, (o) => v.getUint8(o)],
    float16: [2, (o) => half(v.getUint16(o, true))],
  };
  const spec = read[t.dtype];
  if (!spec) throw new Error(`conformance: unknown dtype ${t.dtype}`);
  const out: number[] = [];
  for (let o = 0; o < b.byteLength; o += spec[0]) out.push(spec[1](o));
  return out;
}

function half(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const s = h >> 15 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The first input as our Tensor: float32 / float64 as they are, int64 / int16 / uint16 as int32, bool as uint8. */
export function toTensor(t: CaseTensor): Tensor {
  const v = values(t);
  const arrays: Record<string, () => Tensor["data"]> = {
    float32: () => Float32Array.from(v), float64: () => Float64Array.from(v), int64: () => Int32Array.from(v), int32: () => Int32Array.from(v),
    int16: () => Int32Array.from(v), uint16: () => Int32Array.from(v),
    int8: () => Int8Array.from(v), uint8: () => Uint8Array.from(v), bool: () => Uint8Array.from(v),
  };
  const make = arrays[t.dtype];
  if (!make) throw new Error(`conformance: input element type ${t.dtype} has no qat-ts tensor type`);
  if (t.dtype === "int64" && v.some((x) => x < -(2 ** 31) || x >= 2 ** 31)) throw new Error("conformance: int64 input beyond int32");
  return new Tensor(make(), t.shape);
}

/** null when the outputs match, else what differs first. */
export function compare(c: ConformanceCase, got: readonly Tensor[]): string | null {
  if (got.length !== c.outputs.length) return `${got.length} outputs, expected ${c.outputs.length}`;
  for (let k = 0; k < got.length; k++) {
    const want = c.outputs[k];
    const g = got[k];
    if (g.shape.length !== want.shape.length || g.shape.some((d, i) => d !== want.shape[i])) return `output ${k} '${want.name}' has shape [${g.shape.join(", ")}], expected [${want.shape.join(", ")}]`;
    const isFloat = want.dtype.startsWith("float");
    if (isFloat !== (g.dtype === "float32" || g.dtype === "float64")) return `output ${k} '${want.name}' is ${g.dtype}, expected ${want.dtype}`;
    const w = values(want);
    const d = g.data;
    for (let i = 0; i < w.length; i++) {
      const a = Number(d[i]);
      const b = w[i];
      const ok = isFloat ? (Number.isNaN(b) ? Number.isNaN(a) : a === b || Math.abs(a - b) <= c.atol + c.rtol * Math.abs(b)) : a === b;
      if (!ok) return `output ${k} '${want.name}' element ${i}: got ${a}, expected ${b}`;
    }
  }
  return null;
}

/** Imports and runs one case; returns null on a pass, else the reason (error message or difference). */
export function runCase(c: ConformanceCase): string | null {
  try {
    const m = importModel(Buffer.from(c.model, "base64"));
    if (!(m instanceof OnnxModule)) return `imported as ${m.constructor.name}, not an OnnxModule`;
    const inputs = c.input ? [toTensor(c.input)] : [];
    m.eval();
    const got = noGrad(() => m.forwardAll(...inputs));
    return compare(c, got);
  } catch (e) {
    const err = e as Error;
    return `${err.constructor.name}: ${err.message}`;
  }
}
