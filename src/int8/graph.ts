/**
 * The integer model's graph description: quantized values (each with scale, zero point,
 * storage dtype and clamp range) and nodes, all plain JSON so it serializes as is; weights,
 * biases and multipliers live in a separate tensor table referenced by key.
 * Written by quant.convert (and the ONNX importer), executed by ./model.ts.
 */
import { type DynamicLinearNode, type LinearNBitsNode, dynamicTensorKeys } from "./graph-dynamic.js";
export { FLOAT_Q, type DynamicActivation, type DynamicLinearNode, type LinearNBitsNode } from "./graph-dynamic.js";
import { type IntegerNode, integerTensorKeys } from "./graph-integer.js";
export type { IntegerNode, LayerNormIntNode, SoftmaxIntNode } from "./graph-integer.js";
import { type DynamicRnnNode, dynamicRnnTensorKeys } from "./graph-rnn.js";
export type { DynamicRnnCell, DynamicRnnNode } from "./graph-rnn.js";

/** Quantization parameters of one activation tensor. r = scale·(q − zeroPoint). */
export interface QParams {
  scale: number;
  zeroPoint: number;
  dtype: "uint8" | "int8";
  /** Representable range (may be narrower than the dtype, e.g. reduce_range [0, 127]). */
  qmin: number;
  qmax: number;
}

/** A quantized activation; `shape` has -1 for the batch dimension. */
export interface ValueInfo {
  id: string;
  shape: number[];
  q: QParams;
  /** Where the value comes from in the source model (module path), for inspection. */
  source?: string;
  /** A float32 value of a dynamic model (./graph-dynamic.ts); `q` is then FLOAT_Q and unused. */
  float?: boolean;
  /** An int32 graph input passed through unquantized (token ids of a language model); only float islands (an embedding) read it; `q` is unused. */
  int?: boolean;
}

/** Keys into the tensor table. */
export interface RequantRef {
  multiplier: string;
  shift: string;
}

interface NodeBase {
  name: string;
  inputs: string[];
  output: string;
}

export interface ConvNode extends NodeBase {
  op: "conv2d";
  weight: string;
  wShape: number[];
  bias: string | null;
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  requant: RequantRef;
  clamp: [number, number];
  /** Real-valued weight scales per output channel (for inspection and export). */
  wScales: number[];
  weightBits: number;
  /** Int32 per-channel weight zero points (key), when not all 0 (PyTorch's fused observer can produce them). */
  wZeroPoints?: string;
}

export interface LinearNode extends NodeBase {
  op: "linear";
  weight: string;
  wShape: number[];
  bias: string | null;
  requant: RequantRef;
  clamp: [number, number];
  wScales: number[];
  weightBits: number;
  wZeroPoints?: string;
}

export interface AddNode extends NodeBase {
  op: "add";
  aMultiplier: [number, number];
  bMultiplier: [number, number];
  outMultiplier: [number, number];
  leftShift: number;
  clamp: [number, number];
}

export interface ConcatNode extends NodeBase {
  op: "concat";
  axis: number;
  /** Per input: [M0, shift] to the output scale, or null when already on it. */
  multipliers: ([number, number] | null)[];
}

export interface MaxPoolNode extends NodeBase {
  op: "maxpool2d";
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  ceilMode: boolean;
}

export interface AvgPoolNode extends NodeBase {
  op: "avgpool2d";
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode: boolean;
  countIncludePad: boolean;
}

export interface GlobalAvgPoolNode extends NodeBase {
  op: "globalavgpool";
  /** [M0, shift] of Sx/(Sy·H·W), or null for same-scale rounding division. */
  multiplier: [number, number] | null;
  clamp: [number, number];
}

export interface RequantizeNode extends NodeBase {
  op: "requantize";
  /** [M0, shift] of factor·Sx/Sy. */
  multiplier: [number, number];
  clamp: [number, number];
  /** A real factor the value is multiplied by (x·c, x/c with c > 0, e.g. attention's 1/√d); absent = 1. Exported as a float Mul. */
  factor?: number;
}

