/**
 * scaledDotProductAttention (PyTorch 2's torch.nn.functional.scaled_dot_product_attention,
 * math path): softmax(q·kᵀ·scale + mask)·v with an optional dropout on the weights.
 * It is deliberately NOT one fused op: it is written with the capturable ops of ./captured.ts,
 * so graph capture records its matmuls, softmax and masking as separate nodes and the
 * quantizer can treat q·kᵀ and weights·v as activation×activation matmuls — a user's own
 * attention code quantizes exactly like nn.MultiheadAttention (src/nn/layers/attention.ts),
 * which is built from the same pieces (`applyAttentionMask`).
 *
 * Masks follow torch 2's SDPA: a bool mask (uint8 0/1; ONNX/our bool) marks with 1 the
 * positions that TAKE PART; a float mask is added to the scores. isCausal = lower-triangular
 * bool mask (query i sees keys j ≤ i, top-left aligned like torch.ones(L, S).tril()).
 */
import { isFloatDType } from "../tensor/dtype.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { add, dropout, matmul, mul, softmax, transpose, where } from "./captured.js";

export interface ScaledDotProductAttentionOptions {
  /** Bool (uint8, 1 = take part) or float (added) mask broadcastable to [..., L, S]. */
  attnMask?: Tensor | null;
  /** Apply a causal mask (query i attends to keys 0..i); exclusive with attnMask. */
  isCausal?: boolean;
  /** Dropout probability on the attention weights (applied whenever > 0, as torch). */
  dropoutP?: number;
  /** Score scale (default 1/√E, E = q's last dim). */
  scale?: number | null;
}

/** A [L, S] uint8 mask with 1 where key j ≤ query i (torch.ones(L, S).tril()). */
export function causalMask(l: number, s: number): Tensor {
  const m = new Uint8Array(l * s);
  for (let i = 0; i < l; i++) for (let j = 0; j <= Math.min(i, s - 1); j++) m[i * s + j] = 1;
  return new Tensor(m, [l, s]);
}

/**
 * scores with `mask` applied: a float mask is added; a bool mask keeps the scores where the
 * mask is 1 when `keepWhere` is true (torch SDPA), where it is 0 when false (nn.MultiheadAttention's
 * "True = not allowed"), and puts −∞ elsewhere.
 */
export function applyAttentionMask(scores: Tensor, mask: Tensor, keepWhere: boolean, op: string): Tensor {
  if (isFloatDType(mask.dtype)) return add(scores, mask);
  if (mask.dtype !== "uint8") throw new DTypeError(`${op}: a mask must be bool (uint8 0/1) or float, got ${mask.dtype} ${fmtShape(mask.shape)}`);
  return keepWhere ? where(mask, scores, -Infinity) : where(mask, -Infinity, scores);
}

/** softmax(q·kᵀ·scale + mask)·v for q [..., L, E], k [..., S, E], v [..., S, Ev] → [..., L, Ev]. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: ScaledDotProductAttentionOptions = {}): Tensor {
  const op = "scaledDotProductAttention";
  for (const [name, t] of [["query", q], ["key", k], ["value", v]] as const) {
    if (!(t instanceof Tensor)) throw new ValueError(`${op}: ${name} must be a Tensor`);
    if (!isFloatDType(t.dtype)) throw new DTypeError(`${op}: ${name} must be float32 or float64, got ${t.dtype}`);
    if (t.ndim < 2) throw new ShapeError(`${op}: ${name} must be at least 2-D [..., len, dim], got ${fmtShape(t.shape)}`);
  }
  const e = q.shape[q.ndim - 1];
  if (k.shape[k.ndim - 1] !== e) throw new ShapeError(`${op}: query ${fmtShape(q.shape)} and key ${fmtShape(k.shape)} differ in their last dim`);
  if (k.shape[k.ndim - 2] !== v.shape[v.ndim - 2]) throw new ShapeError(`${op}: key ${fmtShape(k.shape)} and value ${fmtShape(v.shape)} differ in length`);
  const p = opts.dropoutP ?? 0;
  if (!(p >= 0 && p < 1)) throw new ValueError(`${op}: dropoutP must be in [0, 1), got ${p}`);
  if (opts.isCausal && opts.attnMask) throw new ValueError(`${op}: give either attnMask or isCausal, not both`);
  const scale = opts.scale ?? 1 / Math.sqrt(e);
  if (!Number.isFinite(scale)) throw new ValueError(`${op}: scale must be finite, got ${scale}`);
  let scores = matmul(mul(q, scale), transpose(k, -2, -1));
  if (opts.isCausal) scores = applyAttentionMask(scores, causalMask(q.shape[q.ndim - 2], k.shape[k.ndim - 2]), true, op);
  else if (opts.attnMask) scores = applyAttentionMask(scores, opts.attnMask, true, op);
  let weights = softmax(scores, -1);
  if (p > 0) weights = dropout(weights, p, true);
  return matmul(weights, v);
}
