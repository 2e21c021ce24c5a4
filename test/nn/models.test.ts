/** Model zoo: state-dict keys, shapes and dtypes equal to the PyTorch twins', reprs, forward shapes on 1×28×28. */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { crossEntropy } from "../../src/ops/index.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn, tensor } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import * as nn from "../../src/nn/index.js";
import type { Module } from "../../src/nn/index.js";
import { readGolden } from "./golden.js";

interface ModelGolden {
  keys: string[];
  shapes: number[][];
  dtypes: string[];
  num_parameters: number;
  repr: string;
  output_shape: number[];
}
const G = readGolden<{ torch_version: string; models: Record<string, ModelGolden> }>("nn/layers.json");

const BUILDERS: Record<string, () => Module> = {
  mlp: () => nn.models.mlp(),
  small_cnn: () => nn.models.smallCnn(),
  resnet20: () => nn.models.resnet20(),
  mobilenet_v2_small: () => nn.models.mobilenetV2Small(),
  "mobilenet_v2_small_x0.5": () => nn.models.mobilenetV2Small({ widthMult: 0.5 }),
};

const TORCH_DTYPE: Record<string, string> = { float32: "float32", int32: "int64" };

describe(`model zoo vs PyTorch ${G.torch_version} twins`, () => {
  for (const [name, build] of Object.entries(BUILDERS)) {
    it(`${name}: state-dict keys, order, shapes, dtypes, parameter count, repr, output shape`, () => {
      const g = G.models[name];
      const model = build();
      const sd = model.stateDict();
      expect(Object.keys(sd)).toEqual(g.keys);
      expect(Object.values(sd).map((t) => [...t.shape])).toEqual(g.shapes);
      expect(Object.values(sd).map((t) => TORCH_DTYPE[t.dtype])).toEqual(g.dtypes);
      expect(model.parameters().reduce((n, p) => n + p.size, 0)).toBe(g.num_parameters);
      expect(model.toString()).toBe(g.repr);
      const y = noGrad(() => model.eval().forward(randn([2, 1, 28, 28])));
      expect(y.shape).toEqual(g.output_shape);
    });
  }
});

describe("model zoo training", () => {
  it("smallCnn trains: a few SGD-style steps lower the loss on a fixed batch", () => {
    manualSeed(11);
    const model = nn.models.smallCnn();
    const x = randn([8, 1, 28, 28]);
    const target = tensor([0, 1, 2, 3, 4, 5, 6, 7], { dtype: "int32" });
    const losses: number[] = [];
    for (let step = 0; step < 4; step++) {
      model.zeroGrad();
      const loss = crossEntropy(model.forward(x), target);
      loss.backward();
      losses.push(loss.item());
      for (const p of model.parameters()) {
        const d = p.data;
        const gd = p.grad!.data;
        for (let i = 0; i < d.length; i++) d[i] -= 0.05 * gd[i];
      }
    }
    expect(losses[3]).toBeLessThan(losses[0]);
    expect(model.bn1.num_batches_tracked!.item()).toBe(4);
  });

  it("resnet20 and mobilenetV2Small backpropagate to every parameter", () => {
    for (const model of [nn.models.resnet20({ width: 4 }), nn.models.mobilenetV2Small({ widthMult: 0.25 })]) {
      model.forward(randn([2, 1, 28, 28])).sum().backward();
      expect(model.parameters().every((p) => p.grad !== null && p.grad.shape.join() === p.shape.join())).toBe(true);
    }
  });

  it("model options change the shapes", () => {
    expect(nn.models.mlp({ inFeatures: 12, hidden: [5], classes: 3 }).forward(randn([2, 3, 4])).shape).toEqual([2, 3]);
    expect(nn.models.smallCnn({ inChannels: 3, imageSize: 32, classes: 5 }).forward(randn([1, 3, 32, 32])).shape).toEqual([1, 5]);
    const r = nn.models.resnet20({ classes: 7, inChannels: 3, width: 8 });
    expect(r.fc.weight.shape).toEqual([7, 32]);
    expect(nn.models.makeDivisible(16 * 0.25)).toBe(8);
    expect(() => nn.models.smallCnn({ imageSize: 30 })).toThrow(/multiple of 4/);
  });
});
