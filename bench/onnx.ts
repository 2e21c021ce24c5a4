/**
 * The `onnx` bench suite (issues 7 and 15): the same SmallCNN — QAT-prepared with the x86
 * qconfig, calibrated on the embedded Fashion-MNIST sample, converted — run as our Int8Model
 * (wasm integer kernels) and as its QDQ export in onnxruntime-node (graph optimisation "all",
 * so the Conv / Gemm groups run as QLinearConv / QGemm), at batch 1 and 256, with equal
 * threads on both sides (our setNumThreads = onnxruntime's intraOpNumThreads, 1 and all cores).
 * Cases for bench/paired.ts, interleaved like the PyTorch suites; none when onnxruntime-node
 * does not load. Called by bench/run.ts.
 */
import "../src/autograd/backward.js";
import "../src/ops/index.js";
import { DataLoader } from "../src/data/loader.js";
import { fashionMnistSample } from "../src/datasets/fashion-mnist-sample.js";
import { subset } from "../src/data/dataset.js";
import { smallCnn } from "../src/nn/models/small-cnn.js";
import { calibrate, convert, disableObserver, prepareQat, qconfigs } from "../src/quant/index.js";
import { exportInt8Model } from "../src/onnx/index.js";
import { manualSeed } from "../src/tensor/random.js";
import { timeit } from "./paired.js";
import { type PairedCase, timeitAsync } from "./paired.js";
import type { Tensor } from "../src/tensor/tensor.js";

type Ort = typeof import("onnxruntime-node");
type Session = Awaited<ReturnType<Ort["InferenceSession"]["create"]>>;

export async function onnxruntimeVersion(): Promise<string> {
  try {
    const ort = await import("onnxruntime-node");
    return `onnxruntime-node ${ort.env.versions.common ?? ""}`.trim();
  } catch {
    return "onnxruntime-node";
  }
}

/** onnxruntime-node, or null after printing why the peer is absent. */
export async function loadOrtPeer(): Promise<Ort | null> {
  try {
    return await import("onnxruntime-node");
  } catch (e) {
    console.error(`(onnxruntime-node unavailable: ${(e as Error).message})`);
    return null;
  }
}

/** A session on `bytes` with `threads` intra-op threads (all graph optimizations, as users run it). */
export function ortSession(ort: Ort, bytes: Uint8Array, threads: number): Promise<Session> {
  return ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", intraOpNumThreads: threads, interOpNumThreads: 1 });
}

/** The peer side of a case: median seconds of onnxruntime running the session on x. */
export function ortPeer(ort: Ort, session: () => Promise<Session>, x: Tensor, minTime: number): () => Promise<number> {
  return async () => {
    const s = await session();
    const feeds = { [s.inputNames[0]]: new ort.Tensor("float32", x.toFloat32Array(), [...x.shape]) };
    return timeitAsync(() => s.run(feeds), minTime);
  };
}

/** Int8Model vs onnxruntime on the QDQ export, batch 1 and 256, at each thread count. */
export async function onnxCases(threads: number[]): Promise<PairedCase[]> {
  const ort = await loadOrtPeer();
  if (!ort) return [];
  manualSeed(0);
  const sample = fashionMnistSample();
  const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
  calibrate(qm, new DataLoader(subset(sample.train, Array.from({ length: 256 }, (_, i) => i * 23)), { batchSize: 64, seed: 1 }), { batches: 4 });
  disableObserver(qm);
  const int8 = convert(qm, { example: sample.test.getBatch([0]).x });
  const bytes = exportInt8Model(int8, { format: "qdq" });
  const sessions = new Map<number, Promise<Session>>();
  const session = (t: number) => {
    if (!sessions.has(t)) sessions.set(t, ortSession(ort, bytes, t));
    return sessions.get(t)!;
  };
  const cases: PairedCase[] = [];
  for (const batch of [1, 256]) {
    const x = sample.test.getBatch(Array.from({ length: batch }, (_, i) => i)).x;
    const minTime = batch === 1 ? 0.5 : 1.5;
    for (const t of threads) {
      cases.push({
        label: `SmallCNN int8 (x86 preset), batch ${batch}: Int8Model.run vs onnxruntime QDQ`, threads: t, unit: "ms",
        ours: () => timeit(() => int8.run(x), minTime, 5),
        peer: ortPeer(ort, () => session(t), x, minTime),
      });
    }
  }
  return cases;
}
