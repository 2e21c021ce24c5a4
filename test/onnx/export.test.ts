/**
 * Float export: the model zoo and a model touching every rule run in onnxruntime-node within
 * 1e-4 (relative) of our forward, with a dynamic batch; graph structure (names unique,
 * topological order, symbolic batch, opsets); typed errors for what cannot be exported; the
 * format-exporter extension point.
 */
import { describe, expect, it } from "vitest";
import { randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import { DTypeError, NotSupportedError, ValueError } from "../../src/tensor/errors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import * as nn from "../../src/nn/index.js";
import { relu } from "../../src/ops/unary.js";
import { decodeModel, exportModel, registerFormatExporter, exportFloatCall, callOf, type ModelProto } from "../../src/onnx/index.js";
import { TinyNet, loadOrt, ortUnavailable, randomizeBatchNorm, relDiff, runOrt } from "./helpers.js";

const ort = await loadOrt();
const itOrt = ort ? it : it.skip;
if (!ort) console.warn(`[onnx export tests] onnxruntime parity skipped: ${ortUnavailable}`);

/** Checks ONNX checker rules onnxruntime enforces: unique names, defined-before-use. */
function checkGraph(m: ModelProto): void {
  const g = m.graph!;
  const defined = new Set([...g.input!.map((v) => v.name!), ...g.initializer!.map((t) => t.name!)]);
  expect(defined.size).toBe(g.input!.length + g.initializer!.length);
  const nodeNames = new Set<string>();
  for (const n of g.node!) {
    expect(nodeNames.has(n.name!), `node name ${n.name} unique`).toBe(false);
    nodeNames.add(n.name!);
    for (const i of n.input!) if (i) expect(defined.has(i), `${n.name} input ${i} defined before use`).toBe(true);
    for (const o of n.output!) {
      expect(defined.has(o), `${o} defined once`).toBe(false);
      defined.add(o);
    }
  }
  for (const o of g.output!) expect(defined.has(o.name!)).toBe(true);
}

const opTypes = (m: ModelProto): string[] => m.graph!.node!.map((n) => n.opType!);

interface ZooCase {
  name: string;
  make: () => nn.Module;
  ops: string[];
}

const ZOO: ZooCase[] = [
  { name: "mlp", make: () => nn.models.mlp(), ops: ["Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm"] },
  { name: "smallCnn", make: () => nn.models.smallCnn(), ops: ["Conv", "BatchNormalization", "Relu", "MaxPool", "Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm"] },
  { name: "resnet20", make: () => nn.models.resnet20(), ops: [] },
  { name: "mobilenetV2Small", make: () => nn.models.mobilenetV2Small(), ops: [] },
];

describe("float export of the model zoo", () => {
  for (const z of ZOO) {
    itOrt(`${z.name}: onnxruntime matches our forward within 1e-4, at the example batch and another`, async () => {
      manualSeed(7);
      const model = z.make();
      randomizeBatchNorm(model);
      model.eval();
      const x = randn([2, 1, 28, 28]);
      const bytes = exportModel(model, { example: x, format: "float", opset: 13 });
      const proto = decodeModel(bytes);
      checkGraph(proto);
      expect(proto.opsetImport).toEqual([{ domain: "", version: 13 }]);
      expect(proto.graph!.input![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam ?? d.dimValue)).toEqual(["N", 1, 28, 28]);
      expect(proto.graph!.output![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam ?? d.dimValue)).toEqual(["N", 10]);
      if (z.ops.length) expect(opTypes(proto)).toEqual(z.ops);
      for (const batch of [2, 3]) {
        const xb = batch === 2 ? x : randn([batch, 1, 28, 28]);
        const ours = model.forward(xb);
        const theirs = await runOrt(ort!, bytes, xb);
        expect(theirs.dims).toEqual([...ours.shape]);
        expect(relDiff(theirs.data, ours.data)).toBeLessThan(1e-4);
      }
    });
  }

  it("names initializers after state-dict keys and stores each tensor once", () => {
    const model = nn.models.resnet20();
    model.eval();
    const proto = decodeModel(exportModel(model, { example: randn([1, 1, 28, 28]) }));
    const inits = proto.graph!.initializer!.map((t) => t.name!);
    const keys = Object.keys(model.stateDict()).filter((k) => !k.endsWith("num_batches_tracked"));
    expect(new Set(inits)).toEqual(new Set(keys));
    expect(proto.graph!.node!.find((n) => n.opType === "Add")!.name).toBe("layer1.0.add");
  });
});

/** Every float rule at least once: Conv (same / dilated / grouped / strided), pools, Clip, Sigmoid, Concat, Add, Reshape-flatten, MatMul-Linear. */
class KitchenSink extends nn.Module {
  a: nn.Sequential;
  b: nn.Sequential;
  cat: nn.Concat;
  add: nn.Add;
  skip: nn.Conv2d;
  pool: nn.AdaptiveAvgPool2d;
  flat: nn.Flatten;
  lin: nn.Linear;
  out: nn.Sequential;

  constructor() {
    super();
    this.a = this.registerModule("a", new nn.Sequential(new nn.Conv2d(2, 4, 3, { padding: "same", dilation: 2 }), new nn.BatchNorm2d(4), new nn.Hardtanh(-1, 2)));
    this.b = this.registerModule("b", new nn.Sequential(new nn.Conv2d(2, 4, 3, { padding: 1, groups: 2, bias: false }), new nn.Sigmoid(), new nn.AvgPool2d(3, { stride: 1, padding: 1, countIncludePad: false }), new nn.MaxPool2d(1)));
    this.cat = this.registerModule("cat", new nn.Concat(1));
    this.skip = this.registerModule("skip", new nn.Conv2d(2, 8, 1, { stride: 1 }));
    this.add = this.registerModule("add", new nn.Add());
    this.pool = this.registerModule("pool", new nn.AdaptiveAvgPool2d(2));
    this.flat = this.registerModule("flat", new nn.Flatten(2));
    this.lin = this.registerModule("lin", new nn.Linear(4, 5));
    this.out = this.registerModule("out", new nn.Sequential(new nn.ReLU(), new nn.Dropout(0.3), new nn.Flatten(), new nn.Identity()));
  }

  forward(x: Tensor): Tensor {
    const y = this.add.forward(this.cat.forward(this.a.forward(x), this.b.forward(x)), this.skip.forward(x));
    return this.out.forward(this.lin.forward(this.flat.forward(this.pool.forward(y))));
  }
}

describe("float export rules", () => {
  it("a functional op between modules is reported, not mis-wired", () => {
    class Functional extends nn.Module {
      forward(t: Tensor): Tensor {
        return t.reshape([t.shape[0], -1]);
      }
    }
    const model = new nn.Sequential(new nn.ReLU(), new Functional(), new nn.ReLU());
    expect(() => exportModel(model, { example: randn([2, 2, 2]) })).toThrow(NotSupportedError);
  });

  itOrt("a model using every rule matches onnxruntime", async () => {
    manualSeed(5);
    const model = new KitchenSink();
    randomizeBatchNorm(model);
    model.eval();
    const x = randn([2, 2, 8, 8]);
    const bytes = exportModel(model, { example: x });
    const ops = opTypes(decodeModel(bytes));
    for (const op of ["Conv", "BatchNormalization", "Clip", "Sigmoid", "AveragePool", "MaxPool", "Concat", "Add", "Reshape", "Transpose", "MatMul", "Relu", "Flatten"]) {
      expect(ops, op).toContain(op);
    }
    const ours = model.forward(x);
    expect(ours.shape).toEqual([2, 40]);
    const theirs = await runOrt(ort!, bytes, x);
    expect(theirs.dims).toEqual([...ours.shape]);
    expect(relDiff(theirs.data, ours.data)).toBeLessThan(1e-4);
  });

  for (const opset of [11, 13, 17, 21]) {
    itOrt(`opset ${opset} loads and matches`, async () => {
      const model = new TinyNet();
      randomizeBatchNorm(model);
      model.eval();
      const x = randn([3, 1, 4, 4]);
      const bytes = exportModel(model, { example: x, opset });
      expect(decodeModel(bytes).opsetImport![0].version).toBe(opset);
      expect(relDiff((await runOrt(ort!, bytes, x)).data, model.forward(x).data)).toBeLessThan(1e-4);
    });
  }

  it("dynamicBatch false keeps the static batch; custom names are used", () => {
    const proto = decodeModel(exportModel(new TinyNet().eval(), { example: randn([2, 1, 4, 4]), dynamicBatch: false, inputNames: ["x"], outputNames: ["logits"] }));
    expect(proto.graph!.input![0].name).toBe("x");
    expect(proto.graph!.input![0].type!.tensorType!.shape!.dim![0].dimValue).toBe(2);
    expect(proto.graph!.output![0].name).toBe("logits");
  });

  it("a module called twice stores its weights once", () => {
    const lin = new nn.Linear(4, 4);
    const model = new nn.Sequential(lin, new nn.ReLU(), lin);
    const proto = decodeModel(exportModel(model, { example: randn([1, 4]) }));
    expect(proto.graph!.initializer!.map((t) => t.name)).toEqual(["0.weight", "0.bias"]);
    expect(opTypes(proto)).toEqual(["Gemm", "Relu", "Gemm"]);
  });
});

describe("export errors", () => {
  const x = randn([1, 1, 4, 4]);
  it("qdq and qoperator need a QAT model (quantized export: test/onnx/quantized-export.test.ts)", () => {
    expect(() => exportModel(new TinyNet(), { example: x, format: "qdq" })).toThrow(ValueError);
    expect(() => exportModel(new TinyNet(), { example: x, format: "qoperator" })).toThrow(/prepareQat/);
  });

  it("bad options are typed errors", () => {
    expect(() => exportModel(new TinyNet(), { example: x, opset: 99 })).toThrow(ValueError);
    expect(() => exportModel(new TinyNet(), { example: x, opset: 9 })).toThrow(NotSupportedError);
    expect(() => exportModel(new TinyNet(), { example: randn([1, 1, 4, 4], { dtype: "float64" }) })).toThrow(DTypeError);
    expect(() => exportModel(new TinyNet(), { example: x, format: "tflite" as never })).toThrow(ValueError);
  });

  it("modules without a mapping name their path and class", () => {
    class Gelu extends nn.Module {
      forward(t: Tensor): Tensor {
        return relu(t);
      }
    }
    const model = new nn.Sequential(new nn.Flatten(), new Gelu());
    expect(() => exportModel(model, { example: x })).toThrow(/module '1' \(Gelu\) has no ONNX mapping; supported: .*Conv2d/);
  });

  it("uneven adaptive pooling and BN without running stats are NotSupportedError", () => {
    expect(() => exportModel(new nn.AdaptiveAvgPool2d(3), { example: randn([1, 1, 4, 4]) })).toThrow(NotSupportedError);
    const bn = new nn.BatchNorm2d(1, { trackRunningStats: false });
    expect(() => exportModel(bn, { example: x })).toThrow(/running statistics/);
  });
});

describe("format exporter extension point", () => {
  it("a registered exporter receives the trace and the quantization lookup", () => {
    const seen: string[] = [];
    registerFormatExporter("qoperator", {
      minOpset: 13,
      quantInfo: () => (node) => (node.path === "fc" ? { scale: 0.1 } : undefined),
      emit(ctx, trace, quantInfo) {
        for (const node of trace.nodes) {
          if (quantInfo?.(node)) seen.push(node.path);
          exportFloatCall(ctx, callOf(ctx, node));
        }
      },
    });
    const bytes = exportModel(new TinyNet().eval(), { example: x4(), format: "qoperator" });
    expect(seen).toEqual(["fc"]);
    expect(opTypes(decodeModel(bytes))).toContain("Gemm");
  });
});

function x4(): Tensor {
  return randn([1, 1, 4, 4]);
}
