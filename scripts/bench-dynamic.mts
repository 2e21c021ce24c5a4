/**
 * Int8Model vs onnxruntime-node on the dynamic exports (one thread each, interleaved rounds):
 * an MLP 256 → 512 → 256 → 10 on a batch of 64 under the `dynamic`, `int4WeightOnly` and
 * `int8DynActInt4Weight` presets, each converted, exported (DynamicQuantizeLinear +
 * MatMulInteger / MatMulNBits) and timed on both sides. Prints per-round medians, the ratio
 * and the load average (the machine is shared: compare ratios, not absolute times).
 *   node --import tsx scripts/bench-dynamic.mts [--rounds 5] [--iters 5]
 */
import { loadavg } from "node:os";
import * as ort from "onnxruntime-node";
import "../src/index.js";
import { Sequential } from "../src/nn/layers/container.js";
import { Linear } from "../src/nn/layers/linear.js";
import { ReLU } from "../src/nn/layers/activation.js";
import { manualSeed } from "../src/tensor/random.js";
import { randn } from "../src/tensor/creation.js";
import { convert, prepareQat, qconfigs } from "../src/quant/index.js";
import { exportInt8Model } from "../src/onnx/index.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const rounds = arg("rounds", 5);
const iters = arg("iters", 5);
const median = (a: number[]): number => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

manualSeed(1);
const model = new Sequential(new Linear(256, 512), new ReLU(), new Linear(512, 256), new ReLU(), new Linear(256, 10));
const x = randn([64, 256]);
for (const name of ["dynamic", "int4WeightOnly", "int8DynActInt4Weight"] as const) {
  const int8 = convert(prepareQat(model, { qconfig: qconfigs[name], example: x }));
  const session = await ort.InferenceSession.create(exportInt8Model(int8, { format: "qdq" }), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = { input: new ort.Tensor("float32", Float32Array.from(x.data), x.shape) };
  int8.run(x);
  await session.run(feeds);
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    for (let i = 0; i < iters; i++) int8.run(x);
    ours.push((performance.now() - t) / iters);
    t = performance.now();
    for (let i = 0; i < iters; i++) await session.run(feeds);
    theirs.push((performance.now() - t) / iters);
  }
  const ratios = ours.map((o, i) => (o / theirs[i]).toFixed(1)).join(" ");
  console.log(`${name}: Int8Model ${median(ours).toFixed(2)} ms, onnxruntime ${median(theirs).toFixed(2)} ms, ratio ${(median(ours) / median(theirs)).toFixed(1)} (rounds: ${ratios}); load ${loadavg()[0].toFixed(1)}`);
}
