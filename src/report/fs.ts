/**
 * Run directories on disk (Node only): loadRunDir reads run.json (or, for directories of
 * `qat train` / `qat qat`, builds the summary from the metrics), metrics-*.jsonl and
 * layers.json into ReportData; writeReport renders `<dir>/report.html` with Chart.js's UMD
 * build inlined, written atomically. Node's modules are looked up at call time (as in
 * src/nn/fs.ts), so importing src/report stays browser-safe. Called by `qat report`,
 * `qat demo` and tests.
 */
import type * as NodeFs from "node:fs";
import type * as NodeModule from "node:module";
import type * as NodePath from "node:path";
import { writeFileAtomic } from "../nn/fs.js";
import { FormatError, NotSupportedError } from "../tensor/errors.js";
import { renderReport } from "./html.js";
import { parseLayers, parseMetricsJsonl, parseRunSummary } from "./parse.js";
import type { MetricRecord, ReportData, RunSummary, StageSummary } from "./types.js";

interface NodeApis {
  fs: typeof NodeFs;
  path: typeof NodePath;
  module: typeof NodeModule;
}

function node(op: string): NodeApis {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const get = proc?.getBuiltinModule;
  if (typeof get !== "function") throw new NotSupportedError(`${op}: needs Node.js ≥ 20.16 (file system access)`);
  return { fs: get("node:fs") as typeof NodeFs, path: get("node:path") as typeof NodePath, module: get("node:module") as typeof NodeModule };
}

/** The file's text, or null when it does not exist. */
function readOptional(fs: typeof NodeFs, file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

const RUN_FILES = ["metrics-float.jsonl", "metrics-qat.jsonl", "layers.json"];

/**
 * Reads a run directory. run.json (written by `qat demo`) gives the summary; a directory
 * without it but with the files `qat train` / `qat qat` / `qat inspect` write (metrics-*.jsonl,
 * layers.json) gets a summary built from them (see summaryFromMetrics); a directory with none
 * of these is a FormatError naming it. Missing metrics files give empty arrays and a missing
 * layers.json no layers. Malformed content throws a FormatError naming the file (and line,
 * for JSON Lines).
 */
export function loadRunDir(dir: string): ReportData {
  const { fs, path } = node("loadRunDir");
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new FormatError(`report: ${dir} is not a directory`);
  const metrics = (name: string) => {
    const file = path.join(dir, name);
    const text = readOptional(fs, file);
    return text === null ? [] : parseMetricsJsonl(text, file);
  };
  const runFile = path.join(dir, "run.json");
  const runText = readOptional(fs, runFile);
  const summary = runText === null ? null : parseRunSummary(runText, runFile);
  const layersFile = path.join(dir, "layers.json");
  const layersText = readOptional(fs, layersFile);
  const data = {
    floatMetrics: metrics("metrics-float.jsonl"),
    qatMetrics: metrics("metrics-qat.jsonl"),
    layers: layersText === null ? [] : parseLayers(layersText, layersFile),
  };
  if (summary) return { summary, ...data };
  const present = RUN_FILES.filter((f) => fs.existsSync(path.join(dir, f)));
  if (present.length === 0) {
    throw new FormatError(`report: ${dir} has no run.json and none of ${RUN_FILES.join(", ")} (not a qat-ts run directory?)`);
  }
  const newest = Math.max(...present.map((f) => fs.statSync(path.join(dir, f)).mtimeMs));
  return { summary: summaryFromMetrics(path.basename(path.resolve(dir)), new Date(newest).toISOString(), data.floatMetrics, data.qatMetrics), ...data };
}

/** The last epoch's test accuracy in a metrics log, or null when none was measured. */
function lastTestAccuracy(records: readonly MetricRecord[]): number | null {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (r.kind === "epoch") return r.testAccuracy ?? null;
  }
  return null;
}

/**
 * The summary of a directory `qat train` / `qat qat` wrote (no run.json): one stage per
 * metrics log present ("float", "fake-quant (QAT)") with its last epoch's test accuracy;
 * sizes and latencies are unknown (null), and a note says so.
 */
export function summaryFromMetrics(name: string, createdAt: string, floatMetrics: readonly MetricRecord[], qatMetrics: readonly MetricRecord[]): RunSummary {
  const stage = (stageName: string, records: readonly MetricRecord[]): StageSummary => ({
    name: stageName, accuracy: lastTestAccuracy(records), sizeBytes: null, latencyMs: { batch1: null, batch256: null },
  });
  const stages: StageSummary[] = [];
  if (floatMetrics.length > 0) stages.push(stage("float", floatMetrics));
  if (qatMetrics.length > 0) stages.push(stage("fake-quant (QAT)", qatMetrics));
  return {
    title: name,
    createdAt,
    config: {},
    stages,
    notes: ["No run.json in this directory (only `qat demo` writes one): stages come from the metrics logs; sizes and latencies were not measured."],
  };
}

/**
 * The source of Chart.js's UMD build. The package's export map hides dist/, so this resolves
 * the package's main entry (dist/chart.cjs) and reads dist/chart.umd.js beside it.
 */
export function readChartJsSource(): string {
  const { fs, path, module } = node("readChartJsSource");
  let main: string;
  try {
    main = module.createRequire(import.meta.url).resolve("chart.js");
  } catch {
    throw new NotSupportedError("report: the chart.js package is not installed (npm install chart.js)");
  }
  for (const name of ["chart.umd.js", "chart.umd.min.js"]) {
    const file = path.join(path.dirname(main), name);
    if (fs.existsSync(file)) return fs.readFileSync(file, "utf8");
  }
  throw new NotSupportedError(`report: no UMD build of chart.js next to ${main}`);
}

/** Renders the run in `dir` to `outPath` (default `<dir>/report.html`), atomically; returns the path written. */
export function writeReport(dir: string, outPath?: string): string {
  const { path } = node("writeReport");
  const data = loadRunDir(dir);
  const out = outPath ?? path.join(dir, "report.html");
  writeFileAtomic(out, renderReport(data, { chartJsSource: readChartJsSource() }));
  return out;
}
