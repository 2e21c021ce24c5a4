/**
 * Checkpoints of prepared (QAT) models, NNCF-style: the checkpoint carries the model spec
 * (zoo name + options), the prepare description (qconfig name, overrides, fusion groups)
 * and the last input shape next to the weights and observer state, so `loadPrepared(ckpt)`
 * rebuilds the exact QatModel without the user re-running prepare by hand; resuming
 * training from it (Trainer.restore) is exact. Called by user code and the CLI.
 */
import { ValueError } from "../tensor/errors.js";
import type { Module } from "../nn/module.js";
import { type ModelSpec, buildModel } from "../nn/models/registry.js";
import type { Checkpoint } from "../train/checkpoint.js";
import { type QConfigOverride, prepareQat } from "./prepare.js";
import { qconfigByName } from "./qconfig.js";
import type { PrepareDescription, QatModel } from "./stubs.js";

/** What `config.qat` holds in a prepared checkpoint. */
export interface PreparedConfig {
  model: ModelSpec | null;
  description: PrepareDescription;
  inputShape: number[] | null;
}

/** The `config` entry to store with a prepared model's checkpoint. */
export function preparedConfig(qm: QatModel, model: ModelSpec | null): { qat: PreparedConfig } {
  return { qat: { model, description: qm.description, inputShape: qm.inputShape } };
}

/**
 * Rebuilds a prepared model from a checkpoint written with `preparedConfig` and loads its
 * state (strict). Pass `model` (the float architecture) when it is not a zoo model.
 */
export function loadPrepared(ckpt: Checkpoint, opts: { model?: Module } = {}): QatModel {
  const cfg = (ckpt.config as { qat?: PreparedConfig } | undefined)?.qat;
  if (!cfg) throw new ValueError("loadPrepared: checkpoint has no 'qat' config (was it saved with quant.preparedConfig?)");
  const float = opts.model ?? (cfg.model ? buildModel(cfg.model) : null);
  if (!float) throw new ValueError("loadPrepared: the checkpoint names no zoo model; pass { model } with the float architecture");
  const d = cfg.description;
  const overrides: QConfigOverride[] = d.overrides.map((o) => {
    const qconfig = o.qconfig === null ? null : qconfigByName(o.qconfig);
    if (o.name !== undefined) return { name: o.name, qconfig };
    if (o.regex !== undefined) return { regex: new RegExp(o.regex), qconfig };
    throw new ValueError(`loadPrepared: override by type '${String(o.type)}' cannot be restored by name; pass the prepared model yourself`);
  });
  const qm = prepareQat(float, { qconfig: qconfigByName(d.qconfig), overrides, fuse: d.fusionGroups, inplace: true });
  qm.loadStateDict(ckpt.model, { strict: true });
  qm.inputShape = cfg.inputShape;
  return qm;
}
