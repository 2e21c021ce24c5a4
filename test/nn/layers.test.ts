/** nn layers against PyTorch 1.13 goldens (test/golden/nn/layers.json): outputs, gradients, running stats, reprs. */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { mul, sum } from "../../src/ops/index.js";
import { randn, zeros } from "../../src/tensor/creation.js";
import { ShapeError, ValueError } from "../../src/tensor/errors.js";
import { Generator, manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import * as nn from "../../src/nn/index.js";
import type { Module } from "../../src/nn/index.js";
import { expectClose } from "../core/helpers.js";
import { type GoldenTensor, fromGolden, readGolden, setFromGolden } from "./golden.js";

type Case = Record<string, any>;
interface Layers {
  torch_version: string;
  linear: Case[];
  conv2d: Case[];
  batchnorm: Case[];
  simple: Case[];
}
const G = readGolden<Layers>("nn/layers.json");

const ATOL = 2e-5;
const RTOL = 1e-4;

/** Runs forward and backward of sum(y·gy) and checks y and dx against the golden case. */
function checkForwardBackward(m: Module, c: Case): Tensor {
  const x = fromGolden(c.x, true);
  const y = m.forward(x);
  expect(y.shape).toEqual(c.y.shape);
  expectClose(y.data, c.y.data, ATOL, RTOL);
  sum(mul(y, fromGolden(c.gy))).backward();
  expectClose(x.grad!.data, c.dx.data, ATOL, RTOL);
  return y;
}

describe(`nn layers vs PyTorch ${G.torch_version}`, () => {
  it("has every golden family", () => {
    expect([G.linear.length, G.conv2d.length, G.batchnorm.length, G.simple.length]).toEqual([2, 5, 4, 14]);
  });

  it("Linear: output and gradients", () => {
    for (const c of G.linear) {
      const m = new nn.Linear(c.in, c.out, { bias: c.bias });
      expect(m.bias === null).toBe(!c.bias);
      setFromGolden(m.weight, c.weight);
      if (c.bias) setFromGolden(m.bias!, c.bias as GoldenTensor);
      checkForwardBackward(m, c);
      expectClose(m.weight.grad!.data, c.dweight.data, ATOL, RTOL);
      if (c.bias) expectClose(m.bias!.grad!.data, c.dbias.data, ATOL, RTOL);
    }
  });

  it("Conv2d: stride, padding, dilation, groups, no bias; repr", () => {
    for (const c of G.conv2d) {
      const m = new nn.Conv2d(c.cin, c.cout, c.k, { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups, bias: c.bias });
      expect(m.toString()).toBe(c.repr);
      setFromGolden(m.weight, c.weight);
      if (c.bias) setFromGolden(m.bias!, c.bias as GoldenTensor);
      checkForwardBackward(m, c);
      expectClose(m.weight.grad!.data, c.dweight.data, ATOL, RTOL);
      if (c.bias) expectClose(m.bias!.grad!.data, c.dbias.data, ATOL, RTOL);
    }
  });

  it("BatchNorm1d/2d: train steps, running stats, num_batches_tracked, eval, momentum null", () => {
    for (const c of G.batchnorm) {
      const Cls = c.kind === "2d" ? nn.BatchNorm2d : nn.BatchNorm1d;
      const m = new Cls(c.num_features, { momentum: c.momentum, affine: c.affine });
      expect(m.toString()).toBe(c.repr);
      if (c.affine) {
        setFromGolden(m.weight!, c.weight);
        setFromGolden(m.bias!, c.bias);
      }
      for (const step of c.steps) {
        m.train(step.mode === "train");
        checkForwardBackward(m, step);
        expectClose(m.running_mean!.data, step.running_mean.data, 1e-5, 1e-5);
        expectClose(m.running_var!.data, step.running_var.data, 1e-5, 1e-5);
        expect(m.num_batches_tracked!.item()).toBe(step.num_batches_tracked);
        expect(m.num_batches_tracked!.dtype).toBe("int32");
        if (c.affine) {
          expectClose(m.weight!.grad!.data, step.dweight.data, ATOL, RTOL);
          expectClose(m.bias!.grad!.data, step.dbias.data, ATOL, RTOL);
          m.zeroGrad();
        }
      }
    }
  });

  it("pools, activations and Flatten: outputs, gradients, reprs", () => {
    const build: Record<string, (o: Case) => Module> = {
      MaxPool2d: (o) => new nn.MaxPool2d(o.kernelSize, o),
      AvgPool2d: (o) => new nn.AvgPool2d(o.kernelSize, o),
      AdaptiveAvgPool2d: (o) => new nn.AdaptiveAvgPool2d(o.outputSize),
      ReLU: () => new nn.ReLU(),
      ReLU6: () => new nn.ReLU6(),
      Hardtanh: (o) => new nn.Hardtanh(o.minVal, o.maxVal),
      Sigmoid: () => new nn.Sigmoid(),
      Flatten: (o) => new nn.Flatten(o.startDim, o.endDim),
    };
    for (const c of G.simple) {
      const m = build[c.kind](c.options);
      expect(m.toString(), c.kind).toBe(c.repr);
      checkForwardBackward(m, c);
    }
  });
});

describe("layer behaviour", () => {
  it("default init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and reproducible under manualSeed", () => {
    manualSeed(3);
    const a = new nn.Conv2d(4, 8, 3);
    manualSeed(3);
    const b = new nn.Conv2d(4, 8, 3);
    expect(a.weight.toList()).toEqual(b.weight.toList());
    const bound = 1 / Math.sqrt(4 * 9);
    for (const t of [a.weight, a.bias!]) {
      expect(Math.max(...t.toList().map(Math.abs))).toBeLessThanOrEqual(bound);
    }
    expect(Math.max(...a.weight.toList())).toBeGreaterThan(0.8 * bound);
    const g = new Generator(5);
    const l1 = new nn.Linear(10, 3, { generator: g });
    expect(l1.weight.toList().every((v) => Math.abs(v) <= 1 / Math.sqrt(10))).toBe(true);
    expect(l1.weight.requiresGrad && l1.bias!.requiresGrad).toBe(true);
  });

  it("init functions fill in place with the documented bounds and moments", () => {
    const t = zeros([256, 64]);
    nn.init.kaimingUniform(t, { nonlinearity: "relu" });
    const b = Math.sqrt(2) * Math.sqrt(3 / 64);
    expect(Math.max(...t.toList().map(Math.abs))).toBeLessThanOrEqual(b);
    nn.init.kaimingNormal(t, { mode: "fan_out", nonlinearity: "relu" });
    const vals = t.toList();
    const variance = vals.reduce((s, v) => s + v * v, 0) / vals.length;
    expect(variance).toBeCloseTo(2 / 256, 3);
    nn.init.xavierUniform(t);
    expect(Math.max(...t.toList().map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 320));
    expect(nn.init.constant(zeros([3]), 2.5).toList()).toEqual([2.5, 2.5, 2.5]);
    expect(nn.init.ones(zeros([2])).toList()).toEqual([1, 1]);
    expect(nn.init.calculateGain("leaky_relu", Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 12);
    expect(() => nn.init.kaimingUniform(zeros([3]))).toThrow(ValueError);
  });

  it("BatchNorm without running stats has no buffers and always uses batch statistics", () => {
    const m = new nn.BatchNorm2d(3, { trackRunningStats: false, affine: false });
    expect(Object.keys(m.stateDict())).toEqual([]);
    m.eval();
    const y = m.forward(randn([4, 3, 2, 2]));
    const mean = y.mean([0, 2, 3]).toList();
    for (const v of mean) expect(Math.abs(v)).toBeLessThan(1e-5);
    expect(() => m.forward(randn([4, 3]))).toThrow(ShapeError);
    expect(() => new nn.BatchNorm1d(3).forward(randn([2, 3, 4, 5]))).toThrow(/expected 2D or 3D input \(got 4D input/);
  });

  it("Dropout is identity in eval and drops with scaling in training", () => {
    const d = new nn.Dropout(0.5, { generator: new Generator(1) });
    const x = randn([1000]);
    expect(d.eval().forward(x).toList()).toEqual(x.toList());
    const y = d.train().forward(x).toList();
    const zerosCount = y.filter((v) => v === 0).length;
    expect(zerosCount).toBeGreaterThan(400);
    expect(zerosCount).toBeLessThan(600);
    const i = y.findIndex((v) => v !== 0);
    expect(y[i]).toBeCloseTo(2 * x.data[i], 5);
    expect(d.toString()).toBe("Dropout(p=0.5, inplace=False)");
    expect(() => new nn.Dropout(1.5)).toThrow(ValueError);
  });

  it("Identity, Add, Concat and Sequential compose; Sequential names children 0, 1, …", () => {
    const a = randn([2, 3]);
    const b = randn([2, 3]);
    expect(new nn.Identity().forward(a)).toBe(a);
    expectClose(new nn.Add().forward(a, b).data, a.add(b).data);
    const cat = new nn.Concat(1);
    expect(cat.forward(a, b).shape).toEqual([2, 6]);
    expect(cat.forward([a, b, a]).shape).toEqual([2, 9]);
    expect(cat.toString()).toBe("Concat(dim=1)");
    const seq = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 2));
    expect(seq.forward(a).shape).toEqual([2, 2]);
    expect(seq.length).toBe(3);
    expect(seq.at(-1)).toBeInstanceOf(nn.Linear);
    expect([...seq].length).toBe(3);
    expect(seq.namedChildren().map(([n]) => n)).toEqual(["0", "1", "2"]);
    seq.append(new nn.Sigmoid());
    expect(Object.keys(seq.stateDict())).toEqual(["0.weight", "0.bias", "2.weight", "2.bias"]);
    const named = new nn.Sequential(new Map<string, Module>([["fc", new nn.Linear(3, 2)], ["0", new nn.ReLU()]]));
    expect(named.namedChildren().map(([n]) => n)).toEqual(["fc", "0"]);
    expect(Object.keys(new nn.Sequential({ fc: new nn.Linear(3, 2) }).stateDict())).toEqual(["fc.weight", "fc.bias"]);
  });

  it("rejects bad constructor arguments with typed errors", () => {
    expect(() => new nn.Conv2d(3, 4, 3, { groups: 2 })).toThrow(/in_channels \(3\) must be a positive multiple of groups \(2\)/);
    expect(() => new nn.Conv2d(2, 4, 0)).toThrow(ValueError);
    expect(() => new nn.Linear(-1, 2)).toThrow(ValueError);
    expect(() => new nn.Hardtanh(1, -1)).toThrow(ValueError);
    expect(() => new nn.BatchNorm2d(0)).toThrow(ValueError);
  });
});
