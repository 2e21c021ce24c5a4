/**
 * Hostile ONNX input: garbage, truncated and hand-crafted malicious models (huge declared
 * sizes, cycles, missing initializers, wrong element types, deep nesting) fail fast with a
 * typed QatError; a seeded fuzz loop mutates valid models (bit flips, truncation, byte runs,
 * chunk swaps) and checks that importing — and running what imports — only ever throws
 * QatError subclasses (no timing assertions: the test timeout bounds a hang; "refused before
 * allocating" is checked by the limit errors themselves).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { randn } from "../../src/tensor/creation.js";
import { FormatError, NotSupportedError, QatError } from "../../src/tensor/errors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import {
  DataType, OnnxModule, attr, decodeModel, encodeModel, exportModel, floatTensorProto, importModel, makeModel, makeNode, makeValueInfo,
  type NodeProto, type TensorProto, type ModelProto,
} from "../../src/onnx/index.js";
import { TinyNet, randomizeBatchNorm } from "./helpers.js";

/** Deterministic PRNG (LCG) for reproducible fuzzing. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function model(nodes: NodeProto[], inits: TensorProto[] = [], opts: { opset?: number; input?: (number | string)[]; elemType?: number } = {}): ModelProto {
  return makeModel({
    name: "g", node: nodes, initializer: inits,
    input: [makeValueInfo("x", opts.elemType ?? DataType.FLOAT, opts.input ?? ["N", 4])],
    output: [makeValueInfo("y", DataType.FLOAT, ["N", 4])],
  }, { opset: opts.opset ?? 13 });
}

/** Imports and expects a QatError of `type` (whose message matches `re`). */
function expectRejected(bytes: Uint8Array, type: typeof QatError, re?: RegExp): void {
  let caught: unknown = null;
  try {
    importModel(bytes);
  } catch (e) {
    caught = e;
  }
  expect(caught, "should throw").toBeInstanceOf(type);
  if (re) expect((caught as Error).message).toMatch(re);
}

const relu = (i: string, o: string) => makeNode("Relu", [i], [o]);

