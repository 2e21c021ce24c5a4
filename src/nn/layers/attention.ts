/**
 * MultiheadAttention (torch.nn.MultiheadAttention, PyTorch 1.13 semantics) with PyTorch's
 * state-dict keys: `in_proj_weight` [3E, E], `in_proj_bias` [3E], `out_proj.weight`,
 * `out_proj.bias` (out_proj is a Linear child). Init as PyTorch: xavier-uniform in_proj_weight,
 * zero biases, out_proj.weight by the Linear default.
 *
 * forward is written with the capturable functional ops (linear on `in_proj_weight`, reshape,
 * transpose, matmul, softmax, where) — it is not an atomic module — so graph capture records
 * the projections and both attention matmuls as nodes that quantization can treat like any
 * user code. Self-attention (query, key and value the same tensor) projects once with the
 * packed weight and slices the result, as PyTorch's _in_projection_packed does.
 *
 * Masks as nn.MultiheadAttention: a bool (uint8) attnMask [L, S] or [N·H, L, S] and a bool
 * keyPaddingMask [N, S] mark with 1 the positions NOT allowed to attend; float masks are added.
 * forward returns the attention output; forwardWithWeights returns [output, weights | null]
 * like PyTorch's tuple (weights averaged over heads unless averageAttnWeights is false).
 */
import { zeros } from "../../tensor/creation.js";
import { ShapeError, ValueError, fmtShape } from "../../tensor/errors.js";
import type { Generator } from "../../tensor/random.js";
import type { Tensor } from "../../tensor/tensor.js";
import { div, dropout, linear, matmul, mul, permute, reshape, slice, softmax, sum, transpose, unsqueeze, squeeze } from "../../ops/captured.js";
import { applyAttentionMask, causalMask } from "../../ops/attention.js";
import { xavierUniform } from "../init.js";
import { Module } from "../module.js";
import { Linear } from "./linear.js";
import { pyBool, pyFloat } from "../repr.js";

export interface MultiheadAttentionOptions {
  /** Projection biases (default true). */
  bias?: boolean;
  /** Inputs and output are [N, L, E] instead of [L, N, E] (default false, as PyTorch). */
  batchFirst?: boolean;
  /** Dropout on the attention weights in training (default 0). */
  dropout?: number;
  generator?: Generator;
}

export interface AttentionCallOptions {
  /** [N, S]: 1 (bool) = ignore that key; float = added. */
  keyPaddingMask?: Tensor | null;
  /** [L, S] or [N·H, L, S]: 1 (bool) = not allowed; float = added. */
  attnMask?: Tensor | null;
  /** Build the causal mask (query i sees keys ≤ i) when no attnMask is given. */
  isCausal?: boolean;
  /** forwardWithWeights only: return the weights (default true). */
  needWeights?: boolean;
  /** Average the weights over heads (default true). */
  averageAttnWeights?: boolean;
}

