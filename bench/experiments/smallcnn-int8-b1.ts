/**
 * SmallCNN Int8Model vs onnxruntime-node at a small batch (issue #20, the `onnx` bench suite's
 * model: x86 QAT-prepared, calibrated on the embedded Fashion-MNIST sample, converted; its QDQ
 * export in onnxruntime-node, all optimizations, `--threads` intra-op threads). Interleaved
 * rounds (which side goes first alternates) print each side's median wall µs per run over
 * `--reps` runs and the ratio onnxruntime / ours (> 1 = we are faster). Besides the awaited
 * public `session.run` (what the bench times), the peer's synchronous native run is timed too
 * (its handler's `run` without the promise and setImmediate), so the API's own overhead is visible, and
 * our layer-by-layer path (quantizeInput + runQuantized + dequantize: `run` before compiled
 * plans, src/int8/plan.ts), so before / after are interleaved in one process on the same kernels.
 *   node --import tsx bench/experiments/smallcnn-int8-b1.ts [--batch 1] [--threads 1] [--rounds 7] [--reps 2000]
 *     [--backend native] [--root <checkout>] [--only ours]   (--only ours: just our loop, for --cpu-prof)
 * `--root` imports the library from another checkout (before/after comparisons). Not a test.
 */
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(arg("root", path.join(here, "../..")));
const imp = (p: string) => import(path.join(root, p));
const batch = Number(arg("batch", "1")), threads = Number(arg("threads", "1"));
const rounds = Number(arg("rounds", "7")), reps = Number(arg("reps", "2000")), only = arg("only", "");

await imp("src/index.ts");
const { setBackend, setNumThreads } = await imp("src/backend/index.ts");
const { DataLoader } = await imp("src/data/loader.ts");
const { fashionMnistSample } = await imp("src/datasets/fashion-mnist-sample.ts");
const { subset } = await imp("src/data/dataset.ts");
const { smallCnn } = await imp("src/nn/models/small-cnn.ts");
const { calibrate, convert, disableObserver, prepareQat, qconfigs } = await imp("src/quant/index.ts");
const { exportInt8Model } = await imp("src/onnx/index.ts");
const { manualSeed } = await imp("src/tensor/random.ts");
const { dequantizeTensor } = await imp("src/int8/kernels/quantize.ts");
const { Tensor } = await imp("src/tensor/tensor.ts");
setBackend(arg("backend", "native"));
setNumThreads(threads);
manualSeed(0);
const sample = fashionMnistSample();
const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
calibrate(qm, new DataLoader(subset(sample.train, Array.from({ length: 256 }, (_, i) => i * 23)), { batchSize: 64, seed: 1 }), { batches: 4 });
disableObserver(qm);
const int8 = convert(qm, { example: sample.test.getBatch([0]).x });
const x = sample.test.getBatch(Array.from({ length: batch }, (_, i) => i)).x;

const outQ = int8.value(int8.graph.output).q;
/** Int8Model.run as it was before compiled plans: the layer-by-layer path. */
function layerByLayer(t: unknown): unknown {
  const { output } = int8.runQuantized(int8.quantizeInput(t));
  return new Tensor(dequantizeTensor(output.data, outQ.scale, outQ.zeroPoint), output.shape);
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
function wallSync(fn: () => unknown): number {
  for (let i = 0; i < 50; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t) * 1e3;
}
async function wallAsync(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 50; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return median(t) * 1e3;
}

if (only === "ours") {
  const us = wallSync(() => int8.run(x));
  console.log(`Int8Model batch ${batch}: ${us.toFixed(1)} µs median over ${reps} runs`);
  process.exit(0);
}

const ort = await import("onnxruntime-node");
const session = await ort.InferenceSession.create(exportInt8Model(int8, { format: "qdq" }), { graphOptimizationLevel: "all", intraOpNumThreads: threads, interOpNumThreads: 1 });
const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", x.toFloat32Array(), [...x.shape]) };
// the peer's synchronous native run (what session.run's handler schedules with setImmediate): a second
// session on onnxruntime-node's own binding, the same model bytes and options
const { createRequire } = await import("node:module");
const ortBinding = createRequire(import.meta.url)("onnxruntime-node/dist/binding") as {
  initOrt(): void;
  binding: { InferenceSession: new () => { loadModel(b: ArrayBufferLike, off: number, len: number, o: object): void; run(f: object, fe: object, o: object): unknown } };
};
ortBinding.initOrt();
const raw = new ortBinding.binding.InferenceSession();
const bytes = exportInt8Model(int8, { format: "qdq" }) as Uint8Array;
raw.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, { graphOptimizationLevel: "all", intraOpNumThreads: threads, interOpNumThreads: 1 });
const fetches = Object.fromEntries(session.outputNames.map((n: string) => [n, null]));

const ratios: number[] = [], before: number[] = [];
for (let r = 0; r < rounds; r++) {
  let ours = 0, layers = 0, peer = 0, peerSync = 0;
  const sides = [() => { ours = wallSync(() => int8.run(x)); layers = wallSync(() => layerByLayer(x)); }, async () => { peer = await wallAsync(() => session.run(feeds)); peerSync = wallSync(() => raw.run(feeds, fetches, {})); }];
  if (r % 2) sides.reverse();
  for (const s of sides) await s();
  ratios.push(peer / ours);
  before.push(peer / layers);
  console.log(`round ${r + 1}/${rounds} (load ${loadavg()[0].toFixed(2)}): Int8Model ${ours.toFixed(1)} µs (layer by layer ${layers.toFixed(1)} µs), onnxruntime session.run ${peer.toFixed(1)} µs (its native run alone ${peerSync.toFixed(1)} µs), ratio ${(peer / ours).toFixed(2)}`);
}
const range = (r: number[]) => `${median(r).toFixed(2)} (${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)})`;
console.log(`median ratio onnxruntime session.run / Int8Model.run (wall, batch ${batch}, ${threads} thread(s)): ${range(ratios)}; layer by layer: ${range(before)}`);
