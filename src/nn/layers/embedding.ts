/**
 * Embedding (torch.nn.Embedding): a lookup table `weight` [numEmbeddings, embeddingDim],
 * initialised N(0, 1) with the paddingIdx row zeroed, as PyTorch. State-dict key: `weight`.
 * Indices are integer tensors (int32 here; PyTorch's int64 arrives as int32 through
 * safetensors and ONNX). The row at paddingIdx gets no gradient. Used by the zoo's
 * charTransformer (src/nn/models/vit.ts) and users.
 */
import { zeros } from "../../tensor/creation.js";
import { ValueError } from "../../tensor/errors.js";
import type { Generator } from "../../tensor/random.js";
import type { Tensor } from "../../tensor/tensor.js";
import { embedding } from "../../ops/nn-functional.js";
import { normal } from "../init.js";
import { Module } from "../module.js";

export interface EmbeddingOptions {
  /** Row whose entries get no gradient (negative counts from the end). */
  paddingIdx?: number | null;
  generator?: Generator;
}

export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  weight: Tensor;

  constructor(numEmbeddings: number, embeddingDim: number, opts: EmbeddingOptions = {}) {
    super();
    for (const [name, v] of [["numEmbeddings", numEmbeddings], ["embeddingDim", embeddingDim]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ValueError(`Embedding: ${name} must be a positive integer, got ${v}`);
    }
    let pad: number | null = opts.paddingIdx ?? null;
    if (pad !== null) {
      if (!Number.isInteger(pad) || pad < -numEmbeddings || pad >= numEmbeddings) {
        throw new ValueError(`Embedding: paddingIdx must be within [-${numEmbeddings}, ${numEmbeddings}), got ${pad}`);
      }
      if (pad < 0) pad += numEmbeddings;
    }
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    this.paddingIdx = pad;
    this.weight = this.registerParameter("weight", zeros([numEmbeddings, embeddingDim]));
    normal(this.weight, 0, 1, { generator: opts.generator });
    if (pad !== null) this.weight.data.fill(0, pad * embeddingDim, (pad + 1) * embeddingDim);
  }

  forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight, this.paddingIdx);
  }

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, padding_idx=${this.paddingIdx}` : ""}`;
  }
}
