/**
 * The `report` area: one self-contained HTML page with plots for a run directory.
 * Re-exports only; `qat report` and `qat demo` (src/cli) call writeReport.
 */
export type { EpochRecord, Histogram, LayerReport, MetricRecord, ReportData, RunSummary, StageSummary, StepRecord } from "./types.js";
export { parseLayers, parseMetricsJsonl, parseRunSummary } from "./parse.js";
export { renderReport, type RenderOptions } from "./html.js";
export { loadRunDir, readChartJsSource, writeReport } from "./fs.js";
