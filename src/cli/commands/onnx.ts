/**
 * `qat export` (float / QDQ / QOperator ONNX from a checkpoint or Int8Model source) and
 * `qat import` (ONNX → qat-ts, optional evaluation), plus the onnxruntime-node runner the demo
 * uses to check an exported model. onnxruntime-node is loaded on demand (a dev dependency);
 * without it the check is skipped with a stated reason. Called by src/cli/main.ts and demo.
 */
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Tensor } from "../../tensor/tensor.js";
import { zeros } from "../../tensor/creation.js";
import { writeFileAtomic } from "../../nn/fs.js";
import { exportModel, importModel } from "../../onnx/index.js";
import type { ExportFormat } from "../../onnx/export.js";
import { saveSafetensors } from "../../nn/fs.js";
import { evaluatePredictor } from "../../train/trainer.js";
import { ValueError } from "../../tensor/errors.js";
import { type GlobalOptions, loaders } from "../common.js";
import { artifactKind } from "./model-ops.js";
import { Int8Model } from "../../int8/model.js";
import { saveInt8Model } from "../../int8/fs.js";
import type { Module } from "../../nn/module.js";
import { loadFloat, loadQat } from "../common.js";

/** Exports a float or QAT checkpoint to ONNX; returns the file written. */
export function exportArtifact(from: string, format: string, opset: number, out: string): { file: string; bytes: number } {
  const kind = artifactKind(from);
  if (kind !== "float" && kind !== "qat") throw new ValueError(`export: ${from} is a ${kind} artifact; export a float or QAT checkpoint`);
  if (kind === "float" && format !== "float") throw new ValueError(`export: ${from} is a float checkpoint; format '${format}' needs a QAT checkpoint (run qat qat first)`);
  const model = kind === "qat" ? loadQat(from).model : loadFloat(from).model;
  const shape = kind === "qat" ? (model as unknown as { inputShape: number[] | null }).inputShape ?? [1, 1, 28, 28] : [1, 1, 28, 28];
  model.eval();
  const bytes = exportModel(model, { example: zeros(shape), format: format as ExportFormat, opset });
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileAtomic(out, bytes);
  return { file: out, bytes: bytes.length };
}

export interface OrtRunner {
  runAsync: (x: Tensor) => Promise<Tensor>;
  /** Top-1 accuracy over a loader. */
  evaluate: (loader: Iterable<{ x: Tensor; y: Tensor }>) => Promise<number>;
}

/** An onnxruntime-node session over `file`, or null (with a printed reason) when unavailable. */
export async function runOnnx(file: string): Promise<OrtRunner | null> {
  let ort: typeof import("onnxruntime-node");
  try {
    ort = await import("onnxruntime-node");
  } catch (e) {
    console.error(`(onnxruntime-node not available: ${(e as Error).message.split("\n")[0]}; skipping the onnxruntime check)`);
    return null;
  }
  const session = await ort.InferenceSession.create(file);
  const inName = session.inputNames[0];
  const runAsync = async (x: Tensor): Promise<Tensor> => {
    const feeds = { [inName]: new ort.Tensor("float32", Float32Array.from(x.data), [...x.shape]) };
    const out = (await session.run(feeds))[session.outputNames[0]];
    return new Tensor(Float32Array.from(out.data as Float32Array), out.dims.map(Number));
  };
  return {
    runAsync,
    evaluate: async (loader) => {
      let correct = 0;
      let n = 0;
      for (const { x, y } of loader) {
        const logits = await runAsync(x);
        n += y.shape[0];
        correct += evaluatePredictor(() => logits, [{ x, y }]).accuracy * y.shape[0];
      }
      return correct / n;
    },
  };
}

/** Median latency (ms) of onnxruntime on `x`. */
export async function ortLatency(r: OrtRunner, x: Tensor): Promise<number> {
  await r.runAsync(x);
  const t: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await r.runAsync(x);
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[2];
}

export async function importCommand(o: GlobalOptions & { file: string; out?: string; data?: string }) {
  const imported = importModel(new Uint8Array(readFileSync(o.file)));
  const result: Record<string, unknown> = { file: o.file };
  let run: (x: Tensor) => Tensor;
  if (imported instanceof Int8Model) {
    result.kind = "int8";
    result.layers = imported.graph.nodes.length;
    if (o.out) saveInt8Model(o.out, imported);
    run = (x) => imported.run(x);
  } else {
    const model = imported as Module;
    result.kind = "float";
    result.parameters = model.parameters().reduce((s, p) => s + p.size, 0);
    if (o.out) saveSafetensors(o.out, model.stateDict());
    model.eval();
    run = (x) => model.forward(x);
  }
  if (o.out) result.saved = o.out;
  if (o.data) result.accuracy = evaluatePredictor(run, loaders(o.data, 500, 0).test).accuracy;
  return result;
}
