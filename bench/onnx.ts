/**
 * The `onnx` bench suite (issue 7): the same SmallCNN — QAT-prepared with the x86 qconfig,
 * calibrated on the embedded Fashion-MNIST sample, converted — run as our Int8Model
 * (Int8Model.run, integer kernels in JS) and as its QDQ export in onnxruntime-node (graph
 * optimisation "all", so the Conv / Gemm groups run as QLinearConv / QGemm), at batch 1 and
 * 256, onnxruntime with 1 intra-op thread and with its default thread count. Ratios are
 * onnxruntime's time over ours (> 1 = we are faster). Skipped (empty figures) when
 * onnxruntime-node does not load. Called by bench/run.ts (async suite).
 */
import "../src/autograd/backward.js";
import "../src/ops/index.js";
import { DataLoader } from "../src/data/loader.js";
import { fashionMnistSample } from "../src/data/fs.js";
import { subset } from "../src/data/dataset.js";
import { smallCnn } from "../src/nn/models/small-cnn.js";
import { calibrate, convert, disableObserver, prepareQat, qconfigs } from "../src/quant/index.js";
import { exportInt8Model } from "../src/onnx/index.js";
import { manualSeed } from "../src/tensor/random.js";
import type { Tensor } from "../src/tensor/tensor.js";
import { timeit } from "./core.js";

type Ort = typeof import("onnxruntime-node");

/** Median seconds of an async fn over at least minReps runs and minTime seconds (after a warm-up). */
async function timeAsync(fn: () => Promise<unknown>, minTime = 0.5, minReps = 3): Promise<number> {
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < minTime * 1e3) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1e3);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

async function ortMs(ort: Ort, bytes: Uint8Array, x: Tensor, threads: number | undefined): Promise<number> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", ...(threads ? { intraOpNumThreads: threads } : {}) });
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", x.toFloat32Array(), [...x.shape]) };
  try {
    return (await timeAsync(() => session.run(feeds))) * 1e3;
  } finally {
    await session.release();
  }
}

/** Runs the suite: times in ms per batch and the onnxruntime / ours ratios. */
export async function benchOnnx(): Promise<Record<string, number>> {
  let ort: Ort;
  try {
    ort = await import("onnxruntime-node");
  } catch (e) {
    console.error(`(onnxruntime-node unavailable: ${(e as Error).message})`);
    return {};
  }
  manualSeed(0);
  const sample = fashionMnistSample();
  const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
  calibrate(qm, new DataLoader(subset(sample.train, Array.from({ length: 256 }, (_, i) => i * 23)), { batchSize: 64, seed: 1 }), { batches: 4 });
  disableObserver(qm);
  const int8 = convert(qm, { example: sample.test.getBatch([0]).x });
  const bytes = exportInt8Model(int8, { format: "qdq" });
  const out: Record<string, number> = {};
  for (const batch of [1, 256]) {
    const x = sample.test.getBatch(Array.from({ length: batch }, (_, i) => i)).x;
    const ours = timeit(() => int8.run(x), batch === 1 ? 0.5 : 2) * 1e3;
    out[`int8_b${batch}_ms`] = ours;
    out[`ort_b${batch}_t1_ms`] = await ortMs(ort, bytes, x, 1);
    out[`ort_b${batch}_ms`] = await ortMs(ort, bytes, x, undefined);
    out[`ratio_b${batch}_t1`] = out[`ort_b${batch}_t1_ms`] / ours;
    out[`ratio_b${batch}`] = out[`ort_b${batch}_ms`] / ours;
  }
  return out;
}
