/**
 * The run-directory data model read by `qat report`: what the CLI writes while it trains,
 * quantizes, converts and exports, and what src/report turns into one HTML page.
 * Written by src/cli (train / qat / inspect / demo); read by ./parse.ts and ./html.ts.
 *
 *   <run-dir>/run.json            RunSummary (required)
 *   <run-dir>/metrics-float.jsonl MetricRecord per line, float training (optional)
 *   <run-dir>/metrics-qat.jsonl   MetricRecord per line, QAT fine-tuning (optional)
 *   <run-dir>/layers.json         LayerReport[] (optional; written by `qat inspect`)
 *
 * Accuracies are fractions in [0, 1]; sizes in bytes; latencies in milliseconds.
 */

/** One stage of the pipeline in the summary table. */
export interface StageSummary {
  /** "float", "fake-quant (QAT)", "int8", "onnx (onnxruntime)"; the row named "float" is the baseline for deltas. */
  name: string;
  /** Top-1 accuracy in [0, 1] on the test set; null when not measured. */
  accuracy: number | null;
  /** Serialized model size in bytes; null when not applicable. */
  sizeBytes: number | null;
  /** Mean inference latency at batch size 1 and 256, in milliseconds. */
  latencyMs: { batch1: number | null; batch256: number | null };
}

/** `run.json`: what the run was and how each stage did. */
export interface RunSummary {
  title: string;
  /** ISO 8601 timestamp. */
  createdAt: string;
  /** The options the run used (command-line flags and config file merged). */
  config: Record<string, unknown>;
  stages: StageSummary[];
  notes?: string[];
}

/** A training step (one optimizer update); `step` counts updates since the start of this phase. */
export interface StepRecord {
  kind: "step";
  step: number;
  epoch: number;
  /** Mini-batch loss; NaN when the run wrote null (a diverged loss). */
  loss: number;
  lr: number;
}

/** The end of an epoch: training means over the epoch and, when evaluated, test metrics. */
export interface EpochRecord {
  kind: "epoch";
  epoch: number;
  /** Step count at the end of the epoch (the same counter as StepRecord.step). */
  step: number;
  lr: number;
  trainLoss: number;
  /** In [0, 1]. */
  trainAccuracy: number;
  testLoss?: number;
  /** In [0, 1]. */
  testAccuracy?: number;
  seconds: number;
  imagesPerSec: number;
}

/** One line of `metrics-float.jsonl` / `metrics-qat.jsonl`. */
export type MetricRecord = StepRecord | EpochRecord;

/** A histogram of observed values with the quantization levels that cover them. */
export interface Histogram {
  /** Bin edges, bins + 1 of them, increasing. */
  edges: number[];
  /** Count per bin. */
  counts: number[];
  /** The real values of the quantization levels within the range, for overlay. */
  grid: number[];
}

/** One quantized layer as `qat inspect` sees it (`layers.json` is LayerReport[]). */
export interface LayerReport {
  name: string;
  type: string;
  outputShape: number[];
  /** Weight bit width; null for layers without weights. */
  weightBits: number | null;
  /** Smallest and largest weight scale over the output channels (equal when per-tensor). */
  weightScale: { min: number; max: number } | null;
  activationScale: number;
  activationZeroPoint: number;
  activationQmin: number;
  activationQmax: number;
  /** Observed [min, max] of the float weights. */
  weightRange: [number, number] | null;
  /** Observed [min, max] of the output activations. */
  activationRange: [number, number];
  /** Signal-to-quantization-noise ratio of the layer output, float vs quantized, in dB. */
  sqnrDb: number | null;
  weightHistogram: Histogram | null;
  activationHistogram: Histogram | null;
}

/** Everything a report is made from (what loadRunDir returns). */
export interface ReportData {
  summary: RunSummary;
  floatMetrics: MetricRecord[];
  qatMetrics: MetricRecord[];
  layers: LayerReport[];
}
