/**
 * `importTorch(dir)`: reads a PyTorch project written by exportTorch — after train_ddp.py has
 * trained it, its checkpoint.safetensors, else the exported weights.safetensors — back into a
 * prepared qat-ts model: weights, BN statistics, observer state, scales, zero points, the
 * fake-quant / observer switches, the frozen-BN layers and the schedule step, so convert,
 * export, inspect and report continue in qat-ts. The model is rebuilt from recipe.json's
 * prepare description (a zoo model, or the float architecture you pass) and loaded strictly.
 * Called by user code and `qat import-torch`.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { FormatError, ValueError } from "../../tensor/errors.js";
import type { Module } from "../../nn/module.js";
import type { StateDict } from "../../nn/state-dict.js";
import { loadSafetensorsWithMetadata } from "../../nn/fs.js";
import { loadPrepared } from "../../quant/checkpoint.js";
import { isBnFolded } from "../../quant/qat-modules.js";
import type { QatModel } from "../../quant/stubs.js";
import type { QatScheduleOptions } from "../../quant/schedule.js";
import { RECIPE_FORMAT, type TorchRecipe } from "./export-torch.js";

/** What train_ddp.py records in its checkpoint's metadata (`qat_torch`). */
export interface TorchTrainingState {
  step: number;
  epoch?: number;
  frozenBn: string[];
  world?: number;
  lr?: number;
  batchPerRank?: number;
}

export interface ImportTorchResult {
  model: QatModel;
  /** The global step training reached (continue the schedule from here). */
  step: number;
  schedule: QatScheduleOptions;
  recipe: TorchRecipe;
  /** The file read. */
  checkpoint: string;
  training: TorchTrainingState;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ValueError(`importTorch: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); is this a folder written by exportTorch?`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`importTorch: ${file} is not valid JSON (${(e as Error).message})`);
  }
}

function checkTrainingState(v: unknown, file: string): TorchTrainingState {
  const s = v as Partial<TorchTrainingState> | null;
  if (!s || typeof s !== "object") throw new FormatError(`importTorch: ${file}: metadata 'qat_torch' is not an object`);
  if (typeof s.step !== "number" || !Number.isInteger(s.step) || s.step < 0) throw new FormatError(`importTorch: ${file}: metadata 'qat_torch.step' must be a non-negative integer, got ${String(s.step)}`);
  if (!Array.isArray(s.frozenBn) || s.frozenBn.some((p) => typeof p !== "string")) throw new FormatError(`importTorch: ${file}: metadata 'qat_torch.frozenBn' must be a list of module paths`);
  return s as TorchTrainingState;
}

/**
 * Loads the trained (or exported) state of the project in `dir`. Pass `model` (the float
 * architecture) when the project was exported from a model that is not in the zoo, and
 * `checkpoint` to read another file than dir/checkpoint.safetensors.
 */
export function importTorch(dir: string, opts: { model?: Module; checkpoint?: string } = {}): ImportTorchResult {
  const recipeFile = path.join(dir, "recipe.json");
  const recipe = readJson(recipeFile) as TorchRecipe;
  if (!recipe || typeof recipe !== "object" || recipe.format !== RECIPE_FORMAT) {
    throw new FormatError(`importTorch: ${recipeFile}: format '${String((recipe as { format?: unknown } | null)?.format)}' is not ${RECIPE_FORMAT}`);
  }
  const trained = path.join(dir, "checkpoint.safetensors");
  const file = opts.checkpoint ?? (existsSync(trained) ? trained : path.join(dir, "weights.safetensors"));
  const { tensors, metadata } = loadSafetensorsWithMetadata(file);
  const state: StateDict = {};
  for (const [k, t] of Object.entries(tensors)) if (!k.startsWith("optim.")) state[k] = t;
  let training: TorchTrainingState = { step: recipe.step, frozenBn: recipe.frozenBn };
  if (metadata?.qat_torch !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(metadata.qat_torch);
    } catch (e) {
      throw new FormatError(`importTorch: ${file}: metadata 'qat_torch' is not valid JSON (${(e as Error).message})`);
    }
    training = checkTrainingState(parsed, file);
  }
  const model = loadPrepared({ model: state, config: { qat: recipe.prepared } }, { model: opts.model, source: file });
  for (const p of training.frozenBn) {
    let m: Module;
    try {
      m = model.getSubmodule(p);
    } catch {
      throw new FormatError(`importTorch: ${file}: frozen BN layer '${p}' is not a module of the model`);
    }
    if (!isBnFolded(m)) throw new FormatError(`importTorch: ${file}: frozen BN layer '${p}' is a ${m.typeName}, not a conv-bn / linear-bn QAT module`);
    m.freezeBnStats();
  }
  return { model, step: training.step, schedule: recipe.schedule, recipe, checkpoint: file, training };
}
