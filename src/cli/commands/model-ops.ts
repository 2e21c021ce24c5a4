/**
 * `qat calibrate` (PTQ), `qat convert` (→ Int8Model file), `qat eval` (any artifact) and
 * `qat inspect` (per-layer table with SQNR). Called by src/cli/main.ts and demo.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { ValueError } from "../../tensor/errors.js";
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
import { ARTIFACTS, type GlobalOptions, loadData, loadFloat, loadQat, loaders, num, readUserFile, resolveArtifact } from "../common.js";

/** `calibrate` with the CLI's --percentile and its outlier warnings (printed on stderr, returned for --json). */
export function calibrateFromCli(qm: Module, loader: Iterable<{ x: Tensor }>, batches: number, percentile: number | string | undefined, cmd: string): { seen: number; rangeWarnings: string[] } {
  const rangeWarnings: string[] = [];
  const p = percentile === undefined ? undefined : num(percentile, "percentile", { min: 50 });
  const seen = calibrate(qm, loader, { batches, percentile: p, onWarning: (w) => w.forEach((x) => rangeWarnings.push(x.message)) });
  for (const m of rangeWarnings) console.warn(`qat ${cmd}: warning: ${m}`);
  return { seen, rangeWarnings };
}

export function calibrateCommand(o: GlobalOptions & { from: string; data: string; qconfig: string; batches: number | string; percentile?: number | string; out: string }) {
  const { model, ckpt } = loadFloat(resolveArtifact(o.from, ARTIFACTS.float));
  const l = loaders(o.data, 64, 0);
  const qm = prepareQat(model, { qconfig: qconfigByName(o.qconfig) });
  qm.inputShape = [1, ...l.trainSet.get(0).x.shape];
  const { seen, rangeWarnings } = calibrateFromCli(qm, l.train, num(o.batches, "batches", { int: true, min: 1 }), o.percentile, "calibrate");
  disableObserver(qm);
  const acc = evaluate(qm, l.test).accuracy;
  mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, ARTIFACTS.ptq);
  saveCheckpoint(file, { model: qm.stateDict(), config: { ...preparedConfig(qm, (ckpt.config as { model: { zoo: string } }).model), qconfig: o.qconfig } });
  return { checkpoint: file, samples: seen, fakeQuantAccuracy: acc, rangeWarnings };
}

export function convertCommand(o: GlobalOptions & { from: string; out: string }) {
  const src = resolveArtifact(o.from, ARTIFACTS.qat);
  const { model } = loadQat(src);
  const { model: int8, report } = convertWithReport(model);
  for (const i of report.islands) console.warn(`qat convert: float island '${i.source}' (${i.fn}): ${i.reason}`);
  const moduleIslands = int8.graph.nodes.filter((n) => n.op === "float" && !n.call).map((n) => n.name);
  if (moduleIslands.length) console.warn(`qat convert: warning: ${moduleIslands.length} float island(s) run a module (${moduleIslands.join(", ")}); the saved Int8Model cannot run them — use 'qat export' (ONNX QDQ) for this model`);
  const file = o.out.endsWith(".safetensors") ? o.out : path.join(o.out, ARTIFACTS.int8);
  mkdirSync(path.dirname(file), { recursive: true });
  saveInt8Model(file, int8);
  return { model: file, bytes: int8.sizeBytes, layers: int8.graph.nodes.length, floatIslands: report.islands.map((i) => ({ source: i.source, op: i.fn, reason: i.reason })) };
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
  if (kind === "onnx") throw new ValueError(`${file}: evaluate ONNX files with 'qat import --eval'`);
  const model = kind === "qat" ? loadQat(file).model : loadFloat(file).model;
  model.eval();
  return { kind, run: (x) => model.forward(x) };
}

export function evalCommand(o: GlobalOptions & { file: string; data: string }): EvalResult & { kind: string; file: string } {
  const p = predictorOf(o.file);
  const { test } = loadData(o.data);
  const r = evaluatePredictor(p.run, loaders(o.data, 500, 0).test);
  return { file: o.file, kind: p.kind, ...r, count: test.length };
}

export function inspectCommand(o: GlobalOptions & { from: string; data: string; samples: number | string }): LayerReport[] {
  const { model } = loadQat(resolveArtifact(o.from, ARTIFACTS.qat));
  const n = num(o.samples, "samples", { int: true, min: 1 });
  const { test } = loadData(o.data);
  const batch = test.getBatch(Array.from({ length: Math.min(n, test.length) }, (_, i) => i));
  return inspectModel(model, batch.x);
}

/** The inspect table as text, worst SQNR marked. */
export function formatLayers(rows: LayerReport[]): string {
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
  const widths = head.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c].length)));
  const fmt = (l: string[]) => l.map((v, c) => v.padEnd(widths[c])).join("  ");
  return [fmt(head), fmt(widths.map((w) => "-".repeat(w))), ...lines.map(fmt)].join("\n");
}
