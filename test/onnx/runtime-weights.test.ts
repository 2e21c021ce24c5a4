/**
 * Conv, ConvTranspose, Gemm and MatMul whose weight (and bias) are graph values rather than
 * initializers import as functional ops (src/onnx/onnx-ops-conv.ts, onnx-ops.ts): outputs equal
 * onnxruntime's on the same bytes, and gradients reach the data and the weight inputs (float64
 * central differences through the imported module), 1-D to 3-D. The same checks for the functional pooling
 * forms (SAME padding, 1-D, ceil_mode), InstanceNormalization, training-mode BatchNormalization,
 * Pad edge / reflect and Resize.
 * A Conv with explicit asymmetric pads and a constant weight imports as Sequential(Pad,
 * Conv2d) (so convert makes the convolution integer) and re-exports (imported at opsets 9 and 13). A weight-normalised Conv (w = v · g, two
 * initializers combined by a Mul node) trains both v and g.
 */
import { describe, expect, it } from "vitest";
import "../../src/ops/index.js";
import { backward } from "../../src/autograd/backward.js";
import { mul, sum } from "../../src/ops/index.js";
import { randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import {
  DataType, OnnxOp, attr, encodeModel, exportModel, floatTensorProto, importModel, int64TensorProto, makeModel, makeNode, makeValueInfo, type OnnxModule,
} from "../../src/onnx/index.js";
import type { NodeProto, TensorProto } from "../../src/onnx/proto.js";
import { expectClose, expectGrad, leaf } from "../core/helpers.js";
import { loadOrt, runOrt } from "./helpers.js";

const ort = await loadOrt();

interface Case {
  title: string;
  node: NodeProto;
  /** Graph inputs: name and shape. */
  inputs: [string, number[]][];
  inits?: TensorProto[];
  opset?: number;
}

const cases: Case[] = [
  { title: "Conv 2-D, weight and bias inputs, stride 2, asymmetric pads", node: makeNode("Conv", ["x", "w", "b"], ["y"], { attributes: [attr.ints("strides", [2, 2]), attr.ints("pads", [0, 1, 1, 0])] }), inputs: [["x", [2, 3, 5, 5]], ["w", [4, 3, 3, 3]], ["b", [4]]] },
  { title: "Conv 1-D, grouped, weight input", node: makeNode("Conv", ["x", "w"], ["y"], { attributes: [attr.int("group", 2), attr.string("auto_pad", "SAME_UPPER")] }), inputs: [["x", [2, 4, 7]], ["w", [6, 2, 3]]] },
  { title: "ConvTranspose, weight input, stride 2, output_padding", node: makeNode("ConvTranspose", ["x", "w"], ["y"], { attributes: [attr.ints("strides", [2, 2]), attr.ints("output_padding", [1, 0]), attr.ints("pads", [1, 0, 0, 1])] }), inputs: [["x", [1, 2, 3, 4]], ["w", [2, 3, 3, 2]]] },
  { title: "ConvTranspose 1-D, groups 2, dilation 2, bias input", node: makeNode("ConvTranspose", ["x", "w", "b"], ["y"], { attributes: [attr.int("group", 2), attr.ints("dilations", [2]), attr.ints("strides", [3]), attr.ints("pads", [1, 2])] }), inputs: [["x", [2, 4, 5]], ["w", [4, 3, 3]], ["b", [6]]] },
  { title: "Conv 3-D, groups 2, strides, dilation, asymmetric pads, bias input", node: makeNode("Conv", ["x", "w", "b"], ["y"], { attributes: [attr.int("group", 2), attr.ints("strides", [2, 1, 2]), attr.ints("dilations", [1, 2, 1]), attr.ints("pads", [1, 0, 1, 0, 1, 0])] }), inputs: [["x", [1, 4, 4, 5, 4]], ["w", [2, 2, 2, 2, 3]], ["b", [2]]] },
  { title: "ConvTranspose 3-D, groups 2, strides, output_padding, pads", node: makeNode("ConvTranspose", ["x", "w"], ["y"], { attributes: [attr.int("group", 2), attr.ints("strides", [2, 1, 2]), attr.ints("output_padding", [1, 0, 0]), attr.ints("pads", [0, 1, 1, 1, 0, 0])] }), inputs: [["x", [1, 4, 2, 3, 2]], ["w", [4, 1, 2, 3, 2]]] },
  { title: "MaxPool 3-D, pads, ceil_mode", node: makeNode("MaxPool", ["x"], ["y"], { attributes: [attr.ints("kernel_shape", [2, 3, 2]), attr.ints("strides", [2, 2, 1]), attr.ints("pads", [1, 0, 0, 0, 1, 1]), attr.int("ceil_mode", 1)] }), inputs: [["x", [1, 2, 5, 5, 3]]] },
  { title: "AveragePool 3-D, SAME_UPPER, pads not counted", node: makeNode("AveragePool", ["x"], ["y"], { attributes: [attr.ints("kernel_shape", [3, 2, 2]), attr.ints("strides", [2, 2, 2]), attr.string("auto_pad", "SAME_UPPER")] }), inputs: [["x", [2, 1, 5, 4, 3]]] },
  { title: "Gemm, B and C inputs, transB, alpha/beta", node: makeNode("Gemm", ["x", "w", "c"], ["y"], { attributes: [attr.int("transB", 1), attr.float("alpha", 0.5), attr.float("beta", 2)] }), inputs: [["x", [3, 4]], ["w", [5, 4]], ["c", [5]]] },
  { title: "MatMul, both operands inputs (batched)", node: makeNode("MatMul", ["x", "w"], ["y"]), inputs: [["x", [2, 3, 4]], ["w", [2, 4, 5]]] },
  // Functional pooling / normalisation / resize (no weights): the same checks.
  { title: "AveragePool SAME_LOWER stride 2, pads not counted", node: makeNode("AveragePool", ["x"], ["y"], { attributes: [attr.ints("kernel_shape", [3, 3]), attr.ints("strides", [2, 2]), attr.string("auto_pad", "SAME_LOWER")] }), inputs: [["x", [1, 2, 5, 5]]] },
  { title: "MaxPool 1-D, asymmetric pads, ceil_mode", node: makeNode("MaxPool", ["x"], ["y"], { attributes: [attr.ints("kernel_shape", [3]), attr.ints("strides", [2]), attr.ints("pads", [1, 2]), attr.int("ceil_mode", 1)] }), inputs: [["x", [2, 2, 7]]] },
  { title: "InstanceNormalization, scale and B inputs", node: makeNode("InstanceNormalization", ["x", "s", "b"], ["y"], { attributes: [attr.float("epsilon", 1e-3)] }), inputs: [["x", [2, 3, 4, 2]], ["s", [3]], ["b", [3]]] },
  { title: "BatchNormalization training_mode = 1 (batch statistics)", node: makeNode("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "running_mean", "running_var"], { attributes: [attr.int("training_mode", 1), attr.float("epsilon", 1e-3)] }), inputs: [["x", [3, 2, 2, 2]], ["s", [2]], ["b", [2]], ["m", [2]], ["v", [2]]], opset: 15 },
  { title: "Pad reflect", node: makeNode("Pad", ["x", "pads"], ["y"], { attributes: [attr.string("mode", "reflect")] }), inputs: [["x", [1, 2, 3, 4]]], inits: [int64TensorProto("pads", [0, 0, 2, 1, 0, 0, 1, 3])] },
  { title: "Pad edge", node: makeNode("Pad", ["x", "pads"], ["y"], { attributes: [attr.string("mode", "edge")] }), inputs: [["x", [2, 3]]], inits: [int64TensorProto("pads", [1, 2, 0, 3])] },
  { title: "Resize linear (half_pixel) by scales", node: makeNode("Resize", ["x", "", "scales"], ["y"], { attributes: [attr.string("mode", "linear")] }), inputs: [["x", [1, 2, 3, 4]]], inits: [floatTensorProto("scales", [1, 1, 2, 1.5])] },
];

function modelBytes(c: Case): Uint8Array {
  const graph = {
    name: c.title, node: [c.node], initializer: c.inits ?? [],
    input: c.inputs.map(([n, s]) => makeValueInfo(n, DataType.FLOAT, s)),
    output: [{ name: "y", type: { tensorType: { elemType: DataType.FLOAT } } }],
  };
  return encodeModel(makeModel(graph, { opset: c.opset ?? 13 }));
}

describe("runtime weights (Conv / ConvTranspose / Gemm / MatMul)", () => {
  for (const c of cases) {
    it(`${c.title}: equals onnxruntime, gradients to data and weights`, async () => {
      const bytes = modelBytes(c);
      const m = importModel(bytes) as OnnxModule;
      expect(m.parameters()).toHaveLength(0);
      manualSeed(9);
      const xs = c.inputs.map(([, s]) => randn(s));
      const y = m.forward(...xs);
      if (ort) {
        const session = await ort.InferenceSession.create(bytes);
        const feeds = Object.fromEntries(c.inputs.map(([n, s], k) => [n, new ort.Tensor("float32", xs[k].toFloat32Array(), s)]));
        const out = (await session.run(feeds)).y;
        expect([...out.dims]).toEqual(y.shape);
        expectClose(y.data, out.data as Float32Array, 1e-5, 1e-4);
        await session.release();
      }
      const r = randn(y.shape, { dtype: "float64" });
      expectGrad((...ins: Tensor[]) => sum(mul(m.forward(...ins), r)), c.inputs.map(([, s]) => leaf(s, 0.5)));
    });
  }

  for (const opset of [9, 13]) {
    it(`Conv with explicit asymmetric pads (initializer weight, opset ${opset}) imports as Sequential(Pad, Conv2d), equals onnxruntime, re-exports`, async () => {
      manualSeed(6);
      const w = floatTensorProto("conv.weight", Array.from(randn([3, 2, 3, 3]).data), [3, 2, 3, 3]);
      const bytes = encodeModel(makeModel({
        name: "asym", initializer: [w],
        node: [makeNode("Conv", ["x", "conv.weight"], ["y"], { name: "conv", attributes: [attr.ints("pads", [0, 1, 1, 0]), attr.ints("strides", [2, 2])] })],
        input: [makeValueInfo("x", DataType.FLOAT, [1, 2, 6, 7])], output: [{ name: "y", type: { tensorType: { elemType: DataType.FLOAT } } }],
      }, { opset }));
      const m = importModel(bytes) as OnnxModule;
      const kinds = m.namedModules().map(([, mod]) => (mod instanceof OnnxOp ? mod.opType : mod.constructor.name));
      expect(kinds).toEqual(expect.arrayContaining(["Sequential", "Pad", "Conv2d"]));
      const x = randn([1, 2, 6, 7]);
      const y = m.forward(x);
      if (!ort) return;
      expectClose(y.data, (await runOrt(ort, bytes, x)).data, 1e-5, 1e-4);
      expectClose(y.data, (await runOrt(ort, exportModel(m, { example: x }), x)).data, 1e-5, 1e-4);
    });
  }

  it("Dropout's mask output: all true in inference mode; a training-mode mask is a NotSupportedError", () => {
    const model = (inits: TensorProto[], inputs: string[]) => encodeModel(makeModel({
      name: "d", initializer: inits, node: [makeNode("Dropout", inputs, ["y", "mask"])],
      input: [makeValueInfo("x", DataType.FLOAT, [2, 3])],
      output: [{ name: "y", type: { tensorType: { elemType: DataType.FLOAT } } }, { name: "mask", type: { tensorType: { elemType: DataType.BOOL } } }],
    }, { opset: 13 }));
    const m = importModel(model([], ["x"])) as OnnxModule;
    const x = randn([2, 3]);
    const [y, mask] = m.forwardAll(x);
    expect(y.toList()).toEqual(x.toList());
    expect(mask.toList()).toEqual([1, 1, 1, 1, 1, 1]);
    const training: TensorProto = { name: "t", dims: [], dataType: DataType.BOOL, int32Data: [1] };
    expect(() => importModel(model([floatTensorProto("r", [0.5], []), training], ["x", "r", "t"]))).toThrow(/Dropout node.*mask of a training-mode Dropout/);
  });

  it("weight-normalised Conv (w = v · g from two initializers) trains v and g", () => {
    manualSeed(4);
    const v = floatTensorProto("conv.weight_v", Array.from(randn([2, 1, 3, 3]).data), [2, 1, 3, 3]);
    const g = floatTensorProto("conv.weight_g", [0.5, 2], [2, 1, 1, 1]);
    const bytes = encodeModel(makeModel({
      name: "wn", initializer: [v, g],
      node: [makeNode("Mul", ["conv.weight_v", "conv.weight_g"], ["w"]), makeNode("Conv", ["x", "w"], ["y"], { attributes: [attr.ints("pads", [1, 1, 1, 1])] })],
      input: [makeValueInfo("x", DataType.FLOAT, [1, 1, 4, 4])], output: [{ name: "y", type: { tensorType: { elemType: DataType.FLOAT } } }],
    }, { opset: 13 }));
    const m = importModel(bytes) as OnnxModule;
    const params = m.namedParameters();
    expect(params.map(([k]) => k.slice(k.lastIndexOf(".") + 1)).sort()).toEqual(["weight_g", "weight_v"]);
    backward(sum(m.forward(randn([1, 1, 4, 4]))));
    for (const [key, p] of params) expect(Array.from(p.grad!.data).some((x) => x !== 0), key).toBe(true);
  });
});
