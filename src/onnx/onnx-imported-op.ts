/**
 * What the importer records about generic nodes (OnnxOp) beyond onnx-module.ts: the opset each
 * was read at (IMPORTED_OPSET; op-map.ts refuses to re-emit one verbatim at an opset where its
 * form differs, checkExportOpset), and OnnxSplitPart, one output of an imported ONNX Split
 * (or LSTM / GRU) node: the float OnnxModule runs one child per step and each step has one output, so
 * import-build.ts makes one OnnxSplitPart per used output (its kernel computes that part only);
 * the export rule in op-map.ts re-emits the whole Split with every output named and only this
 * one consumed. Also the "onnx" island codec (int8/islands.ts): an imported op that converts
 * to a float island is stored in the Int8Model file as its ONNX node — op type, domain, opset,
 * attributes (JSON), input slots with parameters and constants in the tensor table — and
 * rebuilt with the same kernel when the file is decoded. Called by import-build.ts and op-map.ts;
 * the codec by convert (convert-walk.ts) and Int8Model.
 */
import { FormatError, NotSupportedError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { registerModuleIslandCodec } from "../int8/islands.js";
import { Attrs } from "./attrs.js";
import { GENERIC_OPS } from "./onnx-ops.js";
import { type InputSlot, OnnxOp, type OnnxOpOptions } from "./onnx-module.js";
import type { AttributeProto } from "./proto.js";

/**
 * The opset each imported generic node was read at (set by import-build.ts). Kept as an own
 * property of the module, so that clones (prepareQat, convert) keep it.
 */
export const IMPORTED_OPSET = {
  get: (m: OnnxOp): number | undefined => (m as unknown as { importedOpset?: number }).importedOpset,
  set: (m: OnnxOp, opset: number): void => void ((m as unknown as { importedOpset?: number }).importedOpset = opset),
};

/**
 * Opsets at which an op's inputs or attributes changed shape (axes moved from an attribute to
 * an input, Softmax's axis semantics, …): a node kept verbatim is wrong on the other side.
 */
const FORM_CHANGES: Readonly<Record<string, readonly number[]>> = {
  Softmax: [13], LogSoftmax: [13], Hardmax: [13], ReduceSum: [13], Squeeze: [13], Unsqueeze: [13], Split: [13, 18],
  ReduceMean: [18], ReduceMax: [18], ReduceMin: [18], ReduceProd: [18], ReduceSumSquare: [18], ReduceL1: [18], ReduceL2: [18],
  ReduceLogSum: [18], ReduceLogSumExp: [18], Slice: [10], Clip: [11], Pad: [11], Dropout: [12], Reshape: [14], ArgMax: [12], ArgMin: [12],
};

/** Throws when an imported node would be re-emitted verbatim at an opset where its form differs. */
export function checkExportOpset(m: OnnxOp, exportOpset: number, path: string): void {
  const from = IMPORTED_OPSET.get(m);
  if (from === undefined || from === exportOpset) return;
  const [lo, hi] = from < exportOpset ? [from, exportOpset] : [exportOpset, from];
  const change = FORM_CHANGES[m.opType]?.find((v) => v > lo && v <= hi);
  if (change !== undefined) {
    throw new NotSupportedError(`onnx export: '${path || m.opType}' is a ${m.opType} node imported at opset ${from}, whose form changed at opset ${change}; export at opset ${from} (exportModel(model, { opset: ${from} }))`);
  }
}

export class OnnxSplitPart extends OnnxOp {
  /** Which output of the Split this module computes, and how many the node has. */
  readonly outputIndex: number;
  readonly outputCount: number;

  constructor(opts: OnnxOpOptions & { outputIndex: number; outputCount: number }) {
    super(opts);
    this.outputIndex = opts.outputIndex;
    this.outputCount = opts.outputCount;
  }

  override extraRepr(): string {
    return `${this.opType} output ${this.outputIndex} of ${this.outputCount}`;
  }
}

/** The stored form of an imported op (Tensors go to the tensor table; everything else is JSON). */
interface OnnxIslandSpec {
  opType: string;
  domain: string;
  opset: number | null;
  attributes: unknown[];
  slots: ({ kind: "dynamic" } | { kind: "absent" } | { kind: "param"; name: string; value: Tensor } | { kind: "const"; value: Tensor; int64: boolean })[];
  outputIndex?: number;
  outputCount?: number;
}

/** Attribute values as JSON: bytes as `{ bytes: [...] }`, other typed arrays as `{ typed, values }`. */
function toJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Array.from(v) };
  if (ArrayBuffer.isView(v)) return { typed: v.constructor.name, values: Array.from(v as unknown as ArrayLike<number>) };
  if (typeof v === "bigint") return { int64: String(v) };
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, toJson(x)]));
  return v;
}

