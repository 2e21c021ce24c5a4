/**
 * `qat train` (float training) and `qat qat` (QAT fine-tuning with the freeze schedule), both
 * resumable from their checkpoint in the output directory (which also gets train.json /
 * qat.json, the verb's record). Progress: a bar per epoch on a TTY, one line per epoch.
 * Called by src/cli/main.ts and demo.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { buildModel } from "../../nn/models/registry.js";
import { SGD } from "../../optim/sgd.js";
import { CosineAnnealingLR } from "../../optim/lr-scheduler.js";
import { Trainer, evaluate } from "../../train/trainer.js";
import { jsonlSink, loadCheckpoint, saveCheckpoint, truncateMetricsTo } from "../../train/fs.js";
import { requireResumable } from "../../train/checkpoint.js";
import { ValueError } from "../../tensor/errors.js";
import { describeError } from "../common.js";
import { prepareQat } from "../../quant/prepare.js";
import { qconfigByName } from "../../quant/qconfig.js";
import { calibrateFromCli } from "./model-ops.js";
import { qatSchedule } from "../../quant/schedule.js";
import { LearnableFakeQuantize } from "../../quant/lsq.js";
import { preparedConfig } from "../../quant/checkpoint.js";
import type { Module } from "../../nn/module.js";
import { ARTIFACTS, type GlobalOptions, loadFloat, loaders, num, resolveFrom, seedAll, writeRecord } from "../common.js";
import { Progress } from "../progress.js";

export interface TrainOptions extends GlobalOptions {
  model: string;
  data: string;
  epochs: number | string;
  batchSize: number | string;
  lr: number | string;
  momentum: number | string;
  weightDecay: number | string;
  schedule: string;
  seed: number | string;
  out: string;
  progress?: boolean;
}

export interface TrainResult {
  checkpoint: string;
  epochs: number;
  testAccuracy: number;
  seconds: number;
  resumedFrom: number | null;
}

/**
 * Resumes `trainer` from the checkpoint `file` of an interrupted run: a checkpoint of another
 * model or optimizer is one line saying so; the metrics log is truncated to the checkpoint
 * (records written after it would otherwise appear twice). Returns the epoch resumed from.
 */
function resumeFrom(trainer: Trainer, file: string, metricsFile: string, before?: (ckpt: ReturnType<typeof loadCheckpoint>) => void): number {
  const ckpt = loadCheckpoint(file);
  requireResumable(ckpt, file);
  try {
    before?.(ckpt);
    trainer.restore(ckpt);
  } catch (e) {
    throw new ValueError(`${file} is the checkpoint of a different run and cannot be resumed here (${describeError(e)}); use another --out or delete it`);
  }
  truncateMetricsTo(metricsFile, trainer.step);
  return trainer.epoch;
}

/** A flag value that must be one of `choices`; the error lists them. */
export function choice(v: unknown, name: string, choices: readonly string[]): string {
  if (typeof v !== "string" || !choices.includes(v)) throw new ValueError(`--${name}: expected one of ${choices.join(", ")}, got '${String(v)}'`);
  return v;
}

/** Runs the loop with a checkpoint written atomically after every epoch and one progress line per epoch. */
function fitWithCheckpoints(trainer: Trainer, file: string, config: Record<string, unknown>, epochs: number, l: ReturnType<typeof loaders>, p: Progress, label: string): void {
  trainer.fit(l.train, {
    epochs, test: l.test,
    onCheckpoint: (t) => {
      saveCheckpoint(file, t.toCheckpoint(l.train, config));
      const rec = t.history.at(-1);
      if (rec) p.epoch(label, rec, epochs, l.train.length);
    },
  });
}

/** The Trainer's progress option: the CLI's reporter (a bar on a TTY), or none. */
function reporter(p: Progress) {
  return p.enabled ? p.trainerReporter() : false;
}

export function trainCommand(o: TrainOptions, p = new Progress(o)): TrainResult {
  const epochs = num(o.epochs, "epochs", { int: true, min: 1 });
  const seed = num(o.seed, "seed", { int: true });
  const file = path.join(o.out, ARTIFACTS.float);
  seedAll(seed);
  const l = loaders(o.data, num(o.batchSize, "batch-size", { int: true, min: 1 }), seed);
  const spec = { zoo: o.model };
  const model = buildModel(spec);
  const optimizer = new SGD(model.parameters(), { lr: num(o.lr, "lr", { min: 0 }), momentum: num(o.momentum, "momentum", { min: 0 }), weightDecay: num(o.weightDecay, "weight-decay", { min: 0 }) });
  const scheduler = choice(o.schedule, "schedule", ["none", "cosine"]) === "cosine" ? new CosineAnnealingLR(optimizer, { tMax: epochs }) : null;
  mkdirSync(o.out, { recursive: true }); // once every input is checked: a bad flag leaves no directory behind
  const metricsFile = path.join(o.out, ARTIFACTS.floatMetrics);
  const trainer = new Trainer({ model, optimizer, scheduler, log: jsonlSink(metricsFile), logEvery: 10, progress: reporter(p), label: "float" });
  let resumedFrom: number | null = null;
  if (existsSync(file)) resumedFrom = resumeFrom(trainer, file, metricsFile);
  else if (existsSync(metricsFile)) rmSync(metricsFile);
  const t0 = performance.now();
  fitWithCheckpoints(trainer, file, { model: spec, data: o.data, seed }, epochs, l, p, "float");
  const acc = trainer.history.at(-1)?.testAccuracy ?? evaluate(model, l.test).accuracy;
  const r = { checkpoint: file, epochs: trainer.epoch, testAccuracy: acc, seconds: (performance.now() - t0) / 1e3, resumedFrom };
  writeRecord(o.out, "train", null, o, r);
  return r;
}

