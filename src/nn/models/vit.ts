/**
 * Transformer zoo models. `vitTiny` — a small Vision Transformer for Fashion-MNIST: Conv2d
 * patch embedding, a learned class token and position embedding, a pre-norm GELU
 * TransformerEncoder, a final LayerNorm and a Linear head on the class token. `charTransformer`
 * — a character-level language model: Embedding + learned position embedding, a causal pre-norm
 * TransformerEncoder, LayerNorm and a Linear head giving next-character logits per position.
 * State-dict keys match bench/peers/vit_torch.py (`patch_embed.*`, `cls_token`, `pos_embedding`,
 * `encoder.layers.<i>.…`, `norm.*`, `head.*`; `tok_embedding.weight` for the LM), so weights move
 * through safetensors. Forward uses capturable ops only, and the class token enters by padding
 * (pad the patch sequence with one zero row, add class token + position embedding), which is
 * exactly torch's cat([cls.expand(N), x]) + pos but does not depend on the batch size.
 */
import { zeros } from "../../tensor/creation.js";
import { ValueError } from "../../tensor/errors.js";
import type { Generator } from "../../tensor/random.js";
import type { Tensor } from "../../tensor/tensor.js";
import { add, flatten, pad, reshape, slice, transpose } from "../../ops/captured.js";
import { normal } from "../init.js";
import { Conv2d } from "../layers/conv.js";
import { Embedding } from "../layers/embedding.js";
import { Linear } from "../layers/linear.js";
import { LayerNorm } from "../layers/normalization.js";
import { TransformerEncoder, TransformerEncoderLayer } from "../layers/transformer.js";
import { Module } from "../module.js";

export interface VitOptions {
  imageSize?: number;
  patchSize?: number;
  inChannels?: number;
  dim?: number;
  depth?: number;
  heads?: number;
  mlpDim?: number;
  numClasses?: number;
  dropout?: number;
  generator?: Generator;
}

const posInt = (v: number, name: string, who: string): number => {
  if (!Number.isInteger(v) || v < 1) throw new ValueError(`${who}: ${name} must be a positive integer, got ${v}`);
  return v;
};

function encoder(who: string, dim: number, heads: number, mlpDim: number, depth: number, dropout: number, generator?: Generator): TransformerEncoder {
  if (dim % heads !== 0) throw new ValueError(`${who}: dim ${dim} must be divisible by heads ${heads}`);
  const layer = new TransformerEncoderLayer(dim, heads, { dimFeedforward: mlpDim, dropout, activation: "gelu", batchFirst: true, normFirst: true, generator });
  return new TransformerEncoder(layer, depth);
}

export class VisionTransformer extends Module {
  readonly imageSize: number;
  readonly patchSize: number;
  readonly numPatches: number;
  readonly dim: number;
  readonly patchEmbed: Conv2d;
  clsToken: Tensor;
  posEmbedding: Tensor;
  readonly encoder: TransformerEncoder;
  readonly norm: LayerNorm;
  readonly head: Linear;

  constructor(opts: VitOptions = {}) {
    super();
    const who = "vitTiny";
    this.imageSize = posInt(opts.imageSize ?? 28, "imageSize", who);
    this.patchSize = posInt(opts.patchSize ?? 7, "patchSize", who);
    if (this.imageSize % this.patchSize !== 0) throw new ValueError(`${who}: imageSize ${this.imageSize} must be a multiple of patchSize ${this.patchSize}`);
    const dim = (this.dim = posInt(opts.dim ?? 64, "dim", who));
    const inCh = posInt(opts.inChannels ?? 1, "inChannels", who);
    this.numPatches = (this.imageSize / this.patchSize) ** 2;
    const g = { generator: opts.generator };
    this.patchEmbed = this.registerModule("patch_embed", new Conv2d(inCh, dim, this.patchSize, { stride: this.patchSize, ...g }));
    this.clsToken = this.registerParameter("cls_token", normal(zeros([1, 1, dim]), 0, 0.02, g));
    this.posEmbedding = this.registerParameter("pos_embedding", normal(zeros([1, this.numPatches + 1, dim]), 0, 0.02, g));
    this.encoder = this.registerModule("encoder", encoder(who, dim, posInt(opts.heads ?? 4, "heads", who), posInt(opts.mlpDim ?? 128, "mlpDim", who), posInt(opts.depth ?? 4, "depth", who), opts.dropout ?? 0, opts.generator));
    this.norm = this.registerModule("norm", new LayerNorm(dim));
    this.head = this.registerModule("head", new Linear(dim, posInt(opts.numClasses ?? 10, "numClasses", who), g));
  }

