/**
 * Transformer ops and layers against PyTorch 1.13 (test/golden/transformer/layers.json, made by
 * scripts/golden/transformer_layers.py): forward values and the gradients of sum(y·gy) for
 * inputs and every parameter, loading each case's state_dict by PyTorch's keys (strict). Also a
 * PyTorch TransformerEncoder state_dict read through safetensors.
 */
import { describe, expect, it } from "vitest";
import "../../src/ops/index.js";
import { backward } from "../../src/autograd/backward.js";
import { mul, sum } from "../../src/ops/index.js";
import { embedding, gelu, layerNorm } from "../../src/ops/nn-functional.js";
import { scaledDotProductAttention } from "../../src/ops/attention.js";
import { tensor } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import * as nn from "../../src/nn/index.js";
import { expectClose } from "../core/helpers.js";
import { type GoldenTensor, fromGolden, goldenPath, readGolden } from "./golden.js";

type G = GoldenTensor;
interface Case { [k: string]: unknown }
const doc = readGolden<{ ops: Record<string, Case & { length?: number }>; mha: Case[]; encoder_layer: Case[]; encoder: Case }>("transformer/layers.json");

const ATOL = 2e-5;
const RTOL = 1e-4;
const close = (t: Tensor | null | undefined, g: unknown, atol = ATOL) => {
  expect(t, "tensor present").toBeTruthy();
  expect(t!.shape).toEqual((g as G).shape);
  expectClose(t!.data, (g as G).data, atol, RTOL);
};
const leafOf = (g: unknown) => fromGolden(g as G, true);
const mask = (g: unknown, dtype: unknown) => (dtype === "float" ? fromGolden(g as G) : tensor(Uint8Array.from((g as G).data), { shape: (g as G).shape }));
/** Backward of sum(y ⊙ gy). */
const pull = (y: Tensor, gy: unknown) => backward(sum(mul(y, fromGolden(gy as G))));

/** Loads a golden state_dict by key (strict) into m, parameters requiring grad. */
function load(m: nn.Module, state: unknown): void {
  const sd: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(state as Record<string, G>)) sd[k] = fromGolden(v);
  m.loadStateDict(sd, { strict: true });
}

function expectParamGrads(m: nn.Module, grads: unknown): void {
  const want = grads as Record<string, G>;
  const params = new Map(m.namedParameters());
  expect([...params.keys()].sort()).toEqual(Object.keys(want).sort());
  for (const [k, g] of Object.entries(want)) {
    try {
      close(params.get(k)!.grad, g);
    } catch (e) {
      throw new Error(`${k}: ${(e as Error).message}`);
    }
  }
}

describe("functional ops vs PyTorch", () => {
  it("gelu (erf and tanh)", () => {
    for (const a of ["none", "tanh"] as const) {
      const c = doc.ops[`gelu_${a}`];
      const x = leafOf(c.x);
      const y = gelu(x, a);
      close(y, c.y);
      pull(y, c.gy);
      close(x.grad, c.dx);
    }
  });

  it("layer_norm over one and two dims", () => {
    for (const key of ["layer_norm_6", "layer_norm_3x4"]) {
      const c = doc.ops[key];
      const [x, w, b] = [leafOf(c.x), leafOf(c.w), leafOf(c.b)];
      const y = layerNorm(x, c.normalized_shape as number[], w, b, 1e-5);
      close(y, c.y);
      pull(y, c.gy);
      close(x.grad, c.dx);
      close(w.grad, c.dw);
      close(b.grad, c.db);
    }
  });

  it("embedding with padding_idx", () => {
    const c = doc.ops.embedding;
    const idx = c.indices as G;
    const w = leafOf(c.weight);
    const y = embedding(tensor(Int32Array.from(idx.data), { shape: idx.shape }), w, c.padding_idx as number);
    close(y, c.y);
    pull(y, c.gy);
    close(w.grad, c.dweight);
  });

  it("scaled dot-product attention (torch 2 definition): plain, bool and float masks, causal, scale", () => {
    const cases = doc.ops.sdpa as unknown as Case[];
    expect(cases.length).toBe(5);
    for (const c of cases) {
      const [q, k, v] = [leafOf(c.q), leafOf(c.k), leafOf(c.v)];
      const y = scaledDotProductAttention(q, k, v, {
        attnMask: c.mask ? mask(c.mask, c.mask_dtype) : null,
        isCausal: c.kind === "causal",
        scale: (c.scale as number | undefined) ?? null,
      });
      close(y, c.y);
      pull(y, c.gy);
      close(q.grad, c.dq);
      close(k.grad, c.dk);
      close(v.grad, c.dv);
    }
  });
});

