/**
 * ONNX LSTM / GRU: PyTorch 1.13 exports (test/golden/rnn/lstm.onnx — 2-layer bidirectional
 * LSTM + Linear; gru.onnx — batch_first GRU + Linear; from scripts/golden/rnn.py) import,
 * equal PyTorch's outputs and onnxruntime's, and train (gradients reach W, R and B of every
 * recurrent node); re-exported they still run in onnxruntime. nn.LSTM / nn.GRU export to ONNX
 * LSTM / GRU nodes (opset 14) that onnxruntime runs to our forward's values. Hand-built LSTM / GRU
 * nodes with sequence_lens, both directions and an initial state equal onnxruntime on every output.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { convertWithReport, prepareQat, qconfigs } from "../../src/quant/index.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import "../../src/ops/index.js";
import { backward } from "../../src/autograd/backward.js";
import { mul, sum } from "../../src/ops/index.js";
import { randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import { NotSupportedError } from "../../src/tensor/errors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import * as nn from "../../src/nn/index.js";
import { DataType, attr, encodeModel, exportModel, floatTensorProto, importModel, makeModel, makeNode, makeValueInfo, OnnxModule, OnnxOp } from "../../src/onnx/index.js";
import { expectClose } from "../core/helpers.js";
import { fromGolden, goldenPath, readGolden, type GoldenTensor } from "../nn/golden.js";
import { loadOrt, runOrt } from "./helpers.js";

const ort = await loadOrt();
const itOrt = ort ? it : it.skip;
const doc = readGolden<Record<"lstm" | "gru", { x: GoldenTensor; y: GoldenTensor }>>("rnn/onnx_models.json");

class Head extends nn.Module {
  readonly rnn: nn.LSTM | nn.GRU;
  readonly head: nn.Linear;
  constructor(rnn: nn.LSTM | nn.GRU, head: nn.Linear) {
    super();
    this.rnn = this.registerModule("rnn", rnn);
    this.head = this.registerModule("head", head);
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(this.rnn.forward(x));
  }
}

describe("ONNX LSTM / GRU", () => {
  for (const name of ["lstm", "gru"] as const) {
    it(`${name}.onnx (torch.onnx.export, opset 14) imports, equals PyTorch and trains`, async () => {
      const bytes = readFileSync(goldenPath(`rnn/${name}.onnx`));
      const m = importModel(bytes) as OnnxModule;
      m.eval();
      const x = fromGolden(doc[name].x);
      const y = m.forward(x);
      expect(y.shape).toEqual(doc[name].y.shape);
      expectClose(y.data, doc[name].y.data, 1e-5, 1e-4);
      if (ort) expectClose((await runOrt(ort, bytes, x)).data, doc[name].y.data, 1e-5, 1e-4);
      // Training: every recurrent node's W, R, B receive non-zero gradients.
      m.train();
      backward(sum(mul(m.forward(x), m.forward(x))));
      const rnnParams = m.namedModules().filter(([, mod]) => mod instanceof OnnxOp && (mod.opType === "LSTM" || mod.opType === "GRU"))
        .flatMap(([path, mod]) => mod.namedParameters(path));
      expect(rnnParams.length).toBeGreaterThanOrEqual(3);
      for (const [key, p] of rnnParams) {
        expect(p.grad, key).toBeTruthy();
        expect(Array.from(p.grad!.data).some((v) => v !== 0 && Number.isFinite(v)), `${key} gradient`).toBe(true);
      }
    });

    it(`${name}.onnx prepares and converts without an example (convert freezes at the captured batch, which torch baked into h0)`, () => {
      const m = importModel(readFileSync(goldenPath(`rnn/${name}.onnx`))) as OnnxModule;
      const x = fromGolden(doc[name].x);
      const q = prepareQat(m, { qconfig: qconfigs.x86, example: x });
      q.train();
      noGrad(() => q.forward(x));
      const { model } = convertWithReport(q);
      expect(model.run(x).shape).toEqual(doc[name].y.shape);
    });

    itOrt(`${name}.onnx re-exported after import runs in onnxruntime`, async () => {
      const m = importModel(readFileSync(goldenPath(`rnn/${name}.onnx`))) as OnnxModule;
      m.eval();
      const x = fromGolden(doc[name].x);
      const out = await runOrt(ort!, exportModel(m, { example: x, opset: 14 }), x);
      expectClose(out.data, doc[name].y.data, 1e-5, 1e-4);
    });
  }

  for (const kind of ["LSTM", "GRU"] as const) {
    itOrt(`${kind} node with sequence_lens, bidirectional, initial state: Y, Y_h${kind === "LSTM" ? ", Y_c" : ""} equal onnxruntime`, async () => {
      manualSeed(12);
      const [T, B, I, H, G] = [4, 3, 2, 3, kind === "LSTM" ? 4 : 3];
      const rnd = (name: string, shape: number[]) => floatTensorProto(name, Array.from(randn(shape).data, (v) => 0.5 * v), shape);
      const inits = [rnd("W", [2, G * H, I]), rnd("R", [2, G * H, H]), rnd("B", [2, 2 * G * H]), rnd("h0", [2, B, H]),
        { name: "lens", dims: [B], dataType: DataType.INT32, int32Data: [4, 2, 1] }];
      const ins = ["X", "W", "R", "B", "lens", "h0"];
      const outs = ["Y", "Y_h"];
      if (kind === "LSTM") {
        inits.push(rnd("c0", [2, B, H]));
        ins.push("c0");
        outs.push("Y_c");
      }
      const attributes = [attr.int("hidden_size", H), attr.string("direction", "bidirectional")];
      if (kind === "GRU") attributes.push(attr.int("linear_before_reset", 1));
      const bytes = encodeModel(makeModel({
        name: "seq", initializer: inits, node: [makeNode(kind, ins, outs, { attributes })],
        input: [makeValueInfo("X", DataType.FLOAT, [T, B, I])], output: outs.map((o) => ({ name: o, type: { tensorType: { elemType: DataType.FLOAT } } })),
      }, { opset: 14 }));
      const m = importModel(bytes) as OnnxModule;
      const x = randn([T, B, I]);
      const ours = m.forwardAll(x);
      const session = await ort!.InferenceSession.create(bytes);
      const res = await session.run({ X: new ort!.Tensor("float32", x.toFloat32Array(), [T, B, I]) });
      outs.forEach((o, k) => {
        expect(ours[k].shape, o).toEqual([...res[o].dims]);
        expectClose(ours[k].data, res[o].data as Float32Array, 1e-5, 1e-4);
      });
      await session.release();
      // Past its length an element's outputs are zero.
      expect(Array.from(ours[0].data.slice(3 * 2 * B * H, 4 * 2 * B * H)).filter((_, j) => Math.floor(j / H) % B !== 0).every((v) => v === 0)).toBe(true);
    });
  }

  const exports: [string, () => nn.Module, number[]][] = [
    ["LSTM, 2 layers, bidirectional", () => new Head(new nn.LSTM(3, 4, { numLayers: 2, bidirectional: true }), new nn.Linear(8, 2)), [5, 2, 3]],
    ["GRU, batch_first, no bias", () => new Head(new nn.GRU(3, 5, { batchFirst: true, bias: false }), new nn.Linear(5, 2)), [2, 6, 3]],
    ["GRU, 2 layers, bidirectional, batch_first", () => new Head(new nn.GRU(2, 3, { numLayers: 2, bidirectional: true, batchFirst: true }), new nn.Linear(6, 1)), [3, 4, 2]],
  ];
  for (const [title, make, shape] of exports) {
    itOrt(`export of nn ${title} (opset 14) runs in onnxruntime equal to our forward; re-import equal`, async () => {
      manualSeed(5);
      const model = make().eval();
      const x = randn(shape);
      const want = model.forward(x);
      const bytes = exportModel(model, { example: x, opset: 14 });
      const got = await runOrt(ort!, bytes, x);
      expect(got.dims).toEqual(want.shape);
      expectClose(got.data, want.data, 1e-5, 1e-4);
      const back = (importModel(bytes) as OnnxModule).eval();
      expectClose(back.forward(x).data, want.data, 1e-5, 1e-4);
    });
  }

  it("export below opset 14 is refused naming the layer", () => {
    const model = new Head(new nn.LSTM(3, 4), new nn.Linear(4, 2));
    expect(() => exportModel(model, { example: randn([2, 1, 3]), opset: 13 })).toThrow(NotSupportedError);
    expect(() => exportModel(model, { example: randn([2, 1, 3]), opset: 13 })).toThrow(/rnn.*opset ≥ 14/);
  });
});
