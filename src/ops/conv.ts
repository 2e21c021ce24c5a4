/**
 * conv2d (torch.nn.functional.conv2d): NCHW input (or unbatched CHW), OIHW weight with
 * I = C / groups, optional bias [OC]; stride, padding (numbers, pairs, "valid" or "same"),
 * dilation and groups. Runs on the backend's conv2d kernels; the vjps are the two backward
 * kernels plus a sum of the output gradient for the bias. Called by nn.Conv2d and by QAT's
 * fused conv-bn modules.
 *
 *   y[n, o, i, j] = b[o] + Σ_{c, ky, kx} w[o, c, ky, kx] · x[n, g·I + c, i·sh − ph + ky·dh, j·sw − pw + kx·dw]
 *   OH = ⌊(H + 2·ph − dh·(KH − 1) − 1) / sh⌋ + 1   (same for OW)
 */
import { kernels } from "../backend/index.js";
import type { Conv2dGeom, Epilogue } from "../backend/kernels.js";
import type { FloatArray } from "../tensor/dtype.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import type { Tensor } from "../tensor/tensor.js";
import { fusedActGrad, type FusedAct, epilogueOf } from "./fused-act.js";
import { pad, reshape } from "./layout.js";
import { empty, pair, requireFloat, uninit } from "./util.js";

export type IntPair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: IntPair;
  /** Zero padding per side; "valid" = 0; "same" keeps H×W (stride 1 only, extra pad goes right/bottom as PyTorch). */
  padding?: IntPair | "same" | "valid";
  dilation?: IntPair;
  groups?: number;
}

/** 2-D convolution with autograd for input, weight and bias. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  return conv2dAct(x, weight, bias, opts, null);
}

/**
 * conv2d followed by an activation, as one kernel call (the bias and the activation run in
 * the convolution's fused epilogue): the same values and gradients as `relu(conv2d(…))` or
 * `hardtanh(conv2d(…), min, max)`, bit for bit. Not a public op (graph capture never sees
 * it): used by QAT's fused conv(-bn)-relu modules.
 */
export function conv2dAct(x: Tensor, weight: Tensor, bias: Tensor | null | undefined, opts: Conv2dOptions, act: FusedAct | null): Tensor {
  requireFloat(x, "conv2d", "input");
  requireFloat(weight, "conv2d", "weight");
  if (x.ndim === 3) {
    const y = conv2dAct(reshape(x, [1, ...x.shape]), weight, bias, opts, act);
    return reshape(y, y.shape.slice(1));
  }
  if (x.ndim !== 4) throw new ShapeError(`conv2d: input must be 4-D [N, C, H, W] (or 3-D [C, H, W]), got ${fmtShape(x.shape)}`);
  const stride = pair(opts.stride ?? 1, "stride", "conv2d");
  const dilation = pair(opts.dilation ?? 1, "dilation", "conv2d");
  if (opts.padding === "same") return convSame(x, weight, bias ?? null, stride, dilation, opts.groups ?? 1, act);
  const padding = opts.padding === "valid" ? [0, 0] : pair(opts.padding ?? 0, "padding", "conv2d", 0);
  const g = convGeom(x, weight, bias ?? null, stride, padding, dilation, opts.groups ?? 1);
  return convRaw(x, weight, bias ?? null, g, act);
}

/** "same" padding: total dilation·(k − 1) per axis, ⌊total/2⌋ on the left, the rest on the right. */
function convSame(x: Tensor, weight: Tensor, bias: Tensor | null, stride: number[], dilation: number[], groups: number, act: FusedAct | null): Tensor {
  if (stride[0] !== 1 || stride[1] !== 1) {
    throw new ValueError(`conv2d: padding "same" needs stride 1, got stride [${stride.join(", ")}] (input ${fmtShape(x.shape)})`);
  }
  if (weight.ndim !== 4) throw new ShapeError(`conv2d: weight must be 4-D [OC, C/groups, KH, KW], got ${fmtShape(weight.shape)}`);
  const totalH = dilation[0] * (weight.shape[2] - 1);
  const totalW = dilation[1] * (weight.shape[3] - 1);
  const left = [Math.floor(totalH / 2), Math.floor(totalW / 2)];
  const extraH = totalH - 2 * left[0];
  const extraW = totalW - 2 * left[1];
  const input = extraH || extraW ? pad(x, [0, extraW, 0, extraH]) : x;
  const g = convGeom(input, weight, bias, stride, left, dilation, groups);
  return convRaw(input, weight, bias, g, act);
}

