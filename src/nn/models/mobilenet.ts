/**
 * mobilenetV2Small: a reduced MobileNetV2 (Sandler et al., 2018) for 28×28 inputs, with
 * torchvision's module names (features.i, conv, classifier) so keys match the PyTorch twin
 * in scripts/golden/nn_layers.py.
 *   stem: conv3×3 stride 1 + BN + ReLU6 (stride 1 keeps the small image);
 *   InvertedResidual(t, c, s): [1×1 expand to t·in + BN + ReLU6 when t ≠ 1],
 *     3×3 depthwise stride s + BN + ReLU6, 1×1 project + BN (linear bottleneck);
 *     residual nn.Add when s = 1 and in = out;
 *   settings (t, c, n, s): (1,16,1,1) (6,24,2,2) (6,32,2,2) (6,64,2,1); head 1×1 → 256;
 *   global average pool, flatten, Dropout(0.2), Linear.
 * Channel counts are scaled by widthMult and rounded to multiples of 8 (torchvision's
 * _make_divisible).
 */
import type { Tensor } from "../../tensor/tensor.js";
import { zeros } from "../../tensor/creation.js";
import { ValueError } from "../../tensor/errors.js";
import { ReLU6 } from "../layers/activation.js";
import { BatchNorm2d } from "../layers/batchnorm.js";
import { Sequential } from "../layers/container.js";
import { Conv2d } from "../layers/conv.js";
import { Dropout } from "../layers/dropout.js";
import { Linear } from "../layers/linear.js";
import { Add } from "../layers/merge.js";
import { AdaptiveAvgPool2d } from "../layers/pooling.js";
import { Flatten } from "../layers/shape.js";
import { Module } from "../module.js";

/** Rounds v·mult to the nearest multiple of `divisor`, not going below 90 % (torchvision). */
export function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor(v + divisor / 2) - (Math.floor(v + divisor / 2) % divisor));
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** Conv + BN + ReLU6 as a Sequential ("0", "1", "2"), torchvision's Conv2dNormActivation. */
export function convBnRelu6(inC: number, outC: number, kernel: number, stride = 1, groups = 1): Sequential {
  const conv = new Conv2d(inC, outC, kernel, { stride, padding: (kernel - 1) / 2, groups, bias: false });
  return new Sequential(conv, new BatchNorm2d(outC), new ReLU6());
}

export class InvertedResidual extends Module {
  readonly useResConnect: boolean;
  conv: Sequential;
  add: Add | null;

  constructor(inC: number, outC: number, stride: number, expandRatio: number) {
    super();
    if (stride !== 1 && stride !== 2) throw new ValueError(`InvertedResidual: stride must be 1 or 2, got ${stride}`);
    const hidden = Math.round(inC * expandRatio);
    this.useResConnect = stride === 1 && inC === outC;
    const layers: Module[] = [];
    if (expandRatio !== 1) layers.push(convBnRelu6(inC, hidden, 1));
    layers.push(convBnRelu6(hidden, hidden, 3, stride, hidden), new Conv2d(hidden, outC, 1, { bias: false }), new BatchNorm2d(outC));
    this.conv = this.registerModule("conv", new Sequential(...layers));
    this.add = this.useResConnect ? this.registerModule("add", new Add()) : null;
  }

  forward(x: Tensor): Tensor {
    const y = this.conv.forward(x);
    return this.add ? this.add.forward(x, y) : y;
  }
}

export interface MobileNetV2Options {
  /** Output classes (default 10). */
  classes?: number;
  /** Input channels (default 1). */
  inChannels?: number;
  /** Channel multiplier (default 1). */
  widthMult?: number;
  /** Dropout before the classifier (default 0.2). */
  dropout?: number;
}

/** (expand ratio t, output channels c, repeats n, first stride s) per stage. */
export const MOBILENET_V2_SMALL_SETTINGS: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 2, 2],
  [6, 64, 2, 1],
];

export class MobileNetV2 extends Module {
  features: Sequential;
  pool: AdaptiveAvgPool2d;
  flatten: Flatten;
  classifier: Sequential;

  constructor(opts: MobileNetV2Options = {}) {
    super();
    const mult = opts.widthMult ?? 1;
    if (!(mult > 0)) throw new ValueError(`mobilenetV2Small: widthMult must be > 0, got ${mult}`);
    let inC = makeDivisible(16 * mult);
    const lastC = makeDivisible(256 * Math.max(1, mult));
    const layers: Module[] = [convBnRelu6(opts.inChannels ?? 1, inC, 3, 1)];
    for (const [t, c, n, s] of MOBILENET_V2_SMALL_SETTINGS) {
      const outC = makeDivisible(c * mult);
      for (let i = 0; i < n; i++) {
        layers.push(new InvertedResidual(inC, outC, i === 0 ? s : 1, t));
        inC = outC;
      }
    }
    layers.push(convBnRelu6(inC, lastC, 1));
    this.features = this.registerModule("features", new Sequential(...layers));
    this.pool = this.registerModule("pool", new AdaptiveAvgPool2d(1));
    this.flatten = this.registerModule("flatten", new Flatten());
    this.classifier = this.registerModule("classifier", new Sequential(new Dropout(opts.dropout ?? 0.2), new Linear(lastC, opts.classes ?? 10)));
  }

  /** One 28×28 image batch: what graph capture runs when no example is given. */
  exampleInputs(): Tensor[] {
    const first = this.features.modules().find((m) => m instanceof Conv2d) as Conv2d;
    return [zeros([1, first.inChannels, 28, 28])];
  }

  forward(x: Tensor): Tensor {
    return this.classifier.forward(this.flatten.forward(this.pool.forward(this.features.forward(x))));
  }
}

export function mobilenetV2Small(opts: MobileNetV2Options = {}): MobileNetV2 {
  return new MobileNetV2(opts);
}
