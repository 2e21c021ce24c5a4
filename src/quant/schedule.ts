/**
 * The QAT schedule and its manual switches (Jacob et al. 2018 §3; PyTorch's QAT tutorial):
 *
 *   step < activationQuantDelaySteps  activations observed but not fake-quantized (weights are)
 *   step ≥ freezeBnStep               BN uses running statistics (folding becomes final)
 *   step ≥ freezeObserverStep         observers stop: scales and zero-points are final
 *
 * `qatSchedule(model, schedule)` returns Trainer callbacks applying it at each step start; the
 * switches (`enableFakeQuant`, `disableObserver`, `freezeBnStats`, …) act on every quantizer or
 * fused BN module of a model and are what the schedule calls. Called by user code and the CLI.
 */
import { ValueError } from "../tensor/errors.js";
import type { Module } from "../nn/module.js";
import type { StepContext, TrainerCallbacks } from "../train/trainer.js";
import { isBnFolded } from "./qat-modules.js";
import { OUTPUT_QUANTIZER } from "./stubs.js";

export interface QatScheduleOptions {
  /** Steps during which activations are only observed (default 0). */
  activationQuantDelaySteps?: number;
  /** Step at which BN statistics freeze (default: never). */
  freezeBnStep?: number;
  /** Step at which observers freeze (default: never). */
  freezeObserverStep?: number;
}

interface Switchable {
  enableFakeQuant?(): void;
  disableFakeQuant?(): void;
  enableObserver?(): void;
  disableObserver?(): void;
}

type Which = "all" | "activations" | "weights";

/** Quantizer modules of `model`: output quantizers (activations) and weight_fake_quant. */
export function quantizers(model: Module, which: Which = "all"): Switchable[] {
  const out: Switchable[] = [];
  for (const [path, m] of model.namedModules()) {
    const leaf = path.split(".").pop();
    // module output quantizers, and those prepare inserts after functional ops (activation_post_process_<k>)
    // … and the run-time input quantizer of a dynamic-qconfig QatLinear (input_fake_quant)
    const isAct = leaf === OUTPUT_QUANTIZER || /^activation_post_process_\d+$/.test(leaf ?? "") || /^input_fake_quant(_\d+)?$/.test(leaf ?? "");
    // weight_fake_quant of a QAT layer, weight_fake_quant_<k> of a functional linear's parameter
    const isWeight = /^weight_fake_quant(_\d+)?$/.test(leaf ?? "");
    if ((isAct && which !== "weights") || (isWeight && which !== "activations")) out.push(m as Switchable);
  }
  return out;
}

export function enableFakeQuant(model: Module, which: Which = "all"): void {
  for (const q of quantizers(model, which)) q.enableFakeQuant?.();
}

export function disableFakeQuant(model: Module, which: Which = "all"): void {
  for (const q of quantizers(model, which)) q.disableFakeQuant?.();
}

export function enableObserver(model: Module, which: Which = "all"): void {
  for (const q of quantizers(model, which)) q.enableObserver?.();
}

export function disableObserver(model: Module, which: Which = "all"): void {
  for (const q of quantizers(model, which)) q.disableObserver?.();
}

/** BN of every fused conv-bn / linear-bn switches to running statistics for good. */
export function freezeBnStats(model: Module): void {
  for (const m of model.modules()) if (isBnFolded(m)) m.freezeBnStats();
}

/** Undoes freezeBnStats. */
export function updateBnStats(model: Module): void {
  for (const m of model.modules()) if (isBnFolded(m)) m.updateBnStats();
}

function checkStep(v: number | undefined, name: string): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new ValueError(`qatSchedule: ${name} must be a non-negative integer step, got ${v}`);
}

/**
 * Trainer callbacks applying the schedule at the start of every step (idempotent, so a
 * resumed run lands in the same state).
 */
export function qatSchedule(model: Module, s: QatScheduleOptions): TrainerCallbacks {
  checkStep(s.activationQuantDelaySteps, "activationQuantDelaySteps");
  checkStep(s.freezeBnStep, "freezeBnStep");
  checkStep(s.freezeObserverStep, "freezeObserverStep");
  let state = "";
  return {
    onStepStart(ctx: StepContext) {
      const actOn = ctx.step >= (s.activationQuantDelaySteps ?? 0);
      const bnFrozen = s.freezeBnStep !== undefined && ctx.step >= s.freezeBnStep;
      const obsFrozen = s.freezeObserverStep !== undefined && ctx.step >= s.freezeObserverStep;
      const next = `${actOn}/${bnFrozen}/${obsFrozen}`;
      if (next === state) return;
      state = next;
      if (actOn) enableFakeQuant(model, "activations");
      else disableFakeQuant(model, "activations");
      if (bnFrozen) freezeBnStats(model);
      if (obsFrozen) disableObserver(model);
    },
  };
}