export class MultiheadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly batchFirst: boolean;
  readonly dropout: number;
  inProjWeight: Tensor;
  inProjBias: Tensor | null;
  readonly outProj: Linear;

  constructor(embedDim: number, numHeads: number, opts: MultiheadAttentionOptions = {}) {
    super();
    if (!Number.isInteger(embedDim) || embedDim < 1) throw new ValueError(`MultiheadAttention: embedDim must be a positive integer, got ${embedDim}`);
    if (!Number.isInteger(numHeads) || numHeads < 1 || embedDim % numHeads !== 0) {
      throw new ValueError(`MultiheadAttention: numHeads must be a positive integer dividing embedDim ${embedDim}, got ${numHeads}`);
    }
    const p = opts.dropout ?? 0;
    if (!(p >= 0 && p < 1)) throw new ValueError(`MultiheadAttention: dropout must be in [0, 1), got ${p}`);
    this.embedDim = embedDim;
    this.numHeads = numHeads;
    this.headDim = embedDim / numHeads;
    this.batchFirst = opts.batchFirst ?? false;
    this.dropout = p;
    const bias = opts.bias ?? true;
    this.inProjWeight = this.registerParameter("in_proj_weight", zeros([3 * embedDim, embedDim]));
    this.inProjBias = this.registerParameter("in_proj_bias", bias ? zeros([3 * embedDim]) : null);
    this.outProj = this.registerModule("out_proj", new Linear(embedDim, embedDim, { bias, generator: opts.generator }));
    xavierUniform(this.inProjWeight, { generator: opts.generator });
    if (this.outProj.bias) this.outProj.bias.data.fill(0);
  }

  /** The attention output ([N, L, E] with batchFirst, else [L, N, E]; [L, E] for unbatched input). */
  forward(query: Tensor, key: Tensor, value: Tensor, opts: AttentionCallOptions = {}): Tensor {
    return this.attend(query, key, value, opts, false)[0];
  }

  /** [output, attention weights ([N, L, S], or [N, H, L, S] unaveraged) or null] — PyTorch's return value. */
  forwardWithWeights(query: Tensor, key: Tensor, value: Tensor, opts: AttentionCallOptions = {}): [Tensor, Tensor | null] {
    return this.attend(query, key, value, opts, opts.needWeights ?? true);
  }

  private attend(query: Tensor, key: Tensor, value: Tensor, opts: AttentionCallOptions, needWeights: boolean): [Tensor, Tensor | null] {
    const op = "MultiheadAttention";
    const batched = query.ndim === 3;
    if (query.ndim !== 2 && query.ndim !== 3) throw new ShapeError(`${op}: query must be [L, E] or ${this.batchFirst ? "[N, L, E]" : "[L, N, E]"}, got ${fmtShape(query.shape)}`);
    for (const [name, t] of [["key", key], ["value", value]] as const) {
      if (t.ndim !== query.ndim) throw new ShapeError(`${op}: ${name} ${fmtShape(t.shape)} and query ${fmtShape(query.shape)} differ in rank`);
    }
    const E = this.embedDim;
    if (query.shape[query.ndim - 1] !== E) throw new ShapeError(`${op}: expected embedding dim ${E}, query is ${fmtShape(query.shape)}`);
    if (key.shape.some((d, i) => d !== value.shape[i])) throw new ShapeError(`${op}: key ${fmtShape(key.shape)} and value ${fmtShape(value.shape)} differ`);
    const self = query === key && key === value;
    const sameKv = key === value;
    // Internally [N, L, E]: unbatched gets N = 1, sequence-first is transposed.
    const toNLE = (t: Tensor): Tensor => (!batched ? unsqueeze(t, 0) : this.batchFirst ? t : transpose(t, 0, 1));
    const q0 = toNLE(query);
    const k0 = self ? q0 : toNLE(key);
    const v0 = self ? q0 : sameKv ? k0 : toNLE(value);
    const [n, l] = [q0.shape[0], q0.shape[1]];
    const s = k0.shape[1];
    if (k0.shape[0] !== n || k0.shape[2] !== E) throw new ShapeError(`${op}: key ${fmtShape(key.shape)} does not match query ${fmtShape(query.shape)}`);
    const [q, k, v] = this.project(q0, k0, v0, self, sameKv);
    const H = this.numHeads;
    const D = this.headDim;
    const heads = (t: Tensor): Tensor => transpose(reshape(t, [n, -1, H, D]), 1, 2); // [N, H, len, D]
    const kT = permute(reshape(k, [n, -1, H, D]), [0, 2, 3, 1]); // [N, H, D, S] in one copy
    let scores = matmul(mul(heads(q), 1 / Math.sqrt(D)), kT); // [N, H, L, S]
    let attnMask = opts.attnMask ?? null;
    if (!attnMask && opts.isCausal) attnMask = invert(causalMask(l, s));
    if (attnMask) {
      if (attnMask.ndim === 2) {
        if (attnMask.shape[0] !== l || attnMask.shape[1] !== s) throw new ShapeError(`${op}: the 2-D attnMask is ${fmtShape(attnMask.shape)}, but should be [${l}, ${s}]`);
      } else if (attnMask.ndim === 3 && batched) {
        if (attnMask.shape[0] !== n * H || attnMask.shape[1] !== l || attnMask.shape[2] !== s) {
          throw new ShapeError(`${op}: the 3-D attnMask is ${fmtShape(attnMask.shape)}, but should be [${n * H}, ${l}, ${s}]`);
        }
        attnMask = reshape(attnMask, [n, H, l, s]);
      } else {
        throw new ShapeError(`${op}: attnMask must be [L, S]${batched ? " or [N·H, L, S]" : ""}, got ${fmtShape(attnMask.shape)}`);
      }
      scores = applyAttentionMask(scores, attnMask, false, op);
    }
    const kpm = opts.keyPaddingMask ?? null;
    if (kpm) {
      const want = batched ? [n, s] : [s];
      if (kpm.ndim !== want.length || kpm.shape.some((d, i) => d !== want[i])) throw new ShapeError(`${op}: keyPaddingMask must be ${fmtShape(want)}, got ${fmtShape(kpm.shape)}`);
      scores = applyAttentionMask(scores, reshape(kpm, [n, 1, 1, s]), false, op);
    }
    let weights = softmax(scores, -1);
    if (this.training && this.dropout > 0) weights = dropout(weights, this.dropout, true);
    const ctx = reshape(transpose(matmul(weights, heads(v)), 1, 2), [n, -1, E]); // [N, L, E]
    let out = this.outProj.forward(ctx);
    out = !batched ? squeeze(out, 0) : this.batchFirst ? out : transpose(out, 0, 1);
    if (!needWeights) return [out, null];
    let w = opts.averageAttnWeights === false ? weights : div(sum(weights, 1), H);
    if (!batched) w = squeeze(w, 0);
    return [out, w];
  }

  /** q, k, v projections with the packed weight: one linear for self-attention, two for shared key/value, else three. */
  private project(q: Tensor, k: Tensor, v: Tensor, self: boolean, sameKv: boolean): [Tensor, Tensor, Tensor] {
    const E = this.embedDim;
    const w = this.inProjWeight;
    const b = this.inProjBias;
    const part = (t: Tensor | null, i: number, j: number): Tensor | null => (t ? slice(t, 0, i * E, j * E) : null);
    if (self) {
      const qkv = linear(q, w, b);
      return [slice(qkv, -1, 0, E), slice(qkv, -1, E, 2 * E), slice(qkv, -1, 2 * E, 3 * E)];
    }
    const qp = linear(q, part(w, 0, 1)!, part(b, 0, 1));
    if (sameKv) {
      const kv = linear(k, part(w, 1, 3)!, part(b, 1, 3));
      return [qp, slice(kv, -1, 0, E), slice(kv, -1, E, 2 * E)];
    }
    return [qp, linear(k, part(w, 1, 2)!, part(b, 1, 2)), linear(v, part(w, 2, 3)!, part(b, 2, 3))];
  }

  override extraRepr(): string {
    return `embed_dim=${this.embedDim}, num_heads=${this.numHeads}, dropout=${pyFloat(this.dropout)}, batch_first=${pyBool(this.batchFirst)}`;
  }
}

/** 1 − mask for a uint8 0/1 mask (the causal "take part" mask → MHA's "not allowed" mask). */
function invert(m: Tensor): Tensor {
  const d = m.data;
  for (let i = 0; i < d.length; i++) d[i] = d[i] ? 0 : 1;
  return m;
}
