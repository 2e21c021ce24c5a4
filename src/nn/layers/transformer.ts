/**
 * TransformerEncoderLayer and TransformerEncoder (torch.nn, PyTorch 1.13 semantics, the math
 * path — no fused "fast path", no nested tensors: with a key padding mask, padded positions keep
 * their computed values, where 1.13's eval fast path with enable_nested_tensor returns zeros
 * there) and ModuleList. State-dict keys are
 * PyTorch's: `self_attn.in_proj_weight`, `self_attn.in_proj_bias`, `self_attn.out_proj.*`,
 * `linear1.*`, `linear2.*`, `norm1.*`, `norm2.*`; an encoder holds `layers.<i>.…` and an
 * optional `norm.*`. Dropout children (`dropout`, `dropout1`, `dropout2`) have no state.
 *
 *   normFirst:  x = x + sa(norm1(x));  x = x + ff(norm2(x))
 *   otherwise:  x = norm1(x + sa(x));  x = norm2(x + ff(x))
 *   sa(x) = dropout1(self_attn(x, x, x)),  ff(x) = dropout2(linear2(dropout(act(linear1(x)))))
 *
 * forward uses the capturable functional ops (add, relu/gelu), so capture() sees the residual
 * adds and the activation as nodes and every Linear/LayerNorm/Dropout as a module call.
 * Called by the zoo models in src/nn/models/vit.ts and users.
 */
import { ValueError } from "../../tensor/errors.js";
import type { Generator } from "../../tensor/random.js";
import type { Tensor } from "../../tensor/tensor.js";
import { add, gelu, relu } from "../../ops/captured.js";
import { cloneModule } from "../clone.js";
import { Module } from "../module.js";
import { pyBool } from "../repr.js";
import { MultiheadAttention } from "./attention.js";
import { Dropout } from "./dropout.js";
import { Linear } from "./linear.js";
import { LayerNorm } from "./normalization.js";

/** A list of modules registered as "0", "1", … (torch.nn.ModuleList); it has no forward of its own. */
export class ModuleList extends Module implements Iterable<Module> {
  constructor(modules: readonly Module[] = []) {
    super();
    modules.forEach((m) => this.append(m));
  }

  get length(): number {
    return this.childSlots().length;
  }

  at(i: number): Module {
    const slots = this.childSlots();
    const m = slots[i < 0 ? i + slots.length : i]?.[1];
    if (!m) throw new ValueError(`ModuleList.at(${i}): index out of range for ${slots.length} modules`);
    return m;
  }

  append(m: Module): this {
    if (!(m instanceof Module)) throw new ValueError(`ModuleList: item ${this.length} is not a Module`);
    this.registerModule(String(this.length), m);
    return this;
  }

  *[Symbol.iterator](): Iterator<Module> {
    for (const [, m] of this.childSlots()) if (m) yield m;
  }

  forward(): Tensor {
    throw new ValueError("ModuleList has no forward; iterate over its modules");
  }
}

export type TransformerActivation = "relu" | "gelu";

export interface TransformerEncoderLayerOptions {
  /** Hidden width of the feed-forward block (default 2048, as PyTorch). */
  dimFeedforward?: number;
  /** Dropout probability everywhere (default 0.1). */
  dropout?: number;
  activation?: TransformerActivation;
  layerNormEps?: number;
  /** [N, L, E] inputs instead of [L, N, E] (default false). */
  batchFirst?: boolean;
  /** Pre-norm (LayerNorm before attention and feed-forward; default false). */
  normFirst?: boolean;
  generator?: Generator;
}

export interface EncoderCallOptions {
  /** Attention mask [L, L] or [N·H, L, L] (bool 1 = not allowed, float added). */
  srcMask?: Tensor | null;
  /** [N, L]: 1 = padding (ignored as a key). */
  srcKeyPaddingMask?: Tensor | null;
  /** Causal self-attention when no srcMask is given. */
  isCausal?: boolean;
}

export class TransformerEncoderLayer extends Module {
  readonly normFirst: boolean;
  readonly activation: TransformerActivation;
  readonly selfAttn: MultiheadAttention;
  readonly linear1: Linear;
  readonly dropout: Dropout;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly dropout1: Dropout;
  readonly dropout2: Dropout;

