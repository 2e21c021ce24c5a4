/**
 * The generic ops of issue #14 inside quantized ONNX files: between DequantizeLinear and
 * QuantizeLinear they import as float islands of the Int8Model (src/onnx/import-quantized.ts
 * runs their onnx-ops kernels), and the Int8Model equals onnxruntime on the same file within
 * ±1 output quantum (ties in the requantization may differ by one).
 */
import { describe, expect, it } from "vitest";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { DataType, attr, encodeModel, floatTensorProto, importModel, makeModel, makeNode, makeValueInfo } from "../../src/onnx/index.js";
import type { NodeProto } from "../../src/onnx/proto.js";
import { Int8Model } from "../../src/int8/model.js";
import { loadOrt, runOrt } from "./helpers.js";

const ort = await loadOrt();
const itOrt = ort ? it : it.skip;

/** x → Q/DQ → op₁ → Q/DQ → op₂ … → y, every activation on its own uint8 grid. */
function qdqChain(ops: ((a: string, out: string) => NodeProto)[], scales: number[], outDims: number[]): Uint8Array {
  const nodes: NodeProto[] = [];
  const inits = [floatTensorProto("s0", [scales[0]], []), { name: "zp", dims: [], dataType: DataType.UINT8, rawData: Uint8Array.of(128) }];
  let cur = "x";
  const qdq = (v: string, k: number): string => {
    nodes.push(makeNode("QuantizeLinear", [v, `s${k}`, "zp"], [`q${k}`]), makeNode("DequantizeLinear", [`q${k}`, `s${k}`, "zp"], [`d${k}`]));
    return `d${k}`;
  };
  cur = qdq(cur, 0);
  ops.forEach((op, k) => {
    inits.push(floatTensorProto(`s${k + 1}`, [scales[k + 1]], []));
    nodes.push(op(cur, `o${k}`));
    cur = qdq(`o${k}`, k + 1);
  });
  nodes.push(makeNode("Identity", [cur], ["y"]));
  return encodeModel(makeModel({ name: "qchain", node: nodes, initializer: inits, input: [makeValueInfo("x", DataType.FLOAT, [4, 6])], output: [makeValueInfo("y", DataType.FLOAT, outDims)] }, { opset: 13 }));
}

describe("issue #14 ops as float islands of a quantized (QDQ) file", () => {
  itOrt("LeakyRelu → Erf → ReduceMean → Tanh: Int8Model ≡ onnxruntime within ±1 output quantum", async () => {
    const bytes = qdqChain([
      (a, o) => makeNode("LeakyRelu", [a], [o], { attributes: [attr.float("alpha", 0.1)] }),
      (a, o) => makeNode("Erf", [a], [o]),
      (a, o) => makeNode("ReduceMean", [a], [o], { attributes: [attr.ints("axes", [1])] }),
      (a, o) => makeNode("Tanh", [a], [o]),
    ], [0.03, 0.02, 0.008, 0.004, 0.004], [4, 1]);
    const m = importModel(bytes);
    expect(m).toBeInstanceOf(Int8Model);
    manualSeed(3);
    const x = randn([4, 6]);
    const ours = (m as Int8Model).run(x).toFloat32Array();
    const theirs = (await runOrt(ort!, bytes, x)).data;
    expect(ours.length).toBe(theirs.length);
    expect(new Set(ours).size, "the outputs vary (not one saturated value)").toBeGreaterThan(2);
    for (let k = 0; k < ours.length; k++) expect(Math.abs(ours[k] - theirs[k]) / 0.004, `element ${k}`).toBeLessThanOrEqual(1 + 1e-6);
  });
});
