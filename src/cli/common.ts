/**
 * Shared pieces of the `qat` commands: dataset specs, config files (JSON or YAML, flags
 * override), output (`--json` or human text), artifacts on disk (`--from` resolution in run
 * directories, each verb's record `<verb>.json`), the shared error messages and the one-line
 * error policy. Node-only. Called by src/cli/main.ts and src/cli/commands/*.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { QatError, ValueError } from "../tensor/errors.js";
import { writeFileAtomic } from "../nn/fs.js";
import { fashionMnist, mnist } from "../data/fs.js";
import { fashionMnistSample } from "../datasets/fashion-mnist-sample.js";
import type { ImageDataset } from "../data/dataset.js";
import { DataLoader } from "../data/loader.js";
import { manualSeed } from "../tensor/random.js";
import { buildModel } from "../nn/models/registry.js";
import type { Module } from "../nn/module.js";
import { type Checkpoint } from "../train/checkpoint.js";
import { loadCheckpoint } from "../train/fs.js";
import { loadPrepared } from "../quant/checkpoint.js";
import type { QatModel } from "../quant/stubs.js";

export interface GlobalOptions {
  json?: boolean;
  config?: string;
}

/** Splits: train/test image datasets from a spec (embedded | fashion-mnist:<dir> | mnist:<dir> | idx:<dir>). */
export function loadData(spec: string): { train: ImageDataset; test: ImageDataset } {
  if (spec === "embedded") return fashionMnistSample();
  const i = spec.indexOf(":");
  const kind = i < 0 ? spec : spec.slice(0, i);
  const dir = i < 0 ? "" : spec.slice(i + 1);
  if (kind === "fashion-mnist") return fashionMnist(dir || "/usr/share/datasets/fashion-mnist");
  if ((kind === "mnist" || kind === "idx") && dir) return mnist(dir);
  throw new ValueError(`--data: expected embedded, fashion-mnist:<dir>, mnist:<dir> or idx:<dir>, got '${spec}'`);
}

/** Current `--subset n` (first n training and n/2 test images; for quick tries and tests). */
let subsetSize = 0;
export function setSubset(n: number | string | undefined): void {
  subsetSize = n === undefined ? 0 : num(n, "subset", { int: true, min: 2 });
}

export function loaders(spec: string, batchSize: number, seed: number) {
  const full = loadData(spec);
  const pick = (d: ImageDataset, n: number) => (subsetSize ? d.select(Array.from({ length: Math.min(n, d.length) }, (_, i) => i)) : d);
  const train = pick(full.train, subsetSize);
  const test = pick(full.test, Math.floor(subsetSize / 2));
  return {
    train: new DataLoader(train, { batchSize, shuffle: true, seed: seed + 1 }),
    test: new DataLoader(test, { batchSize: 500 }),
    trainSet: train,
    testSet: test,
  };
}

/**
 * Options from `--config file` (JSON, or YAML with the core schema only: no custom tags)
 * under the command's flags (flags win). `known` lists the command's option names
 * (camelCase); any other key is an error listing them.
 */
export function withConfig<T extends object>(opts: T & GlobalOptions, defaults: Partial<T>, given: Set<string>, known?: readonly string[]): T {
  if (!opts.config) return opts;
  const cfg = readConfigFile(opts.config);
  const merged: Record<string, unknown> = { ...defaults, ...opts };
  for (const [k, v] of Object.entries(cfg)) {
    const key = k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (known && (!known.includes(key) || key === "config")) {
      const valid = known.filter((n) => n !== "config").map((n) => n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
      throw new ValueError(`--config: ${opts.config}: unknown key '${k}'; valid keys: ${valid.join(", ")}`);
    }
    if (!given.has(key)) merged[key] = v;
  }
  return merged as T;
}

/** Why a file cannot be read, in words, from its errno code. */
function readFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "does not exist";
  if (code === "EISDIR") return "is a directory, not a file";
  if (code === "EACCES" || code === "EPERM") return "cannot be read (permission denied)";
  return `cannot be read (${(e as Error).message})`;
}

