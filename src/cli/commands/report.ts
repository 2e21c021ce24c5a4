/**
 * `qat report --from <run dir>`: the self-contained HTML report (src/report) of any run
 * directory. A `qat demo` directory has run.json and is rendered as it is; any other is read
 * from what the verbs left there — metrics logs, layers.json and each verb's record
 * (`train.json`, `qat.json`, `calibrate.json`, `convert.json`, `export.json`, `import.json`,
 * `eval.json`, `bench.json`, `inspect.json`) — following each record's `from` back to the
 * directories earlier in the chain, so `runs/export` reports convert, QAT and float too.
 * Called by src/cli/main.ts and demo.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../../nn/fs.js";
import { loadRunDir, parseLayers, parseMetricsJsonl, readChartJsSource, renderReport, type ReportData, type StageSummary } from "../../report/index.js";
import type { MetricRecord } from "../../train/trainer.js";
import { ValueError } from "../../tensor/errors.js";
import type { RunRecord } from "../common.js";

const VERBS = ["train", "qat", "calibrate", "convert", "export", "import", "eval", "bench", "inspect"] as const;
const MAX_DIRS = 16;

interface Found {
  dirs: string[];
  records: (RunRecord & { dir: string })[];
  floatMetrics: MetricRecord[];
  qatMetrics: MetricRecord[];
  layers: ReportData["layers"];
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ValueError(`report: ${file} is not valid JSON (${(e as Error).message})`);
  }
}

/** Every record, metrics log and layer table in `start` and the directories its records came from. */
function collect(start: string): Found {
  const found: Found = { dirs: [], records: [], floatMetrics: [], qatMetrics: [], layers: [] };
  const queue = [path.resolve(start)];
  while (queue.length > 0 && found.dirs.length < MAX_DIRS) {
    const dir = queue.shift()!;
    if (found.dirs.includes(dir) || !existsSync(dir) || !statSync(dir).isDirectory()) continue;
    found.dirs.push(dir);
    const f = (name: string) => path.join(dir, name);
    if (!found.floatMetrics.length && existsSync(f("metrics-float.jsonl"))) found.floatMetrics = parseMetricsJsonl(readFileSync(f("metrics-float.jsonl"), "utf8"), f("metrics-float.jsonl"));
    if (!found.qatMetrics.length && existsSync(f("metrics-qat.jsonl"))) found.qatMetrics = parseMetricsJsonl(readFileSync(f("metrics-qat.jsonl"), "utf8"), f("metrics-qat.jsonl"));
    if (!found.layers.length && existsSync(f("layers.json"))) found.layers = parseLayers(readFileSync(f("layers.json"), "utf8"), f("layers.json"));
    for (const verb of VERBS) {
      if (!existsSync(f(`${verb}.json`))) continue;
      const rec = readJson(f(`${verb}.json`)) as RunRecord;
      if (rec?.verb !== verb || typeof rec.result !== "object") throw new ValueError(`report: ${f(`${verb}.json`)} is not a qat ${verb} record`);
      found.records.push({ ...rec, dir });
      if (typeof rec.from === "string") queue.push(path.dirname(rec.from));
    }
  }
  return found;
}

function lastTestAccuracy(records: readonly MetricRecord[]): number | null {
  for (let i = records.length - 1; i >= 0; i--) if (records[i].kind === "epoch") return (records[i] as { testAccuracy?: number }).testAccuracy ?? null;
  return null;
}

/** The stage a model file's measurements belong to. */
function stageOf(file: string, kind: string): string {
  if (kind === "int8") return "int8";
  if (kind === "qat") return path.basename(file).startsWith("ptq") ? "fake-quant (PTQ)" : "fake-quant (QAT)";
  return kind;
}

