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
import { noGrad } from "../../src/tensor/grad-mode.js";
import { importModel } from "../../src/onnx/import.js";
import type { Module } from "../../src/nn/module.js";
import { SGD } from "../../src/optim/index.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { DataType, attr, encodeModel, floatTensorProto, int64TensorProto, makeModel, makeNode, makeValueInfo } from "../../src/onnx/index.js";
import { gelu } from "../../src/ops/nn-functional.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn, tensor } from "../../src/tensor/creation.js";
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
        const ops = new Set((decodeModel(bytes).graph?.node ?? []).map((n) => n.opType));
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

describe("import of a PyTorch character LM (int64 tokens, Gather embedding, Trilu causal mask)", () => {
  it("equals PyTorch and onnxruntime, and the token embedding trains through Gather", async () => {
    const bytes = readFileSync(goldenPath("transformer/char_lm_opset17.onnx"));
    const ops = new Set((decodeModel(bytes).graph?.node ?? []).map((n) => n.opType));
    expect(ops.has("Trilu") && ops.has("Gather")).toBe(true);
    const m = importModel(bytes) as Module;
    const g = meta.models.char_lm;
    const x = tensor(Int32Array.from(g.x.data), { shape: g.x.shape });
    const y = noGrad(() => m.forward(x));
    expect(y.shape).toEqual(g.y.shape);
    expectClose(y.data, g.y.data, 2e-5, 1e-4);
    if (ort) {
      const session = await ort.InferenceSession.create(bytes);
      const feeds = { [session.inputNames[0]]: new ort.Tensor("int64", BigInt64Array.from(g.x.data.map((v) => BigInt(v))), g.x.shape) };
      const out = (await session.run(feeds))[session.outputNames[0]];
      expect(relDiff(y.data, out.data as Float32Array)).toBeLessThan(1e-5);
      await session.release();
    }
    m.train();
    const loss = crossEntropy(m.forward(x).reshape([-1, 40]), tensor(Int32Array.from(g.x.data.map((v) => (v + 1) % 40))));
    loss.backward();
    const grads = m.parameters().filter((p) => p.grad && Array.from(p.grad.data).some((v) => v !== 0));
    expect(grads.length).toBe(m.parameters().length);
  });
});

describe("single-node imports: Trilu, LayerNormalization (broadcast scale), Gelu", () => {
  const model = (n: ReturnType<typeof makeNode>, inits: ReturnType<typeof int64TensorProto>[], shape: number[], opset: number) =>
    encodeModel(makeModel({
      name: "one", node: [n], initializer: inits,
      input: [makeValueInfo("x", DataType.FLOAT, shape)],
      output: [{ name: "y", type: { tensorType: { elemType: DataType.FLOAT } } }],
    }, { opset }));

  it("Trilu keeps the upper / lower triangle with offset k, as onnxruntime does", async () => {
    manualSeed(31);
    const x = randn([2, 3, 5]);
    for (const [upper, k] of [[1, 0], [1, 2], [0, 0], [0, -1]]) {
      const bytes = model(makeNode("Trilu", ["x", "k"], ["y"], { attributes: [attr.int("upper", upper)] }), [int64TensorProto("k", [k], [])], [2, 3, 5], 14);
      const y = noGrad(() => (importModel(bytes) as Module).forward(x));
      for (let b = 0; b < 2; b++) for (let i = 0; i < 3; i++) for (let j = 0; j < 5; j++) {
        const keep = upper ? j - i >= k : j - i <= k;
        const at = (b * 3 + i) * 5 + j;
        expect(y.data[at]).toBe(keep ? x.data[at] : 0);
      }
      if (ort) expect(relDiff(y.data, (await runOrt(ort, bytes, x)).data)).toBe(0);
    }
  });

  it("LayerNormalization with a broadcast scale and no bias, and Gelu (opset 20 form), match onnxruntime", async () => {
    manualSeed(32);
    const x = randn([2, 3, 4]);
    const ln = model(makeNode("LayerNormalization", ["x", "s"], ["y"], { attributes: [attr.int("axis", -2), attr.float("epsilon", 1e-3)] }), [floatTensorProto("s", [0.5, 2, -1, 1.5], [4])], [2, 3, 4], 17);
    const y = noGrad(() => (importModel(ln) as Module).forward(x));
    const r = x.data;
    for (let b = 0; b < 2; b++) {
      let mu = 0;
      for (let k = 0; k < 12; k++) mu += r[b * 12 + k] / 12;
      let v = 0;
      for (let k = 0; k < 12; k++) v += (r[b * 12 + k] - mu) ** 2 / 12;
      for (let k = 0; k < 12; k++) expect(y.data[b * 12 + k]).toBeCloseTo(((r[b * 12 + k] - mu) / Math.sqrt(v + 1e-3)) * [0.5, 2, -1, 1.5][k % 4], 5);
    }
    if (ort) expect(relDiff(y.data, (await runOrt(ort, ln, x)).data)).toBeLessThan(1e-6);
    for (const approximate of ["none", "tanh"]) {
      const ge = model(makeNode("Gelu", ["x"], ["y"], { attributes: [attr.string("approximate", approximate)] }), [], [2, 3, 4], 20);
      const gy = noGrad(() => (importModel(ge) as Module).forward(x));
      expectClose(gy.data, gelu(x, approximate as "none").data, 0, 0);
    }
  });
});
