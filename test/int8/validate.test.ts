/**
 * Semantic validation of Int8Model graphs (src/int8/validate.ts) and the validation layer in
 * front of the wasm integer kernels (src/int8/kernels/gemm-path.ts): every hostile attribute
 * named in issue #16 is a typed error naming the field, from an in-memory graph and from a
 * decoded file alike, and the wasm path rejects what the reference kernel rejects, with the
 * same error, instead of reading outside its memory.
 */
import { describe, expect, it } from "vitest";
import "../../src/index.js";
import { getBackend, listBackends, setBackend } from "../../src/backend/index.js";
import { Int8Model } from "../../src/int8/model.js";
import type { Int8Graph } from "../../src/int8/graph.js";
import { INT8_OPS, validateInt8Graph } from "../../src/int8/validate.js";
import { FormatError, QatError, ValueError } from "../../src/tensor/errors.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { encodeSafetensors } from "../../src/nn/safetensors.js";

const q8 = { scale: 0.05, zeroPoint: 10, dtype: "uint8" as const, qmin: 0, qmax: 255 };
const fresh = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** input [-1,1,6,6] → conv 2×1×3×3 pad 1 → maxpool 2 → flatten → linear 3×18. */
function tinyModel(): { graph: Int8Graph; tensors: Map<string, Int8Array | Int32Array> } {
  const graph: Int8Graph = {
    input: { id: "x", shape: [-1, 1, 6, 6], q: q8 },
    output: "y",
    values: [
      { id: "x", shape: [-1, 1, 6, 6], q: q8 },
      { id: "c", shape: [-1, 2, 6, 6], q: q8 },
      { id: "p", shape: [-1, 2, 3, 3], q: q8 },
      { id: "f", shape: [-1, 18], q: q8 },
      { id: "y", shape: [-1, 3], q: { ...q8, dtype: "int8", zeroPoint: 0, qmin: -128, qmax: 127 } },
    ],
    nodes: [
      {
        op: "conv2d", name: "conv", inputs: ["x"], output: "c", weight: "cw", wShape: [2, 1, 3, 3], bias: "cb",
        stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, requant: { multiplier: "cm", shift: "cs" },
        clamp: [10, 255], wScales: [0.01, 0.02], weightBits: 8,
      },
      { op: "maxpool2d", name: "pool", inputs: ["c"], output: "p", kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false },
      { op: "flatten", name: "flat", inputs: ["p"], output: "f", startDim: 1 },
      {
        op: "linear", name: "fc", inputs: ["f"], output: "y", weight: "lw", wShape: [3, 18], bias: null,
        requant: { multiplier: "lm", shift: "ls" }, clamp: [-128, 127], wScales: [0.01], weightBits: 8,
      },
    ],
    meta: {},
  };
  const tensors = new Map<string, Int8Array | Int32Array>([
    ["cw", Int8Array.from({ length: 18 }, (_, i) => (i % 7) - 3)],
    ["cb", Int32Array.from([5, -5])],
    ["cm", Int32Array.from([1 << 30, 1 << 30])],
    ["cs", Int32Array.from([-3, -4])],
    ["lw", Int8Array.from({ length: 54 }, (_, i) => (i % 5) - 2)],
    ["lm", Int32Array.from([1518500250])],
    ["ls", Int32Array.from([-6])],
  ]);
  return { graph: fresh(graph), tensors };
}

type Mutation = [string, (g: Int8Graph, t: Map<string, Int8Array | Int32Array>) => void, RegExp];
const node = (g: Int8Graph, i: number): any => g.nodes[i];

