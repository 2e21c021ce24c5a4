/**
 * `qat demo` — the main job, end to end on the embedded Fashion-MNIST sample (or --data):
 * float training → QAT fine-tuning → convert to Int8Model → evaluate float / fake-quant /
 * int8 → ONNX QDQ export checked in onnxruntime-node → layers.json, run.json, report.html →
 * summary table. Every stage writes its artifact atomically and is skipped when the artifact
 * exists, so Ctrl-C leaves finished stages intact and re-running resumes.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { removeStaleTempsIn, writeFileAtomic } from "../../nn/fs.js";
import type { Tensor } from "../../tensor/tensor.js";
import { loadInt8Model } from "../../int8/fs.js";
import { inspectModel } from "../../quant/inspect.js";
import { evaluatePredictor } from "../../train/trainer.js";
import { ARTIFACTS, type GlobalOptions, loadFloat, loadQat, loaders, num } from "../common.js";
import { qconfigByName } from "../../quant/qconfig.js";
import { qatCommand, trainCommand } from "./train.js";
import { convertCommand } from "./model-ops.js";
import { exportArtifact, ortLatency, runOnnx } from "./onnx.js";
import { reportCommand } from "./report.js";
import { Progress } from "../progress.js";
import { kib, percent, sig, table } from "../format.js";

export interface DemoOptions extends GlobalOptions {
  out: string;
  data: string;
  model: string;
  epochs: number | string;
  qatEpochs: number | string;
  qconfig: string;
  seed: number | string;
  progress?: boolean;
}

interface Stage {
  name: string;
  accuracy: number | null;
  sizeBytes: number | null;
  latencyMs: { batch1: number | null; batch256: number | null };
}

/** Median latency (ms) of fn on a batch of `n` test images. */
function latency(run: (x: Tensor) => Tensor, batch: Tensor): number {
  run(batch);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    run(batch);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[2];
}

