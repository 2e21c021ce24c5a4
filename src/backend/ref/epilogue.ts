/**
 * Reference fused epilogue (the definition of `Kernels.epilogue`, see Epilogue in
 * ../kernels.ts): y = act(y + bias[c]) in place over y viewed as [outer, c, inner], with the
 * expressions of the unary relu and clamp kernels so that a fused conv/matmul equals the
 * unfused op chain bit for bit. A float32 y rounds each step to float32 (the store), as the
 * separate ops do. Called by ./conv.ts and ./matmul.ts, and by faster backends after their
 * own products when they do not fuse the epilogue themselves. Also `maskMul`, the gradient
 * of those activations (Kernels.maskMul).
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Epilogue } from "../kernels.js";

export function epilogue(y: FloatArray, outer: number, c: number, inner: number, epi: Epilogue): void {
  const { bias, act, lo, hi } = epi;
  if (bias !== null && bias.length < c) throw new RangeError(`epilogue: bias has ${bias.length} values, needs ${c}`);
  if (y.length < outer * c * inner) throw new RangeError(`epilogue: output has ${y.length} values, needs ${outer * c * inner}`);
  if (bias !== null) {
    for (let o = 0; o < outer; o++) {
      for (let ch = 0; ch < c; ch++) {
        const b = bias[ch];
        const base = (o * c + ch) * inner;
        for (let i = base; i < base + inner; i++) y[i] += b;
      }
    }
  }
  const n = outer * c * inner;
  if (act === "relu") {
    for (let i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0;
  } else if (act === "clamp") {
    for (let i = 0; i < n; i++) {
      const v = y[i];
      y[i] = v < lo ? lo : v > hi ? hi : v;
    }
  }
}

/** out[i] = g[i] · (lo < y[i] < hi ? 1 : 0), hi = +∞ unbounded (Kernels.maskMul). */
export function maskMul(g: FloatArray, y: FloatArray, lo: number, hi: number, out: FloatArray): void {
  const n = out.length;
  if (g.length < n || y.length < n) throw new RangeError(`maskMul: gradient (${g.length}) and mask source (${y.length}) need ${n} values`);
  if (hi === Infinity) {
    for (let i = 0; i < n; i++) out[i] = g[i] * (y[i] > lo ? 1 : 0);
    return;
  }
  for (let i = 0; i < n; i++) {
    const v = y[i];
    out[i] = g[i] * (v > lo && v < hi ? 1 : 0);
  }
}
