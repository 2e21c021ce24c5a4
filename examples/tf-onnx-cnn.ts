/**
 * A TensorFlow-style ONNX CNN, end to end: import → fine-tune → calibrate on real data →
 * convert → QDQ export → onnxruntime, printing which ops stay float and why.
 *
 * The model (test/golden/rnn/tf_style.onnx) has the idioms of a tf2onnx export: an NHWC input
 * transposed to NCHW, Conv with asymmetric pads (explicit [0, 0, 1, 1], and auto_pad
 * SAME_UPPER with stride 2), LeakyRelu, an elementwise Max with a constant, a transpose back
 * to NHWC, a ReduceMean over H and W, Reshape and Gemm. tf2onnx is not available on this
 * machine (Debian has no package for it), so the model was written with onnx.helper in
 * scripts/golden/rnn.py rather than exported by TensorFlow, and its weights are random: the
 * example fine-tunes it on the embedded Fashion-MNIST sample first. Tested by
 * test/onnx/tf-example.test.ts.
 *   node --import tsx examples/tf-onnx-cnn.ts
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { manualSeed, nn, optim, data, onnx, quant, train, type Tensor } from "../src/index.js";
import { fashionMnistSample } from "../src/datasets/fashion-mnist-sample.js";

/** Fashion-MNIST batches are [N, 1, 28, 28]; with one channel, NHWC is the same memory: a reshape. */
class NhwcInput extends nn.Module {
  readonly model: nn.Module;
  constructor(model: nn.Module) {
    super();
    this.model = this.registerModule("model", model);
  }
  forward(x: Tensor): Tensor {
    return this.model.forward(x.reshape([-1, 28, 28, 1]));
  }
}

/**
 * Why an op of this model stays float (what convert's report says, in words). The NHWC
 * Transpose / Reshape nodes, the Pad, LeakyRelu (a 256-entry table), Max with a constant and
 * the NHWC ReduceMean all have integer forms now (convert-onnx.ts, docs/OPS.md).
 */
const WHY: Record<string, string> = {
  Conv: "auto_pad SAME_UPPER with stride 2: its pads depend on the input size, so it imports as a functional Conv",
};

export interface TfExampleResult {
  floatAccuracy: number;
  int8Accuracy: number;
  /** Share of logits where onnxruntime's QDQ run equals Int8Model within one output quantum. */
  ortWithinOneQuantum: number;
  islands: { op: string; reason: string }[];
  qdq: Uint8Array;
  testX: Tensor;
  int8Logits: Tensor;
  /** The Int8Model's output quantum (scale of the logits' grid). */
  outputScale: number;
}

const accuracy = (logits: Tensor, y: Tensor): number => {
  const k = logits.shape[1];
  let ok = 0;
  for (let n = 0; n < logits.shape[0]; n++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits.data[n * k + j] > logits.data[n * k + best]) best = j;
    if (best === y.data[n]) ok++;
  }
  return ok / logits.shape[0];
};

/** Runs the whole flow; `log` receives the decisions as they are made. */
export function runTfExample(opts: { trainSamples?: number; testSamples?: number; log?: (line: string) => void } = {}): Omit<TfExampleResult, "ortWithinOneQuantum"> {
  const log = opts.log ?? console.log;
  manualSeed(0);
  const bytes = readFileSync(fileURLToPath(new URL("../test/golden/rnn/tf_style.onnx", import.meta.url)));
  const imported = onnx.importModel(bytes) as onnx.OnnxModule;
  log(`imported '${imported.graphName}': ${imported.steps.length} steps, ${imported.parameters().length} trainable tensors`);
  const model = new NhwcInput(imported);
  const { train: trainSet, test } = fashionMnistSample();
  const subset = trainSet.select(Array.from({ length: opts.trainSamples ?? 2048 }, (_, i) => i));
  const loader = new data.DataLoader(subset, { batchSize: 64, shuffle: true, seed: 1 });
  new train.Trainer({ model, optimizer: new optim.Adam(model.parameters(), { lr: 0.01 }) }).fit(loader, { epochs: 3 });
  const testBatch = test.getBatch(Array.from({ length: opts.testSamples ?? 256 }, (_, i) => i));
  model.eval();
  const floatAccuracy = accuracy(model.forward(testBatch.x), testBatch.y);
  log(`float (fine-tuned random weights, 3 epochs of Adam on ${subset.length} images): accuracy ${(100 * floatAccuracy).toFixed(1)} %`);

  const qm = quant.prepareQat(model, { qconfig: quant.qconfigs.onnxruntime, example: testBatch.x.reshape([-1, 1, 28, 28]) });
  quant.calibrate(qm, loader, { batches: 8 });
  const { model: int8, report } = quant.convertWithReport(qm);
  const islands = report.islands.map((i) => ({ op: i.fn, reason: i.reason }));
  log(`converted: ${islands.length} float island(s)`);
  for (const i of islands) log(`  stays float: ${i.op} — ${i.reason}${WHY[i.op] ? `: ${WHY[i.op]}` : ""}`);
  const int8Logits = int8.run(testBatch.x);
  const int8Accuracy = accuracy(int8Logits, testBatch.y);
  log(`int8: accuracy ${(100 * int8Accuracy).toFixed(1)} %`);
  const qdq = onnx.exportModel(qm, { example: testBatch.x, format: "qdq" });
  return { floatAccuracy, int8Accuracy, islands, qdq, testX: testBatch.x, int8Logits, outputScale: int8.value(int8.graph.output).q.scale };
}

/** onnxruntime on the QDQ export vs the Int8Model's logits: share within one output quantum. */
export async function checkInOnnxruntime(r: Omit<TfExampleResult, "ortWithinOneQuantum">): Promise<number> {
  const step = r.outputScale;
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(r.qdq);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", Float32Array.from(r.testX.data), [...r.testX.shape]) });
  const got = out[session.outputNames[0]].data as Float32Array;
  await session.release();
  let ok = 0;
  for (let i = 0; i < got.length; i++) if (Math.abs(got[i] - r.int8Logits.data[i]) <= step * 1.0001) ok++;
  return ok / got.length;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = runTfExample();
  console.log(`QDQ model: ${r.qdq.length} bytes`);
  console.log(`onnxruntime vs Int8Model within one quantum: ${(100 * (await checkInOnnxruntime(r))).toFixed(2)} %`);
}
