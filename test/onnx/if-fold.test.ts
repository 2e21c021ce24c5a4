/**
 * ONNX If at import (models from scripts/golden/rnn.py, test/golden/rnn/if_*.onnx: an MLP head
 * Gemm → If(Relu | Sigmoid) → MatMul): a condition that is a constant (Constant → Not) or is
 * computed from a static input shape (Shape → Gather → Equal on the declared feature size,
 * with a symbolic batch) folds into the taken branch — the imported module has no If, equals
 * onnxruntime and trains; a condition on the input data (ReduceSum → Greater) is a
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
import { importModel, OnnxModule, OnnxOp } from "../../src/onnx/index.js";
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

  it("if_dynamic: a condition on the data is a NotSupportedError naming the If", () => {
    expect(() => importModel(bytes("if_dynamic"))).toThrow(NotSupportedError);
    expect(() => importModel(bytes("if_dynamic"))).toThrow(/If node 'branch' branches on 'cond', which depends on the input data/);
  });
});
