/**
 * Import of PyTorch-exported transformers (scripts/golden/transformer_layers.py: torch.onnx.export
 * of a TransformerEncoderLayer and a tiny ViT at opsets 13 — LayerNorm decomposed into
 * ReduceMean/Pow/Sqrt — and 17 — LayerNormalization): the imported module must match PyTorch's
 * output and onnxruntime's, and train (gradients reach every parameter; SGD lowers the loss).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import { crossEntropy, mseLoss } from "../../src/ops/index.js";
import { tensor } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { importModel } from "../../src/onnx/import.js";
import type { Module } from "../../src/nn/module.js";
import { SGD } from "../../src/optim/index.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { fromGolden, goldenPath, readGolden, type GoldenTensor } from "../nn/golden.js";
import { expectClose, expectGrad, leaf } from "../core/helpers.js";
import { gatherFloat } from "../../src/onnx/onnx-ops-transformer.js";
import { loadOrt, ortUnavailable, relDiff, runOrt } from "./helpers.js";

const ort = await loadOrt();
if (!ort) console.warn(`[transformer import tests] onnxruntime parity skipped: ${ortUnavailable}`);
const meta = readGolden<{ models: Record<string, { x: GoldenTensor; y: GoldenTensor }> }>("transformer/onnx_fixtures.json");

describe("import of torch.onnx.export'ed transformers", () => {
  for (const name of ["encoder_layer", "vit"]) {
    for (const opset of [13, 17]) {
      it(`${name} at opset ${opset}: equals PyTorch and onnxruntime, and trains`, async () => {
        const bytes = readFileSync(goldenPath(`transformer/${name}_opset${opset}.onnx`));
        const ops = new Set(decodeModel(bytes).graph!.node.map((n) => n.opType));
        expect(ops.has("LayerNormalization")).toBe(opset === 17);
        const m = importModel(bytes) as Module;
        const g = meta.models[name];
        const x = fromGolden(g.x);
        const y = noGrad(() => m.forward(x));
        expect(y.shape).toEqual(g.y.shape);
        expectClose(y.data, g.y.data, 2e-5, 1e-4);
        if (ort) {
          const r = await runOrt(ort, bytes, x);
          expect(relDiff(y.data, r.data)).toBeLessThan(1e-5);
        }
        // one fixed target; a few SGD steps must lower the loss, and every parameter gets a gradient
        m.train();
        const params = m.parameters();
        expect(params.length).toBeGreaterThan(0);
        const opt = new SGD(params, { lr: name === "vit" ? 0.05 : 0.02 });
        const lossOf = () => (name === "vit" ? crossEntropy(m.forward(x), tensor([3, 7], { dtype: "int32" })) : mseLoss(m.forward(x), fromGolden(g.y).mul(0.5)));
        const first = lossOf();
        opt.zeroGrad();
        first.backward();
        const withGrad = params.filter((p) => p.grad && Array.from(p.grad.data).some((v) => v !== 0)).length;
        expect(withGrad).toBe(params.length);
        opt.step();
        let last = first.item();
        for (let s = 0; s < 3; s++) {
          opt.zeroGrad();
          const l = lossOf();
          l.backward();
          opt.step();
          last = l.item();
        }
        expect(last).toBeLessThan(first.item());
      });
    }
  }
});

describe("gatherFloat (the differentiable Gather)", () => {
  it("matches ONNX Gather's layout on every axis and has central-difference gradients", () => {
    const data = leaf([3, 4, 2]);
    const idx = [2, 0, 2, 1];
    // axis 1, indices [2, 2]: out[i, a, b, k] = data[i, idx[a*2+b], k]
    const out = gatherFloat(data, 1, idx, [2, 2]);
    expect(out.shape).toEqual([3, 2, 2, 2]);
    for (let i = 0; i < 3; i++) for (let q = 0; q < 4; q++) for (let k = 0; k < 2; k++) {
      expect(out.data[(i * 4 + q) * 2 + k]).toBe(data.data[(i * 4 + idx[q]) * 2 + k]);
    }
    expect(gatherFloat(data, 2, [1], []).shape).toEqual([3, 4]);
    expectGrad((d) => gatherFloat(d, 1, idx, [2, 2]), [leaf([3, 4, 2])]);
    expectGrad((d) => gatherFloat(d, 0, [1, 1], [2]), [leaf([3, 2])]);
  });
});