export async function demoCommand(o: DemoOptions, p = new Progress(o)): Promise<{ runDir: string; stages: Stage[]; report: string }> {
  // Check every flag before the first stage runs (and name each by its own flag).
  num(o.epochs, "epochs", { int: true, min: 1 });
  num(o.qatEpochs, "qat-epochs", { int: true, min: 1 });
  num(o.seed, "seed", { int: true });
  qconfigByName(o.qconfig);
  mkdirSync(o.out, { recursive: true });
  // a resumed run: temp files of writes a killed run never finished (any stage) go first
  removeStaleTempsIn(o.out);
  const common = { data: o.data, seed: o.seed, json: o.json, progress: o.progress };
  p.line(`qat demo → ${o.out} (data: ${o.data})`);
  p.line(`1/6 float training (${o.model}, ${o.epochs} epochs)`);
  trainCommand({ ...common, model: o.model, epochs: o.epochs, batchSize: 64, lr: 0.05, momentum: 0.9, weightDecay: 0, schedule: "none", out: o.out }, p);
  p.line(`2/6 quantization-aware fine-tuning (${o.qconfig}, ${o.qatEpochs} epoch)`);
  qatCommand({ ...common, from: o.out, qconfig: o.qconfig, epochs: o.qatEpochs, batchSize: 64, lr: 0.005, momentum: 0.9, freezeBn: 0.6, freezeObserver: 0.8, actDelay: 0, calibrateBatches: 16, out: o.out }, "qat-epochs", p);
  const int8File = path.join(o.out, ARTIFACTS.int8);
  // done only with its run record too (a kill between the Int8Model and convert.json redoes it: same bytes)
  const converted = () => existsSync(int8File) && existsSync(path.join(o.out, "convert.json"));
  p.stage("3/6 convert", () => (converted() ? "done before" : `${convertCommand({ from: o.out, out: int8File }).layers} nodes`), (r) => `Int8Model ${r}`);
  const onnxFile = path.join(o.out, ARTIFACTS.onnx);
  const notes: string[] = [];
  p.stage("4/6 export", () => {
    try {
      if (!existsSync(onnxFile)) exportArtifact(path.join(o.out, ARTIFACTS.qat), "qdq", 13, onnxFile);
      return "ONNX QDQ";
    } catch (e) {
      notes.push(`ONNX QDQ export failed: ${(e as Error).message}`);
      return `skipped: ${(e as Error).message}`;
    }
  }, (r) => r);
  const t0 = performance.now();
  const l = loaders(o.data, 64, 0);
  const float = loadFloat(path.join(o.out, ARTIFACTS.float)).model.eval();
  const qm = loadQat(path.join(o.out, ARTIFACTS.qat)).model.eval();
  const int8 = loadInt8Model(int8File);
  const ort = existsSync(onnxFile) ? await runOnnx(onnxFile) : null;
  if (existsSync(onnxFile) && !ort) notes.push("onnxruntime-node is not installed: the ONNX model was not checked");
  const b1 = l.testSet.getBatch([0]).x;
  const b256 = l.testSet.getBatch(Array.from({ length: 256 }, (_, i) => i % l.testSet.length)).x;
  const stage = (name: string, run: (x: Tensor) => Tensor, size: number | null): Stage => {
    const s = { name, accuracy: evaluatePredictor(run, l.test).accuracy, sizeBytes: size, latencyMs: { batch1: latency(run, b1), batch256: latency(run, b256) } };
    p.line(`   ${name.padEnd(22)} accuracy ${(s.accuracy * 100).toFixed(2)} %`);
    return s;
  };
  p.line("5/6 evaluate every stage");
  const floatParams = float.parameters().reduce((s, q) => s + q.size * 4, 0);
  const stages: Stage[] = [
    stage("float", (x) => float.forward(x), floatParams),
    stage("fake-quant (QAT)", (x) => qm.forward(x), null),
    stage("int8", (x) => int8.run(x), int8.sizeBytes),
  ];
  if (ort) {
    stages.push({
      name: "onnx QDQ (onnxruntime)", accuracy: await ort.evaluate(l.test), sizeBytes: readFileSync(onnxFile).length,
      latencyMs: { batch1: await ortLatency(ort, b1), batch256: await ortLatency(ort, b256) },
    });
    p.line(`   ${stages[3].name.padEnd(22)} accuracy ${((stages[3].accuracy ?? 0) * 100).toFixed(2)} %`);
  }
  p.line(`   (${((performance.now() - t0) / 1e3).toFixed(1)} s)`);
  const report = p.stage("6/6 report", () => {
    const layers = inspectModel(qm, l.testSet.getBatch(Array.from({ length: 64 }, (_, i) => i % l.testSet.length)).x);
    writeFileAtomic(path.join(o.out, "layers.json"), JSON.stringify(layers));
    const summary = { title: `qat-ts demo: ${o.model} on ${o.data}`, createdAt: new Date().toISOString(), config: { model: o.model, data: o.data, epochs: o.epochs, qatEpochs: o.qatEpochs, qconfig: o.qconfig, seed: o.seed }, stages, notes };
    writeFileAtomic(path.join(o.out, "run.json"), JSON.stringify(summary, null, 2));
    return reportCommand({ from: o.out }).report;
  }, (r) => `layer table and ${r}`);
  return { runDir: o.out, stages, report };
}

/** The demo's summary table, then where the report is. */
export function formatDemo(r: { stages: Stage[]; report: string }): string {
  return `\n${formatStages(r.stages)}\n\nreport: ${r.report}`;
}

/** The stage table: accuracy, size, latencies to 3 significant digits. */
export function formatStages(stages: Stage[]): string {
  const rows = stages.map((s) => [s.name, percent(s.accuracy), kib(s.sizeBytes), sig(s.latencyMs.batch1), sig(s.latencyMs.batch256)]);
  return table(["stage", "accuracy", "size", "latency b1 (ms)", "latency b256 (ms)"], rows);
}