/** The bytes of a file the user named; a failure is a ValueError naming the file and why (`what`: "--from", "model file"). */
export function readUserFile(file: string, what: string): Uint8Array {
  try {
    const b = readFileSync(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new ValueError(`${what}: ${file} ${readFailure(e)}`);
  }
}

/** Parses a config file into a plain mapping; every failure names the file. */
function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ValueError(`--config: ${file} ${readFailure(e)}`);
  }
  const json = file.endsWith(".json");
  let cfg: unknown;
  if (json) {
    try {
      cfg = JSON.parse(text);
    } catch (e) {
      throw new ValueError(`--config: ${file} is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    const doc = YAML.parseDocument(text, { schema: "core", customTags: [], prettyErrors: false });
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw new ValueError(`--config: ${file} is not valid YAML (core schema: no custom tags): ${problem.message.split("\n")[0]}`);
    cfg = doc.toJS();
  }
  if (cfg === null || cfg === undefined) return {};
  if (typeof cfg !== "object" || Array.isArray(cfg)) throw new ValueError(`--config: ${file} must hold a mapping of option names to values, got ${Array.isArray(cfg) ? "a list" : typeof cfg}`);
  return cfg as Record<string, unknown>;
}

/** Prints a result: one JSON document on stdout with --json, else the human text. */
export function emit(opts: GlobalOptions, result: unknown, human: string): void {
  if (opts.json) process.stdout.write(JSON.stringify(result) + "\n");
  else if (human) console.log(human);
}

export function num(v: unknown, name: string, { int = false, min = -Infinity } = {}): number {
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min) throw new ValueError(`--${name}: expected ${int ? "an integer" : "a number"} ≥ ${min}, got '${String(v)}'`);
  return n;
}

export function seedAll(seed: number): void {
  manualSeed(seed);
}

/**
 * `--from`: a file is used as it is; a run directory gives its first artifact among
 * `candidates` (file names, in order of preference). Missing either way is a ValueError
 * naming the path and what was looked for (`hint`: the verb that writes it).
 */
export function resolveFrom(p: string, candidates: readonly string[], hint: string): string {
  if (existsSync(p) && statSync(p).isDirectory()) {
    for (const c of candidates) if (existsSync(path.join(p, c))) return path.join(p, c);
    throw new ValueError(`--from: ${p} has no ${candidates.join(" or ")}; ${hint}`);
  }
  if (!existsSync(p)) throw new ValueError(`--from: ${p} does not exist`);
  return p;
}

/** A checkpoint file, or the named artifact inside a run directory (`qat export-torch`). */
export function resolveArtifact(p: string, inDir: string): string {
  return resolveFrom(p, [inDir], "run the previous step first");
}

/** A verb's record in its run directory (`<out>/<verb>.json`): what it read, with which options, and what it found. */
export interface RunRecord {
  verb: string;
  createdAt: string;
  /** The artifact the verb read (resolved from --from), or null. */
  from: string | null;
  options: Record<string, unknown>;
  result: Record<string, unknown>;
}

const NOT_OPTIONS = new Set(["json", "config", "progress", "out", "from"]);

/** Writes `<dir>/<verb>.json` atomically (read by `qat report`, which follows `from` back along the chain). */
export function writeRecord(dir: string, verb: string, from: string | null, options: object, result: object): void {
  mkdirSync(dir, { recursive: true });
  const opts = Object.fromEntries(Object.entries(options).filter(([k, v]) => !NOT_OPTIONS.has(k) && v !== undefined));
  const rec: RunRecord = { verb, createdAt: new Date().toISOString(), from: from === null ? null : path.resolve(from), options: opts, result: result as Record<string, unknown> };
  writeFileAtomic(path.join(dir, `${verb}.json`), JSON.stringify(rec, null, 2) + "\n");
}

/**
 * The one message for a float checkpoint where a quantized one is needed (convert, inspect,
 * a quantized export): names the file and the two verbs that make one.
 */
export function needsQuantized(file: string, verb: string): ValueError {
  return new ValueError(`${verb}: ${file} is a float checkpoint; ${verb} needs a QAT or PTQ checkpoint (run 'qat qat' or 'qat calibrate' on it first)`);
}

/**
 * A deprecated positional argument (`qat eval <file>`): used as --from, with a one-line note
 * on stderr; given together with --from it is an error.
 */
export function positionalAsFrom(verb: string, positional: string | undefined, opts: Record<string, unknown>, fromGiven: boolean): void {
  if (positional === undefined) return;
  if (fromGiven) throw new ValueError(`${verb}: give the input once, as --from (the positional argument '${positional}' is deprecated)`);
  console.error(`qat ${verb}: note: the positional argument is deprecated; use --from ${positional}`);
  opts.from = positional;
}

/** A float model from a `qat train` checkpoint. */
export function loadFloat(file: string): { model: Module; ckpt: Checkpoint } {
  const ckpt = loadCheckpoint(file);
  const spec = (ckpt.config as { model?: { zoo: string; options?: Record<string, unknown> } }).model;
  if (!spec) throw new ValueError(`${file}: checkpoint names no zoo model (config.model)`);
  const model = buildModel(spec);
  model.loadStateDict(ckpt.model);
  return { model, ckpt };
}

/** A prepared model from a `qat qat` / `qat calibrate` checkpoint. */
export function loadQat(file: string): { model: QatModel; ckpt: Checkpoint } {
  const ckpt = loadCheckpoint(file);
  return { model: loadPrepared(ckpt, { source: file }), ckpt };
}

/** The one-line error policy: typed errors print their message; others their class too. */
export function describeError(e: unknown): string {
  if (e instanceof QatError) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

export const ARTIFACTS = {
  float: "float.ckpt.safetensors",
  qat: "qat.ckpt.safetensors",
  ptq: "ptq.ckpt.safetensors",
  int8: "model.int8.safetensors",
  onnx: "model.qdq.onnx",
  /** `qat export --format f` into a directory writes model.<f>.onnx. */
  onnxOf: (format: string) => `model.${format}.onnx`,
  /** `qat import` of a float ONNX model: its weights (the graph stays in the .onnx file). */
  importedWeights: "weights.safetensors",
  layers: "layers.json",
  floatMetrics: "metrics-float.jsonl",
  qatMetrics: "metrics-qat.jsonl",
} as const;
