/**
 * The Int8Model graph nodes of dynamic models — float values between layers whose Linear
 * quantizes its input at run time (PyTorch's quantize_dynamic, onnxruntime's
 * DynamicQuantizeLinear + MatMulInteger) and Linear layers with block-quantized 2/4/8-bit
 * weights (onnxruntime's MatMulNBits), weight-only or with dynamic activations (torchao's
 * 8da4w). Float tensors (scales, biases) are stored as their float32 bits in int32 tensors,
 * so the tensor table stays int8/int32. Part of ./graph.ts (re-exported there); run by
 * ./kernels/dynamic.ts, written by quant/convert-dynamic.ts and the ONNX importer.
 */
import type { QParams } from "./graph.js";

/** The `q` of a float value (ValueInfo.float): a placeholder, never used to quantize. */
export const FLOAT_Q: QParams = { scale: 1, zeroPoint: 0, dtype: "int8", qmin: -128, qmax: 127 };

/** How a node quantizes its float input at run time (onnxruntime's parameter rule, quant/dynamic-fake-quant.ts). */
export interface DynamicActivation {
  /** One range for the whole input (DynamicQuantizeLinear) or one per row of the last dim (per token). */
  granularity: "per_tensor" | "per_token";
  dtype: "uint8" | "int8";
}

interface Base {
  name: string;
  inputs: string[];
  output: string;
}

/**
 * A Linear of a dynamic model: float input [..., K] quantized at run time (`act`), int32
 * accumulation with per-channel int8 weights [N, K], float output
 *   y = fl(fl(fl(acc) · fl(S_x·S_w[n])) + b[n])   (DynamicQuantizeLinear → MatMulInteger → Mul → Add).
 */
export interface DynamicLinearNode extends Base {
  op: "dynamic_linear";
  /** int8 [N, K] (key). */
  wInt8: string;
  wShape: [number, number];
  /** float32 bits of the weight scales, int32 [N] or [1] (key). */
  wScales: string;
  /** int32 [N] weight zero points (key), when not all 0. */
  wZeroPoints?: string;
  /** float32 bits of the bias, int32 [N] (key), or null. */
  bias: string | null;
  act: DynamicActivation;
  weightBits: number;
}

/**
 * A Linear with block-quantized weights (MatMulNBits layout): unsigned `bits`-bit codes in
 * blocks of `blockSize` along K (the last block zero-padded), packed low bits first, so each
 * row holds ceil(K / blockSize) · blockSize · bits / 8 bytes (the int8 tensor holds the bytes);
 * a float32 scale and an integer zero point per (row, block). `act` null: float input times the
 * dequantized weight ŵ = fl((q − z)·s); otherwise the input is quantized at run time and
 * y = S_x·Σ_k (q_x − Z_x)·ŵ + b[n] (float sums: equal to the fake-quant model and to
 * MatMulNBits up to summation order).
 */
export interface LinearNBitsNode extends Base {
  op: "linear_nbits";
  /** Packed codes (key). */
  wPacked: string;
  wShape: [number, number];
  /** 2, 4 or 8. */
  bits: number;
  blockSize: number;
  /** float32 bits of the scales, int32 [N · blocks] (key). */
  scales: string;
  /** int32 [N · blocks] zero points (key), or null for the default 2^(bits−1) (MatMulNBits' default). */
  zeroPoints: string | null;
  /** float32 bits of the bias, int32 [N] (key), or null. */
  bias: string | null;
  act: DynamicActivation | null;
}

/** Keys of the tensors a dynamic node reads. */
export function dynamicTensorKeys(n: DynamicLinearNode | LinearNBitsNode): string[] {
  const own = n.op === "dynamic_linear" ? [n.wInt8, n.wScales, ...(n.wZeroPoints ? [n.wZeroPoints] : [])] : [n.wPacked, n.scales, ...(n.zeroPoints ? [n.zeroPoints] : [])];
  return [...own, ...(n.bias ? [n.bias] : [])];
}

/** float32 values ↔ their bits in an int32 tensor. */
export function f32Bits(v: ArrayLike<number>): Int32Array {
  return new Int32Array(Float32Array.from(v).buffer);
}
export function bitsF32(t: Int32Array): Float32Array {
  return new Float32Array(t.buffer, t.byteOffset, t.length);
}

/** Bytes per row of a packed weight. */
export function packedRowBytes(k: number, bits: number, blockSize: number): number {
  return (Math.ceil(k / blockSize) * blockSize * bits) / 8;
}

/** Packs unsigned codes [N, K] into MatMulNBits blocks (low bits first, last block padded with 0). */
export function packCodes(codes: ArrayLike<number>, n: number, k: number, bits: number, blockSize: number): Int8Array {
  const rowBytes = packedRowBytes(k, bits, blockSize);
  const out = new Uint8Array(n * rowBytes);
  const perByte = 8 / bits;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const byte = r * rowBytes + Math.floor(c / perByte);
      out[byte] |= (codes[r * k + c] & ((1 << bits) - 1)) << ((c % perByte) * bits);
    }
  }
  return new Int8Array(out.buffer);
}

/** Unpacks codes [N, K] from MatMulNBits blocks. */
export function unpackCodes(packed: Int8Array, n: number, k: number, bits: number, blockSize: number): Uint8Array {
  const bytes = new Uint8Array(packed.buffer, packed.byteOffset, packed.length);
  const rowBytes = packedRowBytes(k, bits, blockSize);
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  const out = new Uint8Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) out[r * k + c] = (bytes[r * rowBytes + Math.floor(c / perByte)] >> ((c % perByte) * bits)) & mask;
  }
  return out;
}
