/**
 * Import of dynamically quantized ONNX back into an Int8Model: our exports of the three
 * presets round-trip (dynamic: bit for bit, with int8 and uint8 weights; MatMulNBits, weight
 * only or behind the float quantize-dequantize ops: within float summation order), a graph
 * whose DynamicQuantizeLinear feeds several MatMulIntegers (onnxruntime's Q/K/V sharing) imports,
 * and broken chains are refused naming the node.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { Sequential } from "../../src/nn/layers/container.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { ReLU } from "../../src/nn/layers/activation.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { prepareQat, type QConfig } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { dynamicQConfig } from "../../src/quant/dynamic-qconfig.js";
import { convert } from "../../src/quant/convert.js";
import { Int8Model } from "../../src/int8/model.js";
import { decodeModel, exportInt8Model, importModel } from "../../src/onnx/index.js";
import { encodeModel } from "../../src/onnx/proto.js";

function mlp(): Sequential {
  manualSeed(31);
  return new Sequential(new Linear(64, 48), new ReLU(), new Linear(48, 32), new ReLU(), new Linear(32, 10));
}
const x = (() => {
  manualSeed(32);
  return randn([12, 64]);
})();

const roundTrip = (qc: QConfig): { ours: Int8Model; back: Int8Model; bytes: Uint8Array } => {
  const ours = convert(prepareQat(mlp(), { qconfig: qc, example: x }));
  const bytes = exportInt8Model(ours, { format: "qdq" });
  const back = importModel(bytes);
  if (!(back instanceof Int8Model)) throw new Error("not an Int8Model");
  return { ours, back, bytes };
};
const maxDiff = (a: Tensor, b: Tensor) => Math.max(...Array.from(a.data, (v, i) => Math.abs(v - b.data[i])));

describe("dynamic ONNX import", () => {
  for (const [label, qc] of [["int8 weights (7-bit)", dynamicQConfig({ weightBits: 7 })], ["uint8 weights (full 8-bit)", qconfigs.dynamic]] as const) {
    it(`DynamicQuantizeLinear → MatMulInteger → Cast → Mul → Add, ${label}: export → import is bit for bit`, () => {
      const { ours, back } = roundTrip(qc);
      expect(back.graph.nodes.filter((n) => n.op === "dynamic_linear")).toHaveLength(3);
      expect(Array.from(back.run(x).data)).toEqual(Array.from(ours.run(x).data));
    });
  }
  for (const name of ["int4WeightOnly", "int8DynActInt4Weight"] as const) {
    it(`${name}: MatMulNBits imports as linear_nbits; the model agrees within float summation order`, () => {
      const { ours, back } = roundTrip(qconfigs[name]);
      expect(back.graph.nodes.filter((n) => n.op === "linear_nbits")).toHaveLength(3);
      const y = ours.run(x);
      expect(maxDiff(back.run(x), y)).toBeLessThanOrEqual(1e-5 * Math.max(...Array.from(y.data, Math.abs)));
    });
  }
  it("one DynamicQuantizeLinear feeding two MatMulInteger chains (onnxruntime shares it between Q, K, V) imports as two dynamic_linear nodes", () => {
    const { bytes, ours } = roundTrip(qconfigs.dynamic);
    const m = decodeModel(bytes);
    const nodes = m.graph!.node!;
    // a twin of layer 0's MatMulInteger → Cast → Mul → Mul → Add reading the same DynamicQuantizeLinear; it becomes the graph output
    const first = nodes.findIndex((n) => n.opType === "MatMulInteger");
    const chain = nodes.slice(first, first + 5);
    expect(chain.map((n) => n.opType)).toEqual(["MatMulInteger", "Cast", "Mul", "Mul", "Add"]);
    const produced = new Set(chain.flatMap((n) => n.output!));
    const twin = structuredClone(chain).map((n) => ({ ...n, name: `${n.name}_twin`, input: n.input!.map((i) => (produced.has(i) ? `${i}_twin` : i)), output: n.output!.map((o) => `${o}_twin`) }));
    m.graph!.node = [...nodes, ...twin];
    m.graph!.output = [{ ...m.graph!.output![0], name: twin[4].output![0], type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "N" }, { dimValue: 48 }] } } } }];
    const back = importModel(encodeModel(m)) as Int8Model;
    expect(back.graph.nodes.filter((n) => n.op === "dynamic_linear")).toHaveLength(4);
    const layer0 = ours.graph.nodes[0].output;
    const want = ours.runQuantized(x, { collect: true }).values!.get(layer0)!;
    expect(Array.from(back.run(x).data)).toEqual(Array.from(want.data as unknown as Float32Array));
  });
  it("refuses a MatMulInteger chain without its Cast, naming the node", () => {
    const { bytes } = roundTrip(qconfigs.dynamic);
    const m = decodeModel(bytes);
    const cast = m.graph!.node!.find((n) => n.opType === "Cast")!;
    cast.opType = "Identity";
    cast.attribute = [];
    expect(() => importModel(encodeModel(m))).toThrow(/MatMulInteger node 'module.0\/MatMulInteger'.*one Cast/);
  });
});
