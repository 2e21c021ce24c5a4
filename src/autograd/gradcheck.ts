/**
 * Gradient checking: compares the tape's gradients with central finite differences computed
 * in float64. Exported so users can check their own custom ops; every differentiable op in
 * our tests goes through it.
 */
import { ValueError } from "../tensor/errors.js";
import { noGrad } from "../tensor/grad-mode.js";
import { defaultGenerator } from "../tensor/random.js";
import { Tensor } from "../tensor/tensor.js";
import { backward } from "./backward.js";

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  atol?: number;
  rtol?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic − numeric| over all checked inputs. */
  maxAbsError: number;
  /** Where it failed first: input index, flat element index, both values. */
  failure?: { input: number; index: number; analytic: number; numeric: number };
}

/**
 * Checks the gradient of L = Σ w ⊙ f(inputs) for fixed random weights w, w.r.t. every input
 * that requires grad. Inputs must be float64 so the differences are meaningful.
 */
export function gradcheck(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  for (const [i, t] of inputs.entries()) {
    if (t.requiresGrad && t.dtype !== "float64") throw new ValueError(`gradcheck: input ${i} must be float64, got ${t.dtype}`);
  }
  const probe = noGrad(() => fn(...inputs));
  const w = new Float64Array(probe.size);
  for (let i = 0; i < w.length; i++) w[i] = defaultGenerator.normal();
  const loss = (out: Tensor): number => {
    let s = 0;
    for (let i = 0; i < w.length; i++) s += w[i] * out.data[i];
    return s;
  };
  for (const t of inputs) t.grad = null;
  const out = fn(...inputs);
  if (!out.requiresGrad) throw new ValueError("gradcheck: the function output does not depend on any input requiring grad");
  backward(out, new Tensor(out.dtype === "float64" ? w.slice() : Float32Array.from(w), out.shape));
  let maxAbsError = 0;
  for (const [k, t] of inputs.entries()) {
    if (!t.requiresGrad) continue;
    const data = t.data;
    for (let i = 0; i < data.length; i++) {
      const orig = data[i];
      data[i] = orig + eps;
      const plus = loss(noGrad(() => fn(...inputs)));
      data[i] = orig - eps;
      const minus = loss(noGrad(() => fn(...inputs)));
      data[i] = orig;
      const numeric = (plus - minus) / (2 * eps);
      const analytic = t.grad ? t.grad.data[i] : 0;
      const err = Math.abs(analytic - numeric);
      maxAbsError = Math.max(maxAbsError, err);
      if (err > atol + rtol * Math.abs(numeric)) {
        return { ok: false, maxAbsError, failure: { input: k, index: i, analytic, numeric } };
      }
    }
  }
  return { ok: true, maxAbsError };
}