describe("nn.MultiheadAttention vs torch.nn.MultiheadAttention", () => {
  for (const c of doc.mha) {
    it(c.name as string, () => {
      const m = new nn.MultiheadAttention(c.embed_dim as number, c.num_heads as number, { bias: c.bias as boolean, batchFirst: c.batch_first as boolean });
      load(m, c.state);
      const q = leafOf(c.query);
      const k = c.inputs === "self" ? q : leafOf(c.key);
      const v = c.inputs === "sep" ? leafOf(c.value) : k;
      const [y, w] = m.forwardWithWeights(q, k, v, {
        attnMask: c.attn_mask ? mask(c.attn_mask, c.attn_mask_dtype) : null,
        keyPaddingMask: c.key_padding_mask ? mask(c.key_padding_mask, "bool") : null,
        needWeights: c.need_weights as boolean,
        averageAttnWeights: c.average_attn_weights as boolean,
      });
      close(y, c.y);
      let loss = sum(mul(y, fromGolden(c.gy as G)));
      if (c.need_weights) {
        close(w, c.weights);
        loss = loss.add(sum(mul(w!, fromGolden(c.gw as G))));
      } else {
        expect(w).toBeNull();
      }
      backward(loss);
      close(q.grad, c.dquery);
      if (c.inputs !== "self") close(k.grad, c.dkey);
      if (c.inputs === "sep") close(v.grad, c.dvalue);
      expectParamGrads(m, c.param_grads);
      // forward() returns the same output as forwardWithWeights()[0]
      const again = noGrad(() => m.forward(q, k, v, { attnMask: c.attn_mask ? mask(c.attn_mask, c.attn_mask_dtype) : null, keyPaddingMask: c.key_padding_mask ? mask(c.key_padding_mask, "bool") : null }));
      expectClose(again.data, y.data, 0, 0);
    });
  }

  it("attention dropout acts in training only, drawing from the seeded generator", () => {
    const m = new nn.MultiheadAttention(4, 2, { batchFirst: true, dropout: 0.5 });
    const x = tensor(Float32Array.from({ length: 24 }, (_, i) => Math.cos(i)), { shape: [2, 3, 4] });
    m.eval();
    const plain = noGrad(() => m.forward(x, x, x));
    m.train();
    manualSeed(9);
    const a = noGrad(() => m.forwardWithWeights(x, x, x, { averageAttnWeights: false }));
    manualSeed(9);
    const b = noGrad(() => m.forward(x, x, x));
    expect(Array.from(a[0].data)).toEqual(Array.from(b.data));
    expect(Array.from(a[0].data)).not.toEqual(Array.from(plain.data));
    // the returned weights are the dropped-out ones (as PyTorch returns them): each entry 0 or 2·softmax
    const w = Array.from(a[1]!.data);
    expect(w.some((v) => v === 0)).toBe(true);
    expect(w.some((v) => v > 1)).toBe(true);
  });

  it("isCausal builds the causal mask; shapes and masks are checked", () => {
    const m = new nn.MultiheadAttention(4, 2, { batchFirst: true });
    const x = tensor(Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)), { shape: [2, 3, 4] });
    const causal = tensor(Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0]), { shape: [3, 3] });
    expectClose(m.forward(x, x, x, { isCausal: true }).data, m.forward(x, x, x, { attnMask: causal }).data, 0, 0);
    expect(() => m.forward(x, x, x, { attnMask: causal.reshape([1, 9]) })).toThrow(/attnMask/);
    expect(() => m.forward(x, x, x, { keyPaddingMask: causal })).toThrow(/keyPaddingMask must be \[2, 3\]/);
    expect(() => new nn.MultiheadAttention(6, 4)).toThrow(/dividing embedDim 6/);
    expect(() => m.forward(x.reshape([2, 4, 3]), x, x)).toThrow(/embedding dim 4/);
  });
});