/** Elementwise functions an Int8Model computes as a 256-entry table (LutNode.fn). */
export type LutFunction = "sigmoid" | "tanh" | "gelu" | "gelu_tanh" | "exp" | "onnx";
/** `onnx`: an elementwise op of an imported ONNX model (LeakyRelu, HardSwish, Elu, …; LutNode.opType names it). */
export const LUT_FUNCTIONS: readonly LutFunction[] = ["sigmoid", "tanh", "gelu", "gelu_tanh", "exp", "onnx"];

/**
 * An 8-bit elementwise function tabulated at conversion: table[q − qmin] = Q_y(f(DQ_x(q))), the
 * float island's exact result for each of the 256 inputs, looked up with integers only
 * (TFLite's int8 logistic / tanh / GELU do the same). Exported as that op between DQ and Q.
 */
export interface LutNode extends NodeBase {
  op: "lut";
  fn: LutFunction;
  /** The ONNX op type when fn is "onnx". */
  opType?: string;
  /** The imported op itself when fn is "onnx" (stored as a float island's call), so a loaded model exports it. */
  call?: { op: string; args: unknown[] };
  /** Tensor key of the int32[256] table: output by input value − qmin. */
  table: string;
  /** The output range the table was clamped to (exported as an integer Clip when narrower). */
  clamp: [number, number];
}

export interface FlattenNode extends NodeBase {
  op: "flatten";
  startDim: number;
}

/** A reshape: moves no bytes (row-major data); -1 in `shape` is the batch dim. */
export interface ReshapeNode extends NodeBase {
  op: "reshape";
  /** Target shape with the batch dim as -1 (at most one other dim may be inferred as -2). */
  shape: number[];
}

/** A transpose of the quantized tensor (moves bytes): output dim i is input dim perm[i]. */
export interface TransposeNode extends NodeBase {
  op: "transpose";
  perm: number[];
}

/** Elements start, start+step, … below end along `axis` (normalized: 0 ≤ start ≤ end ≤ dim; not the batch axis); moves bytes. */
export interface SliceNode extends NodeBase {
  op: "slice";
  axis: number;
  start: number;
  end: number;
  step: number;
}

/**
 * A product of two quantized activations (attention's Q·Kᵀ, P·V), batch dims broadcast as
 * torch.matmul; int32 accumulation of centred values, per-tensor requantization by
 * Sa·Sb/Sy ([M0, shift]), kernels/qmatmul.ts.
 */
export interface MatMulNode extends NodeBase {
  op: "matmul";
  multiplier: [number, number];
  clamp: [number, number];
}

/** An elementwise product of two quantized activations (NumPy broadcasting), requantized by Sa·Sb/Sy. */
export interface MulNode extends NodeBase {
  op: "mul";
  multiplier: [number, number];
  clamp: [number, number];
}

/**
 * Elementwise max / min of quantized activations (NumPy broadcasting) and optionally a
 * constant: each input is requantized to the output grid (`multipliers[i]` = Si/Sy as
 * [M0, shift], null when already on it) and clamped, then the integers are compared — exact,
 * since Q_y is monotone: Q_y(max(a, b)) = max(Q_y(a), Q_y(b)). `constant` is a tensor key of
 * int32 values already on the output grid (TF's Max(LeakyRelu(x), c)), broadcast as `constShape`.
 * Kernel: kernels/reduce-quant.ts qmaxmin.
 */
interface MaxMinFields extends NodeBase {
  multipliers: ([number, number] | null)[];
  constant?: string;
  constShape?: number[];
  clamp: [number, number];
}
export type MaxMinNode = (MaxMinFields & { op: "maximum" }) | (MaxMinFields & { op: "minimum" });

/**
 * Mean over non-batch `axes` (sorted, normalized): int32 sum of centred values, then one
 * fixed-point requantization by Sx/(Sy·count) — globalavgpool's arithmetic on any axes.
 */
