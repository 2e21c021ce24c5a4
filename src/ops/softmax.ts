/**
 * softmax and logSoftmax along any axis (torch.softmax / torch.log_softmax). The kernel works
 * on the last axis; another axis is moved last by permute (whose vjp moves it back). Called by
 * crossEntropy (./loss.ts), attention-style layers and users.
 *
 *   vjp of y = softmax(x):     dx = y ⊙ (g − Σ_j g_j·y_j)
 *   vjp of y = logSoftmax(x):  dx = g − exp(y) · Σ_j g_j
 * (both one kernel: softmaxBackward, from y and g)
 */
import { kernels } from "../backend/index.js";
import type { FloatArray } from "../tensor/dtype.js";
import { record } from "../tensor/grad-mode.js";
import { normalizeAxis } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { permute } from "./layout.js";
import { requireFloat, uninit } from "./util.js";

/** (log-)softmax over the last axis with its vjp. */
function softmaxLast(x: Tensor, log: boolean, op: string): Tensor {
  const cols = x.ndim === 0 ? 1 : x.shape[x.ndim - 1];
  const rows = cols === 0 ? 0 : x.size / cols;
  const out = uninit(x.shape, x.dtype);
  const y = out.data as FloatArray;
  kernels().softmax(x.data as FloatArray, y, rows, cols, log);
  return record(out, op, [x], (gy) => {
    const dx = uninit(x.shape, x.dtype);
    kernels().softmaxBackward(y, gy.data as FloatArray, dx.data as FloatArray, rows, cols, log);
    return [dx];
  });
}

function alongAxis(x: Tensor, axis: number, log: boolean, op: string): Tensor {
  requireFloat(x, op);
  if (x.ndim === 0) return softmaxLast(x, log, op);
  const a = normalizeAxis(axis, x.ndim, op);
  if (a === x.ndim - 1) return softmaxLast(x, log, op);
  // Swap the axis with the last one; the swap is its own inverse.
  const perm = [...Array(x.ndim).keys()];
  perm[a] = x.ndim - 1;
  perm[x.ndim - 1] = a;
  return permute(softmaxLast(permute(x, perm), log, op), perm);
}

/** exp(x) / Σ exp(x) along `axis` (default last), computed stably. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return alongAxis(x, axis, false, "softmax");
}

/** x − log Σ exp(x) along `axis` (default last), computed stably. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return alongAxis(x, axis, true, "logSoftmax");
}