describe("malformed and hostile files", () => {
  it("garbage, empty and non-byte input", () => {
    const r = rng(1);
    for (let n = 0; n < 20; n++) expectRejected(Uint8Array.from({ length: 64 + n * 50 }, () => Math.floor(r() * 256)), QatError);
    expectRejected(new Uint8Array(0), FormatError, /empty/);
    expect(() => importModel("model.onnx" as never)).toThrow(FormatError);
  });

  it("every truncation of a valid model", () => {
    const bytes = exportModel(new TinyNet().eval(), { example: randn([1, 1, 4, 4]) });
    for (let cut = 1; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) expectRejected(bytes.subarray(0, cut), QatError);
  });

  it("huge declared sizes are refused before allocating", () => {
    const big = (dims: number[]): TensorProto => ({ name: "w", dims, dataType: DataType.FLOAT });
    expectRejected(encodeModel(model([makeNode("Add", ["x", "w"], ["y"])], [big([2 ** 31 - 1, 2 ** 31 - 1])])), FormatError, /limit/);
    expectRejected(encodeModel(model([makeNode("Add", ["x", "w"], ["y"])], [big([65536, 65536])])), FormatError, /limit/);
    expectRejected(encodeModel(model([makeNode("Add", ["x", "w"], ["y"])], [big([4])])), FormatError, /needs 4/);
    expectRejected(encodeModel(model([relu("x", "y")], [], { input: [2 ** 30, 2 ** 30] })), FormatError, /elements/);
    expectRejected(encodeModel(model([relu("x", "y")], [], { input: [-1, 4] })), FormatError, /dimension/);
  });

  it("cycles, missing initializers, names defined twice", () => {
    expectRejected(encodeModel(model([makeNode("Add", ["x", "b"], ["a"]), relu("a", "b"), relu("b", "y")])), FormatError, /defined twice|cycle/);
    expectRejected(encodeModel(model([makeNode("Add", ["x", "c"], ["a"]), relu("a", "c"), relu("c", "y")])), FormatError, /cycle/);
    expectRejected(encodeModel(model([makeNode("Gemm", ["x", "w_missing"], ["y"])])), FormatError, /'w_missing', which no node, initializer or graph input defines/);
    expectRejected(encodeModel(model([relu("x", "y"), relu("x", "y")])), FormatError, /defined twice/);
    const w = floatTensorProto("w", [1, 2, 3, 4]);
    expectRejected(encodeModel(model([makeNode("Add", ["x", "w"], ["y"])], [w, w])), FormatError, /used twice/);
    expectRejected(encodeModel(model([relu("x", "z")])), FormatError, /never produced/);
  });

  it("wrong element types and mismatched data", () => {
    const add = [makeNode("Add", ["x", "w"], ["y"])];
    expectRejected(encodeModel(model(add, [{ name: "w", dims: [4], dataType: 99, rawData: new Uint8Array(16) }])), FormatError, /element type/);
    expectRejected(encodeModel(model(add, [{ name: "w", dims: [4], dataType: DataType.STRING, stringData: [] }])), NotSupportedError, /STRING/);
    expectRejected(encodeModel(model(add, [{ name: "w", dims: [4], dataType: DataType.FLOAT, rawData: new Uint8Array(15) }])), FormatError, /raw_data/);
    expectRejected(encodeModel(model(add, [{ name: "w", dims: [4], dataType: DataType.INT8, int32Data: [1, 2, 300, 4] }])), FormatError, /not a valid/);
    expectRejected(encodeModel(model([relu("x", "y")], [], { elemType: 0 })), FormatError, /element type/);
    expectRejected(encodeModel(model([relu("x", "y")], [], { elemType: DataType.FLOAT16 })), NotSupportedError, /FLOAT16/);
    const ext: TensorProto = { name: "w", dims: [4], dataType: DataType.FLOAT, dataLocation: 1, externalData: [{ key: "location", value: "/etc/passwd" }] };
    expectRejected(encodeModel(model(add, [ext])), NotSupportedError, /external/);
  });

  it("bad attributes, opsets and nodes", () => {
    const conv = (a: ReturnType<typeof attr.int>) => model([makeNode("Conv", ["x", "w"], ["y"], { attributes: [a] })], [floatTensorProto("w", new Array(9).fill(1), [1, 1, 3, 3])], { input: ["N", 1, 4, 4] });
    expectRejected(encodeModel(conv(attr.float("strides", 2))), FormatError, /strides/);
    expectRejected(encodeModel(conv(attr.ints("strides", [0, 1]))), FormatError, /strides/);
    expectRejected(encodeModel(conv(attr.ints("pads", [1, 1, -1, 0]))), FormatError, /pads/);
    expectRejected(encodeModel(conv(attr.int("group", 7))), FormatError, /group/);
    expectRejected(encodeModel(model([relu("x", "y")], [], { opset: 99 })), NotSupportedError, /opset 99/);
    const noOpset = model([relu("x", "y")]);
    noOpset.opsetImport = [];
    expectRejected(encodeModel(noOpset), FormatError, /opset/);
    expectRejected(encodeModel(model([{ input: ["x"], output: ["y"] }])), FormatError, /op_type/);
    expectRejected(encodeModel(model([makeNode("Relu", ["x"], ["y"], { domain: "com.evil" })])), NotSupportedError, /com\.evil::Relu/);
  });

  it("deeply nested subgraphs are a FormatError, not a stack overflow", () => {
    // AttributeProto.g (6) → GraphProto.node (1) → NodeProto.attribute (5) → …, 60 000 levels,
    // written back to front: each level is its tag, then the varint length of what follows.
    const varint = (n: number): number[] => {
      const out: number[] = [];
      do {
        out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
        n >>>= 7;
      } while (n > 0);
      return out;
    };
    const levels = 60_000;
    const buf = new Uint8Array(levels * 8 + 16);
    let start = buf.length;
    for (let i = 0; i < levels; i++) {
      const prefix = [[0x32, 0x0a, 0x2a][i % 3], ...varint(buf.length - start)];
      start -= prefix.length;
      buf.set(prefix, start);
    }
    const graph = [0x0a, ...varint(buf.length - start)];
    const head = [0x08, 0x07, 0x3a, ...varint(graph.length + buf.length - start)];
    const bytes = Uint8Array.from([...head, ...graph, ...buf.subarray(start)]);
    expectRejected(bytes, QatError);
  });
});

type Mutation = (b: Uint8Array, r: () => number) => Uint8Array;

const pick = <T>(xs: readonly T[], r: () => number): T | undefined => xs[Math.floor(r() * xs.length)];
const WILD = [0, 1, -1, 2, 3, 7, 65537, 2 ** 31 - 1, -(2 ** 31), 2 ** 40];

