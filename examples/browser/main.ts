/**
 * The example page's script (bundled by ./serve.ts; in your app, import from "qat-ts" and
 * "qat-ts/datasets/fashion-mnist-sample" instead of ../../src): QAT in a browser tab, then
 * the integer-only model checked against onnxruntime-web.
 *  1. fetch the Fashion-MNIST sample (gzipped IDX, decoded in the page);
 *  2. train SmallCNN in float for a few steps with Trainer.fitAsync (the page stays responsive;
 *     the Stop button aborts at a step boundary);
 *  3. prepareQat (x86 preset), calibrate, fine-tune with fake quantization (fitAsync again);
 *  4. convert to an Int8Model and evaluate it;
 *  5. export QDQ ONNX, run it in onnxruntime-web (wasm) and compare with Int8Model.run.
 * URL parameters (all optional): train (images, default 1024), qatSteps (default 8), test
 * (images evaluated, default 500), compare (images compared with onnxruntime, default 32).
 * The result is also left on `globalThis.__qatResult` (test/browser/browser.test.ts reads it).
 */
import * as ort from "onnxruntime-web/wasm";
import {
  type Tensor, getBackend, getNumThreads, initWasmBackend, manualSeed, nn, noGrad, onnx, optim, quant, train, data,
  wasmThreadStats, workersReady,
} from "../../src/index.js";
import { fetchFashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";

/** The few DOM members used here (the project compiles without the DOM library). */
interface El {
  textContent: string | null;
  value: number;
  max: number;
  disabled: boolean;
  onclick: (() => void) | null;
}
const page = globalThis as unknown as {
  document: { getElementById(id: string): El };
  location: { search: string; href: string };
  crossOriginIsolated?: boolean;
  __qatResult?: unknown;
  __qatError?: string;
};

const params = new URLSearchParams(page.location.search);
const int = (name: string, dflt: number) => Math.max(1, Number.parseInt(params.get(name) ?? "", 10) || dflt);
const logEl = page.document.getElementById("log");
const bar = page.document.getElementById("bar");
const stop = page.document.getElementById("stop");
const log = (line: string) => {
  logEl.textContent += `${line}\n`;
};
const range = (n: number, step = 1) => Array.from({ length: n }, (_, i) => i * step);

async function main(): Promise<void> {
  const t0 = performance.now();
  await initWasmBackend(); // compiles the kernels asynchronously (browsers may refuse to compile synchronously)
  const ready = await workersReady(10_000);
  log(`backend ${getBackend()}, ${getNumThreads()} thread(s), cross-origin isolated: ${page.crossOriginIsolated === true}, workers ready: ${ready}`);

  const { train: trainSet, test } = await fetchFashionMnistSample("./data/");
  log(`Fashion-MNIST sample: ${trainSet.length} / ${test.length} images`);
  manualSeed(0);
  const small = trainSet.select(range(int("train", 1024), 5));
  const loader = new data.DataLoader(small, { batchSize: 64, shuffle: true, seed: 1 });
  const testLoader = new data.DataLoader(test.select(range(int("test", 500))), { batchSize: 250 });

  const abort = new AbortController();
  stop.onclick = () => abort.abort();
  const onStep = (ctx: { step: number }) => {
    bar.value = ctx.step;
  };

  // 1. float training, without freezing the page
  const model = nn.models.smallCnn();
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  bar.max = loader.length;
  await new train.Trainer({ model, optimizer: opt, progress: train.lineProgress(log), label: "float" }).fitAsync(loader, { epochs: 1, signal: abort.signal, onStep });

  // 2. QAT: prepare, calibrate, fine-tune with the freeze schedule
  const qmodel = quant.prepareQat(model, { qconfig: quant.qconfigs.x86 });
  quant.calibrate(qmodel, loader, { batches: 2 });
  const qatSteps = Math.min(int("qatSteps", 8), loader.length);
  const qatLoader = new data.DataLoader(small.select(range(qatSteps * 64)), { batchSize: 64, shuffle: true, seed: 2 });
  const schedule = quant.qatSchedule(qmodel, { freezeBnStep: Math.floor(qatSteps * 0.6), freezeObserverStep: Math.floor(qatSteps * 0.8) });
  const qopt = new optim.SGD(qmodel.parameters(), { lr: 0.005, momentum: 0.9 });
  bar.max = qatLoader.length;
  const qatTrainer = new train.Trainer({ model: qmodel, optimizer: qopt, callbacks: [schedule], progress: train.lineProgress(log), label: "qat" });
  await qatTrainer.fitAsync(qatLoader, { epochs: 1, signal: abort.signal, onStep });
  stop.disabled = true;

  // 3. convert to an integer-only model
  const int8Model = quant.convert(qmodel);
  const fq = train.evaluate(qmodel, testLoader).accuracy;
  const int8 = train.evaluatePredictor((x) => int8Model.run(x), testLoader).accuracy;
  log(`accuracy on ${testLoader.dataset.length} test images: fake-quant ${(fq * 100).toFixed(1)} %, int8 ${(int8 * 100).toFixed(1)} %; Int8Model ${int8Model.sizeBytes} bytes`);

  // 4. QDQ ONNX in onnxruntime-web, compared with Int8Model.run
  const x: Tensor = test.getBatch(range(int("compare", 32))).x;
  const ours = noGrad(() => int8Model.run(x)).toFloat32Array();
  const bytes = onnx.exportInt8Model(int8Model, { format: "qdq" });
  ort.env.wasm.wasmPaths = new URL("./ort/", page.location.href).href; // served locally
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", x.toFloat32Array(), [...x.shape]) });
  const theirs = out[session.outputNames[0]].data as Float32Array;
  await session.release();
  const scale = int8Model.value(int8Model.graph.output).q.scale;
  let maxQuanta = 0;
  let exact = 0;
  for (let i = 0; i < ours.length; i++) {
    maxQuanta = Math.max(maxQuanta, Math.abs(ours[i] - theirs[i]) / scale);
    if (ours[i] === theirs[i]) exact++;
  }
  log(`onnxruntime-web (QDQ, ${bytes.length} bytes) vs Int8Model on ${x.shape[0]} images: max |Δ| ${maxQuanta.toFixed(3)} quanta, ${exact}/${ours.length} outputs identical`);

  const stats = wasmThreadStats();
  const result = {
    crossOriginIsolated: page.crossOriginIsolated === true, backend: getBackend(), threads: stats.threads, workers: stats.workers,
    workersReady: ready, jobsPosted: stats.jobsPosted, steps: qatTrainer.step, aborted: abort.signal.aborted,
    fakeQuantAccuracy: fq, int8Accuracy: int8, outputs: ours.length, maxQuanta, exact, onnxBytes: bytes.length,
    seconds: (performance.now() - t0) / 1e3,
  };
  log(`done in ${result.seconds.toFixed(1)} s; the kernel pool ran ${stats.jobsPosted} slices on ${stats.workers} worker(s)`);
  page.__qatResult = result;
}

main().catch((e: unknown) => {
  const msg = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
  log(`error: ${msg}`);
  page.__qatError = msg;
});
