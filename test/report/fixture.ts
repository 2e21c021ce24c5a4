/**
 * A synthetic but realistic run directory for the report tests: 2 float epochs and 1 QAT
 * epoch with per-step losses, a run.json with four stages, and 6 layers with weight and
 * activation histograms (8-bit and 4-bit weights, ReLU-shaped activations, a layer without
 * weights, and one whose name is an HTML injection attempt). Deterministic (seeded).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Histogram, LayerReport, MetricRecord, RunSummary } from "../../src/report/types.js";

export const EVIL_NAME = "<script>alert(1)</script>";

/** mulberry32: a small seeded PRNG in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Step and epoch records of one phase; the loss decays from `start` towards `end`. */
export function phaseMetrics(epochs: number, stepsPerEpoch: number, lr: number, start: number, end: number, accs: number[], seed: number): MetricRecord[] {
  const r = rng(seed);
  const out: MetricRecord[] = [];
  let step = 0;
  for (let e = 0; e < epochs; e++) {
    for (let s = 0; s < stepsPerEpoch; s++) {
      step++;
      const t = step / (epochs * stepsPerEpoch);
      const loss = end + (start - end) * Math.exp(-5 * t) + 0.08 * gaussian(r) * (1 - 0.5 * t);
      out.push({ kind: "step", step, epoch: e, loss: Math.max(0.01, loss), lr });
    }
    const acc = accs[e];
    out.push({ kind: "epoch", epoch: e, step, lr, trainLoss: end + 0.05, trainAccuracy: acc + 0.01, testLoss: end + 0.08, testAccuracy: acc, seconds: 12.5, imagesPerSec: 4800 });
  }
  return out;
}

/** Histogram of `values` in `bins` bins over [lo, hi], with the levels q·scale (q in [qmin, qmax]) inside it. */
export function histogram(values: number[], lo: number, hi: number, bins: number, scale: number, zeroPoint: number, qmin: number, qmax: number): Histogram {
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins)))]++;
  const grid: number[] = [];
  for (let q = qmin; q <= qmax; q++) {
    const real = (q - zeroPoint) * scale;
    if (real >= lo - 1e-12 && real <= hi + 1e-12) grid.push(real);
  }
  return { edges, counts, grid };
}

function layer(name: string, type: string, outputShape: number[], bits: number | null, wStd: number, actMax: number, sqnrDb: number, seed: number): LayerReport {
  const r = rng(seed);
  const weights = bits === null ? [] : Array.from({ length: 4000 }, () => wStd * gaussian(r));
  const acts = Array.from({ length: 6000 }, () => Math.max(0, actMax * 0.25 * gaussian(r)));
  const wMax = weights.reduce((m, w) => Math.max(m, Math.abs(w)), 0);
  const qmaxW = bits === null ? 0 : 2 ** (bits - 1) - 1;
  const wScale = wMax / qmaxW;
  const aMax = acts.reduce((m, a) => Math.max(m, a), 0);
  const aScale = aMax / 255;
  return {
    name,
    type,
    outputShape,
    weightBits: bits,
    weightScale: bits === null ? null : { min: wScale * 0.6, max: wScale },
    activationScale: aScale,
    activationZeroPoint: 0,
    activationQmin: 0,
    activationQmax: 255,
    weightRange: bits === null ? null : [-wMax, wMax],
    activationRange: [0, aMax],
    sqnrDb,
    weightHistogram: bits === null ? null : histogram(weights, -wMax, wMax, 64, wScale, 0, -qmaxW - 1, qmaxW),
    activationHistogram: histogram(acts, 0, aMax, 64, aScale, 0, 0, 255),
  };
}

export function layers(): LayerReport[] {
  return [
    layer("features.0", "ConvBnReLU2d", [1, 16, 28, 28], 8, 0.2, 3, 38.5, 1),
    layer("features.3", "ConvBnReLU2d", [1, 32, 14, 14], 8, 0.08, 4, 31.2, 2),
    { ...layer("features.5", "MaxPool2d", [1, 32, 7, 7], null, 0, 4, 0, 3), sqnrDb: null },
    layer("classifier.1", "LinearReLU", [1, 128], 4, 0.03, 6, 17.9, 4),
    layer(EVIL_NAME, "Linear", [1, 10], 8, 0.1, 8, 24.3, 5),
    layer("classifier.3", "Linear", [1, 10], 8, 0.1, 10, 21.7, 6),
  ];
}

export function runSummary(): RunSummary {
  return {
    title: "SmallCNN on Fashion-MNIST (embedded subset)",
    createdAt: "2025-06-01T09:30:00.000Z",
    config: { model: "small-cnn", data: "embedded", epochs: 2, batchSize: 64, lr: 0.05, qat: { qconfig: "x86", epochs: 1, lr: 0.005, freezeBnAt: 0.6 }, seed: 0, title: EVIL_NAME },
    stages: [
      { name: "float", accuracy: 0.9012, sizeBytes: 421_928, latencyMs: { batch1: 0.61, batch256: 17.2 } },
      { name: "fake-quant (QAT)", accuracy: 0.8996, sizeBytes: null, latencyMs: { batch1: 1.4, batch256: 41.0 } },
      { name: "int8", accuracy: 0.8991, sizeBytes: 107_112, latencyMs: { batch1: 0.28, batch256: 7.6 } },
      { name: "onnx (onnxruntime)", accuracy: 0.8993, sizeBytes: 110_560, latencyMs: { batch1: 0.09, batch256: 3.1 } },
    ],
    notes: ["Synthetic run for the report tests.", `A note with markup: ${EVIL_NAME}`],
  };
}

/** Writes the run directory's files into `dir` (created if needed); returns `dir`. */
export function writeRunDir(dir: string, parts: { float?: boolean; qat?: boolean; layers?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "run.json"), JSON.stringify(runSummary(), null, 2));
  const jsonl = (records: MetricRecord[]) => records.map((r) => JSON.stringify(r)).join("\n") + "\n";
  if (parts.float !== false) writeFileSync(join(dir, "metrics-float.jsonl"), jsonl(phaseMetrics(2, 180, 0.05, 2.3, 0.3, [0.874, 0.9012], 11)));
  if (parts.qat !== false) writeFileSync(join(dir, "metrics-qat.jsonl"), jsonl(phaseMetrics(1, 180, 0.005, 0.45, 0.28, [0.8996], 12)));
  if (parts.layers !== false) writeFileSync(join(dir, "layers.json"), JSON.stringify(layers()));
  return dir;
}
