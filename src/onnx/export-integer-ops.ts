/**
 * ONNX form of the integer-only softmax and LayerNorm nodes (int8/graph-integer.ts): a
 * subgraph of standard integer ops on int64 (Cast, ReduceMax, ReduceSum, Sub, Mul, Add, Div,
 * Mod, Max, Min, Gather on the int64 exp table; LayerNorm's √ as Sqrt + Floor on the float64
 * of an integer below 2^52, which is exact), so onnxruntime reproduces Int8Model bit for bit.
 * Every intermediate is the kernels' (int8/kernels/softmax-int.ts, layernorm-int.ts) integer;
 * ONNX's integer Div truncates toward zero, so a signed numerator is floored with Mod (sign of
 * the divisor): ⌊a/b⌋ = (a − Mod(a, b)) / b. Reads and writes 8-bit tensors; called by the QDQ
 * writer (Q → subgraph → DQ) and the QOperator writer (export-qdq.ts, export-qoperator.ts).
 */
import type { IntegerNode } from "../int8/graph-integer.js";
import { attr, int64TensorProto } from "./builders.js";
import type { QuantEmitter } from "./export-int8.js";
import { DataType } from "./proto.js";

/** Emits node `n` reading the 8-bit tensor `x` and writing the 8-bit tensor `y`. */
export function emitIntegerNode(em: QuantEmitter, n: IntegerNode, x: string, y: string): void {
  const { ctx } = em;
  let k = 0;
  const op = (type: string, inputs: string[], attributes?: ReturnType<typeof attr.int>[]): string => {
    const out = ctx.temp(`${n.name}_${type.toLowerCase()}${k}`);
    ctx.addNode(type, inputs, [out], { name: `${n.name}/${type}_${k++}`, ...(attributes ? { attributes } : {}) });
    return out;
  };
  const int = (what: string, v: number) => ctx.constant(int64TensorProto(`${n.name}.${what}`, [v], []));
  const cast = (t: string, to: number) => op("Cast", [t], [attr.int("to", to)]);
  // reductions over the last dim, keepdims: axes an input from opset 18 (ReduceMax) / 13 (ReduceSum)
  const reduce = (type: "ReduceMax" | "ReduceSum", t: string) => {
    const keep = attr.int("keepdims", 1);
    if (em.opset >= (type === "ReduceSum" ? 13 : 18)) return op(type, [t, ctx.constant(int64TensorProto(`${n.name}.axes`, [-1]))], [keep]);
    return op(type, [t], [keep, attr.ints("axes", [-1])]);
  };
  const yq = em.value(n.output).q;
  const finish = (q: string) => {
    const c = op("Min", [op("Max", [op("Add", [q, int("zero_point", yq.zeroPoint)]), int("clamp_min", n.clamp[0])]), int("clamp_max", n.clamp[1])]);
    ctx.addNode("Cast", [c], [y], { name: `${n.name}/Cast_out`, attributes: [attr.int("to", yq.dtype === "uint8" ? DataType.UINT8 : DataType.INT8)] });
  };
  const xi = cast(x, DataType.INT64);
  const tensor = (key: string) => em.model.tensors.get(key) as Int32Array;
  if (n.op === "softmax_int") {
    const [R, r] = n.outMultiplier;
    let idx: string;
    let scores = xi;
    const mask = n.mask ? Array.from(tensor(n.mask.tensor)) : null;
    const maskConst = (what: string, f: (m: number) => number) => ctx.constant(int64TensorProto(`${n.name}.${what}`, mask!.map(f), n.mask!.shape));
    // masked positions: below every unmasked score for the max, then table index 256 (entry 0)
    if (mask) scores = op("Sub", [xi, maskConst("mask_offset", (m) => m * 1024)]);
    const diff = op("Sub", [reduce("ReduceMax", scores), xi]);
    if (mask) idx = op("Add", [op("Mul", [diff, maskConst("mask_keep", (m) => 1 - m)]), maskConst("mask_index", (m) => m * 256)]);
    else idx = diff;
    const table = ctx.constant(int64TensorProto(`${n.name}.table`, Array.from(tensor(n.table))));
    const e = op("Gather", [table, idx], [attr.int("axis", 0)]);
    const den = op("Mul", [op("Max", [reduce("ReduceSum", e), int("one", 1)]), int("two_r", 2 ** r)]);
    // non-negative operands: Div's truncation is the floor
    const q = op("Div", [op("Add", [op("Mul", [e, int("two_R", 2 * R)]), den]), op("Mul", [den, int("two", 2)])]);
    return finish(q);
  }
  const rowLen = em.value(n.inputs[0]).shape.at(-1)!;
  const d = op("Sub", [op("Mul", [xi, int("n", rowLen)]), reduce("ReduceSum", xi)]);
  const V = reduce("ReduceSum", op("Mul", [d, d]));
  const W = op("Div", [op("Add", [op("Mul", [V, int("four_p", 4 ** n.p)]), int("eps_term", n.epsTerm)]), int("n_div", rowLen)]);
  const sigma = op("Max", [cast(op("Floor", [op("Sqrt", [cast(W, DataType.DOUBLE)])]), DataType.INT64), int("one", 1)]);
  const G = ctx.constant(int64TensorProto(`${n.name}.gamma`, Array.from(tensor(n.gamma))));
  const B = ctx.constant(int64TensorProto(`${n.name}.beta`, Array.from(tensor(n.beta))));
  const num = op("Add", [op("Mul", [op("Mul", [d, int("two_p", 2 ** n.p)]), G]), op("Mul", [B, sigma])]);
  const den = op("Mul", [sigma, int("two_g", 2 ** n.g)]);
  const t = op("Add", [op("Mul", [num, int("two", 2)]), den]);
  const b2 = op("Mul", [den, int("two_b", 2)]);
  // ⌊t / b2⌋ for a signed t: Mod takes the divisor's sign (fmod 0), so t − Mod(t, b2) is a multiple of b2
  const q = op("Div", [op("Sub", [t, op("Mod", [t, b2])]), b2]);
  finish(q);
}
