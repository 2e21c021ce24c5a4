/**
 * The two steps of convert made explicit (src/quant/reference*.ts): convertToReference → a float
 * graph of QuantizeLinear → DequantizeLinear pairs around float ops (runnable, inspectable,
 * islands marked), and lower → the Int8Model. Invariants: the reference ≡ Int8Model within
 * ±1 quantum (zoo SmallCNN, ResNet-20, MobileNetV2-small, user models), lower(convertToReference(m)) ≡ convert(m)
 * bit for bit (the zoo models, a user model with a functional residual, one with a float island, one
 * with add → relu fused by its quantizer).
 */
import { describe, expect, it } from "vitest";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { ValueError } from "../../src/tensor/errors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import type { Module } from "../../src/nn/module.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { resnet20 } from "../../src/nn/models/resnet.js";
import { mobilenetV2Small } from "../../src/nn/models/mobilenet.js";
import {
  DefaultQuantizer, DequantizeLinear, QuantizeLinear, ReferenceConv2d, ReferenceLinear, type QatModel, convert, convertToReference, lower, prepareQat, qconfigs,
} from "../../src/quant/index.js";
import { ResidualConcatNet, images, qatSteps, sameBits, trainedFloat, withinOne } from "./quantizer-helpers.js";

/** ResidualConcatNet with a functional abs before a classifier: abs has no integer kernel (a float island). */
class WithIsland extends ResidualConcatNet {
  head = this.registerModule("head", new Linear(10, 10));
  override forward(x: Tensor): Tensor {
    return this.head.forward(super.forward(x).abs());
  }
}

const zooInput = (m: Module) => {
  const shape = (m as unknown as { exampleInputs(): Tensor[] }).exampleInputs()[0].shape;
  return (n: number, seed: number) => {
    manualSeed(seed);
    return randn([n, ...shape.slice(1)]);
  };
};

function check(qm: QatModel, x: Tensor, name: string): void {
  const ref = convertToReference(qm);
  const int8 = convert(qm);
  const scale = int8.value(int8.graph.output).q.scale;
  const r = withinOne(noGrad(() => ref.forward(x)), int8.run(x), scale);
  console.log(`[reference] ${name}: reference vs Int8Model ${(100 * r.within).toFixed(2)} % within ±1 quantum (max ${r.maxQuanta.toFixed(2)}); ${ref.graph.nodes.length} reference nodes, ${ref.islands.length} islands`);
  expect(r.within).toBeGreaterThanOrEqual(0.999);
  expect(sameBits(lower(ref).run(x), int8.run(x))).toBe(true);
}

describe("reference quantized graph and lowering", () => {
  it("SmallCNN (zoo): Q → DQ pairs around float ops, reference conv/linear on integer weights; ≡ Int8Model ±1; lower ≡ convert bit for bit", () => {
    manualSeed(1);
    const model = smallCnn();
    const input = zooInput(model);
    const qm = prepareQat(model, { qconfig: qconfigs.x86 });
    qatSteps(qm, input);
    const ref = convertToReference(qm);
    const g = ref.graph;
    const kinds = g.nodes.map((n) => (n.kind === "call_module" ? ref.module.getSubmodule(n.target).constructor.name : n.target));
    // every quantize is read by its dequantize alone; the first quantizes the input
    const qs = g.nodes.filter((n) => n.kind === "call_module" && ref.module.getSubmodule(n.target) instanceof QuantizeLinear);
    expect(qs.length).toBeGreaterThan(3);
    expect(g.producer(qs[0].args.length ? (qs[0].args[0] as { ref: number }).ref : -1)).toBeNull();
    for (const q of qs) expect(ref.module.getSubmodule(g.nodes[g.nodes.indexOf(q) + 1].target)).toBeInstanceOf(DequantizeLinear);
    expect(kinds).toContain("ReferenceConv2d");
    expect(kinds).toContain("ReferenceLinear");
    expect(kinds.filter((k) => k === "relu").length).toBeGreaterThan(0); // fused ReLUs are their own nodes
    const conv = ref.module.getSubmodule(g.nodes.find((n) => kinds[g.nodes.indexOf(n)] === "ReferenceConv2d")!.target) as ReferenceConv2d;
    expect(conv.weight_q.data.every((v) => Number.isInteger(v) && v >= -128 && v <= 127)).toBe(true);
    expect(ref.listing()).toMatch(/quantize_0/);
    expect(ref.islands).toEqual([]);
    check(qm, input(64, 5), "SmallCNN");
  });

  for (const [name, make, seed] of [["ResNet-20", () => resnet20(), 2], ["MobileNetV2-small", () => mobilenetV2Small(), 4]] as const) {
    it(`${name} (zoo): reference ≡ Int8Model within ±1 quantum; lower ≡ convert bit for bit`, () => {
      manualSeed(seed);
      const model = make();
      const input = zooInput(model);
      const qm = prepareQat(model, { qconfig: qconfigs.x86 });
      qatSteps(qm, input);
      check(qm, input(16, 6), name);
    });
  }

  it("user models: functional residual + concat, a float island (marked in the listing), add → relu fused by the quantizer", () => {
    const x = images(64, 3);
    const plain = prepareQat(trainedFloat(() => new ResidualConcatNet()), { qconfig: qconfigs.x86, example: images(2, 1) });
    qatSteps(plain);
    check(plain, x, "ResidualConcatNet");
    const island = prepareQat(trainedFloat(() => new WithIsland()), { qconfig: qconfigs.x86, example: images(2, 1) });
    qatSteps(island);
    const ref = convertToReference(island);
    expect(ref.islands.map((i) => i.source)).toEqual(["module.abs"]);
    expect(ref.listing()).toMatch(/# abs\s+← float island: abs has no integer kernel/);
    check(island, x, "WithIsland (abs)");
    const fused = prepareQat(trainedFloat(() => new ResidualConcatNet()), { quantizer: new DefaultQuantizer({ addRelu: true }).setGlobal(qconfigs.x86), example: images(2, 1) });
    qatSteps(fused);
    const rf = convertToReference(fused);
    const add = rf.graph.nodes.find((n) => n.target === "add")!;
    expect(rf.graph.nodes[rf.graph.nodes.indexOf(add) + 1].target).toBe("relu"); // no Q → DQ between add and relu
    check(fused, x, "ResidualConcatNet, add → relu");
  });

  it("refuses what it cannot take, naming it", () => {
    expect(() => lower(smallCnn() as never)).toThrow(ValueError);
    expect(() => convertToReference(smallCnn() as never)).toThrow(/prepareQat/);
    expect(ReferenceLinear).toBeDefined();
  });
});
