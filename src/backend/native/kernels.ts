/**
 * The native backend's kernel table: the `Kernels` entries native/*.c implements, for
 * float32 arrays (any other dtype goes to the fallback table — the wasm kernels over the
 * reference ones). Arrays are passed to C in place (no copies, whether they live in a
 * JavaScript ArrayBuffer or in the wasm backend's shared memory). Each wrapper checks the
 * array lengths against the geometry first (a RangeError naming the kernel), so a wrong
 * caller can never make C write out of bounds. Used by ./index.ts.
 */
import type { FloatArray } from "../../tensor/dtype.js";
import type { Conv2dGeom, Epilogue, Kernels, MatmulGeom, Pool2dGeom } from "../kernels.js";
import { threadCount } from "../wasm/runtime.js";
import type { NativeAddon } from "./addon.js";
import { nativeElementwiseKernels } from "./elementwise.js";
import { nativeLayoutKernels } from "./layout.js";
import { nativeNormKernels } from "./norm.js";
import { nativeTransformerKernels } from "./transformer.js";

type F32 = Float32Array;

const convGeom = new Int32Array(16);
const poolGeom = new Int32Array(15);

function f32(...arrays: (FloatArray | null)[]): boolean {
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array)) return false;
  return true;
}

/** A per-channel array as float64 (float32 widened exactly; a Float64Array as it is). */
function f64(a: FloatArray): Float64Array {
  return a instanceof Float64Array ? a : Float64Array.from(a);
}

function need(kernel: string, what: string, a: { length: number } | null, n: number): void {
  if (a !== null && a.length < n) throw new RangeError(`native ${kernel}: ${what} has ${a.length} elements, needs ${n}`);
}

function setConv(g: Conv2dGeom): Int32Array {
  convGeom.set([g.n, g.c, g.h, g.w, g.oc, g.kh, g.kw, g.oh, g.ow, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.groups]);
  return convGeom;
}

function setPool(g: Pool2dGeom): Int32Array {
  poolGeom.set([g.n, g.c, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.countIncludePad ? 1 : 0]);
  return poolGeom;
}

const ACT = { none: 0, relu: 1, clamp: 2 } as const;

/** True when C can apply `epi` itself (a float32 bias, or none, of at least `channels` values). */
function fusible(epi: Epilogue, channels: number, kernel: string): boolean {
  if (epi.bias === null) return true;
  if (!(epi.bias instanceof Float32Array)) return false;
  if (epi.bias.length < channels) throw new RangeError(`native ${kernel}: bias has ${epi.bias.length} values, needs ${channels}`);
  return true;
}

