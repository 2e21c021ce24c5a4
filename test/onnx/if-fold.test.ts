/**
 * ONNX If at import (models from scripts/golden/rnn.py, test/golden/rnn/if_*.onnx: an MLP head
 * Gemm → If(Relu | Sigmoid) → MatMul): a condition that is a constant (Constant → Not) or is
 * computed from a static input shape (Shape → Gather → Equal on the declared feature size,
 * with a symbolic batch) folds into the taken branch — the imported module has no If, equals
 * onnxruntime and trains; a false constant takes the else branch (its own initializer and a
 * nested If are imported too); a condition on the input data (ReduceSum → Greater) is a
 * NotSupportedError naming the If node.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import "../../src/ops/index.js";
import { backward } from "../../src/autograd/backward.js";
import { sum } from "../../src/ops/index.js";
import { randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import { NotSupportedError } from "../../src/tensor/errors.js";
import { DataType, encodeModel, floatTensorProto, importModel, makeModel, makeNode, makeValueInfo, OnnxModule, OnnxOp } from "../../src/onnx/index.js";
import { AttrType, type AttributeProto, type GraphProto, type NodeProto } from "../../src/onnx/proto.js";
import { expectClose } from "../core/helpers.js";
import { goldenPath } from "../nn/golden.js";
import { loadOrt, runOrt } from "./helpers.js";

const ort = await loadOrt();
const bytes = (name: string) => readFileSync(goldenPath(`rnn/${name}.onnx`));

describe("ONNX If folding", () => {
  for (const name of ["if_const", "if_shape"]) {
    it(`${name}: the If folds into its then branch (Relu), equals onnxruntime, trains`, async () => {
      const m = importModel(bytes(name)) as OnnxModule;
      const ops = m.namedModules().flatMap(([, mod]) => (mod instanceof OnnxOp ? [mod.opType] : [mod.constructor.name]));
      expect(ops).not.toContain("If");
      expect(ops).toContain("ReLU");
      expect(ops).not.toContain("Sigmoid");
      manualSeed(3);
      const x = randn([5, 4]);
      const y = m.forward(x);
      expect(y.shape).toEqual([5, 2]);
      if (ort) expectClose(y.data, (await runOrt(ort, bytes(name), x)).data, 1e-5, 1e-5);
      backward(sum(m.forward(x)));
      for (const [key, p] of m.namedParameters()) expect(p.grad, key).toBeTruthy();
    });
  }

  it("a false constant takes the else branch, with its own initializer and a nested If", () => {
    const out = (name: string) => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } });
    const graphAttr = (name: string, g: GraphProto): AttributeProto => ({ name, type: AttrType.GRAPH, g });
    const boolConst = (name: string, v: boolean) => makeNode("Constant", [], [name], { attributes: [{ name: "value", type: AttrType.TENSOR, t: { name: "v", dims: [], dataType: DataType.BOOL, int32Data: [v ? 1 : 0] } }] });
    const inner: NodeProto = makeNode("If", ["inner_cond"], ["z"], { name: "inner", attributes: [
      graphAttr("then_branch", { name: "t2", node: [makeNode("Mul", ["s", "two"], ["z_then"])], output: [out("z_then")] }),
      graphAttr("else_branch", { name: "e2", node: [makeNode("Neg", ["s"], ["z_else"])], output: [out("z_else")] }),
    ] });
    const elseBranch: GraphProto = {
      name: "else", initializer: [floatTensorProto("two", [2], [])],
      node: [makeNode("Sigmoid", ["x"], ["s"]), boolConst("inner_cond", true), inner], output: [out("z")],
    };
    const thenBranch: GraphProto = { name: "then", node: [makeNode("Relu", ["x"], ["r"])], output: [out("r")] };
    const model = makeModel({
      name: "if_else", node: [boolConst("cond", false), makeNode("If", ["cond"], ["y"], { name: "outer", attributes: [graphAttr("then_branch", thenBranch), graphAttr("else_branch", elseBranch)] })],
      input: [makeValueInfo("x", DataType.FLOAT, [2, 3])], output: [out("y")],
    }, { opset: 13 });
    const m = importModel(encodeModel(model)) as OnnxModule;
    const x = randn([2, 3]);
    const want = Array.from(x.data, (v) => 2 / (1 + Math.exp(-v)));
    expectClose(m.forward(x).data, want, 1e-6, 1e-6);
  });

  it("if_dynamic: a condition on the data is a NotSupportedError naming the If", () => {
    expect(() => importModel(bytes("if_dynamic"))).toThrow(NotSupportedError);
    expect(() => importModel(bytes("if_dynamic"))).toThrow(/If node 'branch' branches on 'cond', which depends on the input data/);
  });
});
