/**
 * The model zoo by name, so checkpoints and the CLI can say `{ zoo: "smallCnn", options }`
 * and rebuild the architecture. Called by quant.loadPrepared and src/cli.
 */
import { ValueError } from "../../tensor/errors.js";
import type { Module } from "../module.js";
import { mlp } from "./mlp.js";
import { mobilenetV2Small } from "./mobilenet.js";
import { resnet20 } from "./resnet.js";
import { smallCnn } from "./small-cnn.js";
import { type CharTransformerOptions, charTransformer, vitTiny } from "./vit.js";

/** A zoo model reference stored in checkpoints. */
export interface ModelSpec {
  zoo: string;
  options?: Record<string, unknown>;
}

export const ZOO: Record<string, (opts?: Record<string, unknown>) => Module> = {
  mlp: (o) => mlp(o),
  smallCnn: (o) => smallCnn(o),
  resnet20: (o) => resnet20(o),
  mobilenetV2Small: (o) => mobilenetV2Small(o),
  vitTiny: (o) => vitTiny(o),
  charTransformer: (o) => charTransformer((o ?? {}) as unknown as CharTransformerOptions),
};

/** Builds a zoo model; unknown names list the choices. */
export function buildModel(spec: ModelSpec): Module {
  const make = Object.prototype.hasOwnProperty.call(ZOO, spec.zoo) ? ZOO[spec.zoo] : undefined;
  if (!make) throw new ValueError(`unknown model '${spec.zoo}'; choose one of ${Object.keys(ZOO).join(", ")}`);
  return make(spec.options ?? {});
}
