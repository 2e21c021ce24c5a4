/**
 * Float islands of the integer engine: the float computation an Int8Model "float" node runs
 * between dequantizing its inputs and quantizing its output, and how a functional island
 * stored in a file (op name + literal arguments, `{ input: k }` = k-th input) is rebuilt; module
 * islands of other layers (imported ONNX ops) are stored through a registered codec.
 * Called by ./model.ts; IslandFn is produced by quant.convert and the quantized ONNX importer.
 */
import { FormatError, NotSupportedError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { OPS, isOpTarget } from "../ops/captured.js";

/**
 * The float computation of an island node: float inputs → float output. `module`, when set,
 * is the module that computes it (a module island), which the ONNX writers export with the
 * float exporter's rule for that module.
 */
export type IslandFn = ((inputs: Tensor[]) => Tensor) & { module?: unknown };

/** A parameter an island call reads: `{ tensor: key, shape, dtype }`, the values in the tensor table (float32 as their bits in int32). */
export interface IslandTensorRef {
  tensor: string;
  shape: number[];
  dtype: "float32" | "int32" | "uint8";
}

export const isIslandTensorRef = (a: unknown): a is IslandTensorRef =>
  a !== null && typeof a === "object" && !Array.isArray(a) && Object.keys(a).sort().join() === "dtype,shape,tensor";

/** A non-finite number in a stored call (`{ float: "-Infinity" }`: JSON has no ±Infinity / NaN). */
export const isFloatLiteral = (a: unknown): a is { float: string } =>
  a !== null && typeof a === "object" && !Array.isArray(a) && Object.keys(a).join() === "float" && ["Infinity", "-Infinity", "NaN"].includes((a as { float: unknown }).float as string);

/** The Tensor of a parameter reference (float32 values are stored as their bits in int32). */
export function islandTensor(ref: IslandTensorRef, tensors: ReadonlyMap<string, Int8Array | Int32Array>, where: string): Tensor {
  const t = tensors.get(ref.tensor);
  const n = ref.shape.reduce((a, b) => a * b, 1);
  if (!(t instanceof Int32Array) || t.length !== n) throw new FormatError(`Int8Model: float island '${where}' needs int32 tensor '${ref.tensor}' of ${n} values`);
  if (ref.dtype === "float32") return new Tensor(new Float32Array(t.buffer, t.byteOffset, t.length).slice(), [...ref.shape]);
  if (ref.dtype === "uint8") return new Tensor(Uint8Array.from(t), [...ref.shape]);
  return new Tensor(Int32Array.from(t), [...ref.shape]);
}

/** The table entry (int32 bits for float32) and reference of a parameter Tensor an island reads. */
export function islandTensorEntry(t: Tensor, key: string): { ref: IslandTensorRef; data: Int32Array } {
  const dtype = t.dtype === "uint8" ? "uint8" : t.dtype === "int32" ? "int32" : "float32";
  const data = dtype === "float32" ? new Int32Array(Float32Array.from(t.data as ArrayLike<number>).buffer) : Int32Array.from(t.data as ArrayLike<number>);
  return { ref: { tensor: key, shape: [...t.shape], dtype }, data };
}

/**
 * The float function of a functional island stored in a file: the op on its literal arguments
 * (`{ input: k }` the k-th input, `{ batchOf: k }` its batch size, `{ tensor, shape, dtype }` a
 * parameter from the tensor table).
 */
export function islandFromCall(name: string, call: { op: string; args: unknown[] }, tensors: ReadonlyMap<string, Int8Array | Int32Array> = new Map()): IslandFn {
  const codec = CODECS.get(call.op);
  if (!codec && CODEC_HOMES[call.op]) throw new NotSupportedError(`Int8Model: float island '${name}' is ${CODEC_HOMES[call.op]}; load qat-ts's onnx module before decoding this model`);
  if (!codec && !isOpTarget(call.op)) throw new FormatError(`Int8Model: float island '${name}' calls unknown op '${call.op}'`);
  const consts = new Map<IslandTensorRef, Tensor>();
  const bind = (a: unknown, xs: Tensor[]): unknown => {
    if (Array.isArray(a)) return a.map((v) => bind(v, xs));
    if (isIslandTensorRef(a)) {
      if (!consts.has(a)) consts.set(a, islandTensor(a, tensors, name));
      return consts.get(a);
    }
    if (isFloatLiteral(a)) return Number(a.float);
    if (a !== null && typeof a === "object") {
      const k = (a as { input?: unknown }).input;
      if (typeof k === "number" && Object.keys(a).length === 1) return xs[k];
      // { batchOf: k }: the batch size of the k-th input at run time (a reshape to [N, …])
      const b = (a as { batchOf?: unknown }).batchOf;
      if (typeof b === "number" && Object.keys(a).length === 1 && xs[b]) return xs[b].shape[0];
      return Object.fromEntries(Object.entries(a).map(([key, v]) => [key, bind(v, xs)]));
    }
    return a;
  };
  if (codec) {
    // a module island: the module rebuilt from its stored form, called on the bound arguments
    const [spec, ...rest] = call.args;
    const m = codec.rebuild(bind(spec, []), name);
    const fn: IslandFn = (xs) => m.forward(...(bind(rest, xs) as unknown[]));
    fn.module = m;
    return fn;
  }
  const op = OPS[call.op as keyof typeof OPS] as (...a: unknown[]) => Tensor;
  return (xs) => op(...(bind(call.args, xs) as unknown[]));
}

/**
 * How the modules of another layer are stored as island calls (`{ op, args: [spec, ...forward
 * args] }`): `describe` gives a module's stored form (Tensors for its data, which go in the
 * tensor table; JSON otherwise) or null, `rebuild` the module from it. Imported ONNX ops
 * register "onnx" (src/onnx/onnx-imported-op.ts), so the integer engine does not depend on the
 * importer.
 */
export interface ModuleIslandCodec {
  op: string;
  describe(m: unknown): unknown;
  rebuild(spec: unknown, name: string): { forward(...xs: unknown[]): Tensor };
}

const CODECS = new Map<string, ModuleIslandCodec>();
/** Codec ops and what needs loading for them (named when a file uses one that is not registered). */
const CODEC_HOMES: Readonly<Record<string, string>> = { onnx: "an imported ONNX op" };

export function registerModuleIslandCodec(codec: ModuleIslandCodec): void {
  CODECS.set(codec.op, codec);
}

/** A module's stored call head `{ op, spec }` from the first codec that stores it, or null. */
export function describeModuleIsland(m: unknown): { op: string; spec: unknown } | null {
  for (const c of CODECS.values()) {
    const spec = c.describe(m);
    if (spec !== null && spec !== undefined) return { op: c.op, spec };
  }
  return null;
}

/** An island of several ops stored in a file (FloatIslandNode.steps): each step's op on its arguments, `{ step: j }` an earlier step's output. */
export function islandFromSteps(name: string, steps: { op: string; args: unknown[] }[], tensors: ReadonlyMap<string, Int8Array | Int32Array> = new Map()): IslandFn {
  if (!Array.isArray(steps) || steps.length === 0) throw new FormatError(`Int8Model: float island '${name}' has no steps`);
  const outs: Tensor[] = [];
  const fns = steps.map((st, j) => {
    const swap = (a: unknown): unknown => {
      if (Array.isArray(a)) return a.map(swap);
      if (a !== null && typeof a === "object" && !isIslandTensorRef(a)) {
        const k = (a as { step?: unknown }).step;
        if (typeof k === "number" && Object.keys(a).length === 1) {
          if (!(k >= 0 && k < j)) throw new FormatError(`Int8Model: float island '${name}' step ${j} reads step ${k}`);
          return { input: -1 - k }; // bound below to the step's output
        }
        return Object.fromEntries(Object.entries(a).map(([key, v]) => [key, swap(v)]));
      }
      return a;
    };
    return islandFromCall(name, { op: st.op, args: st.args.map(swap) }, tensors);
  });
  return (xs) => {
    outs.length = 0;
    // inputs k ≥ 0 are the island's inputs, k < 0 earlier steps (-1 - j)
    const view = new Proxy(xs, { get: (t, p) => (typeof p === "string" && /^-\d+$/.test(p) ? outs[-1 - Number(p)] : (t as unknown as Record<string | symbol, unknown>)[p]) });
    for (const f of fns) outs.push(f(view));
    return outs[outs.length - 1];
  };
}
