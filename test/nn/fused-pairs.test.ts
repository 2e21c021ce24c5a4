/**
 * BatchNorm → ReLU and Add → ReLU module pairs as fused ops (src/nn/layers/fused-pairs.ts), on
 * every backend: a ResNet and a SmallCNN training step (forward, backward) give losses, gradients
 * of every parameter and running statistics bit-equal to the same model with a no-op hook on
 * its ReLUs (which keeps every pair unfused); Sequential fuses a BatchNorm directly followed by a
 * ReLU and nothing else (not a ReLU subclass, not a hooked module, not under capture); the
 * modules' lastInputShapes are recorded either way; captured graphs still show every module. A
 * BasicBlock's intermediate values are freed during backward (marked internal) only when no
 * module in it is hooked: a hook's saved output survives backward and later allocations.
 */
import { expect, it } from "vitest";
import "../../src/autograd/backward.js";
import { capture } from "../../src/graph/capture.js";
import { BatchNorm1d, BatchNorm2d } from "../../src/nn/layers/batchnorm.js";
import { ReLU } from "../../src/nn/layers/activation.js";
import { Sequential } from "../../src/nn/layers/container.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { BasicBlock, resnet20 } from "../../src/nn/models/resnet.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import type { Module } from "../../src/nn/module.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { randint, randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import { add } from "../../src/ops/binary.js";
import { sum } from "../../src/ops/reduce.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";

/** One training step's loss, parameter gradients and buffers, in state-dict order. */
function step(model: Module, hookReLUs: boolean, shape = [4, 3, 12, 12]): Float32Array[] {
  if (hookReLUs) for (const m of model.modules()) if (m instanceof ReLU) m.registerForwardHook(() => undefined);
  manualSeed(3);
  const x = randn(shape), y = randint(0, 10, [shape[0]], { dtype: "int32" });
  model.train();
  const loss = crossEntropy(model.forward(x), y);
  loss.backward();
  const out = [Float32Array.from(loss.data)];
  for (const [, p] of model.namedParameters()) out.push(Float32Array.from(p.grad!.data));
  for (const [, b] of model.namedBuffers()) out.push(Float32Array.from(b.data));
  return out;
}

class MyReLU extends ReLU {}

describeEachBackend("fused module pairs", (backend) => {
  it("a ResNet and a SmallCNN training step equal the unfused modules' bit for bit (gradients and running statistics)", () => {
    const build = (): Module => {
      manualSeed(1);
      return resnet20({ inChannels: 3, width: 4 });
    };
    const [fusedModel, unfusedModel] = [build(), build()];
    const fused = step(fusedModel, false), unfused = step(unfusedModel, true);
    const shapes = (m: Module): unknown[] => m.modules().map((c) => c.lastInputShapes);
    expect(shapes(fusedModel)).toEqual(shapes(unfusedModel));
    expect(fused.length).toBe(unfused.length);
    fused.forEach((a, i) => expectIdentical(a, unfused[i], `[${backend}] array ${i}`));
    const cnn = (): Module => {
      manualSeed(2);
      return smallCnn();
    };
    const [f2, u2] = [step(cnn(), false, [3, 1, 28, 28]), step(cnn(), true, [3, 1, 28, 28])];
    f2.forEach((a, i) => expectIdentical(a, u2[i], `[${backend}] SmallCNN array ${i}`));
  });

  it("BasicBlock and Sequential run the fused ops only where nothing observes the modules", () => {
    manualSeed(2);
    const x = randn([2, 4, 6, 6]);
    x.requiresGrad = true;
    const block = new BasicBlock(4, 4);
    expect(block.forward(x).gradNode?.name).toBe("addRelu");
    expect(block.relu1.lastInputShapes).toEqual([[2, 4, 6, 6]]);
    expect(block.add.lastInputShapes).toEqual([[2, 4, 6, 6], [2, 4, 6, 6]]);
    const h = block.relu2.registerForwardHook(() => undefined);
    expect(block.forward(x).gradNode?.name).toBe("relu");
    h.remove();

    const seq = new Sequential(new Conv2d(4, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU());
    expect(seq.forward(x).gradNode?.name).toBe("batchNormRelu");
    expect(new Sequential(new BatchNorm2d(4), new MyReLU()).forward(x).gradNode?.name).toBe("relu");
    expect(new Sequential(new ReLU(), new BatchNorm2d(4)).forward(x).gradNode?.name).toBe("batchNorm");
    const bn = new BatchNorm2d(4);
    bn.registerForwardPreHook(() => undefined);
    expect(new Sequential(bn, new ReLU()).forward(x).gradNode?.name).toBe("relu");
    const flat = randn([5, 3]);
    flat.requiresGrad = true;
    expect(new Sequential(new BatchNorm1d(3), new ReLU()).forward(flat).gradNode?.name).toBe("batchNormRelu");
  });

  it("a hooked BasicBlock keeps its intermediate values: what a hook saved survives backward and churn", () => {
    manualSeed(6);
    const block = new BasicBlock(4, 8, 2);
    const saved: Tensor[] = [];
    block.conv1.registerForwardHook((_m, _i, out) => void saved.push(out));
    block.bn2.registerForwardHook((_m, _i, out) => void saved.push(out));
    const x = randn([3, 4, 10, 10]);
    x.requiresGrad = true;
    sum(block.forward(x)).backward();
    const copies = saved.map((t) => Float32Array.from(t.data));
    for (let i = 0; i < 30; i++) add(randn(saved[i % 2].shape), 1);
    saved.forEach((t, i) => expectIdentical(t.data, copies[i], `[${backend}] saved output ${i}`));
  });

  it("a hooked ResNet keeps its layers' outputs: what a hook on a stage saved survives backward and churn", () => {
    manualSeed(8);
    const model = resnet20({ inChannels: 3, width: 4 });
    const saved: Tensor[] = [];
    model.layer1.registerForwardHook((_m, _i, out) => void saved.push(out));
    model.bn1.registerForwardHook((_m, _i, out) => void saved.push(out));
    model.train();
    crossEntropy(model.forward(randn([2, 3, 8, 8])), randint(0, 10, [2], { dtype: "int32" })).backward();
    const copies = saved.map((t) => Float32Array.from(t.data));
    for (let i = 0; i < 30; i++) add(randn(saved[i % 2].shape), 1);
    saved.forEach((t, i) => expectIdentical(t.data, copies[i], `[${backend}] saved output ${i}`));
  });

  it("capture still sees every BatchNorm, ReLU and Add module", () => {
    manualSeed(4);
    const model = resnet20({ inChannels: 3, width: 4 });
    const g = capture(model, [randn([1, 3, 8, 8])]);
    const targets = g.nodes.filter((n) => n.kind === "call_module").map((n) => n.target);
    expect(targets).toContain("layer1.0.bn1");
    expect(targets).toContain("layer1.0.relu1");
    expect(targets).toContain("layer2.0.add");
    expect(targets).toContain("layer2.0.relu2");
    expect(targets.filter((t) => String(t).endsWith("relu1")).length).toBe(9);
  });
});
