/**
 * `exportTorch(qmodel, dir, opts)`: writes a self-contained PyTorch (1.13+) project for a
 * prepared QAT model, to fine-tune it with torchrun / DDP and bring it back with importTorch:
 *
 *   model.py            the model as nn.Module code generated from the graph (./codegen.ts)
 *   qat_runtime.py      quantizers and QAT layers with qat-ts's numerics, observer/BN sync
 *   train_ddp.py        torchrun training script (checkpoint.safetensors every epoch, resumable)
 *   predict.py          runs the model on a batch (parity checks)
 *   weights.safetensors the prepared model's state with qat-ts's (= the generated module's) keys
 *   recipe.json         qconfig description, zoo model spec, schedule (step counts), current
 *                       step, frozen BN layers, training hyper-parameters, data normalisation
 *   data/               (option sampleData) the embedded Fashion-MNIST sample as IDX files
 * Every file is written atomically. Called by user code and `qat export-torch`.
 */
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { ValueError } from "../../tensor/errors.js";
import { saveSafetensors, writeFileAtomic } from "../../nn/fs.js";
import type { ModelSpec } from "../../nn/models/registry.js";
import type { QatModel } from "../../quant/stubs.js";
import type { QatScheduleOptions } from "../../quant/schedule.js";
import type { PreparedConfig } from "../../quant/checkpoint.js";
import { fileURLToPath } from "node:url";
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from "../../data/dataset.js";
import { generateModel } from "./codegen.js";
import { PY_SOURCES } from "./py-sources.js";

export const RECIPE_FORMAT = "qat-ts-torch/1";

export interface TorchTrainRecipe {
  /** Learning rate for `batchSize` images a step (train_ddp.py scales it with the global batch). */
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Global batch size the learning rate is meant for. */
  batchSize: number;
}

export interface ExportTorchOptions {
  /** The zoo model the prepared model was built from (importTorch rebuilds it); null for a user model. */
  model?: ModelSpec | null;
  /** The QAT schedule as step counts (qatSchedule's options). */
  schedule?: QatScheduleOptions;
  /** The step the model is at (the schedule continues from here; default 0). */
  step?: number;
  train?: Partial<TorchTrainRecipe>;
  /** Input normalisation of the data (default Fashion-MNIST's mean 0.286, std 0.353). */
  data?: { mean: number; std: number };
  /** Also write the embedded Fashion-MNIST sample as IDX files under data/. */
  sampleData?: boolean;
}

/** What recipe.json holds. */
export interface TorchRecipe {
  format: string;
  sourceType: string;
  prepared: PreparedConfig;
  schedule: QatScheduleOptions;
  step: number;
  frozenBn: string[];
  train: TorchTrainRecipe;
  data: { mean: number; std: number };
  observerSync: string;
}

function checkStep(v: unknown, name: string): void {
  if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < 0)) throw new ValueError(`exportTorch: ${name} must be a non-negative integer step, got ${String(v)}`);
}

/** Writes the PyTorch project for `qm` into `dir` (created if needed); returns the files written. */
export function exportTorch(qm: QatModel, dir: string, opts: ExportTorchOptions = {}): { dir: string; files: string[]; recipe: TorchRecipe } {
  const schedule = opts.schedule ?? {};
  checkStep(opts.step, "step");
  checkStep(schedule.activationQuantDelaySteps, "schedule.activationQuantDelaySteps");
  checkStep(schedule.freezeBnStep, "schedule.freezeBnStep");
  checkStep(schedule.freezeObserverStep, "schedule.freezeObserverStep");
  const train: TorchTrainRecipe = { lr: 0.005, momentum: 0.9, weightDecay: 0, batchSize: 64, ...opts.train };
  for (const [k, v] of Object.entries(train)) if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new ValueError(`exportTorch: train.${k} must be a non-negative number, got ${String(v)}`);
  const { source, frozenBn } = generateModel(qm); // refuses unsupported nodes before anything is written
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, data: string | Uint8Array) => {
    writeFileAtomic(path.join(dir, name), data);
    files.push(name);
  };
  write("model.py", source);
  for (const [name, text] of Object.entries(PY_SOURCES)) write(name, text);
  saveSafetensors(path.join(dir, "weights.safetensors"), qm.stateDict(), { format: "pt" });
  files.push("weights.safetensors");
  const recipe: TorchRecipe = {
    format: RECIPE_FORMAT,
    sourceType: (qm.module as unknown as { sourceType?: string }).sourceType ?? qm.module.typeName,
    prepared: { model: opts.model ?? null, description: qm.description, inputShape: qm.inputShape },
    schedule,
    step: opts.step ?? 0,
    frozenBn,
    train,
    data: opts.data ?? { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD },
    observerSync: "all-reduce: batch min (MIN) and max (MAX) across ranks, then the moving average of the reduced values",
  };
  write("recipe.json", JSON.stringify(recipe, null, 2) + "\n");
  if (opts.sampleData) {
    // assets/ is three levels above this file in src/ and in dist/ alike
    const src = fileURLToPath(new URL("../../../assets/fashion-mnist-sample/", import.meta.url));
    mkdirSync(path.join(dir, "data"), { recursive: true });
    for (const f of readdirSync(src).filter((n) => n.includes("ubyte"))) {
      copyFileSync(path.join(src, f), path.join(dir, "data", f));
      files.push(`data/${f}`);
    }
  }
  return { dir, files, recipe };
}
