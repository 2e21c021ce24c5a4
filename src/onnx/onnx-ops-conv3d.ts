/**
 * 3-D (volumetric) Conv, MaxPool and AveragePool for the generic ONNX kernels, built from the
 * 2-D ops: the input [N, C, D, H, W] is padded, cut into the depth taps of each kernel slice
 * (the planes k·d, k·d + s, … along D), each tap runs as a batch of 2-D planes, and the taps are
 * summed (Conv, AveragePool) or maxed (MaxPool). Differentiable throughout. Called by
 * onnx-ops-conv.ts once it has worked out pads, strides and dilations.
 */
import type { Tensor } from "../tensor/tensor.js";
import { ones } from "../tensor/creation.js";
import { add, div, maximum } from "../ops/binary.js";
import { conv2d } from "../ops/conv.js";
import { pad, permute, reshape, slice } from "../ops/layout.js";
import { avgPool2d, maxPool2d } from "../ops/pool.js";

/** Constant padding of the three spatial axes, begin / end per axis (D, H, W). */
function pad3d(x: Tensor, begin: readonly number[], end: readonly number[], value: number): Tensor {
  if (begin.every((p) => p === 0) && end.every((p) => p === 0)) return x;
  return pad(x, [begin[2], end[2], begin[1], end[1], begin[0], end[0]], value);
}

/** Depth planes k·d, k·d + s, … (`out` of them) of x along axis 2, as a batch of 2-D planes [N·out, C, H, W]. */
function tap(x: Tensor, k: number, d: number, s: number, out: number): Tensor {
  const t = slice(x, 2, k * d, k * d + (out - 1) * s + 1, s);
  const [n, c, , h, w] = t.shape;
  return reshape(permute(t, [0, 2, 1, 3, 4]), [n * out, c, h, w]);
}

/** [N·D, C, H, W] planes back to [N, C, D, H, W]. */
function volume(y: Tensor, n: number, depth: number): Tensor {
  return permute(reshape(y, [n, depth, ...y.shape.slice(1)]), [0, 2, 1, 3, 4]);
}

const outLen = (size: number, k: number, d: number, s: number) => Math.floor((size - d * (k - 1) - 1) / s) + 1;

/** Conv over [N, C, D, H, W] with weight [O, C/group, kD, kH, kW]. */
export function conv3d(x: Tensor, w: Tensor, b: Tensor | null, begin: number[], end: number[], stride: number[], dil: number[], group: number): Tensor {
  const xp = pad3d(x, begin, end, 0);
  const [o, cg, kd, kh, kw] = w.shape;
  const od = outLen(xp.shape[2], kd, dil[0], stride[0]);
  let acc: Tensor | null = null;
  for (let k = 0; k < kd; k++) {
    const wk = reshape(slice(w, 2, k, k + 1), [o, cg, kh, kw]);
    const y = conv2d(tap(xp, k, dil[0], stride[0], od), wk, null, { stride: [stride[1], stride[2]], dilation: [dil[1], dil[2]], groups: group });
    acc = acc ? add(acc, y) : y;
  }
  const y = volume(acc!, x.shape[0], od);
  return b ? add(y, reshape(b, [1, o, 1, 1, 1])) : y;
}

/**
 * Max or average pooling over [N, C, D, H, W]. `end` holds the attribute pads, `extra` the cells
 * added past them for ceil_mode (never counted in an average).
 */
export function pool3d(x: Tensor, kind: "max" | "avg", kernel: number[], stride: number[], dil: number[], begin: number[], end: number[], extra: number[], includePad: boolean): Tensor {
  const allEnd = end.map((e, a) => e + extra[a]);
  const [kd, kh, kw] = kernel;
  const plane = { stride: [stride[1], stride[2]] as [number, number] };
  if (kind === "max") {
    const xp = pad3d(x, begin, allEnd, -Infinity);
    const od = outLen(xp.shape[2], kd, dil[0], stride[0]);
    let acc: Tensor | null = null;
    for (let k = 0; k < kd; k++) {
      const y = maxPool2d(tap(xp, k, dil[0], stride[0], od), [kh, kw], { ...plane, dilation: [dil[1], dil[2]] });
      acc = acc ? maximum(acc, y) : y;
    }
    return volume(acc!, x.shape[0], od);
  }
  const cells = ones([1, 1, ...x.shape.slice(2)], { dtype: x.dtype });
  const counted = includePad ? pad3d(pad3d(cells, begin, end, 1), [0, 0, 0], extra, 0) : pad3d(cells, begin, allEnd, 0);
  const xp = pad3d(x, begin, allEnd, 0);
  const od = outLen(xp.shape[2], kd, 1, stride[0]);
  let sum: Tensor | null = null;
  let count: Tensor | null = null;
  for (let k = 0; k < kd; k++) {
    const s = avgPool2d(tap(xp, k, 1, stride[0], od), [kh, kw], plane);
    const n = avgPool2d(tap(counted, k, 1, stride[0], od), [kh, kw], plane);
    sum = sum ? add(sum, s) : s;
    count = count ? add(count, n) : n;
  }
  return div(volume(sum!, x.shape[0], od), volume(count!, 1, od));
}
