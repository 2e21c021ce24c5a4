/**
 * The native backend's fused batch-norm / ReLU entries (native/norm.c, elementwise.c through
 * binding-norm.c): batchNormTrain, batchNormReluBackward and addRelu on float32 data with
 * float64 statistics — the same values as the unfused native kernels in turn (tested against
 * the reference composition in test/backend/native-norm.test.ts). Other dtypes, float32
 * statistics, addRelu calls under MIN_ELEMENTS and operands that partly overlap the output go
 * to the fallback table. Also adaptiveAvgPool2d and its backward when the output is 1×1 (a
 * global average pool, ResNet's head; bit-identical to the reference), other sizes falling back. Lengths are
 * checked first (a RangeError naming the kernel), so C never reads or writes out of bounds.
 * Used by ./kernels.ts.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Kernels } from "../kernels.js";
import type { NativeAddon } from "./addon.js";

/** The Node-API functions of native/binding-norm.c (part of NativeAddon, checked on load). */
export interface NativeNormAddon {
  batchNormTrain(x: Float32Array, n: number, c: number, hw: number, eps: number, gamma: Float32Array | null, beta: Float32Array | null,
    y: Float32Array, mean: Float64Array, variance: Float64Array, invStd: Float64Array, relu: number): void;
  batchNormReluBackward(dy: Float32Array, x: Float32Array, mean: Float64Array, invStd: Float64Array, gamma: Float32Array | null,
    beta: Float32Array | null, dx: Float32Array, dgamma: Float32Array | null, dbeta: Float32Array | null, n: number, c: number, hw: number,
    training: number): void;
  addRelu(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  /** Adaptive average pool to 1×1 over [planes, hw] and its backward (native/nn.c). */
  globalAvgPool(x: Float32Array, y: Float32Array, planes: number, hw: number): void;
  globalAvgPoolBackward(dy: Float32Array, dx: Float32Array, planes: number, hw: number): void;
}

type NormKernels = Pick<Kernels, "batchNormTrain" | "batchNormReluBackward" | "addRelu" | "adaptiveAvgPool2d" | "adaptiveAvgPool2dBackward">;

/** Below this many elements the JavaScript/wasm kernels are as fast as a call into C. */
const MIN_ELEMENTS = 256;

function f32(...arrays: (FloatArray | null)[]): boolean {
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array)) return false;
  return true;
}

/** True when two views share bytes without being the same elements (in place is fine; shifted is not). */
function shifted(a: FloatArray, b: FloatArray): boolean {
  if (a.buffer !== b.buffer || a.byteOffset === b.byteOffset) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

function need(kernel: string, what: string, a: { length: number } | null, n: number): void {
  if (a !== null && a.length < n) throw new RangeError(`native ${kernel}: ${what} has ${a.length} elements, needs ${n}`);
}

export function nativeNormKernels(addon: NativeAddon, fallback: Kernels, sync: () => void): NormKernels {
  const sizes = (kernel: string, n: number, c: number, hw: number, big: (FloatArray | null)[], small: (FloatArray | null)[]): void => {
    for (const a of big) need(kernel, "tensor", a, n * c * hw);
    for (const a of small) need(kernel, "per-channel array", a, c);
  };
  return {
    batchNormTrain(x, n, c, hw, eps, gamma, beta, y, mean, variance, invStd, relu) {
      const stats = mean instanceof Float64Array && variance instanceof Float64Array && invStd instanceof Float64Array;
      if (!f32(x, gamma, beta, y) || !stats) return fallback.batchNormTrain(x, n, c, hw, eps, gamma, beta, y, mean, variance, invStd, relu);
      sizes("batchNormTrain", n, c, hw, [x, y], [gamma, beta, mean, variance, invStd]);
      sync();
      addon.batchNormTrain(x as Float32Array, n, c, hw, eps, gamma as Float32Array | null, beta as Float32Array | null, y as Float32Array,
        mean, variance, invStd, relu ? 1 : 0);
    },
    batchNormReluBackward(dy, x, mean, invStd, gamma, beta, dx, dgamma, dbeta, n, c, hw, training) {
      if (!f32(dy, x, gamma, beta, dx, dgamma, dbeta) || !(mean instanceof Float64Array) || !(invStd instanceof Float64Array)) {
        return fallback.batchNormReluBackward(dy, x, mean, invStd, gamma, beta, dx, dgamma, dbeta, n, c, hw, training);
      }
      sizes("batchNormReluBackward", n, c, hw, [dy, x, dx], [mean, invStd, gamma, beta, dgamma, dbeta]);
      sync();
      addon.batchNormReluBackward(dy as Float32Array, x as Float32Array, mean, invStd, gamma as Float32Array | null, beta as Float32Array | null,
        dx as Float32Array, dgamma as Float32Array | null, dbeta as Float32Array | null, n, c, hw, training ? 1 : 0);
    },
    adaptiveAvgPool2d(x, y, n, c, h, w, oh, ow) {
      if (oh !== 1 || ow !== 1 || !f32(x, y) || n * c * h * w < MIN_ELEMENTS) return fallback.adaptiveAvgPool2d(x, y, n, c, h, w, oh, ow);
      need("adaptiveAvgPool2d", "input", x, n * c * h * w);
      need("adaptiveAvgPool2d", "output", y, n * c);
      sync();
      addon.globalAvgPool(x as Float32Array, y as Float32Array, n * c, h * w);
    },
    adaptiveAvgPool2dBackward(dy, dx, n, c, h, w, oh, ow) {
      if (oh !== 1 || ow !== 1 || !f32(dy, dx) || n * c * h * w < MIN_ELEMENTS) return fallback.adaptiveAvgPool2dBackward(dy, dx, n, c, h, w, oh, ow);
      need("adaptiveAvgPool2dBackward", "gradient", dy, n * c);
      need("adaptiveAvgPool2dBackward", "input gradient", dx, n * c * h * w);
      sync();
      addon.globalAvgPoolBackward(dy as Float32Array, dx as Float32Array, n * c, h * w);
    },
    addRelu(a, b, out) {
      const n = out.length;
      if (!f32(a, b, out) || n < MIN_ELEMENTS || shifted(a, out) || shifted(b, out)) return fallback.addRelu(a, b, out);
      need("addRelu", "a", a, n);
      need("addRelu", "b", b, n);
      sync();
      addon.addRelu(a as Float32Array, b as Float32Array, out as Float32Array, n);
    },
  };
}
