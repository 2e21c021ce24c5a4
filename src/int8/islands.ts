/**
 * Float islands of the integer engine: the float computation an Int8Model "float" node runs
 * between dequantizing its inputs and quantizing its output, and how a functional island
 * stored in a file (op name + literal arguments, `{ input: k }` = k-th input) is rebuilt.
 * Called by ./model.ts; IslandFn is produced by quant.convert and the quantized ONNX importer.
 */
import { FormatError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { OPS, isOpTarget } from "../ops/captured.js";

/**
 * The float computation of an island node: float inputs → float output. `module`, when set,
 * is the module that computes it (a module island), which the ONNX writers export with the
 * float exporter's rule for that module.
 */
export type IslandFn = ((inputs: Tensor[]) => Tensor) & {
  module?: unknown;
  /** A functional island that reads parameters: the op and its arguments, `{ input: k }` for the k-th quantized input and the parameters' frozen values as Tensors (for the ONNX writers). */
  opCall?: { op: string; args: unknown[] };
  /** A functional island of several ops (e.g. a −∞ mask, then softmax): like opCall per step, `{ step: j }` the j-th step's output; the last step is the result. */
  opSteps?: { op: string; args: unknown[] }[];
};

/** The float function of a functional island stored in a file: the op on its literal arguments (`{ input: k }` the k-th input, `{ batchOf: k }` its batch size). */
export function islandFromCall(name: string, call: { op: string; args: unknown[] }): IslandFn {
  if (!isOpTarget(call.op)) throw new FormatError(`Int8Model: float island '${name}' calls unknown op '${call.op}'`);
  const op = OPS[call.op] as (...a: unknown[]) => Tensor;
  const bind = (a: unknown, xs: Tensor[]): unknown => {
    if (Array.isArray(a)) return a.map((v) => bind(v, xs));
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
  return (xs) => op(...(bind(call.args, xs) as unknown[]));
}
