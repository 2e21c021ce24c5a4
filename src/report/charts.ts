/**
 * Chart.js configurations for the report, built here in typed code and embedded as JSON;
 * the page's small inline script (./client.ts) only hands each one to `new Chart`. Pure
 * data (no callbacks), so the configurations survive JSON. Browser-safe; called by ./html.ts.
 * Histogram charts live in ./histogram-chart.ts.
 */
import type { ChartConfiguration } from "chart.js";
import type { EpochRecord, LayerReport, MetricRecord, StepRecord } from "./types.js";

/** A line-chart point; y null leaves a gap (Chart.js breaks the line there). */
export interface XY {
  x: number;
  y: number | null;
}

export type LineConfig = ChartConfiguration<"line", XY[]>;
export type BarConfig = ChartConfiguration<"bar", (number | null)[]>;

/** One chart of the page: the id of its <canvas> and its configuration. */
export interface ChartSpec {
  canvasId: string;
  config: LineConfig | BarConfig;
}

export const COLORS = {
  float: "#2563eb",
  qat: "#9333ea",
  testAccuracy: "#16a34a",
  trainAccuracy: "#65a30d",
  testLoss: "#ea580c",
  sqnr: "#3b82f6",
  worst: "#dc2626",
  weights: "#2563eb",
  activations: "#0d9488",
  grid: "rgba(234, 88, 12, 0.5)",
  gridLine: "#e5e7eb",
  text: "#374151",
} as const;

/** Step curves longer than this are averaged in buckets (the legend says so). */
export const MAX_LINE_POINTS = 3000;

const round = (x: number, digits: number): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

/** Options every chart shares: fixed size from CSS, no animation, legend at the bottom. */
export function baseOptions(title: string): NonNullable<LineConfig["options"]> {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: {
      title: { display: true, text: title, color: COLORS.text, font: { size: 13, weight: "bold" } },
      legend: { position: "bottom", labels: { boxWidth: 12, font: { size: 11 } } },
    },
  };
}

/**
 * The loss curve of one phase: one point per step, or the mean of every `stride` steps when
 * there are more than MAX_LINE_POINTS (stride is 1 otherwise). NaN losses become gaps.
 */
export function lossPoints(steps: readonly StepRecord[]): { points: XY[]; stride: number } {
  const stride = Math.max(1, Math.ceil(steps.length / MAX_LINE_POINTS));
  const points: XY[] = [];
  for (let i = 0; i < steps.length; i += stride) {
    const bucket = steps.slice(i, i + stride);
    const mean = bucket.reduce((s, r) => s + r.loss, 0) / bucket.length;
    points.push({ x: bucket[bucket.length - 1].step, y: Number.isFinite(mean) ? round(mean, 5) : null });
  }
  return { points, stride };
}

function epochPoints(epochs: readonly EpochRecord[], value: (e: EpochRecord) => number | undefined, scale: number): XY[] {
  const out: XY[] = [];
  for (const e of epochs) {
    const v = value(e);
    if (v !== undefined && Number.isFinite(v)) out.push({ x: e.step, y: round(v * scale, 4) });
  }
  return out;
}

type LineDataset = LineConfig["data"]["datasets"][number];

/** The datasets of a training chart: loss line (left axis) and epoch accuracies (right axis). */
function trainingDatasets(records: readonly MetricRecord[], color: string): LineDataset[] {
  const steps = records.filter((r): r is StepRecord => r.kind === "step");
  const epochs = records.filter((r): r is EpochRecord => r.kind === "epoch");
  const sets: LineDataset[] = [];
  if (steps.length > 0) {
    const { points, stride } = lossPoints(steps);
    const label = stride === 1 ? "loss per step" : `loss (mean of every ${stride} steps)`;
    sets.push({ label, data: points, yAxisID: "y", borderColor: color, backgroundColor: color, borderWidth: 1, pointRadius: 0 });
  } else {
    const pts = epochPoints(epochs, (e) => e.trainLoss, 1);
    sets.push({ label: "train loss (epoch mean)", data: pts, yAxisID: "y", borderColor: color, backgroundColor: color, pointRadius: 3, clip: 8 });
  }
  const testLoss = epochPoints(epochs, (e) => e.testLoss, 1);
  if (testLoss.length > 0) {
    sets.push({ label: "test loss", data: testLoss, yAxisID: "y", borderColor: COLORS.testLoss, backgroundColor: COLORS.testLoss, pointRadius: 4, clip: 8, pointStyle: "rectRot", borderWidth: 1.5, borderDash: [4, 3] });
  }
  const trainAcc = epochPoints(epochs, (e) => e.trainAccuracy, 100);
  if (trainAcc.length > 0) {
    sets.push({ label: "train accuracy (%)", data: trainAcc, yAxisID: "acc", borderColor: COLORS.trainAccuracy, backgroundColor: COLORS.trainAccuracy, pointRadius: 3, clip: 8, borderWidth: 1.5, borderDash: [4, 3] });
  }
  const testAcc = epochPoints(epochs, (e) => e.testAccuracy, 100);
  if (testAcc.length > 0) {
    sets.push({ label: "test accuracy (%)", data: testAcc, yAxisID: "acc", borderColor: COLORS.testAccuracy, backgroundColor: COLORS.testAccuracy, pointRadius: 5, clip: 8, borderWidth: 2 });
  }
  return sets;
}