export interface MeanNode extends NodeBase {
  op: "mean";
  axes: number[];
  keepdims: boolean;
  multiplier: [number, number];
  clamp: [number, number];
}

/** Pad of the non-batch dims on the input grid; `pads` ONNX-ordered (all begins, then all ends; batch entries 0). */
export interface PadNode extends NodeBase {
  op: "pad";
  pads: number[];
  mode: "constant" | "edge" | "reflect";
  /** The fill integer of constant mode (the zero point for a zero pad). */
  value: number;
}

/** Broadcast of the non-batch dims to `shape` (same rank, batch −1; dims of 1 repeat); moves bytes. */
export interface ExpandNode extends NodeBase {
  op: "expand";
  shape: number[];
}

/**
 * Nearest-neighbour resize (ONNX Resize mode "nearest", Upsample): a gather of bytes by the
 * int32 table `index` — for each output element of one sample, its source offset in that
 * sample — computed at conversion by the float op itself (so it is that op's exact result).
 * `scales` (one per dim, as the model gave them) and the two nearest attributes are what the
 * exporters write; `sizes` marks a model that gave output sizes instead (scales are then out/in).
 */
export interface ResizeNode extends NodeBase {
  op: "resize";
  index: string;
  scales: number[];
  sizes?: boolean;
  coordinateMode: string;
  nearestMode: string;
}

/**
 * A float island (DESIGN.md §1): an op with no integer kernel runs in float between a
 * dequantize of its inputs and a quantize of its output (onnxruntime's quantizer and PT2E do
 * the same). `call` is a functional op with literal arguments (`{ input: k }` = k-th input),
 * rebuilt when a file is loaded; a module island (`call` absent) runs only in the process
 * that converted it.
 */
export interface FloatIslandNode extends NodeBase {
  op: "float";
  /** The op name (src/ops) or module class that runs in float. */
  fn: string;
  /** Where it comes from: module path or graph node name. */
  source: string;
  call?: { op: string; args: unknown[] };
  /** An island of several ops (a −∞ attention mask, then softmax): each step as `call`, `{ step: j }` an earlier step's output; the last step is the result. */
  steps?: { op: string; args: unknown[] }[];
}

export type Int8Node = ConvNode | LinearNode | AddNode | ConcatNode | MaxPoolNode | AvgPoolNode | GlobalAvgPoolNode | RequantizeNode | LutNode | FlattenNode | ReshapeNode | TransposeNode | SliceNode | MatMulNode | MulNode | MaxMinNode | MeanNode | PadNode | ExpandNode | ResizeNode | IntegerNode | FloatIslandNode | DynamicLinearNode | LinearNBitsNode | DynamicRnnNode;

export interface Int8Graph {
  /** The float input is quantized into this value. */
  input: ValueInfo;
  /** Further inputs of a multi-input model, in order (absent for one input). */
  extraInputs?: ValueInfo[];
  /** The quantized output, dequantized by run(). */
  output: string;
  values: ValueInfo[];
  nodes: Int8Node[];
  /** Free-form provenance: qconfig name, source model, qat-ts version. */
  meta: Record<string, unknown>;
}

/** Keys of the tensor table a node reads (weights, biases, multipliers, zero points, tables). */
export function nodeTensorKeys(n: Int8Node): string[] {
  if (n.op === "conv2d" || n.op === "linear") return [n.weight, n.requant.multiplier, n.requant.shift, ...(n.bias ? [n.bias] : []), ...(n.wZeroPoints ? [n.wZeroPoints] : [])];
  if (n.op === "lut") return [n.table];
  if (n.op === "softmax_int" || n.op === "layernorm_int") return integerTensorKeys(n);
  if (n.op === "resize") return [n.index];
  if ((n.op === "maximum" || n.op === "minimum") && n.constant) return [n.constant];
  if (n.op === "dynamic_linear" || n.op === "linear_nbits") return dynamicTensorKeys(n);
  if (n.op === "dynamic_lstm" || n.op === "dynamic_gru") return dynamicRnnTensorKeys(n);
  return [];
}
