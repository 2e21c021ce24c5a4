/**
 * Typed, validated access to a node's attributes during import: `a.int("axis", 1)`,
 * `a.ints("pads", [0, 0, 0, 0])`, … Each getter checks the declared attribute type and the
 * value (safe integers, finite lists of bounded length) and throws a FormatError naming the
 * node, so a hostile file cannot smuggle a wrong type or a billion-element list past it.
 * `saturatedInt(s)` clamp int64 values beyond int32 instead of rejecting them.
 * Called by the layer builders and generic op kernels of the importer.
 */
import { FormatError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { AttrType, type AttributeProto, type GraphProto } from "./proto.js";
import { clampToInt32, readTensorProto } from "./tensor-proto.js";

/** Longest ints/floats attribute we accept (pads of a 32-D tensor need 64). */
const MAX_LIST = 1024;

/**
 * The shortest decimal that rounds to the same float32 (ONNX float attributes are float32:
 * an epsilon written as 1e-5 reads back as 1e-5, not 9.99999974e-6).
 */
export function shortestFloat32(v: number): number {
  if (!Number.isFinite(v)) return v;
  const f = Math.fround(v);
  for (let digits = 1; digits <= 9; digits++) {
    const d = Number(f.toPrecision(digits));
    if (Math.fround(d) === f) return d;
  }
  return f;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

export class Attrs {
  private readonly byName = new Map<string, AttributeProto>();
  /** "Conv node 'conv1'" — used in every message. */
  readonly where: string;

  constructor(protos: readonly AttributeProto[], where: string) {
    this.where = where;
    for (const a of protos) {
      if (typeof a.name !== "string" || a.name === "") throw new FormatError(`${where}: an attribute has no name`);
      if (this.byName.has(a.name)) throw new FormatError(`${where}: attribute '${a.name}' appears twice`);
      if (a.refAttrName) throw new FormatError(`${where}: attribute '${a.name}' refers to a function attribute outside a function`);
      this.byName.set(a.name, a);
    }
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  private get(name: string, type: number, typeName: string): AttributeProto | undefined {
    const a = this.byName.get(name);
    if (!a) return undefined;
    // Older writers omit `type`; accept the field being present instead.
    if (a.type !== undefined && a.type !== type) throw new FormatError(`${this.where}: attribute '${name}' must be ${typeName} (type ${type}), got type ${a.type}`);
    return a;
  }

  int(name: string, dflt: number): number;
  int(name: string): number | undefined;
  int(name: string, dflt?: number): number | undefined {
    const a = this.get(name, AttrType.INT, "INT");
    if (!a) return dflt;
    return this.checkInt(name, a.i ?? 0);
  }

  ints(name: string, dflt: readonly number[]): number[];
  ints(name: string): number[] | undefined;
  ints(name: string, dflt?: readonly number[]): number[] | undefined {
    const a = this.get(name, AttrType.INTS, "INTS");
    if (!a) return dflt ? [...dflt] : undefined;
    const list = a.ints ?? [];
    if (list.length > MAX_LIST) throw new FormatError(`${this.where}: attribute '${name}' has ${list.length} values (limit ${MAX_LIST})`);
    return list.map((v) => this.checkInt(name, v));
  }

  /**
   * An INTS attribute with values beyond int32 clamped to it (INT64_MAX / INT64_MIN mean "to
   * the end" in Slice starts / ends before opset 10); the decoder reads int64 as Number, so
   * values beyond 2^53 are approximate but clamp to the same bound. Undefined when absent.
   */
  saturatedInts(name: string): number[] | undefined {
    const a = this.get(name, AttrType.INTS, "INTS");
    if (!a) return undefined;
    const list = a.ints ?? [];
    if (list.length > MAX_LIST) throw new FormatError(`${this.where}: attribute '${name}' has ${list.length} values (limit ${MAX_LIST})`);
    return list.map((v) => this.saturate(name, v));
  }

  /** An INT attribute clamped to int32 (as saturatedInts). */
  saturatedInt(name: string, dflt: number): number;
  saturatedInt(name: string): number | undefined;
  saturatedInt(name: string, dflt?: number): number | undefined {
    const a = this.get(name, AttrType.INT, "INT");
    return a ? this.saturate(name, a.i ?? 0) : dflt;
  }

  private saturate(name: string, v: unknown): number {
    if (typeof v === "bigint") return clampToInt32(v);
    if (typeof v !== "number" || !Number.isInteger(v)) throw new FormatError(`${this.where}: attribute '${name}' holds ${String(v)}, not an integer`);
    return clampToInt32(v);
  }

  float(name: string, dflt: number): number {
    const a = this.get(name, AttrType.FLOAT, "FLOAT");
    if (!a) return dflt;
    const f = a.f ?? 0;
    if (typeof f !== "number" || Number.isNaN(f)) throw new FormatError(`${this.where}: attribute '${name}' is not a number`);
    return shortestFloat32(f);
  }

  floats(name: string): number[] | undefined {
    const a = this.get(name, AttrType.FLOATS, "FLOATS");
    if (!a) return undefined;
    const list = a.floats ?? [];
    if (list.length > MAX_LIST) throw new FormatError(`${this.where}: attribute '${name}' has ${list.length} values (limit ${MAX_LIST})`);
    return list.map(shortestFloat32);
  }

  string(name: string, dflt: string): string {
    const a = this.get(name, AttrType.STRING, "STRING");
    if (!a) return dflt;
    return utf8.decode(a.s ?? new Uint8Array(0));
  }

  strings(name: string): string[] | undefined {
    const a = this.get(name, AttrType.STRINGS, "STRINGS");
    if (!a) return undefined;
    const list = a.strings ?? [];
    if (list.length > MAX_LIST) throw new FormatError(`${this.where}: attribute '${name}' has ${list.length} values (limit ${MAX_LIST})`);
    return list.map((b) => utf8.decode(b));
  }

  graph(name: string): GraphProto | undefined {
    const a = this.get(name, AttrType.GRAPH, "GRAPH");
    if (!a) return undefined;
    if (!a.g) throw new FormatError(`${this.where}: attribute '${name}' holds no graph`);
    return a.g;
  }

  tensor(name: string): Tensor | undefined {
    const a = this.get(name, AttrType.TENSOR, "TENSOR");
    if (!a) return undefined;
    if (!a.t) throw new FormatError(`${this.where}: attribute '${name}' holds no tensor`);
    return readTensorProto(a.t, `${this.where} attribute '${name}'`);
  }

  private checkInt(name: string, v: unknown): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new FormatError(`${this.where}: attribute '${name}' has a non-integer or out-of-range value ${String(v)}`);
    return v;
  }
}
