/**
 * Elementwise ops of an imported ONNX model (LeakyRelu, HardSwish, Elu, Softplus between Gemms)
 * become 256-entry tables when their input is 8-bit (issue 14: "any elementwise unary op on 8-bit
 * values as a 256-entry table"): no float islands, Int8Model ≡ fake-quant, the tables run from a
 * file (they are data), and the QDQ export (each op between DQ and Q) runs in onnxruntime with
 * the same outputs within one quantum.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { attr, floatTensorProto, makeModel, makeNode, makeValueInfo } from "../../src/onnx/builders.js";
import { DataType, encodeModel } from "../../src/onnx/proto.js";
import { exportModel, importModel } from "../../src/onnx/index.js";
import { calibrate, convertWithReport, prepareQat, qconfigs } from "../../src/quant/index.js";
import { Int8Model } from "../../src/int8/model.js";
import type { Module } from "../../src/nn/module.js";
import { loadOrt, ortUnavailable } from "./helpers.js";
import { runOrtWith } from "./quantized-helpers.js";

const ort = await loadOrt();

/** x [N, 8] → Gemm → LeakyRelu → Gemm → HardSwish → Gemm → Elu → Gemm → Softplus → Gemm [N, 4]. */
function model(): Uint8Array {
  manualSeed(31);
  const w = (name: string, o: number, i: number) => floatTensorProto(name, Array.from(randn([o * i]).mul(0.5).data), [o, i]);
  const acts: [string, ReturnType<typeof attr.float>[]][] = [["LeakyRelu", [attr.float("alpha", 0.1)]], ["HardSwish", []], ["Elu", [attr.float("alpha", 0.7)]], ["Softplus", []]];
  const nodes = [];
  const inits = [];
  let x = "x";
  acts.forEach(([op, attributes], i) => {
    inits.push(w(`w${i}`, 8, 8));
    nodes.push(makeNode("Gemm", [x, `w${i}`], [`g${i}`], { name: `gemm${i}`, attributes: [attr.int("transB", 1)] }));
    nodes.push(makeNode(op, [`g${i}`], [`a${i}`], { name: `${op}${i}`, attributes }));
    x = `a${i}`;
  });
  inits.push(w("wout", 4, 8));
  nodes.push(makeNode("Gemm", [x, "wout"], ["y"], { name: "head", attributes: [attr.int("transB", 1)] }));
  const graph = { name: "acts", node: nodes, initializer: inits, input: [makeValueInfo("x", DataType.FLOAT, ["N", 8])], output: [makeValueInfo("y", DataType.FLOAT, ["N", 4])] };
  return encodeModel(makeModel(graph, { opset: 14 }));
}

describe("elementwise ops of an imported ONNX model as 256-entry tables", () => {
  it("LeakyRelu, HardSwish, Elu, Softplus: tables (no islands), Int8Model ≡ fake-quant, from a file, and in onnxruntime", async () => {
    const float = importModel(model()) as Module;
    const qm = prepareQat(float, { qconfig: qconfigs.x86, example: randn([2, 8]) });
    qm.train();
    calibrate(qm, [0, 1, 2].map((s) => ({ x: (manualSeed(40 + s), randn([32, 8])) })), { batches: 3 });
    const { model: int8, report } = convertWithReport(qm);
    expect(report.islands).toEqual([]);
    const luts = int8.graph.nodes.filter((n) => n.op === "lut");
    expect(luts.map((n) => (n as { opType?: string }).opType)).toEqual(["LeakyRelu", "HardSwish", "Elu", "Softplus"]);
    manualSeed(50);
    const x = randn([64, 8]);
    qm.eval();
    const fq = noGrad(() => qm.forward(x));
    const got = int8.run(x);
    const scale = int8.value(int8.graph.output).q.scale;
    let within = 0;
    for (let i = 0; i < fq.size; i++) if (Math.abs(fq.data[i] - got.data[i]) <= scale * 1.0001) within++;
    expect(within / fq.size).toBeGreaterThanOrEqual(0.999);
    // the tables are data: a decoded model runs them with no module
    expect(Array.from(Int8Model.decode(int8.encode()).run(x).data)).toEqual(Array.from(got.data));
    if (!ort) return console.warn(`[tables] onnxruntime parity skipped: ${ortUnavailable}`);
    const viaOrt = await runOrtWith(ort, exportModel(qm, { example: x, format: "qdq", opset: 14 }), x); // HardSwish is opset 14
    let ok = 0;
    for (let i = 0; i < viaOrt.length; i++) if (Math.abs(viaOrt[i] - got.data[i]) <= scale * 1.0001) ok++;
    expect(ok / viaOrt.length).toBeGreaterThanOrEqual(0.99);
  });
});
