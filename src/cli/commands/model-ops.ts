/**
 * `qat calibrate` (PTQ → ptq.ckpt.safetensors), `qat convert` (a QAT or PTQ checkpoint →
 * model.int8.safetensors), `qat eval` (any model artifact, or every one in a run directory)
 * and `qat inspect` (per-layer table with SQNR → layers.json). Each writes its record
 * (`<verb>.json`) in its --out directory. Called by src/cli/main.ts and demo.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { NotSupportedError, ValueError } from "../../tensor/errors.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { Module } from "../../nn/module.js";
import { Int8Model } from "../../int8/model.js";
import { loadInt8Model, saveInt8Model } from "../../int8/fs.js";
import { prepareQat } from "../../quant/prepare.js";
import { qconfigByName } from "../../quant/qconfig.js";
import { calibrate } from "../../quant/calibrate.js";
import { convertWithReport } from "../../quant/convert.js";
import { disableObserver } from "../../quant/schedule.js";
import { preparedConfig } from "../../quant/checkpoint.js";
import { type LayerReport, inspectModel } from "../../quant/inspect.js";
import { evaluate, evaluatePredictor, type EvalResult } from "../../train/trainer.js";
import { saveCheckpoint } from "../../train/fs.js";
import { decodeSafetensorsWithMetadata } from "../../nn/safetensors.js";
import { writeFileAtomic } from "../../nn/fs.js";
import { ARTIFACTS, type GlobalOptions, loadData, loadFloat, loadQat, loaders, needsQuantized, num, readUserFile, resolveFrom, writeRecord } from "../common.js";
import { percent, sig, table } from "../format.js";
import { Progress } from "../progress.js";

/** `calibrate` with the CLI's --percentile, a progress bar/line, and its outlier warnings (printed on stderr, returned for --json). */
export function calibrateFromCli(qm: Module, loader: Iterable<{ x: Tensor }> & { length: number }, batches: number, percentile: number | string | undefined, cmd: string, p: Progress): { seen: number; rangeWarnings: string[] } {
  const rangeWarnings: string[] = [];
  const q = percentile === undefined ? undefined : num(percentile, "percentile", { min: 50 });
  const seen = calibrate(qm, p.iterate("calibrate", loader, Math.min(batches, loader.length)), { batches, percentile: q, onWarning: (w) => w.forEach((x) => rangeWarnings.push(x.message)) });
  for (const m of rangeWarnings) console.warn(`qat ${cmd}: warning: ${m}`);
  return { seen, rangeWarnings };
}

export interface CalibrateOptions extends GlobalOptions {
  from: string;
  data: string;
  qconfig: string;
  batches: number | string;
  percentile?: number | string;
  out: string;
}

export function calibrateCommand(o: CalibrateOptions, p = new Progress(o)) {
  const src = resolveFrom(o.from, [ARTIFACTS.float], "run 'qat train' first");
  const { model, ckpt } = loadFloat(src);
  const batches = num(o.batches, "batches", { int: true, min: 1 });
  const qconfig = qconfigByName(o.qconfig);
  const l = loaders(o.data, 64, 0);
  const qm = prepareQat(model, { qconfig });
  qm.inputShape = [1, ...l.trainSet.get(0).x.shape];
  const { seen, rangeWarnings } = calibrateFromCli(qm, l.train, batches, o.percentile, "calibrate", p);
  disableObserver(qm);
  const acc = evaluate(qm, p.iterate("evaluate", l.test, l.test.length, "batches")).accuracy;
  mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, ARTIFACTS.ptq);
  saveCheckpoint(file, { model: qm.stateDict(), config: { ...preparedConfig(qm, (ckpt.config as { model: { zoo: string } }).model), qconfig: o.qconfig } });
  const r = { checkpoint: file, samples: seen, fakeQuantAccuracy: acc, rangeWarnings };
  writeRecord(o.out, "calibrate", src, o, r);
  return r;
}

/** A QAT (`qat qat`) or PTQ (`qat calibrate`) checkpoint from --from; a float one is the one needsQuantized error. */
export function quantizedFrom(from: string, verb: string): string {
  const file = resolveFrom(from, [ARTIFACTS.qat, ARTIFACTS.ptq], "run 'qat qat' or 'qat calibrate' first");
  const kind = artifactKind(file);
  if (kind === "float") throw needsQuantized(file, verb);
  if (kind !== "qat") throw new ValueError(`${verb}: ${file} is an ${kind === "int8" ? "Int8Model" : "ONNX file"}; ${verb} needs a QAT or PTQ checkpoint`);
  return file;
}

export function convertCommand(o: GlobalOptions & { from: string; out: string }) {
  const src = quantizedFrom(o.from, "convert");
  const { model } = loadQat(src);
  const { model: int8, report } = convertWithReport(model);
  for (const i of report.islands) console.warn(`qat convert: float island '${i.source}' (${i.fn}): ${i.reason}`);
  // islands that run a module with no stored form (e.g. a float nn.LSTM) cannot go into a file
  const bound = int8.graph.nodes.filter((n) => n.op === "float" && !n.call && !n.steps).map((n) => n.name);
  if (bound.length) throw new NotSupportedError(`convert: ${bound.length} float island(s) run a module that an Int8Model file cannot store (${bound.join(", ")}); use 'qat export' (ONNX QDQ) for this model`);
  const file = o.out.endsWith(".safetensors") ? o.out : path.join(o.out, ARTIFACTS.int8);
  mkdirSync(path.dirname(file), { recursive: true });
  saveInt8Model(file, int8);
  const r = { model: file, bytes: int8.sizeBytes, layers: int8.graph.nodes.length, floatIslands: report.islands.map((i) => ({ source: i.source, op: i.fn, reason: i.reason })) };
  writeRecord(path.dirname(file), "convert", src, o, r);
  return r;
}