/** Structure-aware: decode, swap or corrupt one field (inputs, op types, attributes, dims, types, order), encode. */
function fieldSwap(b: Uint8Array, r: () => number): Uint8Array {
  const m = decodeModel(b);
  const g = m.graph!;
  const nodes = g.node!;
  const inits = g.initializer!;
  const edits: (() => void)[] = [
    () => {
      const [a, c] = [pick(nodes, r)!, pick(nodes, r)!];
      [a.input, c.input] = [c.input, a.input];
    },
    () => {
      const [a, c] = [pick(nodes, r)!, pick(nodes, r)!];
      [a.opType, c.opType] = [c.opType, a.opType];
    },
    () => {
      const a = pick(nodes.flatMap((n) => n.attribute ?? []), r);
      if (a?.ints?.length) a.ints[Math.floor(r() * a.ints.length)] = pick(WILD, r)!;
      else if (a) a.i = pick(WILD, r);
    },
    () => {
      const t = pick(inits, r);
      if (t?.dims?.length) t.dims[Math.floor(r() * t.dims.length)] = Math.abs(pick(WILD, r)!);
    },
    () => {
      const t = pick(inits, r);
      if (t) t.dataType = Math.floor(r() * 24);
    },
    () => {
      const i = Math.floor(r() * nodes.length);
      const j = Math.floor(r() * nodes.length);
      [nodes[i], nodes[j]] = [nodes[j], nodes[i]];
    },
    () => {
      const n = pick(nodes, r)!;
      n.output = [pick(nodes, r)!.input![0] ?? "x"];
    },
  ];
  pick(edits, r)!();
  return encodeModel(m);
}
const MUTATIONS: Record<string, Mutation> = {
  fieldSwap,
  bitFlips: (b, r) => {
    const c = b.slice();
    const n = 1 + Math.floor(r() * 8);
    for (let i = 0; i < n; i++) c[Math.floor(r() * c.length)] ^= 1 << Math.floor(r() * 8);
    return c;
  },
  truncate: (b, r) => b.slice(0, Math.floor(r() * b.length)),
  byteRun: (b, r) => {
    const c = b.slice();
    const at = Math.floor(r() * c.length);
    const v = [0x00, 0xff, 0x7f, 0x80][Math.floor(r() * 4)];
    c.fill(v, at, Math.min(c.length, at + 1 + Math.floor(r() * 16)));
    return c;
  },
  swapChunks: (b, r) => {
    const n = 1 + Math.floor(r() * 24);
    const i = Math.floor(r() * (b.length - n));
    const j = Math.floor(r() * (b.length - n));
    const c = b.slice();
    c.set(b.subarray(j, j + n), i);
    c.set(b.subarray(i, i + n), j);
    return c;
  },
  duplicate: (b, r) => {
    const n = 1 + Math.floor(r() * 32);
    const i = Math.floor(r() * (b.length - n));
    return Uint8Array.from([...b.subarray(0, i + n), ...b.subarray(i, i + n), ...b.subarray(i + n)]);
  },
};

describe("fuzzing", () => {
  const tiny = new TinyNet();
  randomizeBatchNorm(tiny);
  tiny.eval();
  const bases: { name: string; bytes: Uint8Array; input: () => Tensor }[] = [
    { name: "tiny", bytes: exportModel(tiny, { example: randn([1, 1, 4, 4]) }), input: () => randn([1, 1, 4, 4]) },
    { name: "view_net", bytes: new Uint8Array(readFileSync(join(import.meta.dirname, "..", "golden", "onnx", "view_net.onnx"))), input: () => randn([1, 1, 12, 12]) },
  ];

  it("300 mutated models: only QatErrors come out of import and run; both paths are exercised", () => {
    const r = rng(20240607);
    const outcomes: Record<string, number> = {};
    const names = Object.keys(MUTATIONS);
    for (let iter = 0; iter < 300; iter++) {
      const base = bases[iter % bases.length];
      const kind = names[Math.floor(r() * names.length)];
      const bytes = MUTATIONS[kind](base.bytes, r);
      let outcome = "ok";
      try {
        const m = importModel(bytes);
        if (m instanceof OnnxModule) m.eval().forward(base.input());
        else m.run(base.input()); // a mutation can turn the graph quantized: then it is an Int8Model
      } catch (e) {
        if (!(e instanceof QatError)) throw new Error(`iteration ${iter} (${base.name}, ${kind}): non-QatError ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
        outcome = e.constructor.name;
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
    console.log("[onnx fuzz] outcomes:", JSON.stringify(outcomes));
    // The mutations must exercise both sides: models that still import and run (the seeded run
    // gives 64 of 300) and rejections of more than one kind (FormatError, NotSupportedError, …).
    expect(outcomes.ok ?? 0).toBeGreaterThanOrEqual(30);
    expect(300 - (outcomes.ok ?? 0)).toBeGreaterThanOrEqual(100);
    expect(Object.keys(outcomes).filter((k) => k !== "ok").length).toBeGreaterThanOrEqual(2);
  });
});
