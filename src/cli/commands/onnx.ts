/**
 * `qat export` (float / QDQ / QOperator ONNX from a checkpoint or Int8Model source) and
 * `qat import` (ONNX → an Int8Model or float weights in a run directory, optional
 * evaluation), each writing its record (`export.json`, `import.json`), plus the onnxruntime-node runner the demo
 * uses to check an exported model. onnxruntime-node is loaded on demand (a dev dependency);
 * without it the check is skipped with a stated reason. Called by src/cli/main.ts and demo.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { Tensor } from "../../tensor/tensor.js";
import { zeros } from "../../tensor/creation.js";
import { writeFileAtomic } from "../../nn/fs.js";
import { exportModel, importModel } from "../../onnx/index.js";
import type { ExportFormat, WeightType } from "../../onnx/export.js";
import type { IntegerOp } from "../../quant/convert-integer.js";
import { saveSafetensors } from "../../nn/fs.js";
import { evaluatePredictor } from "../../train/trainer.js";
import { ValueError } from "../../tensor/errors.js";
import { exportInt8Model, type QuantizedFormat } from "../../onnx/export-int8.js";
import { ARTIFACTS, type GlobalOptions, loadFloat, loadQat, loaders, needsQuantized, num, readUserFile, resolveFrom, writeRecord } from "../common.js";
import { artifactKind } from "./model-ops.js";
import { Int8Model } from "../../int8/model.js";
import { loadInt8Model, saveInt8Model } from "../../int8/fs.js";
import type { Module } from "../../nn/module.js";
import { Progress } from "../progress.js";

/**
 * Exports a float checkpoint (format float), a QAT/PTQ checkpoint (any format) or an
 * Int8Model file (qdq, qoperator) to the ONNX file `out`; returns the file written.
 */
/** Quantized-export choices of `qat export` (--weight-type, --integer-ops). */
export interface QuantizedExportFlags {
  weightType?: WeightType;
  integerOps?: IntegerOp[];
}

/** --integer-ops: a comma-separated list of softmax / layerNorm. */
function integerOpsFlag(v: string | undefined): IntegerOp[] | undefined {
  if (v === undefined) return undefined;
  const ops = v.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = ops.find((op) => op !== "softmax" && op !== "layerNorm");
  if (bad !== undefined || ops.length === 0) throw new ValueError(`--integer-ops: expected a comma-separated list of softmax, layerNorm, got '${v}'`);
  return ops as IntegerOp[];
}

export function exportArtifact(from: string, format: string, opset: number, out: string, flags: QuantizedExportFlags = {}): { file: string; bytes: number; source: string; sourceKind: string } {
  const kind = artifactKind(from);
  if (kind === "onnx") throw new ValueError(`export: ${from} is already an ONNX file`);
  if (kind === "float" && format !== "float") throw needsQuantized(from, `export --format ${format}`);
  let bytes: Uint8Array;
  if (kind === "int8") {
    if (format === "float") throw new ValueError(`export: ${from} is an Int8Model; it exports as --format qdq or qoperator (float needs the float checkpoint)`);
    if (flags.integerOps) throw new ValueError(`export: --integer-ops applies when converting a checkpoint; ${from} is already an Int8Model (convert it with the option instead)`);
    bytes = exportInt8Model(loadInt8Model(from), { format: format as QuantizedFormat, opset, weightType: flags.weightType });
  } else {
    const model = kind === "qat" ? loadQat(from).model : loadFloat(from).model;
    const shape = kind === "qat" ? (model as unknown as { inputShape: number[] | null }).inputShape ?? [1, 1, 28, 28] : [1, 1, 28, 28];
    model.eval();
    bytes = exportModel(model, { example: zeros(shape), format: format as ExportFormat, opset, weightType: flags.weightType, integerOps: flags.integerOps });
  }
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileAtomic(out, bytes);
  return { file: out, bytes: bytes.length, source: from, sourceKind: kind };
}

/** `qat export`: --from a file or run directory (the Int8Model, else the QAT/PTQ checkpoint; the float checkpoint for --format float), --out a directory or .onnx file. */
export function exportCommand(o: GlobalOptions & { from: string; format: string; opset: number | string; out: string; weightType?: string; integerOps?: string }) {
  const flags = { weightType: o.weightType as WeightType | undefined, integerOps: integerOpsFlag(o.integerOps) };
  const candidates = o.format === "float" ? [ARTIFACTS.float] : [ARTIFACTS.int8, ARTIFACTS.qat, ARTIFACTS.ptq];
  const src = resolveFrom(o.from, candidates, o.format === "float" ? "run 'qat train' first" : "run 'qat convert', 'qat qat' or 'qat calibrate' first");
  const file = o.out.endsWith(".onnx") ? o.out : path.join(o.out, ARTIFACTS.onnxOf(o.format));
  const r = { ...exportArtifact(src, o.format, num(o.opset, "opset", { int: true, min: 7 }), file, flags), format: o.format };
  writeRecord(path.dirname(file), "export", src, o, r);
  return r;
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

/** `qat import`: an ONNX file → an Int8Model (quantized graphs) or float weights in --out, optionally evaluated on --data. */
export async function importCommand(o: GlobalOptions & { from: string; out: string; data?: string }, p = new Progress(o)) {
  const imported = importModel(readUserFile(o.from, "--from"));
  const result: Record<string, unknown> = { from: o.from };
  const target = (name: string) => (o.out.endsWith(".safetensors") ? o.out : path.join(o.out, name));
  let run: (x: Tensor) => Tensor;
  let saved: string;
  if (imported instanceof Int8Model) {
    result.kind = "int8";
    result.layers = imported.graph.nodes.length;
    saved = target(ARTIFACTS.int8);
    mkdirSync(path.dirname(saved), { recursive: true });
    saveInt8Model(saved, imported);
    run = (x) => imported.run(x);
  } else {
    const model = imported as Module;
    result.kind = "float";
    result.parameters = model.parameters().reduce((s, q) => s + q.size, 0);
    saved = target(ARTIFACTS.importedWeights);
    mkdirSync(path.dirname(saved), { recursive: true });
    saveSafetensors(saved, model.stateDict());
    model.eval();
    run = (x) => model.forward(x);
  }
  result.saved = saved;
  if (o.data) {
    const test = loaders(o.data, 500, 0).test;
    result.accuracy = evaluatePredictor(run, p.iterate(`eval ${String(result.kind)}`, test, test.length)).accuracy;
  }
  writeRecord(path.dirname(saved), "import", o.from, o, result);
  return result;
}
