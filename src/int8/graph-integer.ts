/**
 * The Int8Model graph nodes of the integer-only softmax and LayerNorm (I-BERT's goal, TFLite's
 * exp table; docs/NUMERICS.md §8c): every step is an exact integer operation, so the ONNX
 * export (src/onnx/export-integer-ops.ts, standard integer ops) reproduces them bit for bit.
 * Part of ./graph.ts (re-exported there); run by ./kernels/softmax-int.ts and
 * ./kernels/layernorm-int.ts; written by quant/convert-integer.ts in place of the float islands.
 */

interface Base {
  name: string;
  inputs: string[];
  output: string;
}

/**
 * Softmax over the last dim of an 8-bit input. Per row, with m the largest unmasked input:
 *   e_i = table[m − q_i] (table[j] = round(exp(−j·S_x)·2^frac), j = 0…255; masked: table[256] = 0)
 *   S   = max(1, Σ e_i)
 *   q_y = clamp(Z_y + ⌊(2·e_i·R + S·2^r) / (2·S·2^r)⌋)      R = round(2^r / S_y)
 * i.e. Z_y + round(e_i/S / S_y) with one rounding (half up); every integer < 2^53.
 */
export interface SoftmaxIntNode extends Base {
  op: "softmax_int";
  /** int32[257] (key): exp table, the last entry 0 (a masked position). */
  table: string;
  frac: number;
  /** [R, r]: 1/S_y ≈ R / 2^r. */
  outMultiplier: [number, number];
  clamp: [number, number];
  /**
   * A constant attention mask (the −∞ of `where(mask, −∞, scores)`): int32 0/1 values (key), 1 =
   * masked, of `shape` = the input's trailing dims, repeated over the leading ones.
   */
  mask?: { tensor: string; shape: number[] };
}

/**
 * LayerNorm over the last dim (n values) of an 8-bit input, with the affine parameters folded:
 *   d_i = n·q_i − Σq            V = Σ d_i²                        (exact)
 *   W   = ⌊(V·4^p + c) / n⌋     c = round(n³·4^p·eps / S_x²)      (the eps term)
 *   σ   = max(1, ⌊√W⌋)          (exact: W < 2^52)
 *   num = d_i·2^p·G[i] + B[i]·σ,  den = σ·2^g                      G = round(γ/S_y·2^g), B = round(β/S_y·2^g)
 *   q_y = clamp(Z_y + ⌊(2·num + den) / (2·den)⌋)
 * σ ≈ 2^p·n·√(var_q + eps/S_x²), so d·2^p/σ is the normalized value; one rounding to the output grid.
 */
export interface LayerNormIntNode extends Base {
  op: "layernorm_int";
  /** Extra bits of √ (σ is scaled by 2^p). */
  p: number;
  /** c, the eps term (an integer < 2^53). */
  epsTerm: number;
  /** Fraction bits of G and B. */
  g: number;
  /** int32[n] (keys): γ/S_y and β/S_y in units of 2^-g. */
  gamma: string;
  beta: string;
  clamp: [number, number];
}

export type IntegerNode = SoftmaxIntNode | LayerNormIntNode;

/** Keys of the tensor table an integer softmax / LayerNorm node reads. */
export function integerTensorKeys(n: IntegerNode): string[] {
  if (n.op === "softmax_int") return [n.table, ...(n.mask ? [n.mask.tensor] : [])];
  return [n.gamma, n.beta];
}
