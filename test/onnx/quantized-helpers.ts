/**
 * Helpers for the quantized ONNX tests: QAT models calibrated on a slice of the embedded
 * Fashion-MNIST sample (observers then off), an onnxruntime runner with session options,
 * parity figures between two float outputs in quanta of the output scale (max |Δ|, share
 * exact, top-1 agreement) and op-type counts of a model (e.g. onnxruntime's optimized one).
 */
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { DataLoader } from "../../src/data/loader.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { subset } from "../../src/data/dataset.js";
import type { Module } from "../../src/nn/module.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { calibrate, disableObserver, prepareQat, type QConfig, type QatModel } from "../../src/quant/index.js";
import { decodeModel } from "../../src/onnx/index.js";
import { Sequential } from "../../src/nn/layers/container.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { BatchNorm2d } from "../../src/nn/layers/batchnorm.js";
import { ReLU, Sigmoid } from "../../src/nn/layers/activation.js";
import { MaxPool2d } from "../../src/nn/layers/pooling.js";
import { Flatten } from "../../src/nn/layers/shape.js";
import { Linear } from "../../src/nn/layers/linear.js";

type Ort = typeof import("onnxruntime-node");

const sample = fashionMnistSample();
const calibSet = subset(sample.train, Array.from({ length: 96 }, (_, i) => i * 37));

/** `n` embedded test images (spread over the classes), normalised. */
export function testImages(n: number): Tensor {
  return sample.test.getBatch(Array.from({ length: n }, (_, i) => (i * 7) % sample.test.length)).x;
}

/** A QAT-prepared model calibrated on 3 batches of 32 training images, observers disabled, eval mode. */
export function calibrated(make: () => Module, qconfig: QConfig, seed = 0): QatModel {
  manualSeed(seed);
  const qm = prepareQat(make(), { qconfig, example: testImages(2) });
  calibrate(qm, new DataLoader(calibSet, { batchSize: 32, seed: 1 }), { batches: 3 });
  disableObserver(qm);
  qm.eval();
  return qm;
}

export interface SessionOpts {
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  optimizedModelFilePath?: string;
  intraOpNumThreads?: number;
}

/** Runs a one-input one-output model in onnxruntime. */
export async function runOrtWith(ort: Ort, bytes: Uint8Array, x: Tensor, opts: SessionOpts = {}): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", ...opts });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", x.toFloat32Array(), [...x.shape]) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

export interface Parity {
  /** Largest |a − b| in quanta of the output scale. */
  maxQuanta: number;
  /** Share of elements that agree exactly. */
  exact: number;
  /** Share of rows whose arg-max agrees. */
  top1: number;
}

export function parity(a: ArrayLike<number>, b: ArrayLike<number>, scale: number, classes: number): Parity {
  if (a.length !== b.length) throw new Error(`parity: ${a.length} vs ${b.length} elements`);
  let maxQuanta = 0;
  let exact = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / scale;
    maxQuanta = Math.max(maxQuanta, Math.round(d * 1e3) / 1e3);
    if (a[i] === b[i]) exact++;
  }
  const rows = a.length / classes;
  let agree = 0;
  for (let r = 0; r < rows; r++) if (argmax(a, r * classes, classes) === argmax(b, r * classes, classes)) agree++;
  return { maxQuanta, exact: exact / a.length, top1: agree / rows };
}

function argmax(a: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[offset + j] > a[offset + best]) best = j;
  return best;
}

/** "max |Δ| 0 q, 100.00 % exact, top-1 100.00 %". */
export function fmtParity(p: Parity): string {
  return `max |Δ| ${p.maxQuanta} quantum, ${(100 * p.exact).toFixed(2)} % exact, top-1 agreement ${(100 * p.top1).toFixed(2)} %`;
}

/** Op-type counts of a model ("com.microsoft::" not prefixed). */
export function opCounts(bytes: Uint8Array): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of decodeModel(bytes).graph!.node!) counts[n.opType!] = (counts[n.opType!] ?? 0) + 1;
  return counts;
}

/** Integer kernels onnxruntime fused QDQ groups into. */
export const INTEGER_KERNELS = ["QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger", "QGemm", "QLinearAdd", "QLinearGlobalAveragePool", "QLinearConcat"];

/** A small CNN with a Sigmoid between two layers (converted to a 256-entry table). */
export function sigmoidCnn(): Module {
  return new Sequential(
    new Conv2d(1, 8, 3, { padding: 1 }), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
    new Conv2d(8, 8, 3, { padding: 1 }), new Sigmoid(), new Flatten(), new Linear(8 * 14 * 14, 10),
  );
}

/** A CNN with a BatchNorm2d that no conv precedes (conv → ReLU → BN): a depthwise 1×1 integer conv. */
export function standaloneBnCnn(): Module {
  return new Sequential(
    new Conv2d(1, 8, 3, { padding: 1 }), new ReLU(), new BatchNorm2d(8), new Conv2d(8, 8, 3, { padding: 1 }), new ReLU(),
    new MaxPool2d(2), new Flatten(), new Linear(8 * 14 * 14, 10),
  );
}
