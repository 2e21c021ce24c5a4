/**
 * Where imported nodes land in the OnnxModule tree (src/onnx/naming.ts ChildPlacer, which keeps
 * its own child index so an import is linear in the node count): dotted initializer prefixes
 * become nested containers, a taken path or a path through a non-container falls back to a
 * unique flat name, and a Module property name is never shadowed.
 */
import { describe, expect, it } from "vitest";
import { DataType, encodeModel, floatTensorProto, importFloatModel, makeModel, makeNode, makeValueInfo } from "../../src/onnx/index.js";
import { OnnxContainer } from "../../src/onnx/onnx-module.js";

function chain(specs: { init: string; name?: string }[]): Uint8Array {
  const nodes = specs.map((s, k) => makeNode("Mul", [k === 0 ? "x" : `v${k - 1}`, s.init], [k === specs.length - 1 ? "y" : `v${k}`], s.name ? { name: s.name } : {}));
  const inits = specs.map((s) => floatTensorProto(s.init, [1 + specs.indexOf(s)], [1]));
  return encodeModel(makeModel({ name: "g", node: nodes, initializer: inits, input: [makeValueInfo("x", DataType.FLOAT, [1, 2])], output: [makeValueInfo("y", DataType.FLOAT, [1, 2])] }, { opset: 13 }));
}

describe("ChildPlacer", () => {
  it("nests dotted prefixes, falls back to unique flat names, never shadows a property", () => {
    const m = importFloatModel(chain([
      { init: "layer1.0.conv1.weight" },
      { init: "layer1.0.conv2.weight" },
      { init: "layer1.0.conv1.scale" }, // path taken by the first node → flat fallback "Mul_2"
      { init: "layer1.0.conv1.weight2", name: "Mul_2" }, // same prefix and fallback taken → "Mul_2_1"
      { init: "forward.weight" }, // a Module method name → flat fallback
      { init: "layer1.0.conv1.extra.weight" }, // through a non-container layer → flat fallback
    ]));
    expect(Object.keys(m.stateDict())).toEqual([
      "layer1.0.conv1.weight", "layer1.0.conv2.weight", "Mul_2.scale", "Mul_2_1.weight2", "Mul_4.weight", "Mul_5.weight",
    ]);
    expect(m.getSubmodule("layer1")).toBeInstanceOf(OnnxContainer);
    expect(m.getSubmodule("layer1.0")).toBeInstanceOf(OnnxContainer);
    expect(typeof m.forward).toBe("function");
  });

  it("a 3,000-node chain places every node at its own flat name", () => {
    const n = 3000;
    const m = importFloatModel(chain(Array.from({ length: n }, (_, k) => ({ init: `s${k}.weight` }))));
    expect(m.children().length).toBe(n);
    expect(new Set(Object.keys(m.stateDict())).size).toBe(n);
  });
});
