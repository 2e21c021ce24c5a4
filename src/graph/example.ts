/**
 * Example inputs for capturing a model when the caller gives none (PT2E always asks for
 * them; we ask only when nothing else says what the model takes): the model's own
 * `exampleInputs()` (zoo models, imported ONNX graphs), else zeros shaped like the inputs of
 * its last forward call, else [1, inFeatures] for a model that starts with a Linear.
 * Called by src/quant/prepare.ts and src/onnx/export.ts.
 */
import { ValueError } from "../tensor/errors.js";
import { zeros } from "../tensor/creation.js";
import { Tensor } from "../tensor/tensor.js";
import type { Module } from "../nn/module.js";
import { isAtomicModule } from "./capture.js";

/** A module that knows what it takes (zoo models, OnnxModule). */
export interface HasExampleInputs {
  exampleInputs(): Tensor[] | null;
}

/** The example inputs to capture `model` with, or a ValueError saying what to pass. */
export function exampleInputsFor(model: Module, given: Tensor | readonly Tensor[] | undefined, who: string): Tensor[] {
  if (given !== undefined) {
    const list = given instanceof Tensor ? [given] : [...given];
    if (list.length === 0 || !list.every((t) => t instanceof Tensor)) throw new ValueError(`${who}: example must be a Tensor or a non-empty array of Tensors`);
    return list;
  }
  const own = (model as unknown as Partial<HasExampleInputs>).exampleInputs?.();
  if (own) return own;
  if (model.lastInputShapes) return model.lastInputShapes.map((s) => zeros([1, ...s.slice(1)]));
  const firstLeaf = model.modules().find((m) => m !== model && isAtomicModule(m));
  const inFeatures = (firstLeaf as { inFeatures?: unknown } | undefined)?.inFeatures;
  if (firstLeaf?.typeName === "Linear" && typeof inFeatures === "number") return [zeros([1, inFeatures])];
  throw new ValueError(
    `${who}: cannot tell what ${model.typeName} takes as input; pass { example: <input batch> } (it has not run forward yet and does not declare exampleInputs())`,
  );
}
