/**
 * mlp: Flatten then Linear+ReLU per hidden width, then Linear to the classes, as a
 * Sequential (state-dict keys `1.weight`, `1.bias`, `3.weight`, …, as PyTorch's
 * nn.Sequential(nn.Flatten(), nn.Linear(…), nn.ReLU(), …)).
 */
import { ValueError } from "../../tensor/errors.js";
import { Linear } from "../layers/linear.js";
import { ReLU } from "../layers/activation.js";
import { Flatten } from "../layers/shape.js";
import { Sequential } from "../layers/container.js";
import type { Module } from "../module.js";

export interface MlpOptions {
  /** Input features after flattening (default 784 = 1×28×28). */
  inFeatures?: number;
  /** Hidden layer widths (default [256, 128]). */
  hidden?: readonly number[];
  /** Output classes (default 10). */
  classes?: number;
}

export function mlp(opts: MlpOptions = {}): Sequential {
  const inFeatures = opts.inFeatures ?? 784;
  const hidden = opts.hidden ?? [256, 128];
  const classes = opts.classes ?? 10;
  for (const w of [inFeatures, ...hidden, classes]) {
    if (!Number.isInteger(w) || w < 1) throw new ValueError(`mlp: layer widths must be positive integers, got ${w}`);
  }
  const layers: Module[] = [new Flatten()];
  let width = inFeatures;
  for (const h of hidden) {
    layers.push(new Linear(width, h), new ReLU());
    width = h;
  }
  layers.push(new Linear(width, classes));
  return new Sequential(...layers);
}