describe("nn.TransformerEncoderLayer / TransformerEncoder vs torch", () => {
  for (const c of doc.encoder_layer) {
    it(c.name as string, () => {
      const m = new nn.TransformerEncoderLayer(c.d_model as number, c.nhead as number, {
        dimFeedforward: c.dim_feedforward as number, dropout: 0, activation: c.activation as "relu" | "gelu",
        batchFirst: c.batch_first as boolean, normFirst: c.norm_first as boolean,
      });
      load(m, c.state);
      m.train(c.train as boolean);
      const x = leafOf(c.x);
      const y = m.forward(x, {
        srcMask: c.src_mask ? mask(c.src_mask, "bool") : null,
        srcKeyPaddingMask: c.src_key_padding_mask ? mask(c.src_key_padding_mask, "bool") : null,
      });
      close(y, c.y);
      pull(y, c.gy);
      close(x.grad, c.dx);
      expectParamGrads(m, c.param_grads);
    });
  }

  it((doc.encoder.name as string) + ", keys layers.<i>.… and norm.*", () => {
    const c = doc.encoder;
    const layer = new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dropout: 0, activation: "gelu", batchFirst: true, normFirst: true });
    const m = new nn.TransformerEncoder(layer, 2, { norm: new nn.LayerNorm(8) });
    expect(Object.keys(m.stateDict())).toEqual(Object.keys(c.state as object));
    load(m, c.state);
    const x = leafOf(c.x);
    const y = m.forward(x, { srcMask: mask(c.src_mask, "bool"), srcKeyPaddingMask: mask(c.src_key_padding_mask, "bool") });
    close(y, c.y);
    pull(y, c.gy);
    close(x.grad, c.dx);
    expectParamGrads(m, c.param_grads);
    // the layers are independent copies of the prototype
    expect(m.layers.at(0)).not.toBe(m.layers.at(1));
    expect((m.layers.at(0) as nn.TransformerEncoderLayer).linear1.weight).not.toBe((m.layers.at(1) as nn.TransformerEncoderLayer).linear1.weight);
  });

  it("loads a PyTorch TransformerEncoder state_dict from safetensors and matches its eval output", () => {
    const meta = readGolden<{ keys: string[]; d_model: number; nhead: number; dim_feedforward: number; num_layers: number; x: G; y: G }>("transformer/encoder_state.json");
    const sd = nn.loadSafetensors(goldenPath("transformer/encoder_state.safetensors"));
    const layer = new nn.TransformerEncoderLayer(meta.d_model, meta.nhead, { dimFeedforward: meta.dim_feedforward });
    const m = new nn.TransformerEncoder(layer, meta.num_layers, { norm: new nn.LayerNorm(meta.d_model) });
    expect(Object.keys(m.stateDict())).toEqual(meta.keys);
    m.loadStateDict(sd, { strict: true });
    m.eval();
    close(noGrad(() => m.forward(fromGolden(meta.x))), meta.y);
  });
});

describe("layer construction", () => {
  it("state-dict keys, init and reprs follow PyTorch", () => {
    const emb = new nn.Embedding(10, 4, { paddingIdx: -1 });
    expect(emb.paddingIdx).toBe(9);
    expect(Array.from(emb.weight.data.slice(36, 40))).toEqual([0, 0, 0, 0]);
    expect(Object.keys(emb.stateDict())).toEqual(["weight"]);
    expect(emb.toString()).toBe("Embedding(10, 4, padding_idx=9)");
    const ln = new nn.LayerNorm([3, 4], { eps: 1e-6 });
    expect(Object.keys(ln.stateDict())).toEqual(["weight", "bias"]);
    expect(ln.toString()).toBe("LayerNorm((3, 4), eps=1e-06, elementwise_affine=True)");
    expect(Object.keys(new nn.LayerNorm(4, { bias: false }).stateDict())).toEqual(["weight"]);
    expect(Object.keys(new nn.LayerNorm(4, { elementwiseAffine: false }).stateDict())).toEqual([]);
    expect(new nn.GELU({ approximate: "tanh" }).toString()).toBe("GELU(approximate='tanh')");
    expect(new nn.Softmax(1).toString()).toBe("Softmax(dim=1)");
    const mha = new nn.MultiheadAttention(8, 2);
    expect(Object.keys(mha.stateDict())).toEqual(["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]);
    expect(Array.from(mha.inProjBias!.data).every((v) => v === 0)).toBe(true);
    const bound = Math.sqrt(6 / (8 + 24));
    expect(Array.from(mha.inProjWeight.data).every((v) => Math.abs(v) <= bound)).toBe(true);
    const layer = new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16 });
    expect(Object.keys(layer.stateDict())).toEqual([
      "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
      "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
    ]);
    expect(() => new nn.TransformerEncoderLayer(8, 2, { activation: "swish" as "relu" })).toThrow(/activation/);
    expect(() => new nn.Embedding(0, 3)).toThrow(/numEmbeddings/);
  });
});
