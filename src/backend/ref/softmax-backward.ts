/**
 * Reference vjp of softmax / log-softmax over the rows of y viewed as [rows, cols] (the Kernels
 * entry softmaxBackward), from the forward's output y and the incoming gradient g:
 *   y = softmax(x):     dx_j = y_j·(g_j − Σ_k g_k·y_k)
 *   y = logSoftmax(x):  dx_j = g_j − exp(y_j)·Σ_k g_k
 * The row sum is float64; each dx_j is computed in float64 and rounded once when stored.
 * Called by src/ops/softmax.ts through `kernels()`.
 */
import type { FloatArray } from "../../tensor/dtype.js";

export function softmaxBackward(y: FloatArray, g: FloatArray, dx: FloatArray, rows: number, cols: number, log: boolean): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let s = 0;
    if (log) {
      for (let j = 0; j < cols; j++) s += g[base + j];
      for (let j = 0; j < cols; j++) dx[base + j] = g[base + j] - Math.exp(y[base + j]) * s;
    } else {
      for (let j = 0; j < cols; j++) s += g[base + j] * y[base + j];
      for (let j = 0; j < cols; j++) dx[base + j] = y[base + j] * (g[base + j] - s);
    }
  }
}
