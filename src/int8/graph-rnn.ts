/**
 * The Int8Model graph node of dynamically quantized LSTM / GRU layers (PyTorch's
 * quantize_dynamic on nn.LSTM / nn.GRU, onnxruntime's com.microsoft DynamicQuantizeLSTM):
 * float input, float output; the input-to-hidden and hidden-to-hidden products are integer
 * GEMMs with int8 symmetric weights (per output row or per tensor) and activations quantized
 * at run time (`act`, DynamicQuantizeLinear's rule), the gates are float. The arithmetic is
 * ./kernels/dynamic-rnn.ts. Part of ./graph.ts (re-exported there); written by
 * quant/quantize-dynamic-rnn.ts (quantizeDynamic, convert) and the ONNX importer.
 */
import type { DynamicActivation } from "./graph-dynamic.js";

/** The tensors of one layer and direction (PyTorch's weight_ih_l{l}{_reverse}, …). */
export interface DynamicRnnCell {
  /** int8 [G·H, I] input weights, rows in PyTorch's gate order (key). */
  wIh: string;
  /** float32 bits, int32 [G·H] (per row) or [1] (per tensor) (key). */
  wIhScales: string;
  /** int8 [G·H, H] recurrent weights (key). */
  wHh: string;
  wHhScales: string;
  /** float32 bits of bias_ih / bias_hh, int32 [G·H] (keys), or null. */
  bIh: string | null;
  bHh: string | null;
}

/**
 * A dynamically quantized LSTM (G = 4 gates i, f, g, o) or GRU (G = 3 gates r, z, n) of
 * `numLayers` layers, one or two directions; input [T, B, I] ([B, T, I] with batchFirst),
 * zero initial state, output the sequence [T, B, D·H]. `cells[l·D + d]` holds layer l,
 * direction d (d = 1: reverse).
 */
export interface DynamicRnnNode {
  op: "dynamic_lstm" | "dynamic_gru";
  name: string;
  inputs: string[];
  output: string;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  cells: DynamicRnnCell[];
  /** Run-time quantization of the GEMM inputs (per tensor uint8: DynamicQuantizeLinear). */
  act: DynamicActivation;
  weightBits: number;
}

/** Keys of the tensors a dynamic RNN node reads. */
export function dynamicRnnTensorKeys(n: DynamicRnnNode): string[] {
  return n.cells.flatMap((c) => [c.wIh, c.wIhScales, c.wHh, c.wHhScales, ...(c.bIh ? [c.bIh] : []), ...(c.bHh ? [c.bHh] : [])]);
}

/** Gates per hidden unit: 4 (LSTM) or 3 (GRU). */
export function rnnGates(n: Pick<DynamicRnnNode, "op">): number {
  return n.op === "dynamic_lstm" ? 4 : 3;
}
