/**
 * ONNX files exported by PyTorch 1.13 (scripts/golden/onnx_float.py → test/golden/onnx/)
 * import and match PyTorch's outputs within 1e-4, at two batch sizes (the dynamic batch and
 * the Shape→Gather→Unsqueeze→Concat→Reshape chain of `x.view(x.size(0), -1)`); module names
 * follow PyTorch's, so fusion finds the same groups; re-exported, they still run in
 * onnxruntime.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tensor } from "../../src/tensor/creation.js";
import * as nn from "../../src/nn/index.js";
import { findFusionGroups } from "../../src/quant/fuse.js";
import { exportModel, importFloatModel, decodeModel } from "../../src/onnx/index.js";
import { loadOrt, relDiff, runOrt } from "./helpers.js";

interface GoldenTensor {
  shape: number[];
  data: number[];
}
interface GoldenModel {
  file: string;
  folding: boolean;
  cases: { input: GoldenTensor; output: GoldenTensor }[];
}
const DIR = join(import.meta.dirname, "..", "golden", "onnx");
const doc = JSON.parse(readFileSync(join(DIR, "float.json"), "utf8")) as { torch_version: string; models: Record<string, GoldenModel> };
const bytesOf = (m: GoldenModel) => new Uint8Array(readFileSync(join(DIR, m.file)));
const toTensor = (t: GoldenTensor) => tensor(Float32Array.from(t.data), { shape: t.shape });

const ort = await loadOrt();
const itOrt = ort ? it : it.skip;

describe(`PyTorch ${doc.torch_version} float exports`, () => {
  for (const [name, g] of Object.entries(doc.models)) {
    it(`${name}: imports and matches PyTorch within 1e-4 at batch 2 and 3`, () => {
      const m = importFloatModel(bytesOf(g));
      m.eval();
      for (const c of g.cases) {
        const y = m.forward(toTensor(c.input));
        expect([...y.shape]).toEqual(c.output.shape);
        expect(relDiff(y.data, c.output.data)).toBeLessThan(1e-4);
      }
    });

    itOrt(`${name}: re-exported after import, onnxruntime still matches PyTorch`, async () => {
      const m = importFloatModel(bytesOf(g)).eval();
      const c = g.cases[1];
      const again = exportModel(m, { example: toTensor(g.cases[0].input) });
      const theirs = await runOrt(ort!, again, toTensor(c.input));
      expect(theirs.dims).toEqual(c.output.shape);
      expect(relDiff(theirs.data, c.output.data)).toBeLessThan(1e-4);
    });
  }

  it("small_cnn (BN folded by PyTorch): layers named after PyTorch's scopes, Conv→ReLU fusable", () => {
    const m = importFloatModel(bytesOf(doc.models.small_cnn));
    expect(m.getSubmodule("conv1")).toBeInstanceOf(nn.Conv2d);
    expect(m.getSubmodule("fc1")).toBeInstanceOf(nn.Linear);
    expect(m.getSubmodule("flatten")).toBeInstanceOf(nn.Flatten);
    expect(findFusionGroups(m)).toEqual([["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]]);
  });

  it("view_net: BN kept with PyTorch's state-dict names; the view() shape chain runs at run time", () => {
    const g = doc.models.view_net;
    const proto = decodeModel(bytesOf(g));
    const ops = proto.graph!.node!.map((n) => n.opType);
    for (const op of ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "BatchNormalization", "HardSigmoid", "Pad", "Softmax", "MatMul"]) expect(ops).toContain(op);
    const m = importFloatModel(bytesOf(g));
    expect(m.getSubmodule("bn1")).toBeInstanceOf(nn.BatchNorm2d);
    expect(m.getSubmodule("act1")).toBeInstanceOf(nn.ReLU6);
    const keys = Object.keys(m.stateDict());
    for (const k of ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.running_mean", "bn1.running_var", "conv2.weight", "fc1.weight", "fc2.weight"]) expect(keys).toContain(k);
    expect(findFusionGroups(m)).toEqual([["conv1", "bn1", "act1"], ["conv2", "bn2"]]);
  });
});
