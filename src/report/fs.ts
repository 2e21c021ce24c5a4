/**
 * Run directories on disk (Node only): loadRunDir reads run.json, metrics-*.jsonl and
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
import type { ReportData } from "./types.js";

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

/**
 * Reads a run directory. run.json is required (FormatError naming the directory when absent);
 * missing metrics files give empty arrays and a missing layers.json no layers. Malformed
 * content throws a FormatError naming the file (and line, for JSON Lines).
 */
export function loadRunDir(dir: string): ReportData {
  const { fs, path } = node("loadRunDir");
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new FormatError(`report: ${dir} is not a directory`);
  const runFile = path.join(dir, "run.json");
  const runText = readOptional(fs, runFile);
  if (runText === null) throw new FormatError(`report: ${dir} has no run.json (not a qat-ts run directory?)`);
  const metrics = (name: string) => {
    const file = path.join(dir, name);
    const text = readOptional(fs, file);
    return text === null ? [] : parseMetricsJsonl(text, file);
  };
  const layersFile = path.join(dir, "layers.json");
  const layersText = readOptional(fs, layersFile);
  return {
    summary: parseRunSummary(runText, runFile),
    floatMetrics: metrics("metrics-float.jsonl"),
    qatMetrics: metrics("metrics-qat.jsonl"),
    layers: layersText === null ? [] : parseLayers(layersText, layersFile),
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
