/**
 * 2-D pooling ops on NCHW (or unbatched CHW) input, as torch.nn.functional: maxPool2d,
 * avgPool2d and adaptiveAvgPool2d, each with its vjp on the backend's pool kernels. Called
 * by nn.MaxPool2d / nn.AvgPool2d / nn.AdaptiveAvgPool2d and by the int8 engine's tests.
 *
 * Output size (PyTorch's pooling_output_shape), per axis with effective kernel d·(k − 1) + 1:
 *   out = ⌊(in + 2p − d·(k − 1) − 1 + (ceilMode ? s − 1 : 0)) / s⌋ + 1,
 *   and with ceilMode, out −= 1 when the last window would start at or past in + p
 *   (it must start inside the input or the left padding).
 */
import { kernels } from "../backend/index.js";
import type { Pool2dGeom } from "../backend/kernels.js";
import { type FloatArray, allocArrayUninit } from "../tensor/dtype.js";
import { ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import { Tensor } from "../tensor/tensor.js";
import type { IntPair } from "./conv.js";
import { reshape } from "./layout.js";
import { pair, requireFloat, uninit } from "./util.js";

export interface MaxPool2dOptions {
  /** Default: the kernel size. */
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  ceilMode?: boolean;
}

export interface AvgPool2dOptions {
  stride?: IntPair;
  padding?: IntPair;
  ceilMode?: boolean;
  /** Count padded cells in the divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
}

/** PyTorch's pooling output size along one axis (see the header). */
export function poolOutputSize(size: number, k: number, p: number, s: number, d: number, ceilMode: boolean): number {
  let out = Math.floor((size + 2 * p - d * (k - 1) - 1 + (ceilMode ? s - 1 : 0)) / s) + 1;
  if (ceilMode && (out - 1) * s >= size + p) out--;
  return out;
}

/** x as 4-D [N, C, H, W] (an unbatched [C, H, W] input gains N = 1), checked float. */
function as4d(x: Tensor, op: string): { x4: Tensor; unbatched: boolean } {
  requireFloat(x, op);
  if (x.ndim === 3) return { x4: reshape(x, [1, ...x.shape]), unbatched: true };
  if (x.ndim !== 4) throw new ShapeError(`${op}: input must be 4-D [N, C, H, W] (or 3-D [C, H, W]), got ${fmtShape(x.shape)}`);
  return { x4: x, unbatched: false };
}

/** Applies fn to x as 4-D, restoring an unbatched input's rank on the result. */
function batched(x: Tensor, op: string, fn: (x4: Tensor) => Tensor): Tensor {
  const { x4, unbatched } = as4d(x, op);
  const y = fn(x4);
  return unbatched ? reshape(y, y.shape.slice(1)) : y;
}

function poolGeom(x: Tensor, op: string, kernel: IntPair, o: MaxPool2dOptions & AvgPool2dOptions): Pool2dGeom {
  const [kh, kw] = pair(kernel, "kernelSize", op);
  const [sh, sw] = pair(o.stride ?? [kh, kw], "stride", op);
  const [ph, pw] = pair(o.padding ?? 0, "padding", op, 0);
  const [dh, dw] = pair(o.dilation ?? 1, "dilation", op);
  if (ph > kh / 2 || pw > kw / 2) {
    throw new ValueError(`${op}: padding [${ph}, ${pw}] must be at most half the kernel size [${kh}, ${kw}] (input ${fmtShape(x.shape)})`);
  }
  const [n, c, h, w] = x.shape;
  const ceil = o.ceilMode ?? false;
  const oh = poolOutputSize(h, kh, ph, sh, dh, ceil);
  const ow = poolOutputSize(w, kw, pw, sw, dw, ceil);
  if (oh < 1 || ow < 1) {
    throw new ShapeError(`${op}: output size ${oh}×${ow} is too small for input ${fmtShape(x.shape)} with kernel [${kh}, ${kw}], padding [${ph}, ${pw}], dilation [${dh}, ${dw}]`);
  }
  return {
    n, c, h, w, oh, ow, kh, kw, strideH: sh, strideW: sw, padH: ph, padW: pw,
    dilationH: dh, dilationW: dw, countIncludePad: o.countIncludePad ?? true,
  };
}

/**
 * Max pooling; also returns the argmax indices (flat iy·W + ix within each (n, c) plane, as
 * PyTorch's return_indices). The gradient flows to the recorded winner of each window.
 */
export function maxPool2dWithIndices(x: Tensor, kernelSize: IntPair, opts: MaxPool2dOptions = {}): { values: Tensor; indices: Tensor } {
  const { x4, unbatched } = as4d(x, "maxPool2d");
  const g = poolGeom(x4, "maxPool2d", kernelSize, opts);
  const out = uninit([g.n, g.c, g.oh, g.ow], x4.dtype);
  const arg = allocArrayUninit("int32", out.size);
  kernels().maxPool2d(x4.data as FloatArray, out.data as FloatArray, arg, g);
  const values = record(out, "maxPool2d", [x4], (gy) => {
    const dx = uninit(x4.shape, x4.dtype);
    kernels().maxPool2dBackward(gy.data as FloatArray, arg, dx.data as FloatArray, g);
    return [dx];
  });
  if (!unbatched) return { values, indices: new Tensor(arg, out.shape) };
  const shape = out.shape.slice(1);
  return { values: reshape(values, shape), indices: new Tensor(arg, shape) };
}

/** torch.nn.functional.max_pool2d: padding never wins (it acts as −∞). */
export function maxPool2d(x: Tensor, kernelSize: IntPair, opts: MaxPool2dOptions = {}): Tensor {
  return maxPool2dWithIndices(x, kernelSize, opts).values;
}

/**
 * torch.nn.functional.avg_pool2d: y = Σ window / divisor; the divisor is the window area
 * clipped to the padded input (countIncludePad, the default) or the number of real cells.
 */
export function avgPool2d(x: Tensor, kernelSize: IntPair, opts: AvgPool2dOptions = {}): Tensor {
  return batched(x, "avgPool2d", (x4) => {
    const g = poolGeom(x4, "avgPool2d", kernelSize, { ...opts, dilation: 1 });
    const out = uninit([g.n, g.c, g.oh, g.ow], x4.dtype);
    kernels().avgPool2d(x4.data as FloatArray, out.data as FloatArray, g);
    return record(out, "avgPool2d", [x4], (gy) => {
      const dx = uninit(x4.shape, x4.dtype);
      kernels().avgPool2dBackward(gy.data as FloatArray, dx.data as FloatArray, g);
      return [dx];
    });
  });
}

/**
 * torch.nn.functional.adaptive_avg_pool2d: output (OH, OW) (a number for both; null keeps the
 * input size), window i along an axis of size H = [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉).
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly [number | null, number | null]): Tensor {
  return batched(x, "adaptiveAvgPool2d", (x4) => {
    const [n, c, h, w] = x4.shape;
    const req = typeof outputSize === "number" ? [outputSize, outputSize] : outputSize;
    const oh = req[0] ?? h;
    const ow = req[1] ?? w;
    if (!Number.isInteger(oh) || !Number.isInteger(ow) || oh < 1 || ow < 1) {
      throw new ValueError(`adaptiveAvgPool2d: output size must be positive integers, got ${JSON.stringify(outputSize)} (input ${fmtShape(x.shape)})`);
    }
    if (h < 1 || w < 1) throw new ShapeError(`adaptiveAvgPool2d: input ${fmtShape(x.shape)} has an empty spatial dimension`);
    const out = uninit([n, c, oh, ow], x4.dtype);
    kernels().adaptiveAvgPool2d(x4.data as FloatArray, out.data as FloatArray, n, c, h, w, oh, ow);
    return record(out, "adaptiveAvgPool2d", [x4], (gy) => {
      const dx = uninit(x4.shape, x4.dtype);
      kernels().adaptiveAvgPool2dBackward(gy.data as FloatArray, dx.data as FloatArray, n, c, h, w, oh, ow);
      return [dx];
    });
  });
}
