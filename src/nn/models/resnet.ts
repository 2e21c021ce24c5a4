/**
 * resnet20: the CIFAR-style ResNet of He et al. (2016, §4.2) with 3 stages × 3 BasicBlocks
 * at widths w, 2w, 4w (w = 16), stride 2 between stages, global average pooling and a
 * linear classifier. On 1×28×28 input the stages see 28², 14², 7².
 *   BasicBlock: conv3×3-BN-ReLU-conv3×3-BN, plus the shortcut (identity, or
 *   `downsample` = Sequential(conv1×1 stride s, BN) when the stride or width changes),
 *   joined by an nn.Add module (so quantization can observe the sum), then ReLU.
 * Names follow torchvision (layer1…3, downsample, fc); the PyTorch twin used for key
 * comparison is in scripts/golden/nn_layers.py. BN → ReLU and add → ReLU run as fused ops
 * when no hook or capture can see the difference (../layers/fused-pairs.ts), and a block's
 * intermediate values are marked internal (autograd/grad-buffers.ts: freed during backward)
 * when its children are this file's own, unhooked library modules.
 */
import type { Tensor } from "../../tensor/tensor.js";
import { zeros } from "../../tensor/creation.js";
import { ValueError } from "../../tensor/errors.js";
import { ReLU } from "../layers/activation.js";
import { BatchNorm2d } from "../layers/batchnorm.js";
import { Sequential } from "../layers/container.js";
import { Conv2d } from "../layers/conv.js";
import { Linear } from "../layers/linear.js";
import { Add } from "../layers/merge.js";
import { AdaptiveAvgPool2d } from "../layers/pooling.js";
import { Flatten } from "../layers/shape.js";
import { addRelu, batchNormRelu } from "../layers/fused-pairs.js";
import { markInternal } from "../../autograd/grad-buffers.js";
import { isGradEnabled } from "../../tensor/grad-mode.js";
import { isCapturing } from "../../tensor/capture-hook.js";
import { Module } from "../module.js";

