/**
 * The recording side of autograd: whether gradients are being recorded, and the node type an
 * op attaches to its output. Lives below ops so that ops can record without importing the
 * backward engine (src/autograd), which in turn may use ops.
 */
import type { Tensor } from "./tensor.js";

/** One recorded operation: its differentiable inputs and its vector-Jacobian product. */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Gradients w.r.t. each input, given the gradient of the output (null = no gradient). */
  backward(gradOutput: Tensor): readonly (Tensor | null | undefined)[];
}

let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

/** Sets grad mode and returns the previous one. */
export function setGradEnabled(on: boolean): boolean {
  const prev = enabled;
  enabled = on;
  return prev;
}

/** Runs fn with gradient recording off (torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = setGradEnabled(false);
  try {
    return fn();
  } finally {
    setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording on (torch.enable_grad). */
export function enableGrad<T>(fn: () => T): T {
  const prev = setGradEnabled(true);
  try {
    return fn();
  } finally {
    setGradEnabled(prev);
  }
}

/**
 * Attaches `backward` to `out` when grad mode is on and any input requires a gradient.
 * This is the one way an op (built-in or custom) joins the tape. Returns `out`.
 */
export function record(out: Tensor, name: string, inputs: readonly Tensor[], backward: GradNode["backward"]): Tensor {
  if (!enabled) return out;
  let needs = false;
  for (const t of inputs) if (t.requiresGrad) needs = true;
  if (!needs) return out;
  out.setGradNode({ name, inputs, backward });
  return out;
}