/** The summary table from what was found: one stage per artifact, in pipeline order. */
function stagesOf(f: Found): StageSummary[] {
  const stages = new Map<string, StageSummary>();
  const stage = (name: string): StageSummary => {
    if (!stages.has(name)) stages.set(name, { name, accuracy: null, sizeBytes: null, latencyMs: { batch1: null, batch256: null } });
    return stages.get(name)!;
  };
  const rec = (verb: string) => f.records.filter((r) => r.verb === verb);
  if (f.floatMetrics.length) stage("float").accuracy = lastTestAccuracy(f.floatMetrics);
  if (f.qatMetrics.length) stage("fake-quant (QAT)").accuracy = lastTestAccuracy(f.qatMetrics);
  for (const r of rec("calibrate")) stage("fake-quant (PTQ)").accuracy = r.result.fakeQuantAccuracy as number;
  for (const r of rec("convert")) stage("int8").sizeBytes = r.result.bytes as number;
  for (const r of rec("export")) stage(`onnx ${String(r.result.format)}`).sizeBytes = r.result.bytes as number;
  for (const r of rec("import")) if (r.result.accuracy !== undefined) stage(`imported ${String(r.result.kind)}`).accuracy = r.result.accuracy as number;
  for (const r of rec("eval")) for (const e of r.result.results as { file: string; kind: string; accuracy: number }[]) stage(stageOf(e.file, e.kind)).accuracy = e.accuracy;
  for (const r of rec("bench")) for (const b of r.result.models as { file: string; kind: string; latencyMs: { batch1: number; batch256: number } }[]) stage(stageOf(b.file, b.kind)).latencyMs = { ...b.latencyMs };
  const order = ["float", "fake-quant (QAT)", "fake-quant (PTQ)", "int8"];
  const rank = (n: string) => (order.includes(n) ? order.indexOf(n) : order.length);
  return [...stages.values()].sort((a, b) => rank(a.name) - rank(b.name));
}

/** ReportData of any run directory (see the header). */
export function runDirData(dir: string): ReportData {
  if (!existsSync(dir)) throw new ValueError(`--from: ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new ValueError(`report: --from ${dir} is not a directory`);
  if (existsSync(path.join(dir, "run.json"))) return loadRunDir(dir);
  const f = collect(dir);
  if (f.records.length === 0 && !f.floatMetrics.length && !f.qatMetrics.length && !f.layers.length) {
    throw new ValueError(`report: ${dir} is not a qat run directory (no run.json, metrics-*.jsonl, layers.json or ${VERBS.map((v) => `${v}.json`).join(", ")})`);
  }
  const stamps = f.records.map((r) => r.createdAt).filter((t) => typeof t === "string").sort();
  const config = Object.fromEntries(f.records.map((r) => [r.verb, { ...r.options, from: r.from }]));
  const notes = [`Built from the files the qat verbs wrote in ${f.dirs.map((d) => path.relative(process.cwd(), d) || ".").join(", ")} (following each verb's --from).`];
  if (!f.records.some((r) => r.verb === "bench")) notes.push("Latencies were not measured here (run `qat bench --from <dir>`).");
  return {
    summary: { title: path.basename(path.resolve(dir)), createdAt: stamps.at(-1) ?? new Date().toISOString(), config, stages: stagesOf(f), notes },
    floatMetrics: f.floatMetrics, qatMetrics: f.qatMetrics, layers: f.layers,
  };
}

/** Writes `<out>/report.html` (`out` defaults to the run directory; a path ending in .html is the file). */
export function reportCommand(o: { from: string; out?: string }): { report: string; stages: string[] } {
  // A file in a run directory (`--from runs/convert/model.int8.safetensors`) stands for its directory.
  const dir = existsSync(o.from) && statSync(o.from).isFile() ? path.dirname(o.from) : o.from;
  const data = runDirData(dir);
  const out = o.out === undefined ? path.join(dir, "report.html") : o.out.endsWith(".html") ? o.out : path.join(o.out, "report.html");
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileAtomic(out, renderReport(data, { chartJsSource: readChartJsSource() }));
  return { report: out, stages: data.summary.stages.map((s) => s.name) };
}
