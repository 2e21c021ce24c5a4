/**
 * The public way to define a differentiable op outside the core (used by src/quant for
 * fake-quantize and straight-through estimators): give a forward on tensors and a backward
 * from the output gradient to input gradients. Forward runs with recording off; backward
 * runs under noGrad. Built-in ops join the tape the same way (through `record`). Its nodes are
 * listed in `customNodes`, so backward never frees a gradient a user's backward may have kept.
 */
import { noGrad, record } from "../tensor/grad-mode.js";
import type { Tensor } from "../tensor/tensor.js";
import { customNodes } from "./grad-buffers.js";

export interface OpDefinition<S> {
  name: string;
  /** Computes the output (and anything backward needs) from the inputs. */
  forward(inputs: readonly Tensor[]): { output: Tensor; saved: S };
  /** Gradients for each input (null for none) given dL/dOutput. */
  backward(gradOutput: Tensor, saved: S, inputs: readonly Tensor[]): readonly (Tensor | null)[];
}

/** Returns a function applying the op to tensors, recording it on the tape when needed. */
export function defineOp<S>(def: OpDefinition<S>): (...inputs: Tensor[]) => Tensor {
  return (...inputs: Tensor[]) => {
    const { output, saved } = noGrad(() => def.forward(inputs));
    const out = record(output, def.name, inputs, (g) => def.backward(g, saved, inputs));
    if (out.gradNode) customNodes.add(out.gradNode);
    return out;
  };
}