const MUTATIONS: Mutation[] = [
  ["conv dilation [0, 0]", (g) => { node(g, 0).dilation = [0, 0]; }, /node 'conv' \("conv2d"\): dilation must be two integers in \[1,/],
  ["conv padding −5", (g) => { node(g, 0).padding = [-5, -5]; }, /'conv'.*padding must be two integers in \[0,/],
  ["conv padding 1e6", (g) => { node(g, 0).padding = [1e6, 1e6]; }, /'conv'.*padding \[1000000,1000000\] exceeds the dilated kernel extent/],
  ["wShape larger than the weight bytes", (g) => { node(g, 0).wShape = [2, 1, 5, 5]; }, /'conv'.*weight tensor 'cw' has 18 elements, expected 50/],
  ["wShape not matching the input channels", (g) => { node(g, 0).wShape = [2, 3, 3, 1]; }, /'conv'.*needs 3 input channels, the input has 1/],
  ["reversed clamp", (g) => { node(g, 0).clamp = [200, 20]; }, /'conv'.*clamp must be \[lo, hi\] with 0 ≤ lo ≤ hi ≤ 255/],
  ["clamp outside the dtype", (g) => { node(g, 3).clamp = [-200, 127]; }, /'fc'.*clamp must be/],
  ["pool kernel 0", (g) => { node(g, 1).kernel = [0, 0]; }, /'pool'.*kernel must be two integers in \[1,/],
  ["pool stride 0", (g) => { node(g, 1).stride = [0, 2]; }, /'pool'.*stride must be two integers in \[1,/],
  ["pool padding 1e6", (g) => { node(g, 1).padding = [1e6, 0]; }, /'pool'.*padding \[1000000,0\] must be at most half the kernel/],
  ["shift +100", (_g, t) => { t.set("cs", Int32Array.from([100, -4])); }, /'conv'.*requant channel 0: M0 1073741824, shift 100/],
  ["shift −100", (_g, t) => { t.set("ls", Int32Array.from([-100])); }, /'fc'.*requant channel 0/],
  ["multiplier −2^31", (_g, t) => { t.set("cm", Int32Array.from([-(2 ** 31), 1 << 30])); }, /'conv'.*requant channel 0: M0 -2147483648/],
  ["multiplier 0 with a shift", (_g, t) => { t.set("lm", Int32Array.from([0])); }, /'fc'.*requant channel 0: M0 0, shift -6/],
  ["multiplier below 2^30", (_g, t) => { t.set("lm", Int32Array.from([12345])); }, /'fc'.*requant channel 0: M0 12345/],
  // a linear layer reads [..., K] (transformer tokens), so a 4-D value is fine when its last dim is K
  ["linear fed a 4-D value whose last dim is not K", (g) => { node(g, 3).inputs = ["p"]; }, /'fc'.*wShape.*input features, the input has 3/],
  ["unknown op", (g) => { node(g, 2).op = "gelu"; }, /node 'flat' \("gelu"\): op is not a known Int8Model op \(known: conv2d, linear/],
  ["missing op", (g) => { delete node(g, 2).op; }, /op is not a known Int8Model op/],
  ["op named like an Object method", (g) => { node(g, 2).op = "toString"; }, /op is not a known Int8Model op/],
  ["NaN scale", (g) => { g.values[1].q.scale = NaN; }, /values\[1\] 'c': q.scale must be positive and finite/],
  ["zero point outside the dtype", (g) => { g.values[4].q.zeroPoint = 200; }, /values\[4\] 'y': q.zeroPoint must be an integer in \[-128, 127\]/],
  ["declared shape that the node does not produce", (g) => { g.values[2].shape = [-1, 2, 4, 4]; }, /'pool'.*output value 'p' is declared \[-1, 2, 4, 4\] but the node produces \[-1, 2, 3, 3\]/],
  ["read before write", (g) => { node(g, 0).inputs = ["p"]; }, /'conv'.*inputs\[0\] reads value "p" before it is produced/],
  ["value written twice", (g) => { node(g, 2).output = "c"; }, /'flat'.*writes value 'c', which is already produced/],
  ["bias of the wrong dtype", (_g, t) => { t.set("cb", Int8Array.from([1, 2])); }, /'conv'.*bias tensor 'cb' must be int32/],
  ["nodes not an array", (g) => { (g as unknown as { nodes: unknown }).nodes = null; }, /'nodes' must be an array/],
  ["node null", (g) => { (g.nodes as unknown[])[1] = null; }, /nodes\[1\] must be an object/],
  ["flatten startDim 7", (g) => { node(g, 2).startDim = 7; }, /'flat'.*startDim must be an integer in \[0, 4\)/],
  ["weightBits 99", (g) => { node(g, 3).weightBits = 99; }, /'fc'.*weightBits must be an integer in \[2, 8\]/],
];

describe("validateInt8Graph", () => {
  it("accepts a well-formed graph, and the model runs", () => {
    const { graph, tensors } = tinyModel();
    expect(() => validateInt8Graph(graph, tensors)).not.toThrow();
    const m = Int8Model.decode(new Int8Model(graph, tensors).encode(), "tiny.int8");
    expect(m.run(new Tensor(new Float32Array(72).fill(0.3), [2, 1, 6, 6])).shape).toEqual([2, 3]);
    expect(INT8_OPS).toContain("conv2d");
  });

  for (const [what, mutate, message] of MUTATIONS) {
    it(`${what}: FormatError naming the field, in memory and from a file`, () => {
      const { graph, tensors } = tinyModel();
      const bytes = new Int8Model(graph, tensors).encode(); // encode the valid one, then corrupt its metadata
      mutate(graph, tensors);
      expect(() => validateInt8Graph(graph, tensors)).toThrow(FormatError);
      expect(() => validateInt8Graph(graph, tensors)).toThrow(message);
      const bad = Int8Model.prototype.encode.call({ tensors, graph });
      expect(bytes.length).toBeGreaterThan(0);
      expect(() => Int8Model.decode(bad, "bad.int8")).toThrow(FormatError);
      expect(() => Int8Model.decode(bad, "bad.int8")).toThrow(/^bad\.int8: /);
    });
  }

  it("a 'null' payload or a null graph is a FormatError, not a TypeError", () => {
    const file = (payload: string): Uint8Array => encodeSafetensors({ w: new Tensor(new Int32Array(1), [1]) }, { metadata: { "qat_ts.int8": payload } });
    for (const payload of ["null", '{"version":1,"graph":null}', '{"version":1,"graph":{"values":[],"nodes":[],"output":"x","input":null}}']) {
      expect(() => Int8Model.decode(file(payload), "n.int8")).toThrow(FormatError);
    }
  });
});

describe.skipIf(!listBackends().includes("wasm"))("the wasm integer path validates like the reference kernels", () => {
  /** An in-memory model (no decode, so no graph validation) run on both backends. */
  function errorOn(backend: "ref" | "wasm", mutate: (g: Int8Graph) => void): unknown {
    const { graph, tensors } = tinyModel();
    mutate(graph);
    const before = getBackend();
    setBackend(backend);
    try {
      new Int8Model(graph, tensors).run(new Tensor(new Float32Array(72).fill(0.3), [2, 1, 6, 6]));
      return "ok";
    } catch (e) {
      return e;
    } finally {
      setBackend(before);
    }
  }

  for (const [what, mutate] of [
    ["conv padding −1", (g: Int8Graph) => { node(g, 0).padding = [-1, -1]; }],
    ["conv padding −5", (g: Int8Graph) => { node(g, 0).padding = [-5, -5]; }],
    ["conv dilation 0", (g: Int8Graph) => { node(g, 0).dilation = [0, 0]; }],
    ["conv stride 0", (g: Int8Graph) => { node(g, 0).stride = [0, 1]; }],
    ["conv reversed clamp", (g: Int8Graph) => { node(g, 0).clamp = [200, 20]; }],
    ["conv wShape larger than the bytes", (g: Int8Graph) => { node(g, 0).wShape = [2, 1, 5, 5]; }],
    ["pool kernel 0", (g: Int8Graph) => { node(g, 1).kernel = [0, 0]; }],
    ["pool stride 0", (g: Int8Graph) => { node(g, 1).stride = [0, 0]; }],
  ] as [string, (g: Int8Graph) => void][]) {
    it(`${what}: the same typed error on wasm as on ref`, () => {
      const ref = errorOn("ref", mutate);
      const wasm = errorOn("wasm", mutate);
      expect(ref).toBeInstanceOf(QatError);
      expect(wasm).toBeInstanceOf(QatError);
      expect((wasm as Error).constructor).toBe((ref as Error).constructor);
    });
  }

  it("conv padding −5 names the padding on wasm (it used to trap: memory access out of bounds)", () => {
    const e = errorOn("wasm", (g) => { node(g, 0).padding = [-5, -5]; });
    expect(e).toBeInstanceOf(ValueError);
    expect((e as Error).message).toBe("qconv2d: padding must be non-negative integers, got [-5, -5]");
  });
});
