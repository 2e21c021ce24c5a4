/**
 * The run-directory data model read by `qat report`: what the CLI writes while it trains,
 * quantizes, converts and exports, and what src/report turns into one HTML page.
 * Written by src/cli (train / qat / inspect / demo); read by ./parse.ts and ./html.ts.
 *
 *   <run-dir>/run.json            RunSummary (written by `qat demo`; without it the summary is
 *                                 built from the metrics logs, src/report/fs.ts)
 *   <run-dir>/metrics-float.jsonl MetricRecord per line, float training (optional)
 *   <run-dir>/metrics-qat.jsonl   MetricRecord per line, QAT fine-tuning (optional)
 *   <run-dir>/layers.json         LayerReport[] (optional; written by `qat inspect`)
 *
 * Accuracies are fractions in [0, 1]; sizes in bytes; latencies in milliseconds.
 */
import type { MetricRecord } from "../train/trainer.js";
import type { LayerReport } from "../quant/inspect.js";

// Metric records and layer rows are defined by their producers (the Trainer, quant.inspectModel).
export type { StepRecord, EpochRecord, MetricRecord } from "../train/trainer.js";
export type { Histogram, LayerReport } from "../quant/inspect.js";

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

/** Everything a report is made from (what loadRunDir returns). */
export interface ReportData {
  summary: RunSummary;
  floatMetrics: MetricRecord[];
  qatMetrics: MetricRecord[];
  layers: LayerReport[];
}
