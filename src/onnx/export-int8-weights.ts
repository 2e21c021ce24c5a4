/**
 * Conv / linear weight initializers of the quantized writers (QuantEmitter.weight, called by
 * export-qdq.ts and export-qoperator.ts): the Int8Model's int8 weights with their scales and
 * zero points (scalars when every channel agrees, else per-axis), stored as
 *   - int8 as they are;
 *   - uint8 q_w + 128 with zero points Z_w + 128 (the same dequantized values) where the
 *     `weightType` option asks for it: "uint8" always, "auto" (default) where onnxruntime's
 *     u8×s8 kernels could saturate (uint8Weights below; docs/ONNX.md);
 *   - packed INT4 in QDQ files at opset ≥ 21 when weightBits ≤ 4 and every weight and zero
 *     point lies in [-8, 7].
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import type { ConvNode, LinearNode } from "../int8/graph.js";
import { floatTensorProto, int4TensorProto, scalarTensorProto, tensorProto } from "./builders.js";
import type { QuantConst, QuantEmitter } from "./export-int8.js";

export interface WeightOptions {
  /** QDQ only: INT4 storage where the weights fit (opset ≥ 21). */
  allowInt4?: boolean;
  /** A linear weight as MatMul reads it: [K, O], per-output parameters on axis 1. */
  transposed?: boolean;
  /** The QDQ writer asks: int8 activations may then get uint8 weights too. */
  qdq?: boolean;
}

/**
 * Whether `node`'s weights are stored as uint8. "auto" does so where onnxruntime's u8×s8
 * kernels on AVX2 without VNNI could saturate: they sum pairs of raw byte products in int16
 * (vpmaddubsw), which overflows when A · max |q_w| · 2 > 32767, A the largest raw activation
 * byte the kernel sees — qmax of a uint8 input (the onednn preset: 255 · 127 · 2 = 64770;
 * reduce_range's 127 · 128 · 2 = 32512 fits), qmax + 128 of an int8 input in QDQ files
 * (onnxruntime shifts int8 QDQ activations to uint8 before fusing: tflite's 255 · 127 · 2).
 * Its u8×u8 kernels widen to int16 first and are exact. QOperator layers on int8 inputs keep
 * int8 weights: onnxruntime's QLinearConv has no int8 × uint8 kernel, and its int8 × int8
 * path was exact in every measurement (test/onnx/export-u8-weights.test.ts).
 */
export function uint8Weights(em: QuantEmitter, node: ConvNode | LinearNode, w: Int8Array, qdq: boolean): boolean {
  if (em.weightType !== "auto") return em.weightType === "uint8";
  const xq = em.value(node.inputs[0]).q;
  if (xq.dtype !== "uint8" && !qdq) return false;
  const a = xq.dtype === "uint8" ? Math.min(xq.qmax, 255) : Math.min(xq.qmax, 127) + 128;
  let maxW = 0;
  for (let i = 0; i < w.length; i++) maxW = Math.max(maxW, Math.abs(w[i]));
  return a * maxW * 2 > 32767;
}

/** The weight, scale and zero-point initializers of `node` (see the file header). */
export function weightConst(em: QuantEmitter, node: ConvNode | LinearNode, opts: WeightOptions): QuantConst {
  const stored = em.model.tensors.get(node.weight);
  if (!(stored instanceof Int8Array)) throw new ValueError(`onnx export: weight '${node.weight}' is not int8`);
  const [o, k] = node.wShape;
  const w = opts.transposed ? Int8Array.from({ length: stored.length }, (_, i) => stored[(i % o) * k + Math.floor(i / o)]) : stored;
  const wShape = opts.transposed ? [k, o] : node.wShape;
  const oc = node.wShape[0];
  const zps = node.wZeroPoints ? Array.from(em.model.tensors.get(node.wZeroPoints)!) : new Array<number>(oc).fill(0);
  const scales = node.wScales.map((s) => Math.fround(s));
  const u8 = uint8Weights(em, node, stored, opts.qdq === true);
  const inInt4 = (v: number) => v >= -8 && v <= 7;
  const int4 = !u8 && opts.allowInt4 === true && em.opset >= 21 && node.weightBits <= 4 && w.every(inInt4) && zps.every(inInt4);
  const dtype = u8 ? "uint8" : "int8";
  const ints = (values: ArrayLike<number>) => (u8 ? Uint8Array.from(values, (v) => v + 128) : Int8Array.from(values));
  const data = em.ctx.constant(
    int4 ? int4TensorProto(`${node.name}.weight_quantized`, w, wShape) : tensorProto(`${node.name}.weight_quantized`, { dtype, shape: wShape, data: u8 ? ints(w) : w }),
  );
  const zeroPoint = (name: string, values: number[], dims: number[]) =>
    em.ctx.constant(int4 ? int4TensorProto(name, values, dims) : tensorProto(name, { dtype, shape: dims, data: ints(values) }));
  if (scales.every((s) => s === scales[0]) && zps.every((z) => z === zps[0])) {
    return { data, scale: em.ctx.constant(scalarTensorProto(`${node.name}.weight_scale`, scales[0])), zeroPoint: zeroPoint(`${node.name}.weight_zero_point`, [zps[0]], []) };
  }
  if (em.opset < 13) throw new NotSupportedError(`onnx export: '${node.name}' has per-channel weight scales; per-axis (De)QuantizeLinear needs opset ≥ 13, got ${em.opset}`);
  return {
    data, axis: opts.transposed ? 1 : 0,
    scale: em.ctx.constant(floatTensorProto(`${node.name}.weight_scale`, scales)),
    zeroPoint: zeroPoint(`${node.name}.weight_zero_point`, zps, [oc]),
  };
}
