/**
 * Parsing and validation of the run-directory files (see ./types.ts) from their text.
 * Browser-safe (strings in, typed data out); every error is a FormatError naming the file
 * and, for JSON Lines, the line. Called by ./fs.ts (loadRunDir) and by tests.
 */
import { FormatError } from "../tensor/errors.js";
import type { Histogram, LayerReport, MetricRecord, RunSummary, StageSummary } from "./types.js";

type Obj = Record<string, unknown>;

/** A checker bound to one place in one file, for error messages. */
class Where {
  constructor(readonly label: string) {}

  fail(what: string): never {
    throw new FormatError(`${this.label}: ${what}`);
  }

  obj(v: unknown, what: string): Obj {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(`${what} must be an object`);
    return v as Obj;
  }

  arr(v: unknown, what: string): unknown[] {
    if (!Array.isArray(v)) this.fail(`${what} must be an array`);
    return v;
  }

  str(o: Obj, key: string): string {
    if (typeof o[key] !== "string") this.fail(`"${key}" must be a string`);
    return o[key] as string;
  }

  num(o: Obj, key: string): number {
    if (typeof o[key] !== "number") this.fail(`"${key}" must be a number`);
    return o[key] as number;
  }

  /** A number, or null (how JSON.stringify writes NaN and ±Infinity) read back as NaN. */
  numOrNaN(o: Obj, key: string): number {
    if (o[key] === null) return NaN;
    return this.num(o, key);
  }

  numOrNull(o: Obj, key: string): number | null {
    if (o[key] === null || o[key] === undefined) return null;
    return this.num(o, key);
  }

  nums(v: unknown, what: string): number[] {
    const a = this.arr(v, what);
    if (!a.every((x) => typeof x === "number")) this.fail(`${what} must hold numbers only`);
    return a as number[];
  }

  pair(v: unknown, what: string): [number, number] {
    const a = this.nums(v, what);
    if (a.length !== 2) this.fail(`${what} must be [min, max]`);
    return [a[0], a[1]];
  }
}

/** Parses JSON, turning a syntax error into a FormatError naming `file`. */
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${file}: malformed JSON (${(e as Error).message})`);
  }
}

function parseStage(v: unknown, w: Where): StageSummary {
  const o = w.obj(v, "stage");
  const lat = w.obj(o.latencyMs, `"latencyMs" of stage "${String(o.name)}"`);
  return {
    name: w.str(o, "name"),
    accuracy: w.numOrNull(o, "accuracy"),
    sizeBytes: w.numOrNull(o, "sizeBytes"),
    latencyMs: { batch1: w.numOrNull(lat, "batch1"), batch256: w.numOrNull(lat, "batch256") },
  };
}

/** Parses `run.json`. */
export function parseRunSummary(text: string, file = "run.json"): RunSummary {
  const w = new Where(file);
  const o = w.obj(parseJson(text, file), "run.json content");
  const stages = w.arr(o.stages, '"stages"').map((s, i) => parseStage(s, new Where(`${file}: stages[${i}]`)));
  const out: RunSummary = {
    title: w.str(o, "title"),
    createdAt: w.str(o, "createdAt"),
    config: o.config === undefined ? {} : w.obj(o.config, '"config"'),
    stages,
  };
  if (o.notes !== undefined) {
    const notes = w.arr(o.notes, '"notes"');
    if (!notes.every((n) => typeof n === "string")) w.fail('"notes" must hold strings only');
    out.notes = notes as string[];
  }
  return out;
}

function parseMetricRecord(v: unknown, w: Where): MetricRecord {
  const o = w.obj(v, "record");
  if (o.kind === "step") {
    return { kind: "step", step: w.num(o, "step"), epoch: w.num(o, "epoch"), loss: w.numOrNaN(o, "loss"), lr: w.num(o, "lr") };
  }
  if (o.kind !== "epoch") w.fail(`"kind" must be "step" or "epoch", got ${JSON.stringify(o.kind)}`);
  const rec: MetricRecord = {
    kind: "epoch",
    epoch: w.num(o, "epoch"),
    step: w.num(o, "step"),
    lr: w.num(o, "lr"),
    trainLoss: w.numOrNaN(o, "trainLoss"),
    trainAccuracy: w.numOrNaN(o, "trainAccuracy"),
    seconds: w.num(o, "seconds"),
    imagesPerSec: w.num(o, "imagesPerSec"),
  };
  if (o.testLoss !== undefined) rec.testLoss = w.numOrNaN(o, "testLoss");
  if (o.testAccuracy !== undefined) rec.testAccuracy = w.numOrNaN(o, "testAccuracy");
  return rec;
}

/** Parses a metrics JSON Lines file; blank lines are skipped. */
export function parseMetricsJsonl(text: string, file: string): MetricRecord[] {
  const out: MetricRecord[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const label = `${file}:${i + 1}`;
    out.push(parseMetricRecord(parseJson(line, label), new Where(label)));
  }
  return out;
}

function parseHistogram(v: unknown, w: Where, what: string): Histogram | null {
  if (v === null || v === undefined) return null;
  const o = w.obj(v, what);
  const h = { edges: w.nums(o.edges, `${what}.edges`), counts: w.nums(o.counts, `${what}.counts`), grid: w.nums(o.grid, `${what}.grid`) };
  if (h.counts.length === 0 || h.edges.length !== h.counts.length + 1) {
    w.fail(`${what} must have bins + 1 edges (got ${h.edges.length} edges, ${h.counts.length} counts)`);
  }
  return h;
}

function parseLayer(v: unknown, w: Where): LayerReport {
  const o = w.obj(v, "layer");
  const ws = o.weightScale === null || o.weightScale === undefined ? null : w.obj(o.weightScale, '"weightScale"');
  return {
    name: w.str(o, "name"),
    type: w.str(o, "type"),
    outputShape: w.nums(o.outputShape, '"outputShape"'),
    weightBits: w.numOrNull(o, "weightBits"),
    weightScale: ws === null ? null : { min: w.num(ws, "min"), max: w.num(ws, "max") },
    activationScale: w.num(o, "activationScale"),
    activationZeroPoint: w.num(o, "activationZeroPoint"),
    activationQmin: w.num(o, "activationQmin"),
    activationQmax: w.num(o, "activationQmax"),
    weightRange: o.weightRange === null || o.weightRange === undefined ? null : w.pair(o.weightRange, '"weightRange"'),
    activationRange: w.pair(o.activationRange, '"activationRange"'),
    sqnrDb: w.numOrNull(o, "sqnrDb"),
    weightHistogram: parseHistogram(o.weightHistogram, w, '"weightHistogram"'),
    activationHistogram: parseHistogram(o.activationHistogram, w, '"activationHistogram"'),
  };
}

/** Parses `layers.json`. */
export function parseLayers(text: string, file = "layers.json"): LayerReport[] {
  const list = new Where(file).arr(parseJson(text, file), "layers.json content");
  return list.map((l, i) => parseLayer(l, new Where(`${file}: layer ${i}`)));
}
