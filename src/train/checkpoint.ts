/**
 * Training checkpoints as one safetensors file: every tensor (model state under `model.`,
 * optimizer state under `optim.<param>.<name>`) in the standard container, and everything
 * else — optimizer param groups and step counts, scheduler state, the Trainer's position
 * (epoch, step, RNG, DataLoader), a user config — as JSON in the `__metadata__` entry
 * `qat_ts.checkpoint`. PyTorch tools can read the tensors; qat-ts restores the whole run.
 * Browser-safe (bytes in, bytes out); ./fs.ts writes it atomically.
 * Called by Trainer users, quant (prepared-model checkpoints) and the CLI.
 */
import { FormatError, ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { decodeSafetensorsWithMetadata, encodeSafetensors } from "../nn/safetensors.js";
import type { StateDict } from "../nn/state-dict.js";
import type { TrainerState } from "./trainer.js";
import { validateCheckpointMeta } from "./checkpoint-validate.js";

const KEY = "qat_ts.checkpoint";
const VERSION = 1;

export interface Checkpoint {
  model: StateDict;
  /** Optimizer state dict (PyTorch form: {state, param_groups}). */
  optimizer?: { state: Record<string, Record<string, Tensor | number>>; param_groups: Record<string, unknown>[] } | null;
  scheduler?: unknown;
  trainer?: TrainerState | null;
  /** Free-form JSON (command-line options, model spec, quantization description, …). */
  config?: Record<string, unknown>;
}

interface Meta {
  version: number;
  optimizer: { numbers: Record<string, Record<string, number>>; param_groups: Record<string, unknown>[] } | null;
  scheduler: unknown;
  trainer: TrainerState | null;
  config: Record<string, unknown>;
}

/** Serializes a checkpoint; tensors are copied into the file, never referenced. */
export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of Object.entries(c.model)) tensors.set(`model.${k}`, t);
  let optimizer: Meta["optimizer"] = null;
  if (c.optimizer) {
    const numbers: Record<string, Record<string, number>> = {};
    for (const [idx, st] of Object.entries(c.optimizer.state)) {
      for (const [name, v] of Object.entries(st)) {
        if (v instanceof Tensor) tensors.set(`optim.${idx}.${name}`, v);
        else (numbers[idx] ??= {})[name] = v;
      }
    }
    optimizer = { numbers, param_groups: c.optimizer.param_groups };
  }
  const meta: Meta = { version: VERSION, optimizer, scheduler: c.scheduler ?? null, trainer: c.trainer ?? null, config: c.config ?? {} };
  return encodeSafetensors(tensors, { metadata: { [KEY]: JSON.stringify(meta) } });
}

/** Parses a checkpoint; `source` names the file in errors. */
export function decodeCheckpoint(bytes: Uint8Array, source = "<checkpoint>"): Checkpoint {
  const { tensors, metadata } = decodeSafetensorsWithMetadata(bytes, source);
  const raw = metadata?.[KEY];
  if (raw === undefined) throw new FormatError(`${source}: not a qat-ts checkpoint (no '${KEY}' metadata); for plain weights use nn.loadSafetensors`);
  let meta: Meta;
  try {
    meta = JSON.parse(raw) as Meta;
  } catch (e) {
    throw new FormatError(`${source}: checkpoint metadata is not valid JSON (${(e as Error).message})`);
  }
  validateCheckpointMeta(meta, source, VERSION);
  const model: StateDict = {};
  const optState: Record<string, Record<string, Tensor | number>> = {};
  for (const [k, t] of Object.entries(tensors)) {
    if (k.startsWith("model.")) model[k.slice(6)] = t;
    else if (k.startsWith("optim.")) {
      const rest = k.slice(6);
      const dot = rest.indexOf(".");
      if (dot < 0) throw new FormatError(`${source}: malformed optimizer tensor key '${k}'`);
      (optState[rest.slice(0, dot)] ??= {})[rest.slice(dot + 1)] = t;
    } else throw new FormatError(`${source}: unexpected tensor '${k}' in checkpoint`);
  }
  let optimizer: Checkpoint["optimizer"] = null;
  if (meta.optimizer) {
    for (const [idx, nums] of Object.entries(meta.optimizer.numbers)) Object.assign((optState[idx] ??= {}), nums);
    optimizer = { state: optState, param_groups: meta.optimizer.param_groups };
  }
  return { model, optimizer, scheduler: meta.scheduler, trainer: meta.trainer, config: meta.config };
}

/** Checks a checkpoint has what resuming needs, naming what is missing. */
export function requireResumable(c: Checkpoint, source = "<checkpoint>"): asserts c is Checkpoint & { trainer: TrainerState } {
  if (!c.trainer) throw new ValueError(`${source}: checkpoint has no trainer state (saved without a Trainer?) and cannot resume a run`);
}
