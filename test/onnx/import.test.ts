/**
 * Float import: export → import round trips give identical outputs and identical state-dict
 * keys and values for the model zoo; the imported module trains (gradients, optimizer
 * steps), fuses like the original (same fusion groups, same outputs after fusing), exports
 * again to the same graph, and reports unsupported ops by type, node and supported list.
 */
import { describe, expect, it } from "vitest";
import { randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import { NotSupportedError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { crossEntropy } from "../../src/ops/loss.js";
import * as nn from "../../src/nn/index.js";
import { findFusionGroups, fuseModules } from "../../src/quant/fuse.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import {
  OnnxModule, OnnxOp, attr, decodeModel, encodeModel, exportModel, floatTensorProto, importFloatModel, importModel, int64TensorProto,
  makeModel, makeNode, makeValueInfo, DataType,
} from "../../src/onnx/index.js";
import { TinyNet, loadOrt, randomizeBatchNorm, relDiff, runOrt } from "./helpers.js";
import { tensor } from "../../src/tensor/creation.js";
import { Int8Model } from "../../src/int8/model.js";

const ort = await loadOrt();
const itOrt = ort ? it : it.skip;

const ZOO: [string, () => nn.Module][] = [
  ["mlp", () => nn.models.mlp()],
  ["smallCnn", () => nn.models.smallCnn()],
  ["resnet20", () => nn.models.resnet20()],
  ["mobilenetV2Small", () => nn.models.mobilenetV2Small()],
];

function roundTrip(model: nn.Module, x = randn([2, 1, 28, 28])): { bytes: Uint8Array; imported: OnnxModule; x: typeof x } {
  const bytes = exportModel(model, { example: x });
  const imported = importFloatModel(bytes);
  imported.eval();
  return { bytes, imported, x };
}

describe("export → import round trip", () => {
  for (const [name, make] of ZOO) {
    it(`${name}: identical outputs, state-dict keys and values; exports again to the same bytes`, () => {
      manualSeed(11);
      const model = make();
      randomizeBatchNorm(model);
      model.eval();
      const { bytes, imported, x } = roundTrip(model);
      expect(Array.from(imported.forward(x).data)).toEqual(Array.from(model.forward(x).data));
      const a = model.stateDict();
      const b = imported.stateDict();
      expect(Object.keys(b)).toEqual(Object.keys(a));
      for (const k of Object.keys(a)) {
        if (k.endsWith("num_batches_tracked")) continue;
        expect(Array.from(b[k].data), k).toEqual(Array.from(a[k].data));
      }
      expect(imported.parameters().length).toBe(model.parameters().length);
      expect(Buffer.from(exportModel(imported, { example: x })).equals(Buffer.from(bytes))).toBe(true);
    });
  }

  it("keeps a dynamic batch and checks the input shape", () => {
    const { imported } = roundTrip(new TinyNet().eval(), randn([2, 1, 4, 4]));
    expect(imported.forward(randn([5, 1, 4, 4])).shape).toEqual([5, 3]);
    expect(() => imported.forward(randn([5, 1, 4, 5]))).toThrow(ShapeError);
    expect(() => imported.forward()).toThrow(ValueError);
  });

  it("the imported module fuses like the original, with the same outputs after fusing", () => {
    for (const make of [() => nn.models.smallCnn(), () => nn.models.resnet20(), () => nn.models.mobilenetV2Small()]) {
      const model = make();
      randomizeBatchNorm(model);
      model.eval();
      const { imported, x } = roundTrip(model);
      const groups = findFusionGroups(imported);
      expect(groups).toEqual(findFusionGroups(model));
      expect(groups.length).toBeGreaterThan(0);
      const before = Array.from(imported.forward(x).data);
      fuseModules(imported, groups);
      expect(relDiff(imported.forward(x).data, before)).toBeLessThan(1e-6);
    }
  });

  it("works with prepareQat: fused QAT modules replace the imported layers and train", () => {
    manualSeed(4);
    const model = nn.models.resnet20();
    randomizeBatchNorm(model);
    const { imported, x } = roundTrip(model.eval());
    const prepared = prepareQat(imported, { qconfig: qconfigs.x86 });
    prepared.train();
    const y = prepared.forward(x);
    expect(y.shape).toEqual([2, 10]);
    expect(Array.from(y.data).every(Number.isFinite)).toBe(true);
    y.sum().backward();
    const grads = prepared.parameters().filter((p) => p.grad !== null);
    expect(grads.length).toBeGreaterThan(imported.parameters().length / 2);
    const swapped = prepared.namedModules().filter(([path]) => path.endsWith("layer1.0.conv1"));
    expect(swapped.length).toBe(1);
    expect(swapped[0][1].constructor.name).not.toBe("Conv2d");
  });

  it("trains: gradients reach every parameter and an SGD step lowers the loss", () => {
    manualSeed(2);
    const { imported } = roundTrip(nn.models.smallCnn().eval());
    imported.train();
    const x = randn([8, 1, 28, 28]);
    const target = tensor([0, 1, 2, 3, 4, 5, 6, 7], { dtype: "int32" });
    const lossOf = () => crossEntropy(imported.forward(x), target);
    const loss0 = lossOf();
    loss0.backward();
    for (const [n, p] of imported.namedParameters()) expect(p.grad, n).not.toBeNull();
    for (const p of imported.parameters()) for (let i = 0; i < p.size; i++) p.data[i] -= 0.05 * p.grad!.data[i];
    expect(lossOf().item()).toBeLessThan(loss0.item());
  });
});

itOrt("an imported and re-exported kitchen-sink graph still matches onnxruntime", async () => {
  const model = new TinyNet();
  randomizeBatchNorm(model);
  model.eval();
  const x = randn([3, 1, 4, 4]);
  const { imported } = roundTrip(model, x);
  const again = exportModel(imported, { example: x });
  expect(relDiff((await runOrt(ort!, again, x)).data, model.forward(x).data)).toBeLessThan(1e-4);
});

/** A one-input graph [N, 4] → output, from nodes and initializers. */
function graphBytes(nodes: ReturnType<typeof makeNode>[], inits: ReturnType<typeof floatTensorProto>[], opset = 13, outDims: (number | string)[] = ["N", 4]): Uint8Array {
  return encodeModel(makeModel({
    name: "g", node: nodes, initializer: inits,
    input: [makeValueInfo("x", DataType.FLOAT, ["N", 4])], output: [makeValueInfo("y", DataType.FLOAT, outDims)],
  }, { opset }));
}

describe("generic ops", () => {
  it("runs MatMul / Mul / Sub / Div / HardSwish / Softmax / Transpose / Reshape / Unsqueeze / Squeeze / Cast / Constant", () => {
    const w = floatTensorProto("w", Array.from({ length: 16 }, (_, i) => (i % 5) / 5 - 0.3), [4, 4]);
    const nodes = [
      makeNode("Constant", [], ["half"], { attributes: [attr.tensor("value", floatTensorProto("", [0.5], []))] }),
      makeNode("MatMul", ["x", "w"], ["a"], { name: "mm" }),
      makeNode("Mul", ["a", "half"], ["b"]),
      makeNode("Sub", ["b", "x"], ["c"]),
      makeNode("Div", ["c", "two"], ["d"]),
      makeNode("HardSwish", ["d"], ["e"]),
      makeNode("Unsqueeze", ["e", "ax"], ["f"]),
      makeNode("Transpose", ["f"], ["g"], { attributes: [attr.ints("perm", [1, 0, 2])] }),
      makeNode("Squeeze", ["g", "ax1"], ["h"]),
      makeNode("Cast", ["h"], ["i"], { attributes: [attr.int("to", DataType.FLOAT)] }),
      makeNode("Reshape", ["i", "shape"], ["j"]),
      makeNode("Softmax", ["j"], ["y"], { attributes: [attr.int("axis", -1)] }),
    ];
    const m = importFloatModel(graphBytes(nodes, [w, floatTensorProto("two", [2], []), int64TensorProto("ax", [0]), int64TensorProto("ax1", [1]), int64TensorProto("shape", [0, -1])]));
    const x = randn([3, 4]);
    const y = m.forward(x);
    // Reference with our ops directly.
    const wt = tensor(Float32Array.from(Array.from({ length: 16 }, (_, i) => (i % 5) / 5 - 0.3)), { shape: [4, 4] });
    const d = x.matmul(wt).mul(0.5).sub(x).div(2);
    const e = d.mul(d.mul(1 / 6).add(0.5).clamp(0, 1));
    const ref = e.exp().div(e.exp().sum(-1, { keepdim: true }));
    expect(relDiff(y.data, ref.data)).toBeLessThan(1e-6);
    expect(m.getSubmodule("mm")).toBeInstanceOf(nn.Linear);
  });

  it("reports unsupported ops with the op type, node name and supported list", () => {
    const bytes = graphBytes([makeNode("Einsum", ["x"], ["y"], { name: "my_einsum" })], []);
    expect(() => importModel(bytes)).toThrow(NotSupportedError);
    expect(() => importModel(bytes)).toThrow(/op Einsum \(Einsum node 'my_einsum'\) is not supported; supported ops: .*BatchNormalization.*Conv/);
  });

  it("hands quantized graphs to the quantized importer (an Int8Model); importFloatModel rejects them", () => {
    const bytes = graphBytes([makeNode("QuantizeLinear", ["x", "s"], ["q"]), makeNode("DequantizeLinear", ["q", "s"], ["y"])], [floatTensorProto("s", [0.1], [])]);
    expect(importModel(bytes)).toBeInstanceOf(Int8Model);
    expect(() => importFloatModel(bytes)).toThrow(/quantized/);
  });

  it("keeps a tied initializer as one parameter", () => {
    const w = floatTensorProto("w", Array.from({ length: 16 }, (_, i) => i / 16), [4, 4]);
    const m = importFloatModel(graphBytes([makeNode("Gemm", ["x", "w"], ["a"], { attributes: [attr.int("transB", 1)] }), makeNode("Gemm", ["a", "w"], ["y"], { attributes: [attr.int("transB", 1)] })], [w]));
    expect(m.parameters().length).toBe(1);
    expect(m.children().every((c) => c instanceof nn.Linear)).toBe(true);
  });

  it("Mul by an initializer keeps it trainable inside an OnnxOp", () => {
    const m = importFloatModel(graphBytes([makeNode("Mul", ["x", "scale.weight"], ["y"], { name: "scale" })], [floatTensorProto("scale.weight", [1, 2, 3, 4])]));
    const op = m.getSubmodule("scale");
    expect(op).toBeInstanceOf(OnnxOp);
    expect(Object.keys(m.stateDict())).toEqual(["scale.weight"]);
    expect(decodeModel(exportModel(m, { example: randn([1, 4]) })).graph!.initializer![0].name).toBe("scale.weight");
  });
});