  /** One image batch: what graph capture runs when no example is given. */
  exampleInputs(): Tensor[] {
    return [zeros([1, this.patchEmbed.inChannels, this.imageSize, this.imageSize])];
  }

  forward(x: Tensor): Tensor {
    const p = this.patchEmbed.forward(x); // [N, D, h, w]
    const seq = transpose(reshape(p, [p.shape[0], this.dim, -1]), 1, 2); // [N, P, D]
    // [0; patches] + ([cls; 0…] + pos) == cat([cls, patches]) + pos
    const tokens = add(pad(seq, [0, 0, 1, 0]), add(this.posEmbedding, pad(this.clsToken, [0, 0, 0, this.numPatches])));
    const h = this.norm.forward(this.encoder.forward(tokens));
    return this.head.forward(flatten(slice(h, 1, 0, 1), 1));
  }
}

export function vitTiny(opts: VitOptions = {}): VisionTransformer {
  return new VisionTransformer(opts);
}

export interface CharTransformerOptions {
  vocab: number;
  /** Context length (position embeddings). */
  context: number;
  dim?: number;
  depth?: number;
  heads?: number;
  /** Feed-forward width (default 4·dim). */
  mlpDim?: number;
  dropout?: number;
  generator?: Generator;
}

/** Next-character logits [N, T, vocab] for int32 indices [N, T] (T ≤ context), causal attention. */
export class CharTransformer extends Module {
  readonly vocab: number;
  readonly context: number;
  readonly tokEmbedding: Embedding;
  posEmbedding: Tensor;
  readonly encoder: TransformerEncoder;
  readonly norm: LayerNorm;
  readonly head: Linear;

  constructor(opts: CharTransformerOptions) {
    super();
    const who = "charTransformer";
    this.vocab = posInt(opts.vocab, "vocab", who);
    this.context = posInt(opts.context, "context", who);
    const dim = posInt(opts.dim ?? 64, "dim", who);
    const g = { generator: opts.generator };
    this.tokEmbedding = this.registerModule("tok_embedding", new Embedding(this.vocab, dim, g));
    this.posEmbedding = this.registerParameter("pos_embedding", normal(zeros([1, this.context, dim]), 0, 0.02, g));
    this.encoder = this.registerModule("encoder", encoder(who, dim, posInt(opts.heads ?? 4, "heads", who), posInt(opts.mlpDim ?? 4 * dim, "mlpDim", who), posInt(opts.depth ?? 2, "depth", who), opts.dropout ?? 0, opts.generator));
    this.norm = this.registerModule("norm", new LayerNorm(dim));
    this.head = this.registerModule("head", new Linear(dim, this.vocab, g));
  }

  exampleInputs(): Tensor[] {
    return [zeros([1, this.context], { dtype: "int32" })];
  }

  forward(idx: Tensor): Tensor {
    const t = idx.shape[idx.ndim - 1];
    if (idx.ndim !== 2 || t > this.context) throw new ValueError(`charTransformer: input must be [N, T] with T ≤ ${this.context}, got [${idx.shape.join(", ")}]`);
    const pos = t === this.context ? this.posEmbedding : slice(this.posEmbedding, 1, 0, t);
    const h = this.encoder.forward(add(this.tokEmbedding.forward(idx), pos), { isCausal: true });
    return this.head.forward(this.norm.forward(h));
  }
}

export function charTransformer(opts: CharTransformerOptions): CharTransformer {
  return new CharTransformer(opts);
}
