/**
 * Reference softmax / log-softmax over the rows of x viewed as [rows, cols], stabilised by
 * subtracting each row's maximum:
 *   softmax(x)_j    = exp(x_j − m) / Σ_k exp(x_k − m)
 *   logSoftmax(x)_j = x_j − m − log Σ_k exp(x_k − m),   m = max_k x_k.
 * Called by src/ops/softmax.ts.
 */
import type { FloatArray } from "../../tensor/dtype.js";

export function softmax(x: FloatArray, out: FloatArray, rows: number, cols: number, log: boolean): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) {
      const v = x[base + j];
      if (v > m || v !== v) m = v;
    }
    // A row of all −∞ would give −∞ − (−∞) = NaN in the shift; shift by 0 instead (the
    // result is NaN either way, as in PyTorch, but not from the shift).
    if (m === -Infinity) m = 0;
    let s = 0;
    if (log) {
      for (let j = 0; j < cols; j++) s += Math.exp(x[base + j] - m);
      const lse = m + Math.log(s);
      for (let j = 0; j < cols; j++) out[base + j] = x[base + j] - lse;
    } else {
      for (let j = 0; j < cols; j++) {
        const e = Math.exp(x[base + j] - m);
        out[base + j] = e;
        s += e;
      }
      const inv = 1 / s;
      for (let j = 0; j < cols; j++) out[base + j] *= inv;
    }
  }
}