export class BasicBlock extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu1: ReLU;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  downsample: Sequential | null;
  add: Add;
  relu2: ReLU;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.conv1 = this.registerModule("conv1", new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.relu1 = this.registerModule("relu1", new ReLU());
    this.conv2 = this.registerModule("conv2", new Conv2d(planes, planes, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    const project = stride !== 1 || inPlanes !== planes;
    this.downsample = project
      ? this.registerModule("downsample", new Sequential(new Conv2d(inPlanes, planes, 1, { stride, bias: false }), new BatchNorm2d(planes)))
      : null;
    this.add = this.registerModule("add", new Add());
    this.relu2 = this.registerModule("relu2", new ReLU());
  }

  forward(x: Tensor): Tensor {
    const a = this.conv1.forward(x);
    const b = batchNormRelu(this.bn1, this.relu1, a);
    const c = this.conv2.forward(b);
    const y = this.bn2.forward(c);
    const shortcut = this.downsample ? this.downsample.forward(x) : x;
    if (this.unobserved()) markInternal(a, b, c, y, ...(this.downsample ? [shortcut] : []));
    return addRelu(this.add, this.relu2, y, shortcut);
  }

  /**
   * True when nothing but the autograd tape can hold this block's intermediate values: recording,
   * no capture, and every module in the block an unhooked instance of the library class it was
   * built with (those keep no reference to their inputs or outputs).
   */
  private unobserved(): boolean {
    if (!isGradEnabled() || isCapturing()) return false;
    const expected: [Module | null, unknown][] = [[this, BasicBlock], [this.conv1, Conv2d], [this.bn1, BatchNorm2d], [this.relu1, ReLU],
      [this.conv2, Conv2d], [this.bn2, BatchNorm2d], [this.add, Add], [this.relu2, ReLU]];
    const ds = this.downsample;
    if (ds) expected.push([ds, Sequential], ...ds.children().map((m, i): [Module, unknown] => [m, i === 0 ? Conv2d : BatchNorm2d]));
    if (ds && ds.children().length !== 2) return false;
    return expected.every(([m, C]) => m !== null && (m.constructor as unknown) === C && !m.hasForwardHooks());
  }
}

export interface ResNetOptions {
  /** Output classes (default 10). */
  classes?: number;
  /** Input channels (default 1). */
  inChannels?: number;
  /** Width of the first stage (default 16). */
  width?: number;
  /** Blocks per stage (default 3: ResNet-20 = 6·3 + 2 layers). */
  blocksPerStage?: number;
}

export class ResNet extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu: ReLU;
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  avgpool: AdaptiveAvgPool2d;
  flatten: Flatten;
  fc: Linear;

  constructor(opts: ResNetOptions = {}) {
    super();
    const w = opts.width ?? 16;
    const n = opts.blocksPerStage ?? 3;
    if (!Number.isInteger(w) || w < 1 || !Number.isInteger(n) || n < 1) throw new ValueError(`resnet: width and blocksPerStage must be positive integers, got ${w}, ${n}`);
    const stage = (inPlanes: number, planes: number, stride: number): Sequential =>
      new Sequential(...Array.from({ length: n }, (_, i) => new BasicBlock(i === 0 ? inPlanes : planes, planes, i === 0 ? stride : 1)));
    this.conv1 = this.registerModule("conv1", new Conv2d(opts.inChannels ?? 1, w, 3, { padding: 1, bias: false }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(w));
    this.relu = this.registerModule("relu", new ReLU());
    this.layer1 = this.registerModule("layer1", stage(w, w, 1));
    this.layer2 = this.registerModule("layer2", stage(w, 2 * w, 2));
    this.layer3 = this.registerModule("layer3", stage(2 * w, 4 * w, 2));
    this.avgpool = this.registerModule("avgpool", new AdaptiveAvgPool2d(1));
    this.flatten = this.registerModule("flatten", new Flatten());
    this.fc = this.registerModule("fc", new Linear(4 * w, opts.classes ?? 10));
  }

  /** One 28×28 image batch: what graph capture runs when no example is given. */
  exampleInputs(): Tensor[] {
    return [zeros([1, this.conv1.inChannels, 28, 28])];
  }

  forward(x: Tensor): Tensor {
    const a = this.conv1.forward(x);
    let y = batchNormRelu(this.bn1, this.relu, a);
    if (!this.unobserved()) {
      y = this.layer3.forward(this.layer2.forward(this.layer1.forward(y)));
    } else {
      // the same calls as the layers' own forwards, with each block's output marked internal
      markInternal(a, y);
      for (const layer of [this.layer1, this.layer2, this.layer3]) {
        layer.lastInputShapes = [[...y.shape]];
        for (const block of layer) markInternal((y = block.forward(y)));
      }
    }
    return this.fc.forward(this.flatten.forward(this.avgpool.forward(y)));
  }

  /** As BasicBlock's: recording, no capture, every module an unhooked instance of its library class. */
  private unobserved(): boolean {
    if (!isGradEnabled() || isCapturing()) return false;
    const library = [ResNet, BasicBlock, Conv2d, BatchNorm2d, ReLU, Sequential, Add, AdaptiveAvgPool2d, Flatten, Linear] as unknown[];
    return this.modules().every((m) => library.includes(m.constructor) && !m.hasForwardHooks()) &&
      [this.layer1, this.layer2, this.layer3].every((l) => l.children().every((b) => b instanceof BasicBlock));
  }
}

/** ResNet-20 for 28×28 (Fashion-MNIST) or 32×32 (CIFAR) inputs. */
export function resnet20(opts: Omit<ResNetOptions, "blocksPerStage"> = {}): ResNet {
  return new ResNet({ ...opts, blocksPerStage: 3 });
}
