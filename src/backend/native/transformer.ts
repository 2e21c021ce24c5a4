/**
 * The native backend's gelu, geluBackward, layerNorm and layerNormBackward entries
 * (native/transformer.c; definition src/backend/ref/transformer.ts): float32 data, float64
 * row statistics; and softmaxBackward (definition src/backend/ref/softmax-backward.ts). Calls too small to repay the Node-API crossing (under MIN_ELEMENTS) and
 * other dtypes go to the fallback table. Array lengths are checked against the sizes first
 * (a RangeError naming the kernel), so a wrong caller can never make C read or write out of
 * bounds. Used by ./kernels.ts.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Kernels } from "../kernels.js";
import type { NativeAddon } from "./addon.js";

/** Below this many elements the JavaScript/wasm kernels are faster than a call into C. */
const MIN_ELEMENTS = 256;

type F32 = Float32Array;
type Names = "gelu" | "geluBackward" | "layerNorm" | "layerNormBackward" | "softmaxBackward";

const isF32 = (...arrays: (FloatArray | null)[]): boolean => arrays.every((a) => a === null || a instanceof Float32Array);

function need(kernel: string, what: string, a: { length: number } | null, n: number): void {
  if (a !== null && a.length < n) throw new RangeError(`native ${kernel}: ${what} has ${a.length} elements, needs ${n}`);
}

export function nativeTransformerKernels(addon: NativeAddon, fallback: Kernels, sync: () => void): Pick<Kernels, Names> {
  return {
    gelu(x, out, approximate) {
      const n = out.length;
      if (!isF32(x, out) || n < MIN_ELEMENTS) return fallback.gelu(x, out, approximate);
      need("gelu", "input", x, n);
      sync();
      addon.gelu(x as F32, out as F32, n, approximate === "tanh" ? 1 : 0);
    },
    geluBackward(g, x, dx, approximate) {
      const n = dx.length;
      if (!isF32(g, x, dx) || n < MIN_ELEMENTS) return fallback.geluBackward(g, x, dx, approximate);
      need("geluBackward", "gradient", g, n);
      need("geluBackward", "input", x, n);
      sync();
      addon.geluBackward(g as F32, x as F32, dx as F32, n, approximate === "tanh" ? 1 : 0);
    },
    layerNorm(x, weight, bias, y, mean, rstd, rows, n, eps) {
      if (!isF32(x, weight, bias, y) || rows * n < MIN_ELEMENTS) return fallback.layerNorm(x, weight, bias, y, mean, rstd, rows, n, eps);
      for (const [what, a, len] of [["input", x, rows * n], ["output", y, rows * n], ["weight", weight, n], ["bias", bias, n], ["mean", mean, rows], ["rstd", rstd, rows]] as const) {
        need("layerNorm", what, a, len);
      }
      sync();
      addon.layerNorm(x as F32, weight as F32 | null, bias as F32 | null, y as F32, mean, rstd, rows, n, eps);
    },
    layerNormBackward(g, x, weight, mean, rstd, dx, dweight, dbias, rows, n) {
      if (!isF32(g, x, weight, dx, dweight, dbias) || rows * n < MIN_ELEMENTS) {
        return fallback.layerNormBackward(g, x, weight, mean, rstd, dx, dweight, dbias, rows, n);
      }
      for (const [what, a, len] of [["gradient", g, rows * n], ["input", x, rows * n], ["dx", dx, rows * n], ["weight", weight, n],
        ["dweight", dweight, n], ["dbias", dbias, n], ["mean", mean, rows], ["rstd", rstd, rows]] as const) {
        need("layerNormBackward", what, a, len);
      }
      sync();
      addon.layerNormBackward(g as F32, x as F32, weight as F32 | null, mean, rstd, dx as F32 | null, dweight as F32 | null, dbias as F32 | null, rows, n);
    },
    softmaxBackward(y, g, dx, rows, cols, log) {
      if (!isF32(y, g, dx) || rows * cols < MIN_ELEMENTS) return fallback.softmaxBackward(y, g, dx, rows, cols, log);
      for (const [what, a] of [["output", y], ["gradient", g], ["dx", dx]] as const) need("softmaxBackward", what, a, rows * cols);
      sync();
      addon.softmaxBackward(y as F32, g as F32, dx as F32, rows, cols, log ? 1 : 0);
    },
  };
}
