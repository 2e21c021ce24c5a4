/**
 * The transformer zoo models (src/nn/models/vit.ts): vitTiny's state-dict keys and weights load
 * from a PyTorch ViT (bench/peers/vit_torch.py) through safetensors and give torch's logits;
 * charTransformer's keys are its twin's and its attention is causal; capture replays both
 * bit-identically at another batch size; vitTiny trains on the embedded Fashion-MNIST sample.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import { crossEntropy } from "../../src/ops/index.js";
import * as nn from "../../src/nn/index.js";
import { charTransformer, vitTiny } from "../../src/nn/models/vit.js";
import { Adam } from "../../src/optim/index.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn, tensor } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { capture } from "../../src/graph/capture.js";
import { GraphModule } from "../../src/graph/graph-module.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { expectClose } from "../core/helpers.js";
import { type GoldenTensor, fromGolden, goldenPath, readGolden } from "./golden.js";

const meta = readGolden<{ options: Record<string, number>; keys: string[]; char_keys: string[]; x: GoldenTensor; y: GoldenTensor }>("transformer/vit_state.json");
const o = meta.options;

describe("vitTiny", () => {
  it("has PyTorch's keys and reproduces a torch ViT's logits from its safetensors state_dict", () => {
    const m = vitTiny({ imageSize: o.image_size, patchSize: o.patch_size, inChannels: o.in_channels, dim: o.dim, depth: o.depth, heads: o.heads, mlpDim: o.mlp_dim, numClasses: o.num_classes });
    expect(Object.keys(m.stateDict())).toEqual(meta.keys);
    m.loadStateDict(nn.loadSafetensors(goldenPath("transformer/vit_state.safetensors")), { strict: true });
    m.eval();
    const y = noGrad(() => m.forward(fromGolden(meta.x)));
    expect(y.shape).toEqual(meta.y.shape);
    expectClose(y.data, meta.y.data, 1e-5, 1e-4);
  });

  it("is captured with batch-independent shapes: the GraphModule replays bit-identically at another batch size", () => {
    manualSeed(21);
    const m = vitTiny({ dim: 32, depth: 2, heads: 4, mlpDim: 64 });
    const g = capture(m, m.exampleInputs());
    const gm = new GraphModule(m, g);
    m.eval();
    gm.eval();
    const x = randn([3, 1, 28, 28]);
    expect(Array.from(noGrad(() => gm.forward(x)).data)).toEqual(Array.from(noGrad(() => m.forward(x)).data));
    expect(g.nodes.filter((n) => n.target === "matmul").length).toBe(4);
  });

  it("trains on the embedded Fashion-MNIST sample: the loss on a fixed batch falls", () => {
    manualSeed(22);
    const batch = fashionMnistSample().train.getBatch(Array.from({ length: 32 }, (_, i) => i * 7));
    const m = vitTiny();
    expect(m.exampleInputs()[0].shape).toEqual([1, 1, 28, 28]);
    m.train();
    const opt = new Adam(m.parameters(), { lr: 1e-3 });
    const losses: number[] = [];
    for (let s = 0; s < 10; s++) {
      opt.zeroGrad();
      const loss = crossEntropy(m.forward(batch.x), batch.y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    }
    expect(losses[0]).toBeGreaterThan(1.8); // about ln 10 at init
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]); // measured: 2.40 → 0.59
  });
});

describe("charTransformer", () => {
  it("has its PyTorch twin's keys, gives [N, T, vocab] logits and is causal", () => {
    manualSeed(23);
    const m = charTransformer({ vocab: 50, context: 16, dim: 16, depth: 2, heads: 2 });
    expect(Object.keys(m.stateDict())).toEqual(meta.char_keys);
    m.eval();
    const ids = Array.from({ length: 16 }, (_, i) => (i * 7) % 50);
    const a = noGrad(() => m.forward(tensor([ids], { dtype: "int32" })));
    expect(a.shape).toEqual([1, 16, 50]);
    const changed = [...ids];
    changed[10] = 3;
    const b = noGrad(() => m.forward(tensor([changed], { dtype: "int32" })));
    // positions before 10 cannot see position 10; position 10 does
    expect(Array.from(b.data.slice(0, 10 * 50))).toEqual(Array.from(a.data.slice(0, 10 * 50)));
    expect(Array.from(b.data.slice(10 * 50, 11 * 50))).not.toEqual(Array.from(a.data.slice(10 * 50, 11 * 50)));
    // a shorter context uses the first position embeddings
    expect(noGrad(() => m.forward(tensor([ids.slice(0, 5)], { dtype: "int32" }))).shape).toEqual([1, 5, 50]);
    expect(() => m.forward(tensor([[...ids, 1]], { dtype: "int32" }))).toThrow(/T ≤ 16/);
  });

  it("captures and replays bit-identically", () => {
    manualSeed(24);
    const m = charTransformer({ vocab: 20, context: 8, dim: 16, depth: 1, heads: 4 });
    const g = capture(m, m.exampleInputs());
    const gm = new GraphModule(m, g);
    const x = tensor([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1]], { dtype: "int32" });
    m.eval();
    gm.eval();
    expect(Array.from(noGrad(() => gm.forward(x)).data)).toEqual(Array.from(noGrad(() => m.forward(x)).data));
    expect(g.nodes.some((n) => n.kind === "call_module" && n.target === "tok_embedding")).toBe(true);
  });
});
