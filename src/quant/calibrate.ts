/**
 * Post-training calibration: run a few batches through a prepared model with observers on and
 * fake-quant off, in eval mode (BN on running statistics), so every quantizer gets its range
 * from float activations; then fake-quant is switched back on. Used alone it is PTQ
 * (followed by disableObserver to freeze the ranges); before QAT it initialises the ranges.
 * Called by user code and `qat calibrate`.
 */
import { noGrad } from "../tensor/grad-mode.js";
import { ValueError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Module } from "../nn/module.js";
import { disableFakeQuant, enableFakeQuant, enableObserver } from "./schedule.js";

export interface CalibrateOptions {
  /** Batches to run (default 16; all if the loader is shorter). */
  batches?: number;
}

/** Returns the number of samples seen. */
export function calibrate(model: Module, loader: Iterable<{ x: Tensor }>, opts: CalibrateOptions = {}): number {
  const batches = opts.batches ?? 16;
  if (!Number.isInteger(batches) || batches < 1) throw new ValueError(`calibrate: batches must be a positive integer, got ${batches}`);
  const wasTraining = model.training;
  model.eval();
  enableObserver(model);
  disableFakeQuant(model);
  let seen = 0;
  let n = 0;
  try {
    noGrad(() => {
      for (const { x } of loader) {
        model.forward(x);
        seen += x.shape[0];
        if (++n >= batches) break;
      }
    });
  } finally {
    enableFakeQuant(model);
    model.train(wasTraining);
  }
  return seen;
}
