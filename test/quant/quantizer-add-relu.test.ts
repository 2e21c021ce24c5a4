/**
 * add → ReLU fusion only where the quantizer asks (DefaultQuantizer({ addRelu: true }), PT2E
 * XNNPACKQuantizer's add_relu): no quantizer between the add and its ReLU, convert → one integer
 * add that clamps, fake-quant ≡ Int8Model ≡ onnxruntime (QDQ and QOperator) within ±1 quantum.
 * Default off: the add's output is quantized, then requantized by the ReLU (two integer nodes).
 * On a user model with a functional residual add + relu and on narrow torchvision ResNet-18.
 */
import { describe, expect, it } from "vitest";
import { noGrad } from "../../src/tensor/grad-mode.js";
import * as ops from "../../src/ops/index.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Module } from "../../src/nn/module.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import type { GraphModule } from "../../src/graph/graph-module.js";
import { DefaultQuantizer, calibrate, convert, prepareQat, qconfigs, type QatModel } from "../../src/quant/index.js";
import { exportModel } from "../../src/onnx/index.js";
import type { Int8Model } from "../../src/int8/model.js";
import { loadOrt, ortUnavailable } from "../onnx/helpers.js";
import { runOrtWith } from "../onnx/quantized-helpers.js";
import { importFresh, randomImages, torchvisionDoc } from "../onnx/torchvision-helpers.js";
import { ResidualConcatNet, images, qatSteps, trainedFloat, withinOne } from "./quantizer-helpers.js";
import { Tensor as T } from "../../src/tensor/tensor.js";

const ort = await loadOrt();

const addNodes = (m: Int8Model) => m.graph.nodes.filter((n) => n.op === "add");
const outScale = (m: Int8Model) => m.value(m.graph.output).q.scale;

async function ortParity(qm: QatModel, int8: Int8Model, x: Tensor): Promise<void> {
  if (!ort) return console.warn(`[add-relu] onnxruntime checks skipped: ${ortUnavailable}`);
  const ref = int8.run(x);
  for (const format of ["qdq", "qoperator"] as const) {
    const got = await runOrtWith(ort, exportModel(qm, { example: x, format }), x);
    const r = withinOne(ref, new T(got, ref.shape), outScale(int8));
    console.log(`[add-relu] ${format}: ${(r.within * 100).toFixed(2)} % within ±1 quantum of Int8Model, max ${r.maxQuanta.toFixed(2)} quanta`);
    expect(r.within).toBeGreaterThanOrEqual(0.999);
  }
}

describe("add → ReLU fusion on request", () => {
  it("a user model's functional residual add + relu: no quantizer between them, one integer add that clamps; ≡ fake-quant ≡ onnxruntime", async () => {
    const float = trainedFloat(() => new ResidualConcatNet());
    const example = images(2, 1);
    const fused = prepareQat(float, { quantizer: new DefaultQuantizer({ addRelu: true }).setGlobal(qconfigs.x86), example });
    const plain = prepareQat(float, { qconfig: qconfigs.x86, example });
    const readerOf = (qm: QatModel) => {
      const g = (qm.module as GraphModule).graph;
      const add = g.nodes.find((n) => n.target === "add")!;
      return g.nodes.find((n) => n.args.some((a) => (a as { ref?: number }).ref === add.outputs[0]))!.target;
    };
    expect(readerOf(plain)).toMatch(/^activation_post_process_\d+$/);
    expect(readerOf(fused)).toBe("relu");
    qatSteps(fused);
    qatSteps(plain);
    const i8 = convert(fused);
    const i8plain = convert(plain);
    expect(addNodes(i8).map((n) => n.name)).toEqual(["module.add+relu_1"]); // the functional relu after the add is the graph's second relu
    expect(i8.graph.nodes.length).toBe(i8plain.graph.nodes.length - 1); // the ReLU's requantize is gone
    expect(i8plain.graph.nodes.some((n) => n.op === "requantize" && n.name === "module.relu_1")).toBe(true);
    const x = images(64, 3);
    const r = withinOne(noGrad(() => fused.forward(x)), i8.run(x), outScale(i8));
    expect(r.within).toBeGreaterThanOrEqual(0.999);
    await ortParity(fused, i8, x);
  });

  it("a broadcasting add (no integer add takes it) keeps its output quantizer even when asked", () => {
    class Broadcast extends ResidualConcatNet {
      override forward(x: Tensor): Tensor {
        const y = this.conv1.forward(x);
        return ops.add(y, y.mean([2, 3], { keepdim: true })).relu().flatten(1).sum(1, { keepdim: true });
      }
    }
    const qm = prepareQat(trainedFloat(() => new Broadcast()), { quantizer: new DefaultQuantizer({ addRelu: true }).setGlobal(qconfigs.x86), example: images(2, 1) });
    const g = (qm.module as GraphModule).graph;
    const add = g.nodes.find((n) => n.target === "add")!;
    expect(g.nodes.find((n) => n.args.some((a) => (a as { ref?: number }).ref === add.outputs[0]))!.target).toMatch(/^activation_post_process_\d+$/);
  });

  it("torchvision ResNet-18 (narrow, imported): every residual Add → Relu becomes one integer add; ≡ fake-quant ≡ onnxruntime", async () => {
    const g = torchvisionDoc.models.resnet18;
    manualSeed(0);
    const qm = prepareQat(importFresh(g), { quantizer: new DefaultQuantizer({ addRelu: true }).setGlobal(qconfigs.x86) });
    manualSeed(0);
    const plain = prepareQat(importFresh(g), { qconfig: qconfigs.x86 });
    for (const m of [qm, plain] as Module[]) {
      (m as QatModel).train();
      calibrate(m as QatModel, [0, 1, 2].map((s) => ({ x: randomImages(4, 30 + s) })), { batches: 3 });
      m.eval();
    }
    const i8 = convert(qm);
    const i8plain = convert(plain);
    const adds = addNodes(i8);
    expect(adds.length).toBe(8); // 8 BasicBlocks
    expect(adds.every((n) => n.name.includes("+"))).toBe(true);
    expect(addNodes(i8plain).some((n) => n.name.includes("+"))).toBe(false);
    expect(i8.graph.nodes.length).toBe(i8plain.graph.nodes.length - 8);
    const x = randomImages(8, 5);
    const r = withinOne(noGrad(() => qm.forward(x)), i8.run(x), outScale(i8));
    console.log(`[add-relu] ResNet-18 fake-quant vs Int8Model: ${(r.within * 100).toFixed(2)} % within ±1 quantum, max ${r.maxQuanta.toFixed(2)}`);
    expect(r.within).toBeGreaterThanOrEqual(0.999);
    await ortParity(qm, i8, x);
  });
});