/** Builds the table over `addon`; `fallback` serves the cases native does not cover. */
export function nativeKernelTable(addon: NativeAddon, fallback: Kernels): Partial<Kernels> {
  let threads = -1;
  /** Sends the thread count (setNumThreads, shared with the wasm backend) when it changed. */
  const sync = (): void => {
    const t = threadCount();
    if (t !== threads) addon.setThreads((threads = t));
  };
  const convSizes = (kernel: string, g: Conv2dGeom, x: FloatArray, w: FloatArray, y: FloatArray): void => {
    need(kernel, "input", x, g.n * g.c * g.h * g.w);
    need(kernel, "weight", w, g.oc * (g.c / g.groups) * g.kh * g.kw);
    need(kernel, "output", y, g.n * g.oc * g.oh * g.ow);
    if (g.groups < 1 || g.c % g.groups !== 0 || g.oc % g.groups !== 0) throw new RangeError(`native ${kernel}: groups ${g.groups} must divide ${g.c} and ${g.oc}`);
  };
  const poolSizes = (kernel: string, g: Pool2dGeom, x: FloatArray, y: FloatArray, argmax: Int32Array | null): void => {
    need(kernel, "input", x, g.n * g.c * g.h * g.w);
    need(kernel, "output", y, g.n * g.c * g.oh * g.ow);
    need(kernel, "argmax", argmax, g.n * g.c * g.oh * g.ow);
  };
  const bnSizes = (kernel: string, n: number, c: number, hw: number, big: (FloatArray | null)[], small: (FloatArray | null)[]): void => {
    for (const a of big) need(kernel, "tensor", a, n * c * hw);
    for (const a of small) need(kernel, "per-channel array", a, c);
  };

  return {
    ...nativeLayoutKernels(addon, fallback, sync),
    ...nativeElementwiseKernels(addon, fallback, sync),
    ...nativeTransformerKernels(addon, fallback, sync),
    ...nativeNormKernels(addon, fallback, sync),
    matmul(a: FloatArray, b: FloatArray, c: FloatArray, g: MatmulGeom, epi?: Epilogue | null): void {
      if (!f32(a, b, c)) return fallback.matmul(a, b, c, g, epi);
      const last = (stride: number, size: number): number => (g.batch - 1) * stride + size;
      need("matmul", "A", a, last(g.aBatchStride, g.m * g.k));
      need("matmul", "B", b, last(g.bBatchStride, g.k * g.n));
      need("matmul", "C", c, last(g.cBatchStride, g.m * g.n));
      sync();
      const args = [a as F32, b as F32, c as F32, g.batch, g.m, g.n, g.k, g.aBatchStride, g.bBatchStride, g.cBatchStride,
        g.transA ? 1 : 0, g.transB ? 1 : 0, g.accumulate ? 1 : 0] as const;
      if (!epi) return addon.matmul(...args);
      if (fusible(epi, g.n, "matmul")) return addon.matmul(...args, epi.bias as F32 | null, ACT[epi.act], epi.lo, epi.hi);
      addon.matmul(...args);
      for (let i = 0; i < g.batch; i++) fallback.epilogue(c.subarray(i * g.cBatchStride, i * g.cBatchStride + g.m * g.n), g.m, g.n, 1, epi);
    },
    conv2d(x, w, y, g, epi) {
      if (!f32(x, w, y)) return fallback.conv2d(x, w, y, g, epi);
      convSizes("conv2d", g, x, w, y);
      sync();
      if (!epi) return addon.conv2d(x as F32, w as F32, y as F32, setConv(g));
      if (fusible(epi, g.oc, "conv2d")) return addon.conv2d(x as F32, w as F32, y as F32, setConv(g), epi.bias as F32 | null, ACT[epi.act], epi.lo, epi.hi);
      addon.conv2d(x as F32, w as F32, y as F32, setConv(g));
      fallback.epilogue(y, g.n, g.oc, g.oh * g.ow, epi);
    },
    epilogue(y, outer, c, inner, epi) {
      if (!(y instanceof Float32Array) || outer * c * inner < 1024 || !fusible(epi, c, "epilogue")) return fallback.epilogue(y, outer, c, inner, epi);
      need("epilogue", "output", y, outer * c * inner);
      addon.epilogue(y, outer, c, inner, epi.bias as F32 | null, ACT[epi.act], epi.lo, epi.hi);
    },
    conv2dBackwardInput(dy, w, dx, g) {
      if (!f32(dy, w, dx)) return fallback.conv2dBackwardInput(dy, w, dx, g);
      convSizes("conv2dBackwardInput", g, dx, w, dy);
      sync();
      addon.conv2dBackwardInput(dy as F32, w as F32, dx as F32, setConv(g));
    },
    conv2dBackwardWeight(x, dy, dw, g) {
      if (!f32(x, dy, dw)) return fallback.conv2dBackwardWeight(x, dy, dw, g);
      convSizes("conv2dBackwardWeight", g, x, dw, dy);
      sync();
      addon.conv2dBackwardWeight(x as F32, dy as F32, dw as F32, setConv(g));
    },
    maxPool2d(x, y, argmax, g) {
      if (!f32(x, y)) return fallback.maxPool2d(x, y, argmax, g);
      poolSizes("maxPool2d", g, x, y, argmax);
      sync();
      addon.maxPool2d(x as F32, y as F32, argmax, setPool(g));
    },
    maxPool2dBackward(dy, argmax, dx, g) {
      if (!f32(dy, dx)) return fallback.maxPool2dBackward(dy, argmax, dx, g);
      poolSizes("maxPool2dBackward", g, dx, dy, argmax);
      sync();
      addon.maxPool2dBackward(dy as F32, argmax, dx as F32, setPool(g));
    },
    avgPool2d(x, y, g) {
      if (!f32(x, y)) return fallback.avgPool2d(x, y, g);
      poolSizes("avgPool2d", g, x, y, null);
      sync();
      addon.avgPool2d(x as F32, y as F32, setPool(g));
    },
    avgPool2dBackward(dy, dx, g) {
      if (!f32(dy, dx)) return fallback.avgPool2dBackward(dy, dx, g);
      poolSizes("avgPool2dBackward", g, dx, dy, null);
      sync();
      addon.avgPool2dBackward(dy as F32, dx as F32, setPool(g));
    },
    // Per-channel statistics: float64 (as src/ops/batchnorm.ts keeps them); float32 ones are widened (exact).
    batchNormStats(x, n, c, hw, mean, variance) {
      if (!f32(x)) return fallback.batchNormStats(x, n, c, hw, mean, variance);
      bnSizes("batchNormStats", n, c, hw, [x], [mean, variance]);
      sync();
      const m = mean instanceof Float64Array ? mean : new Float64Array(c), v = variance instanceof Float64Array ? variance : new Float64Array(c);
      addon.batchNormStats(x as F32, n, c, hw, m, v);
      if (m !== mean) mean.set(m.subarray(0, c));
      if (v !== variance) variance.set(v.subarray(0, c));
    },
    batchNormApply(x, mean, invStd, gamma, beta, y, n, c, hw) {
      if (!f32(x, gamma, beta, y)) return fallback.batchNormApply(x, mean, invStd, gamma, beta, y, n, c, hw);
      bnSizes("batchNormApply", n, c, hw, [x, y], [mean, invStd, gamma, beta]);
      sync();
      addon.batchNormApply(x as F32, f64(mean), f64(invStd), gamma as F32 | null, beta as F32 | null, y as F32, n, c, hw);
    },
    batchNormBackward(dy, x, mean, invStd, gamma, dx, dgamma, dbeta, n, c, hw, training) {
      if (!f32(dy, x, gamma, dx, dgamma, dbeta)) {
        return fallback.batchNormBackward(dy, x, mean, invStd, gamma, dx, dgamma, dbeta, n, c, hw, training);
      }
      bnSizes("batchNormBackward", n, c, hw, [dy, x, dx], [mean, invStd, gamma, dgamma, dbeta]);
      sync();
      addon.batchNormBackward(dy as F32, x as F32, f64(mean), f64(invStd), gamma as F32 | null, dx as F32,
        dgamma as F32 | null, dbeta as F32 | null, n, c, hw, training ? 1 : 0);
    },
    channelAffine(x, scale, bias, y, n, c, inner) {
      if (!f32(x, scale, bias, y)) return fallback.channelAffine(x, scale, bias, y, n, c, inner);
      bnSizes("channelAffine", n, c, inner, [x, y], [scale, bias]);
      sync();
      addon.channelAffineF32(x as F32, scale as F32, bias as F32 | null, y as F32, n, c, inner);
    },
    channelAffineBackward(g, x, scale, dx, dscale, dbias, n, c, inner) {
      if (!f32(g, x, scale, dx, dscale, dbias)) return fallback.channelAffineBackward(g, x, scale, dx, dscale, dbias, n, c, inner);
      bnSizes("channelAffineBackward", n, c, inner, [g, x, dx], [scale, dscale, dbias]);
      sync();
      addon.channelAffineBackwardF32(g as F32, x as F32, scale as F32, dx as F32 | null, dscale as F32 | null, dbias as F32 | null, n, c, inner);
    },
  };
}
