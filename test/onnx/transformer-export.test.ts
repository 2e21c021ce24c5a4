/**
 * Float ONNX export of transformer models (src/onnx/export-transformer.ts + the FunctionCall
 * rule): TransformerEncoderLayer/Encoder (pre- and post-norm, GELU and ReLU, causal mask), a
 * user's functional attention module and the zoo's vitTiny, run by onnxruntime-node at opset 13 (LayerNorm
 * decomposed) and 17 (LayerNormalization) and compared with our forward.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import * as nn from "../../src/nn/index.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn, tensor } from "../../src/tensor/creation.js";
import * as ops from "../../src/ops/index.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { exportModel } from "../../src/onnx/export.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { vitTiny } from "../../src/nn/models/vit.js";
import { UserAttention } from "../nn/transformer-helpers.js";
import { loadOrt, ortUnavailable, relDiff, runOrt } from "./helpers.js";

const ort = await loadOrt();
if (!ort) console.warn(`[transformer export tests] onnxruntime parity skipped: ${ortUnavailable}`);

class Causal extends nn.Module {
  readonly enc: nn.TransformerEncoder;
  constructor(layer: nn.TransformerEncoderLayer) {
    super();
    this.enc = this.registerModule("enc", new nn.TransformerEncoder(layer, 2, { norm: new nn.LayerNorm(16) }));
  }
  forward(x: Tensor): Tensor {
    return this.enc.forward(x, { isCausal: true });
  }
}

function randomizeNorms(m: nn.Module): void {
  for (const [k, p] of m.namedParameters()) if (/norm\d?\.(weight|bias)$/.test(k)) for (let i = 0; i < p.size; i++) p.data[i] += 0.3 * Math.sin(i + k.length);
}

const cases: [string, () => nn.Module, number[]][] = [
  ["pre-norm GELU batch-first layer", () => new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32, activation: "gelu", batchFirst: true, normFirst: true }), [2, 6, 16]],
  ["post-norm ReLU seq-first layer", () => new nn.TransformerEncoderLayer(16, 2, { dimFeedforward: 24 }), [6, 2, 16]],
  ["vitTiny (pad-in class token, functional slice/flatten head)", () => vitTiny({ dim: 32, depth: 2, heads: 4, mlpDim: 64 }), [2, 1, 28, 28]],
  ["causal 2-layer encoder with final norm", () => new Causal(new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32, activation: "gelu", batchFirst: true })), [2, 5, 16]],
];

/** Functional ops with their own export rules: embedding of constant indices, erf, pad, where, slice, flatten(2), bare layerNorm. */
class MiscOps extends nn.Module {
  readonly table = this.registerParameter("table", randn([5, 4]));
  forward(x: Tensor): Tensor {
    const idx = tensor([[0, 3, 3], [4, 1, 0]], { dtype: "int32" }); // a constant: Gather on an initializer
    let y = ops.add(x, ops.embedding(idx, this.table)); // [N, 2, 3, 4]
    y = ops.erf(ops.layerNorm(y, [4]));
    y = ops.pad(y, [1, 0, 0, 2], 0.25); // [N, 2, 5, 5]
    const keep = tensor(Array.from({ length: 25 }, (_, i) => (i % 3 === 0 ? 1 : 0)), { shape: [5, 5], dtype: "uint8" });
    y = ops.where(keep, y, -1);
    return ops.flatten(ops.slice(y, 3, 1, 5, 2), 2); // [N, 2, 10]
  }
}

describe("float ONNX export of transformer layers", () => {
  for (const opset of [13, 17]) {
    it.skipIf(!ort)(`functional embedding / erf / pad / where / slice / flatten / layerNorm without affine, opset ${opset}`, async () => {
      manualSeed(13);
      const m = new MiscOps();
      const x = randn([3, 1, 3, 4]);
      const bytes = exportModel(m, { example: x, format: "float", opset });
      const kinds = new Set((decodeModel(bytes).graph?.node ?? []).map((n) => n.opType));
      for (const op of ["Gather", "Erf", "Pad", "Where", "Slice"]) expect(kinds.has(op), op).toBe(true);
      const want = noGrad(() => m.forward(x));
      const got = await runOrt(ort!, bytes, x);
      expect(got.dims).toEqual(want.shape);
      expect(relDiff(got.data, want.data)).toBeLessThan(1e-6);
    });
  }

  for (const [name, make, shape] of cases) {
    for (const opset of [13, 17]) {
      it.skipIf(!ort)(`${name}, opset ${opset}: onnxruntime equals our forward`, async () => {
        manualSeed(11);
        const m = make();
        randomizeNorms(m);
        m.eval();
        const x = randn(shape);
        const bytes = exportModel(m, { example: x, format: "float", opset });
        const ops = new Set((decodeModel(bytes).graph?.node ?? []).map((n) => n.opType));
        expect(ops.has("LayerNormalization")).toBe(opset >= 17);
        expect(ops.has("MatMul") && ops.has("Softmax")).toBe(true);
        const want = noGrad(() => m.forward(x));
        const got = await runOrt(ort!, bytes, x);
        expect(got.dims).toEqual(want.shape);
        expect(relDiff(got.data, want.data)).toBeLessThan(1e-5);
      });
    }
  }

  it.skipIf(!ort)("a user's attention module (hand-written and SDPA, GELU tanh, functional LayerNorm)", async () => {
    for (const sdpa of [false, true]) {
      manualSeed(12);
      const m = new UserAttention(sdpa);
      const x = randn([2, 4, 8]);
      const bytes = exportModel(m, { example: x, format: "float", opset: 17 });
      const got = await runOrt(ort!, bytes, x);
      expect(relDiff(got.data, noGrad(() => m.forward(x)).data)).toBeLessThan(1e-5);
    }
  });
});
