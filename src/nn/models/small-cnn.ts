/**
 * SmallCNN, the reference model of DESIGN.md §6: conv(1→16, 3, p1)+BN+ReLU, maxpool 2,
 * conv(16→32, 3, p1)+BN+ReLU, maxpool 2, flatten, linear(1568→128)+ReLU, linear(128→10).
 * Children are named as the PyTorch model in scripts/golden/nn_layers.py, so state-dict
 * keys (conv1.weight, bn1.running_mean, …, fc2.bias) are identical and weights move between
 * the two through safetensors.
 */
import type { Tensor } from "../../tensor/tensor.js";
import { zeros } from "../../tensor/creation.js";
import { ValueError } from "../../tensor/errors.js";
import { ReLU } from "../layers/activation.js";
import { BatchNorm2d } from "../layers/batchnorm.js";
import { batchNormRelu } from "../layers/fused-pairs.js";
import { Conv2d } from "../layers/conv.js";
import { Linear } from "../layers/linear.js";
import { MaxPool2d } from "../layers/pooling.js";
import { Flatten } from "../layers/shape.js";
import { Module } from "../module.js";

export interface SmallCnnOptions {
  /** Input channels (default 1). */
  inChannels?: number;
  /** Output classes (default 10). */
  classes?: number;
  /** Input height = width, a multiple of 4 (default 28, giving fc1 1568 = 32·7·7 inputs). */
  imageSize?: number;
}

export class SmallCNN extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu1: ReLU;
  pool1: MaxPool2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  relu2: ReLU;
  pool2: MaxPool2d;
  flatten: Flatten;
  fc1: Linear;
  relu3: ReLU;
  fc2: Linear;

  constructor(opts: SmallCnnOptions = {}) {
    super();
    const size = opts.imageSize ?? 28;
    if (!Number.isInteger(size) || size < 4 || size % 4 !== 0) throw new ValueError(`smallCnn: imageSize must be a positive multiple of 4, got ${size}`);
    const side = size / 4;
    this.conv1 = this.registerModule("conv1", new Conv2d(opts.inChannels ?? 1, 16, 3, { padding: 1 }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(16));
    this.relu1 = this.registerModule("relu1", new ReLU());
    this.pool1 = this.registerModule("pool1", new MaxPool2d(2));
    this.conv2 = this.registerModule("conv2", new Conv2d(16, 32, 3, { padding: 1 }));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(32));
    this.relu2 = this.registerModule("relu2", new ReLU());
    this.pool2 = this.registerModule("pool2", new MaxPool2d(2));
    this.flatten = this.registerModule("flatten", new Flatten());
    this.fc1 = this.registerModule("fc1", new Linear(32 * side * side, 128));
    this.relu3 = this.registerModule("relu3", new ReLU());
    this.fc2 = this.registerModule("fc2", new Linear(128, opts.classes ?? 10));
  }

  /** One 28×28 image batch: what graph capture runs when no example is given. */
  exampleInputs(): Tensor[] {
    return [zeros([1, this.conv1.inChannels, 28, 28])];
  }

  forward(x: Tensor): Tensor {
    // BN → ReLU as one fused op where no hook or capture can tell (../layers/fused-pairs.ts)
    let y = this.pool1.forward(batchNormRelu(this.bn1, this.relu1, this.conv1.forward(x)));
    y = this.pool2.forward(batchNormRelu(this.bn2, this.relu2, this.conv2.forward(y)));
    y = this.relu3.forward(this.fc1.forward(this.flatten.forward(y)));
    return this.fc2.forward(y);
  }
}

export function smallCnn(opts: SmallCnnOptions = {}): SmallCNN {
  return new SmallCNN(opts);
}