/** Loss and accuracy of one training phase against the step count; null when it has no records. */
export function trainingChart(canvasId: string, title: string, records: readonly MetricRecord[], color: string): ChartSpec | null {
  if (records.length === 0) return null;
  const hasAccuracy = records.some((r) => r.kind === "epoch");
  const lastStep = records.reduce((m, r) => Math.max(m, r.step), 1);
  const options = baseOptions(title);
  options.interaction = { mode: "nearest", intersect: false };
  options.scales = {
    x: { type: "linear", min: 0, max: lastStep, ticks: { includeBounds: false }, title: { display: true, text: "step" }, grid: { color: COLORS.gridLine } },
    y: { type: "linear", position: "left", title: { display: true, text: "loss" }, grid: { color: COLORS.gridLine } },
  };
  if (hasAccuracy) {
    options.scales.acc = { type: "linear", position: "right", title: { display: true, text: "accuracy (%)" }, grid: { drawOnChartArea: false } };
  }
  return { canvasId, config: { type: "line", data: { datasets: trainingDatasets(records, color) }, options } };
}

/** The `count` layers with the lowest SQNR (null SQNR never counts), worst first. */
export function worstLayers(layers: readonly LayerReport[], count = 3): LayerReport[] {
  return layers
    .filter((l) => l.sqnrDb !== null && !Number.isNaN(l.sqnrDb))
    .sort((a, b) => (a.sqnrDb as number) - (b.sqnrDb as number))
    .slice(0, count);
}

/** A layer name short enough for an axis label (the full name is in the tables). */
export function shortLabel(name: string, max = 36): string {
  return name.length <= max ? name : `${name.slice(0, max - 1)}…`;
}

/** Horizontal SQNR bars, one per layer in model order, the worst ones in a second color. */
export function sqnrChart(canvasId: string, layers: readonly LayerReport[], worst: readonly LayerReport[]): ChartSpec | null {
  if (!layers.some((l) => l.sqnrDb !== null)) return null;
  const isWorst = new Set(worst);
  const value = (l: LayerReport): number | null => (l.sqnrDb === null || !Number.isFinite(l.sqnrDb) ? null : round(l.sqnrDb, 2));
  const options = baseOptions("SQNR per layer (float vs quantized output; higher is better)");
  const bar = options as NonNullable<BarConfig["options"]>;
  bar.indexAxis = "y";
  bar.scales = {
    x: { type: "linear", title: { display: true, text: "SQNR (dB)" }, grid: { color: COLORS.gridLine } },
    y: { type: "category", grid: { display: false }, ticks: { autoSkip: false, font: { size: 11 } } },
  };
  const config: BarConfig = {
    type: "bar",
    data: {
      labels: layers.map((l, i) => `${i}: ${shortLabel(l.name)}${value(l) === null ? " (n/a)" : ""}`),
      datasets: [
        { label: "SQNR (dB)", data: layers.map((l) => (isWorst.has(l) ? null : value(l))), backgroundColor: COLORS.sqnr, grouped: false },
        { label: `lowest ${worst.length}`, data: layers.map((l) => (isWorst.has(l) ? value(l) : null)), backgroundColor: COLORS.worst, grouped: false },
      ],
    },
    options: bar,
  };
  return { canvasId, config };
}
