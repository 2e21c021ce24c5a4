/**
 * dropout (torch.nn.functional.dropout, inverted scaling): in training each element is kept
 * with probability 1 − p and scaled by 1/(1 − p), so E[y] = x; in eval it is the identity.
 * Masks come from the seedable default generator (src/tensor/random.ts) unless one is given.
 * Called by nn.Dropout.
 *
 *   y = x ⊙ m,  m_i = (u_i ≥ p) / (1 − p),  u_i ~ U[0, 1);   vjp: dx = g ⊙ m
 */
import { type Generator, defaultGenerator } from "../tensor/random.js";
import { ValueError, fmtShape } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import type { Tensor } from "../tensor/tensor.js";
import { empty, requireFloat } from "./util.js";

export function dropout(x: Tensor, p: number, training = true, generator?: Generator): Tensor {
  if (!(p >= 0 && p < 1)) throw new ValueError(`dropout: p must be in [0, 1), got ${p} (input ${fmtShape(x.shape)})`);
  requireFloat(x, "dropout");
  if (!training || p === 0) return x;
  const gen = generator ?? defaultGenerator;
  const scale = 1 / (1 - p);
  const mask = empty(x.shape, x.dtype);
  const out = empty(x.shape, x.dtype);
  const m = mask.data;
  const xd = x.data;
  const y = out.data;
  for (let i = 0; i < m.length; i++) {
    const keep = gen.uniform() >= p ? scale : 0;
    m[i] = keep;
    y[i] = xd[i] * keep;
  }
  return record(out, "dropout", [x], (g) => {
    const dx = empty(x.shape, x.dtype);
    const gd = g.data;
    const d = dx.data;
    for (let i = 0; i < d.length; i++) d[i] = gd[i] * m[i];
    return [dx];
  });
}