  constructor(dModel: number, nhead: number, opts: TransformerEncoderLayerOptions = {}) {
    super();
    const ff = opts.dimFeedforward ?? 2048;
    const p = opts.dropout ?? 0.1;
    const act = opts.activation ?? "relu";
    if (act !== "relu" && act !== "gelu") throw new ValueError(`TransformerEncoderLayer: activation must be "relu" or "gelu", got ${JSON.stringify(act)}`);
    if (!Number.isInteger(ff) || ff < 1) throw new ValueError(`TransformerEncoderLayer: dimFeedforward must be a positive integer, got ${ff}`);
    const eps = opts.layerNormEps ?? 1e-5;
    const g = { generator: opts.generator };
    this.normFirst = opts.normFirst ?? false;
    this.activation = act;
    this.selfAttn = this.registerModule("self_attn", new MultiheadAttention(dModel, nhead, { dropout: p, batchFirst: opts.batchFirst ?? false, ...g }));
    this.linear1 = this.registerModule("linear1", new Linear(dModel, ff, g));
    this.dropout = this.registerModule("dropout", new Dropout(p, g));
    this.linear2 = this.registerModule("linear2", new Linear(ff, dModel, g));
    this.norm1 = this.registerModule("norm1", new LayerNorm(dModel, { eps }));
    this.norm2 = this.registerModule("norm2", new LayerNorm(dModel, { eps }));
    this.dropout1 = this.registerModule("dropout1", new Dropout(p, g));
    this.dropout2 = this.registerModule("dropout2", new Dropout(p, g));
  }

  forward(src: Tensor, opts: EncoderCallOptions = {}): Tensor {
    let x = src;
    if (this.normFirst) {
      x = add(x, this.sa(this.norm1.forward(x), opts));
      x = add(x, this.ff(this.norm2.forward(x)));
    } else {
      x = this.norm1.forward(add(x, this.sa(x, opts)));
      x = this.norm2.forward(add(x, this.ff(x)));
    }
    return x;
  }

  private sa(x: Tensor, opts: EncoderCallOptions): Tensor {
    const y = this.selfAttn.forward(x, x, x, { attnMask: opts.srcMask, keyPaddingMask: opts.srcKeyPaddingMask, isCausal: opts.isCausal });
    return this.dropout1.forward(y);
  }

  private ff(x: Tensor): Tensor {
    const h = this.linear1.forward(x);
    const a = this.activation === "gelu" ? gelu(h) : relu(h);
    return this.dropout2.forward(this.linear2.forward(this.dropout.forward(a)));
  }

  override extraRepr(): string {
    return `activation=${this.activation}, norm_first=${pyBool(this.normFirst)}`;
  }
}

export interface TransformerEncoderOptions {
  /** A final LayerNorm (key `norm.*`). */
  norm?: LayerNorm | null;
}

/** numLayers deep copies of `encoderLayer` (keys `layers.<i>.…`), then the optional norm. */
export class TransformerEncoder extends Module {
  readonly layers: ModuleList;
  readonly norm: LayerNorm | null;
  readonly numLayers: number;

  constructor(encoderLayer: TransformerEncoderLayer, numLayers: number, opts: TransformerEncoderOptions = {}) {
    super();
    if (!(encoderLayer instanceof TransformerEncoderLayer)) throw new ValueError("TransformerEncoder: encoderLayer must be a TransformerEncoderLayer");
    if (!Number.isInteger(numLayers) || numLayers < 1) throw new ValueError(`TransformerEncoder: numLayers must be a positive integer, got ${numLayers}`);
    this.numLayers = numLayers;
    this.layers = this.registerModule("layers", new ModuleList(Array.from({ length: numLayers }, () => cloneModule(encoderLayer))));
    this.norm = this.registerModule("norm", opts.norm ?? null);
  }

  forward(src: Tensor, opts: EncoderCallOptions = {}): Tensor {
    let x = src;
    for (const layer of this.layers) x = (layer as TransformerEncoderLayer).forward(x, opts);
    return this.norm ? this.norm.forward(x) : x;
  }
}
