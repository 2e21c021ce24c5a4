/**
 * Validation of a checkpoint's JSON metadata (`qat_ts.checkpoint`) before anything uses it:
 * every field the Trainer, optimizers and loaders read is checked for type and range, and a
 * bad one is a FormatError naming the file and the field path (`trainer.epoch`,
 * `optimizer.numbers["0"].step`, …). Also the observer state of a prepared model (scales,
 * zero points, observed ranges: no NaN, scales positive and finite).
 * Called by ./checkpoint.ts decodeCheckpoint and src/quant/checkpoint.ts loadPrepared.
 */
import { FormatError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";

/** A path-aware checker: `field` names what is wrong, `source` the file. */
export class MetaChecker {
  constructor(readonly source: string) {}

  fail(field: string, why: string): never {
    throw new FormatError(`${this.source}: checkpoint field '${field}' ${why}`);
  }

  object(field: string, v: unknown): Record<string, unknown> {
    if (v === null || typeof v !== "object" || Array.isArray(v)) this.fail(field, `must be an object, got ${show(v)}`);
    return v as Record<string, unknown>;
  }

  array(field: string, v: unknown): unknown[] {
    if (!Array.isArray(v)) this.fail(field, `must be an array, got ${show(v)}`);
    return v;
  }

  int(field: string, v: unknown, min = 0): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) this.fail(field, `must be an integer ≥ ${min}, got ${show(v)}`);
    return v;
  }

  /** A number (NaN and ±Infinity are stored as null by JSON, so null is accepted where `nullable`). */
  num(field: string, v: unknown, nullable = false): void {
    if (v === null && nullable) return;
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(field, `must be a finite number, got ${show(v)}`);
  }

  string(field: string, v: unknown): string {
    if (typeof v !== "string") this.fail(field, `must be a string, got ${show(v)}`);
    return v;
  }
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v !== null && typeof v === "object") return "an object";
  return String(v);
}

/** An RNG state: 4 uint32 words and the spare normal (a number, or null for none / NaN). */
function rngState(c: MetaChecker, field: string, v: unknown): void {
  const a = c.array(field, v);
  if (a.length !== 5) c.fail(field, `must hold 5 numbers, got ${a.length}`);
  for (let i = 0; i < 4; i++) if (!(typeof a[i] === "number" && Number.isInteger(a[i]) && (a[i] as number) >= 0 && (a[i] as number) <= 0xffffffff)) c.fail(`${field}[${i}]`, `must be a uint32, got ${show(a[i])}`);
  c.num(`${field}[4]`, a[4], true);
}

function loaderState(c: MetaChecker, v: unknown): void {
  if (v === null) return;
  const l = c.object("trainer.loader", v);
  c.int("trainer.loader.epoch", l.epoch);
  c.int("trainer.loader.batch", l.batch);
  rngState(c, "trainer.loader.generator", l.generator);
  if (l.augmentation !== null && l.augmentation !== undefined) rngState(c, "trainer.loader.augmentation", l.augmentation);
}

function trainerState(c: MetaChecker, v: unknown): void {
  if (v === null || v === undefined) return;
  const t = c.object("trainer", v);
  c.int("trainer.epoch", t.epoch);
  c.int("trainer.step", t.step);
  rngState(c, "trainer.rng", t.rng);
  loaderState(c, t.loader ?? null);
  c.array("trainer.history", t.history).forEach((r, i) => {
    const f = `trainer.history[${i}]`;
    const rec = c.object(f, r);
    if (rec.kind !== "epoch") c.fail(`${f}.kind`, `must be "epoch", got ${show(rec.kind)}`);
    c.int(`${f}.epoch`, rec.epoch);
    c.int(`${f}.step`, rec.step);
    for (const k of ["lr", "trainLoss", "trainAccuracy", "testLoss", "testAccuracy", "seconds"]) {
      if (rec[k] !== undefined) c.num(`${f}.${k}`, rec[k], true);
    }
  });
}

function optimizerMeta(c: MetaChecker, v: unknown): void {
  if (v === null || v === undefined) return;
  const o = c.object("optimizer", v);
  const numbers = c.object("optimizer.numbers", o.numbers);
  for (const [idx, nums] of Object.entries(numbers)) {
    if (!/^\d+$/.test(idx)) c.fail(`optimizer.numbers[${JSON.stringify(idx)}]`, "must be keyed by a parameter index");
    for (const [name, x] of Object.entries(c.object(`optimizer.numbers["${idx}"]`, nums))) c.num(`optimizer.numbers["${idx}"].${name}`, x);
  }
  c.array("optimizer.param_groups", o.param_groups).forEach((g, i) => {
    const group = c.object(`optimizer.param_groups[${i}]`, g);
    c.array(`optimizer.param_groups[${i}].params`, group.params).forEach((p, k) => c.int(`optimizer.param_groups[${i}].params[${k}]`, p));
    for (const [k, x] of Object.entries(group)) if (typeof x === "number") c.num(`optimizer.param_groups[${i}].${k}`, x);
  });
}

/** Checks the parsed `qat_ts.checkpoint` metadata; throws a FormatError naming the field. */
export function validateCheckpointMeta(meta: unknown, source: string, version: number): void {
  const c = new MetaChecker(source);
  const m = c.object("(metadata)", meta);
  if (m.version !== version) throw new FormatError(`${source}: checkpoint version ${show(m.version)} is not supported (expected ${version})`);
  optimizerMeta(c, m.optimizer);
  if (m.scheduler !== null && m.scheduler !== undefined) c.object("scheduler", m.scheduler);
  trainerState(c, m.trainer);
  if (m.config !== undefined) c.object("config", m.config);
}

/** Buffers of observers and fake-quantizers (`…weight_fake_quant.scale`, `…activation_post_process.min_val`). */
const QUANT_STATE_KEY = /(?:^|\.)(?:\w*fake_quant|activation_post_process(?:_\d+)?)\.(scale|zero_point|min_val|max_val)$/;

/**
 * Observer and fake-quantizer state in a model state dict: every `scale` positive and finite,
 * every `zero_point` a finite integer (finite, for LSQ+'s learned float zero points), `min_val`/`max_val` never NaN (±Infinity is the
 * "nothing observed yet" state). `source` names the file; `learnedZeroPoints` are the keys whose
 * zero point the model learns as a float (LSQ+), which need only be finite.
 */
export function validateQuantState(state: Record<string, Tensor>, source: string, learnedZeroPoints: ReadonlySet<string> = new Set()): void {
  for (const [key, t] of Object.entries(state)) {
    const m = QUANT_STATE_KEY.exec(key);
    if (!m) continue;
    const leaf = m[1];
    const d = t.data;
    // LSQ+ learns its zero point as a float parameter (torch's _LearnableFakeQuantize): the model says which; every other zero point is an integer
    const learned = leaf === "zero_point" && learnedZeroPoints.has(key);
    for (let i = 0; i < d.length; i++) {
      const v = Number(d[i]);
      const ok = leaf === "scale" ? Number.isFinite(v) && v > 0 : leaf === "zero_point" ? (learned ? Number.isFinite(v) : Number.isInteger(v)) : !Number.isNaN(v);
      if (!ok) throw new FormatError(`${source}: model.${key}[${i}] = ${v} is not a valid ${leaf} (${leaf === "scale" ? "positive and finite" : leaf === "zero_point" ? (learned ? "finite" : "an integer") : "a number"})`);
    }
  }
}
