/**
 * Checkpoints of prepared (QAT) models, NNCF-style: the checkpoint carries the model spec
 * (zoo name + options), the prepare description (qconfig name, overrides, fusion groups)
 * and the last input shape next to the weights and observer state, so `loadPrepared(ckpt)`
 * rebuilds the exact QatModel without the user re-running prepare by hand; resuming
 * training from it (Trainer.restore) is exact. Called by user code and the CLI.
 */
import { FormatError, ValueError } from "../tensor/errors.js";
import type { Module } from "../nn/module.js";
import { type ModelSpec, buildModel } from "../nn/models/registry.js";
import type { Checkpoint } from "../train/checkpoint.js";
import { MetaChecker, validateQuantState } from "../train/checkpoint-validate.js";
import { type QConfigOverride, prepareQat } from "./prepare.js";
import { zeros } from "../tensor/creation.js";
import { qconfigByName } from "./qconfig.js";
import type { Quantizer } from "./quantizer.js";
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
 * state (strict). Pass `model` (the float architecture) when it is not a zoo model, and
 * `quantizer` when the model was prepared with a quantizer of your own (a checkpoint stores
 * only its name; the DefaultQuantizer is rebuilt from the stored qconfig, overrides and addRelu).
 */
export function loadPrepared(ckpt: Checkpoint, opts: { model?: Module; source?: string; quantizer?: Quantizer } = {}): QatModel {
  const source = opts.source ?? "loadPrepared";
  const cfg = (ckpt.config as { qat?: PreparedConfig } | undefined)?.qat;
  if (!cfg) throw new ValueError(`${source}: checkpoint has no 'qat' config (was it saved with quant.preparedConfig?)`);
  checkPreparedConfig(cfg, source);
  const float = opts.model ?? (cfg.model ? buildModel(cfg.model) : null);
  if (!float) throw new ValueError(`${source}: the checkpoint names no zoo model; pass { model } with the float architecture`);
  const d = cfg.description;
  // capture on the input shape the prepared model was saved with (the graph, hence the fusion, is the same)
  const example = cfg.inputShape ? zeros([1, ...cfg.inputShape.slice(1)]) : undefined;
  if (opts.quantizer) return loadState(ckpt, prepareQat(float, { quantizer: opts.quantizer, fuse: d.fusionGroups, inplace: true, example }), cfg, source);
  if (!isQConfigName(d.qconfig)) throw new ValueError(`${source}: the model was prepared with quantizer '${d.qconfig}', which a checkpoint cannot rebuild; pass { quantizer } (the same quantizer) to loadPrepared`);
  const overrides: QConfigOverride[] = d.overrides.map((o, i) => {
    const qconfig = o.qconfig === null ? null : qconfigByName(o.qconfig);
    if (o.name !== undefined) return { name: o.name, qconfig };
    if (o.regex !== undefined) return { regex: compileRegex(o.regex, `config.qat.description.overrides[${i}].regex`, source), qconfig };
    throw new ValueError(`${source}: override by type '${String(o.type)}' cannot be restored by name; pass the prepared model yourself`);
  });
  const qm = prepareQat(float, { qconfig: qconfigByName(d.qconfig), overrides, fuse: d.fusionGroups, addRelu: d.addRelu ?? false, inplace: true, example });
  return loadState(ckpt, qm, cfg, source);
}

/** True when `name` names a qconfig (a preset or a parsed form), not a quantizer of the user's. */
function isQConfigName(name: string): boolean {
  try {
    qconfigByName(name);
    return true;
  } catch {
    return false;
  }
}

/** Loads the checkpoint's state into the rebuilt prepared model (strict, quantizer state validated). */
function loadState(ckpt: Checkpoint, qm: QatModel, cfg: PreparedConfig, source: string): QatModel {
  // LSQ+ zero points are float parameters of the prepared model; every other zero point must be an integer
  const learned = new Set(Object.entries(qm.stateDict()).filter(([k, t]) => k.endsWith(".zero_point") && (t.dtype === "float32" || t.dtype === "float64")).map(([k]) => k));
  validateQuantState(ckpt.model, source, learned);
  qm.loadStateDict(ckpt.model, { strict: true });
  qm.inputShape = cfg.inputShape;
  return qm;
}

function compileRegex(pattern: string, field: string, source: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (e) {
    throw new FormatError(`${source}: checkpoint field '${field}' is not a valid regular expression (${(e as Error).message})`);
  }
}

/** Types and ranges of `config.qat`, each bad field a FormatError naming it. */
function checkPreparedConfig(cfg: unknown, source: string): asserts cfg is PreparedConfig {
  const c = new MetaChecker(source);
  const q = c.object("config.qat", cfg);
  if (q.model !== null && q.model !== undefined) {
    const m = c.object("config.qat.model", q.model);
    c.string("config.qat.model.zoo", m.zoo);
    if (m.options !== undefined) c.object("config.qat.model.options", m.options);
  }
  const d = c.object("config.qat.description", q.description);
  c.string("config.qat.description.qconfig", d.qconfig);
  c.array("config.qat.description.overrides", d.overrides).forEach((o, i) => {
    const f = `config.qat.description.overrides[${i}]`;
    const ov = c.object(f, o);
    if (ov.qconfig !== null) c.string(`${f}.qconfig`, ov.qconfig);
    for (const k of ["name", "regex", "type"]) if (ov[k] !== undefined) c.string(`${f}.${k}`, ov[k]);
  });
  if (d.addRelu !== undefined && typeof d.addRelu !== "boolean") c.fail("config.qat.description.addRelu", `must be true or false, got ${JSON.stringify(d.addRelu)}`);
  c.array("config.qat.description.fusionGroups", d.fusionGroups).forEach((g, i) => {
    c.array(`config.qat.description.fusionGroups[${i}]`, g).forEach((name, k) => c.string(`config.qat.description.fusionGroups[${i}][${k}]`, name));
  });
  if (q.inputShape !== null && q.inputShape !== undefined) {
    c.array("config.qat.inputShape", q.inputShape).forEach((dim, i) => c.int(`config.qat.inputShape[${i}]`, dim, 1));
  } else q.inputShape = null;
}