const TYPED: Readonly<Record<string, new (a: number[]) => ArrayBufferView>> = { Float32Array, Float64Array, Int32Array, Int8Array, Uint16Array, Int16Array, Uint32Array };

function fromJson(v: unknown, where: string): unknown {
  if (Array.isArray(v)) return v.map((x) => fromJson(x, where));
  if (v === null || typeof v !== "object") return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort().join();
  if (keys === "bytes" && Array.isArray(o.bytes)) return Uint8Array.from(o.bytes as number[]);
  if (keys === "int64" && typeof o.int64 === "string") return BigInt(o.int64);
  if (keys === "typed,values" && Array.isArray(o.values)) {
    const ctor = TYPED[o.typed as string];
    if (!ctor) throw new FormatError(`${where}: attribute array type ${String(o.typed)} is not known`);
    return new ctor(o.values as number[]);
  }
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, fromJson(x, where)]));
}

/** The stored form of an imported op, or null for any other module. */
function describeOnnxOp(m: unknown): OnnxIslandSpec | null {
  if (!(m instanceof OnnxOp)) return null;
  const slots = m.slots.map((sl): OnnxIslandSpec["slots"][number] =>
    sl.kind === "param" ? { kind: "param", name: sl.name, value: m.getParameter(sl.name) } : sl.kind === "const" ? { kind: "const", value: sl.value, int64: sl.int64 } : { kind: sl.kind });
  const spec: OnnxIslandSpec = { opType: m.opType, domain: m.domain, opset: IMPORTED_OPSET.get(m) ?? null, attributes: m.attributes.map(toJson), slots };
  if (m instanceof OnnxSplitPart) Object.assign(spec, { outputIndex: m.outputIndex, outputCount: m.outputCount });
  return spec;
}

/** The imported op again from its stored form: the importer's kernel for it, on the stored constants. */
function rebuildOnnxOp(raw: unknown, name: string): OnnxOp {
  const where = `Int8Model: float island '${name}'`;
  const spec = raw as Partial<OnnxIslandSpec> | null;
  if (spec === null || typeof spec !== "object" || typeof spec.opType !== "string" || !Array.isArray(spec.slots) || !Array.isArray(spec.attributes)) {
    throw new FormatError(`${where}: stored ONNX node must be { opType, domain, opset, attributes[], slots[] }`);
  }
  const compiler = GENERIC_OPS[spec.opType];
  if (!compiler || (spec.domain ?? "") !== "") throw new FormatError(`${where}: stored ONNX op '${spec.domain ? `${spec.domain}::` : ""}${spec.opType}' has no kernel here`);
  const opset = spec.opset ?? 13;
  const attributes = spec.attributes.map((a) => fromJson(a, where)) as AttributeProto[];
  const attrs = new Attrs(attributes, `${spec.opType} node '${name}'`);
  const params: [string, Tensor][] = [];
  const slots = spec.slots.map((raw): InputSlot => {
    const sl = raw as { kind?: unknown; value?: unknown; name?: unknown; int64?: unknown } | null;
    const kind = sl?.kind;
    if (kind === "dynamic" || kind === "absent") return { kind };
    if ((kind === "param" || kind === "const") && sl!.value instanceof Tensor) {
      if (kind === "const") return { kind, value: sl!.value, int64: sl!.int64 === true };
      if (typeof sl!.name !== "string") throw new FormatError(`${where}: stored ONNX parameter slot has no name`);
      params.push([sl!.name, sl!.value]);
      return { kind, name: sl!.name };
    }
    throw new FormatError(`${where}: stored ONNX input slot must be dynamic, absent, or a param / const with its tensor, got ${JSON.stringify(sl)}`);
  });
  const consts = slots.map((sl) => (sl.kind === "dynamic" ? undefined : sl.kind === "absent" ? null : sl.kind === "const" ? sl.value : params.find(([n]) => n === sl.name)![1]));
  const split = typeof spec.outputIndex === "number" && typeof spec.outputCount === "number";
  const kernel = compiler({
    opType: spec.opType, where: `${spec.opType} node '${name}'`, attrs, opset, consts, outputCount: split ? spec.outputCount : 1, outputIndex: split ? spec.outputIndex : 0,
    saturatedInts: (n) => attrs.saturatedInts(n),
  });
  const opts: OnnxOpOptions = { opType: spec.opType, domain: spec.domain ?? "", attributes, slots, kernel, params };
  const op = split ? new OnnxSplitPart({ ...opts, outputIndex: spec.outputIndex!, outputCount: spec.outputCount! }) : new OnnxOp(opts);
  if (spec.opset !== null && spec.opset !== undefined) IMPORTED_OPSET.set(op, spec.opset);
  return op;
}

registerModuleIslandCodec({ op: "onnx", describe: describeOnnxOp, rebuild: rebuildOnnxOp });
