/**
 * Graph capture of transformer code: nn.TransformerEncoderLayer (whose MultiheadAttention is
 * written with capturable functional ops) and a user-written attention module built from
 * functional ops and from scaledDotProductAttention. The captured graph must show the
 * attention matmuls as call_function nodes, and its GraphModule must compute exactly what the
 * module computes (outputs and gradients), at another batch size too.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import * as nn from "../../src/nn/index.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { capture } from "../../src/graph/capture.js";
import { GraphModule } from "../../src/graph/graph-module.js";
import { UserAttention } from "./transformer-helpers.js";

function expectSame(a: Tensor, b: Tensor): void {
  expect(a.shape).toEqual(b.shape);
  expect(Array.from(a.data)).toEqual(Array.from(b.data));
}

/** Gradients of one loss through the module and through its GraphModule are identical. */
function expectSameGrads(m: nn.Module, gm: GraphModule, x: Tensor): void {
  const gradsOf = (mod: nn.Module) => {
    m.zeroGrad();
    mod.forward(x).square().sum().backward();
    return m.parameters().map((p) => Float32Array.from(p.grad!.data));
  };
  const a = gradsOf(m);
  const b = gradsOf(gm);
  a.forEach((g, i) => expect(Array.from(b[i])).toEqual(Array.from(g)));
}

describe("capture of transformer layers", () => {
  it("TransformerEncoderLayer: attention matmuls are call_function nodes, replay is bit-identical", () => {
    manualSeed(5);
    const layer = new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dropout: 0, activation: "gelu", batchFirst: true, normFirst: true });
    const g = capture(layer, randn([2, 5, 8]));
    const fn = g.nodes.filter((n) => n.kind === "call_function").map((n) => n.target);
    expect(fn.filter((t) => t === "matmul").length).toBe(2);
    expect(fn).toContain("softmax");
    expect(fn).toContain("gelu");
    expect(fn.filter((t) => t === "add").length).toBe(2); // the residuals
    const inProj = g.nodes.find((n) => n.target === "linear")!;
    expect(inProj.args.length).toBe(3);
    const mods = g.nodes.filter((n) => n.kind === "call_module").map((n) => n.target);
    expect(mods).toEqual(["norm1", "self_attn.out_proj", "dropout1", "norm2", "linear1", "dropout", "linear2", "dropout2"]);
    expect(g.nodes.some((n) => n.kind === "get_attr" && n.target === "self_attn.in_proj_weight")).toBe(true);
    const gm = new GraphModule(layer, g);
    expect(Object.keys(gm.stateDict())).toEqual(Object.keys(layer.stateDict()));
    layer.eval();
    gm.eval();
    const x = randn([3, 5, 8]); // another batch size
    expectSame(noGrad(() => gm.forward(x)), noGrad(() => layer.forward(x)));
    layer.train();
    gm.train();
    expectSameGrads(layer, gm, x);
  });

  it("seq-first post-norm ReLU layer with a causal mask replays bit-identically", () => {
    manualSeed(6);
    const layer = new nn.TransformerEncoderLayer(8, 4, { dimFeedforward: 12, dropout: 0 });
    const model = new (class extends nn.Module {
      readonly enc = this.registerModule("enc", new nn.TransformerEncoder(layer, 2, { norm: new nn.LayerNorm(8) }));
      forward(x: Tensor): Tensor {
        return this.enc.forward(x, { isCausal: true });
      }
    })();
    const x = randn([5, 2, 8]);
    const g = capture(model, x);
    expect(g.nodes.filter((n) => n.target === "where").length).toBe(2);
    const gm = new GraphModule(model, g);
    model.eval();
    gm.eval();
    expectSame(noGrad(() => gm.forward(x)), noGrad(() => model.forward(x)));
    expectSameGrads(model, gm, x);
  });

  for (const useSdpa of [false, true]) {
    it(`a user's attention module (${useSdpa ? "scaledDotProductAttention" : "hand-written"}) is captured op by op`, () => {
      manualSeed(7);
      const m = new UserAttention(useSdpa);
      const g = capture(m, randn([2, 4, 8]));
      const fn = g.nodes.filter((n) => n.kind === "call_function").map((n) => n.target);
      expect(fn.filter((t) => t === "matmul").length).toBe(2);
      expect(fn).toEqual(expect.arrayContaining(["softmax", "layerNorm", "gelu", "linear"]));
      if (useSdpa) expect(fn).toContain("where");
      const gm = new GraphModule(m, g);
      const x = randn([3, 4, 8]);
      expectSame(noGrad(() => gm.forward(x)), noGrad(() => m.forward(x)));
      expectSameGrads(m, gm, x);
    });
  }
});