/** Validates shapes and options and returns the kernel geometry. */
function convGeom(x: Tensor, weight: Tensor, bias: Tensor | null, stride: number[], padding: number[], dilation: number[], groups: number): Conv2dGeom {
  const shapes = `input ${fmtShape(x.shape)}, weight ${fmtShape(weight.shape)}`;
  if (weight.ndim !== 4) throw new ShapeError(`conv2d: weight must be 4-D [OC, C/groups, KH, KW], got ${fmtShape(weight.shape)}`);
  if (x.dtype !== weight.dtype) throw new DTypeError(`conv2d: input is ${x.dtype} but weight is ${weight.dtype}`);
  if (!Number.isInteger(groups) || groups < 1) throw new ValueError(`conv2d: groups must be an integer ≥ 1, got ${groups}`);
  const [n, c, h, w] = x.shape;
  const [oc, icg, kh, kw] = weight.shape;
  if (c % groups !== 0) throw new ValueError(`conv2d: input channels ${c} are not divisible by groups ${groups} (${shapes})`);
  if (oc % groups !== 0) throw new ValueError(`conv2d: output channels ${oc} are not divisible by groups ${groups} (${shapes})`);
  if (icg !== c / groups) {
    throw new ShapeError(`conv2d: weight expects ${icg} channels per group, input has ${c} channels / ${groups} groups = ${c / groups} (${shapes})`);
  }
  if (kh < 1 || kw < 1) throw new ShapeError(`conv2d: empty kernel (${shapes})`);
  if (bias) {
    if (bias.ndim !== 1 || bias.shape[0] !== oc) throw new ShapeError(`conv2d: bias must be [${oc}], got ${fmtShape(bias.shape)} (${shapes})`);
    if (bias.dtype !== x.dtype) throw new DTypeError(`conv2d: bias is ${bias.dtype} but input is ${x.dtype}`);
  }
  const oh = Math.floor((h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0]) + 1;
  const ow = Math.floor((w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1]) + 1;
  if (oh < 1 || ow < 1) {
    throw new ShapeError(
      `conv2d: output size ${oh}×${ow} is too small (${shapes}, padding [${padding.join(", ")}], dilation [${dilation.join(", ")}], stride [${stride.join(", ")}])`,
    );
  }
  return {
    n, c, h, w, oc, kh, kw, oh, ow,
    strideH: stride[0], strideW: stride[1], padH: padding[0], padW: padding[1],
    dilationH: dilation[0], dilationW: dilation[1], groups,
  };
}

/** Runs the kernels for validated operands (bias and activation in the fused epilogue) and records the vjp. */
function convRaw(x: Tensor, weight: Tensor, bias: Tensor | null, g: Conv2dGeom, act: FusedAct | null): Tensor {
  const out = uninit([g.n, g.oc, g.oh, g.ow], x.dtype);
  const epi: Epilogue | null = epilogueOf(bias, act);
  kernels().conv2d(x.data as FloatArray, weight.data as FloatArray, out.data as FloatArray, g, epi);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(out, act ? `conv2d+${act.kind}` : "conv2d", inputs, (gOut) => {
    // through the activation first: exactly the unfused relu / hardtanh vjp, read from the output
    const gy = act ? fusedActGrad(gOut, out, act) : gOut;
    const dy = gy.data as FloatArray;
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = uninit(x.shape, x.dtype);
      kernels().conv2dBackwardInput(dy, weight.data as FloatArray, dx.data as FloatArray, g);
    }
    if (weight.requiresGrad) {
      dw = uninit(weight.shape, weight.dtype);
      kernels().conv2dBackwardWeight(x.data as FloatArray, dy, dw.data as FloatArray, g);
    }
    if (bias && bias.requiresGrad) db = biasGrad(dy, g, bias);
    return [dx, dw, db];
  });
}

/** dL/dbias[c] = Σ_{n, pixels} dy: the per-channel affine backward's bias sum. */
function biasGrad(dy: FloatArray, g: Conv2dGeom, bias: Tensor): Tensor {
  const db = empty(bias.shape, bias.dtype);
  kernels().channelAffineBackward(dy, dy, unitScale(g.oc, dy), null, null, db.data as FloatArray, g.n, g.oc, g.oh * g.ow);
  return db;
}

/** A scale vector of ones matching `like`'s float dtype. */
function unitScale(c: number, like: FloatArray): FloatArray {
  return like instanceof Float32Array ? new Float32Array(c).fill(1) : new Float64Array(c).fill(1);
}