/** What kind of artifact a file is, from its content. */
export function artifactKind(file: string): "int8" | "qat" | "float" | "onnx" {
  const bytes = readUserFile(file, "model file");
  if (file.endsWith(".onnx")) return "onnx";
  const meta = decodeSafetensorsWithMetadata(bytes, file).metadata ?? {};
  if ("qat_ts.int8" in meta) return "int8";
  const ck = meta["qat_ts.checkpoint"];
  if (ck === undefined) throw new ValueError(`${file}: neither a qat-ts checkpoint nor an Int8Model`);
  let parsed: { config?: { qat?: unknown } } | null;
  try {
    parsed = JSON.parse(ck) as typeof parsed;
  } catch (e) {
    throw new ValueError(`${file}: checkpoint metadata is not valid JSON (${(e as Error).message})`);
  }
  return parsed?.config?.qat ? "qat" : "float";
}

/** A predictor for any artifact: float/QAT checkpoints, Int8Model files. */
export function predictorOf(file: string): { kind: string; run: (x: Tensor) => Tensor; int8?: Int8Model } {
  const kind = artifactKind(file);
  if (kind === "int8") {
    const m = loadInt8Model(file);
    return { kind, run: (x) => m.run(x), int8: m };
  }
  if (kind === "onnx") throw new ValueError(`${file}: evaluate an ONNX file with 'qat import --from ${file} --data <spec>'`);
  const model = kind === "qat" ? loadQat(file).model : loadFloat(file).model;
  model.eval();
  return { kind, run: (x) => model.forward(x) };
}

/** The model artifacts `qat eval` / `qat bench` use in a run directory, in pipeline order. */
export const MODEL_ARTIFACTS = [ARTIFACTS.float, ARTIFACTS.qat, ARTIFACTS.ptq, ARTIFACTS.int8] as const;

/** --from as a list of model files: the file itself, or every model artifact in a run directory. */
export function modelsFrom(from: string, verb: string): string[] {
  if (existsSync(from) && statSync(from).isDirectory()) {
    const files = MODEL_ARTIFACTS.map((f) => path.join(from, f)).filter((f) => existsSync(f));
    if (files.length === 0) throw new ValueError(`--from: ${from} has none of ${MODEL_ARTIFACTS.join(", ")}; ${verb} needs a model (run 'qat train', 'qat qat', 'qat calibrate' or 'qat convert' first)`);
    return files;
  }
  readUserFile(from, "--from");
  return [from];
}

export interface EvalRow extends EvalResult {
  file: string;
  kind: string;
}

export function evalCommand(o: GlobalOptions & { from: string; data: string; out: string }, p = new Progress(o)): { from: string; results: EvalRow[] } {
  const files = modelsFrom(o.from, "eval");
  const results: EvalRow[] = [];
  for (const file of files) {
    const pred = predictorOf(file);
    const test = loaders(o.data, 500, 0).test;
    const r = evaluatePredictor(pred.run, p.iterate(`eval ${pred.kind}`, test, test.length));
    results.push({ file, kind: pred.kind, ...r });
  }
  const out = { from: o.from, results };
  writeRecord(o.out, "eval", files.length === 1 ? files[0] : o.from, o, out);
  return out;
}

export function formatEval(r: { results: EvalRow[] }): string {
  return table(["model", "kind", "accuracy", "loss", "images"], r.results.map((x) => [x.file, x.kind, percent(x.accuracy), sig(x.loss, 4), String(x.count)]));
}

export function inspectCommand(o: GlobalOptions & { from: string; data: string; samples: number | string; out: string }, p = new Progress(o)) {
  const src = quantizedFrom(o.from, "inspect");
  const { model } = loadQat(src);
  const n = num(o.samples, "samples", { int: true, min: 1 });
  const { test } = loadData(o.data);
  const batch = test.getBatch(Array.from({ length: Math.min(n, test.length) }, (_, i) => i));
  const layers = p.stage("inspect", () => inspectModel(model, batch.x), (r) => `${r.length} layers · ${batch.x.shape[0]} images`);
  mkdirSync(o.out, { recursive: true });
  const layersFile = path.join(o.out, ARTIFACTS.layers);
  writeFileAtomic(layersFile, JSON.stringify(layers));
  const r = { from: src, samples: batch.x.shape[0], layersFile, layers };
  writeRecord(o.out, "inspect", src, o, { from: src, samples: r.samples, layersFile, layers: layers.length });
  return r;
}

/** The inspect table as text, worst SQNR marked. */
export function formatLayers(r: { layers: LayerReport[] }): string {
  const rows = r.layers;
  const sq = rows.map((r) => r.sqnrDb ?? Infinity);
  const worst = new Set([...sq].sort((a, b) => a - b).slice(0, 3));
  const head = ["layer", "type", "bits", "w scale", "act scale", "zp", "act range", "SQNR dB"];
  const lines = rows.map((r, i) => [
    r.name, r.type, r.weightBits === null ? "-" : String(r.weightBits),
    r.weightScale ? `${r.weightScale.min.toExponential(2)}…${r.weightScale.max.toExponential(2)}` : "-",
    r.activationScale.toExponential(3), String(r.activationZeroPoint),
    `[${r.activationRange[0].toFixed(2)}, ${r.activationRange[1].toFixed(2)}]`,
    (r.sqnrDb === null ? "∞" : r.sqnrDb.toFixed(1)) + (worst.has(sq[i]) && Number.isFinite(sq[i]) ? "  ◀ worst" : ""),
  ]);
  return table(head, lines);
}