export interface QatOptions extends GlobalOptions {
  from: string;
  data: string;
  qconfig: string;
  epochs: number | string;
  batchSize: number | string;
  lr: number | string;
  momentum: number | string;
  freezeBn: number | string;
  freezeObserver: number | string;
  actDelay: number | string;
  calibrateBatches: number | string;
  /** Clip calibrated activation ranges to this percentile (e.g. 99.99). */
  percentile?: number | string;
  seed: number | string;
  out: string;
  progress?: boolean;
}

/**
 * `--freeze-observer auto`: 0.3 when the model learns step sizes (LSQ: they are learned only
 * once the observers are frozen; bench/RESULTS.md, "W4A4: the observer freeze matters"), else
 * PyTorch's customary 0.8.
 */
export function autoObserverFreeze(qm: Module): number {
  return qm.modules().some((m) => m instanceof LearnableFakeQuantize) ? 0.3 : 0.8;
}

/** Step at `fraction` of the whole run (fractions ≤ 1), or an absolute step (> 1). */
function stepAt(v: number, total: number): number {
  return v <= 1 ? Math.floor(v * total) : Math.floor(v);
}

export function qatCommand(o: QatOptions, epochsFlag = "epochs", p = new Progress(o)): TrainResult & { fakeQuantAccuracy: number } {
  const epochs = num(o.epochs, epochsFlag, { int: true, min: 1 });
  const seed = num(o.seed, "seed", { int: true });
  const file = path.join(o.out, ARTIFACTS.qat);
  seedAll(seed);
  const src = resolveFrom(o.from, [ARTIFACTS.float], "run 'qat train' first");
  const { model: float, ckpt } = loadFloat(src);
  const spec = (ckpt.config as { model: { zoo: string } }).model;
  const l = loaders(o.data, num(o.batchSize, "batch-size", { int: true, min: 1 }), seed);
  const qm = prepareQat(float, { qconfig: qconfigByName(o.qconfig) });
  mkdirSync(o.out, { recursive: true });
  const total = epochs * l.train.length;
  const schedule = qatSchedule(qm, {
    activationQuantDelaySteps: num(o.actDelay, "act-delay", { int: true, min: 0 }),
    freezeBnStep: stepAt(num(o.freezeBn, "freeze-bn", { min: 0 }), total),
    freezeObserverStep: stepAt(o.freezeObserver === "auto" ? autoObserverFreeze(qm) : num(o.freezeObserver, "freeze-observer", { min: 0 }), total),
  });
  const optimizer = new SGD(qm.parameters(), { lr: num(o.lr, "lr", { min: 0 }), momentum: num(o.momentum, "momentum", { min: 0 }) });
  const metricsFile = path.join(o.out, ARTIFACTS.qatMetrics);
  const trainer = new Trainer({ model: qm, optimizer, callbacks: [schedule], log: jsonlSink(metricsFile), logEvery: 10, progress: reporter(p), label: "qat" });
  let resumedFrom: number | null = null;
  if (existsSync(file)) {
    resumedFrom = resumeFrom(trainer, file, metricsFile, (resume) => qm.loadStateDict(resume.model));
  } else {
    if (existsSync(metricsFile)) rmSync(metricsFile);
    calibrateFromCli(qm, l.train, num(o.calibrateBatches, "calibrate-batches", { int: true, min: 1 }), o.percentile, "qat", p);
  }
  const t0 = performance.now();
  qm.inputShape = [1, ...l.trainSet.get(0).x.shape];
  const config = { ...preparedConfig(qm, spec), data: o.data, seed, qconfig: o.qconfig };
  fitWithCheckpoints(trainer, file, config, epochs, l, p, "qat");
  const acc = trainer.history.at(-1)?.testAccuracy ?? evaluate(qm as Module, l.test).accuracy;
  const r = { checkpoint: file, epochs: trainer.epoch, testAccuracy: acc, fakeQuantAccuracy: acc, seconds: (performance.now() - t0) / 1e3, resumedFrom };
  writeRecord(o.out, "qat", src, o, r);
  return r;
}
