/**
 * User-written modules for the graph tests: a forward with functional ops that module-level
 * tracing could not see (residual add, concat, reshape, matmul with a parameter), and a
 * two-input model; random 3×8×8 images and a float model moved off its initial values. Used by
 * capture.test.ts, invariants.test.ts and test/quant/quantizer-helpers.ts.
 */
import * as ops from "../../src/ops/index.js";
import { Module } from "../../src/nn/module.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { BatchNorm2d } from "../../src/nn/layers/batchnorm.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import { SGD } from "../../src/optim/sgd.js";
import type { Tensor } from "../../src/tensor/tensor.js";

/** n random 3×8×8 images, reproducible by seed. */
export const images = (n: number, seed: number): Tensor => {
  manualSeed(seed);
  return randn([n, 3, 8, 8]);
};

/** A float model after 4 SGD steps (BN statistics and weights moved off their initial values), in eval mode. */
export function trainedFloat(make: () => Module): Module {
  manualSeed(7);
  const float = make();
  const opt = new SGD(float.parameters(), { lr: 0.02, momentum: 0.9 });
  for (let s = 0; s < 4; s++) {
    opt.zeroGrad();
    float.forward(images(16, 100 + s)).square().mean().backward();
    opt.step();
  }
  float.eval();
  return float;
}

/** conv → bn → relu, a functional residual add, a concat with a second branch, reshape, linear. */
export class ResidualConcatNet extends Module {
  conv1 = this.registerModule("conv1", new Conv2d(3, 8, 3, { padding: 1 }));
  bn1 = this.registerModule("bn1", new BatchNorm2d(8));
  conv2 = this.registerModule("conv2", new Conv2d(8, 8, 3, { padding: 1 }));
  bn2 = this.registerModule("bn2", new BatchNorm2d(8));
  branch = this.registerModule("branch", new Conv2d(8, 4, 1));
  fc = this.registerModule("fc", new Linear(12 * 4 * 4, 10));

  forward(x: Tensor): Tensor {
    const a = this.bn1.forward(this.conv1.forward(x)).relu();
    const b = this.bn2.forward(this.conv2.forward(a));
    const r = ops.add(a, b).relu(); // functional residual: the ReLU follows the add, not bn2
    const c = ops.concat([r, this.branch.forward(r)], 1);
    const p = ops.maxPool2d(c, 2);
    return this.fc.forward(p.reshape([p.shape[0], -1]));
  }
}

/** Two inputs, one output: a linear on each, added, then a matmul with a learned matrix. */
export class TwoInputNet extends Module {
  a = this.registerModule("a", new Linear(6, 8));
  b = this.registerModule("b", new Linear(4, 8));
  w: Tensor;

  constructor() {
    super();
    this.w = this.registerParameter("w", randn([8, 3]).mul(0.3).detach().requiresGrad_());
  }

  forward(x: Tensor, y: Tensor): Tensor {
    return ops.matmul(ops.add(this.a.forward(x), this.b.forward(y)).relu(), this.w);
  }
}

