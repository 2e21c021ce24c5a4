/**
 * Generic (functional) ONNX convolution and pooling kernels, for what the standard layers
 * (layer-builders.ts: Conv2d, MaxPool2d, AvgPool2d) cannot express: a weight or bias computed at
 * run time (gradients reach both inputs), 1-D kernels (run as 2-D with height 1), asymmetric
 * pads, every auto_pad mode with any stride, pads larger than half a pooling kernel, and
 * ConvTranspose (zero-insertion by the stride, then a stride-1 convolution with the
 * group-transposed, spatially flipped weight, cropped by the pads), and MaxPool's Indices
 * output. Also InstanceNormalization, and BatchNormalization with training_mode = 1.
 * All are compositions of differentiable ops, so imported models train. 1-D to 3-D: volumes
 * run through onnx-ops-conv3d.ts (MaxPool's Indices output is 1-D / 2-D only).
 * Registered in onnx-ops.ts (GENERIC_OPS).
 */
import { FormatError, NotSupportedError, ShapeError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { isFloatDType } from "../tensor/dtype.js";
import { ones } from "../tensor/creation.js";
import { add, div, mul, sub } from "../ops/binary.js";
import { conv2d } from "../ops/conv.js";
import { cast, concat, pad, permute, reshape, slice } from "../ops/layout.js";
import { avgPool2d, maxPool2d, maxPool2dWithIndices } from "../ops/pool.js";
import { mean } from "../ops/reduce.js";
import { sqrt } from "../ops/unary.js";
import { type Compiler, type Kernel, type OpContext, get, need, opt } from "./onnx-ops-util.js";
import { conv3d, pool3d } from "./onnx-ops-conv3d.js";

/** Per spatial axis (1 or 2 of them): pads before and after. */
interface Pads {
  begin: number[];
  end: number[];
}

function listAttr(c: OpContext, name: string, n: number, dflt: number, min: number): number[] {
  const v = c.attrs.ints(name, new Array<number>(n).fill(dflt));
  if (v.length !== n || v.some((x) => x < min || x > 65536)) throw new FormatError(`${c.where}: ${name} must be ${n} integers in [${min}, 65536], got [${v.join(", ")}]`);
  return v;
}

/** Spatial rank of an input: 1 or 2, or 3 where the caller handles volumes. */
function spatialRank(c: OpContext, x: Tensor, allow3d = false): number {
  const r = x.ndim - 2;
  if (r === 1 || r === 2 || (r === 3 && allow3d)) return r;
  if (r === 3) throw new NotSupportedError(`${c.where}: the Indices output of a 3-D ${c.opType} (input ${fmtShape(x.shape)}) is not supported`);
  throw new ShapeError(`${c.where}: ${c.opType} needs an [N, C, L], [N, C, H, W]${allow3d ? " or [N, C, D, H, W]" : ""} input, got ${fmtShape(x.shape)}`);
}

/** ONNX pads for Conv / pooling: explicit, VALID, or SAME_UPPER / SAME_LOWER (output ⌈in / s⌉). */
function padsOf(c: OpContext, size: readonly number[], eff: readonly number[], stride: readonly number[]): Pads {
  const n = size.length;
  const autoPad = c.attrs.string("auto_pad", "NOTSET");
  if (autoPad === "VALID") return { begin: new Array<number>(n).fill(0), end: new Array<number>(n).fill(0) };
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const total = size.map((s, i) => Math.max(0, (Math.ceil(s / stride[i]) - 1) * stride[i] + eff[i] - s));
    const small = total.map((t) => Math.floor(t / 2));
    const big = total.map((t, i) => t - small[i]);
    return autoPad === "SAME_UPPER" ? { begin: small, end: big } : { begin: big, end: small };
  }
  if (autoPad !== "NOTSET") throw new FormatError(`${c.where}: unknown auto_pad '${autoPad}'`);
  const p = c.attrs.ints("pads", new Array<number>(2 * n).fill(0));
  if (p.length !== 2 * n || p.some((v) => v < 0 || v > 65536)) throw new FormatError(`${c.where}: pads must be ${2 * n} integers in [0, 65536], got [${p.join(", ")}]`);
  return { begin: p.slice(0, n), end: p.slice(n) };
}

/** [N, C, L] → [N, C, 1, L]; 2-D unchanged. */
const to2d = (x: Tensor, rank: number): Tensor => (rank === 1 ? reshape(x, [x.shape[0], x.shape[1], 1, x.shape[2]]) : x);
const from2d = (y: Tensor, rank: number): Tensor => (rank === 1 ? reshape(y, [y.shape[0], y.shape[1], y.shape[3]]) : y);
/** A per-axis list for 2-D kernels: 1-D lists get a leading 1 (or `lead`). */
const pair2 = (v: readonly number[], lead = 1): [number, number] => (v.length === 1 ? [lead, v[0]] : [v[0], v[1]]);

/** Constant padding of the last two axes, ONNX order [top, left] / [bottom, right]. */
function pad2d(x: Tensor, begin: [number, number], end: [number, number], value: number): Tensor {
  if (begin.every((p) => p === 0) && end.every((p) => p === 0)) return x;
  return pad(x, [begin[1], end[1], begin[0], end[0]], value);
}

function conv(c: OpContext): Kernel {
  need(c, 2, 3);
  const group = c.attrs.int("group", 1);
  return (i) => {
    const [x, w, b] = [get(i, 0), get(i, 1), opt(i, 2)];
    const rank = spatialRank(c, x, true);
    if (w.ndim !== rank + 2) throw new ShapeError(`${c.where}: weight ${fmtShape(w.shape)} does not match input ${fmtShape(x.shape)}`);
    if (group < 1 || w.shape[0] % group !== 0 || x.shape[1] !== w.shape[1] * group) throw new ShapeError(`${c.where}: group ${group} does not fit input ${fmtShape(x.shape)} and weight ${fmtShape(w.shape)}`);
    const k = w.shape.slice(2);
    const declared = c.attrs.ints("kernel_shape");
    if (declared && (declared.length !== rank || declared.some((d, a) => d !== k[a]))) throw new FormatError(`${c.where}: kernel_shape [${declared.join(", ")}] does not match weight ${fmtShape(w.shape)}`);
    const stride = listAttr(c, "strides", rank, 1, 1);
    const dil = listAttr(c, "dilations", rank, 1, 1);
    const p = padsOf(c, x.shape.slice(2), k.map((kk, a) => dil[a] * (kk - 1) + 1), stride);
    if (rank === 3) return conv3d(x, w, b, p.begin, p.end, stride, dil, group);
    const x2 = pad2d(to2d(x, rank), pair2(p.begin, 0), pair2(p.end, 0), 0);
    const w2 = rank === 1 ? reshape(w, [w.shape[0], w.shape[1], 1, w.shape[2]]) : w;
    return from2d(conv2d(x2, w2, b, { stride: pair2(stride), dilation: pair2(dil), groups: group }), rank);
  };
}

/** x with s − 1 zeros inserted between neighbours along axis `axis`. */
function insertZeros(x: Tensor, axis: number, s: number): Tensor {
  if (s === 1) return x;
  const shape = x.shape;
  const n = shape[axis];
  const split = [...shape.slice(0, axis + 1), 1, ...shape.slice(axis + 1)];
  const torchPads = new Array<number>(2 * (split.length - axis - 1)).fill(0);
  torchPads[torchPads.length - 1] = s - 1;
  const grown = pad(reshape(x, split), torchPads);
  const merged = reshape(grown, [...shape.slice(0, axis), n * s, ...shape.slice(axis + 1)]);
  return slice(merged, axis, 0, n * s - (s - 1));
}

/** The tensor reversed along `axis`. */
function flip(x: Tensor, axis: number): Tensor {
  const n = x.shape[axis];
  if (n === 1) return x;
  return concat(Array.from({ length: n }, (_, k) => slice(x, axis, n - 1 - k, n - k)), axis);
}

function convTranspose(c: OpContext): Kernel {
  need(c, 2, 3);
  const group = c.attrs.int("group", 1);
  return (i) => {
    const [x, w, b] = [get(i, 0), get(i, 1), opt(i, 2)];
    const rank = spatialRank(c, x, true);
    if (w.ndim !== rank + 2 || group < 1 || w.shape[0] !== x.shape[1] || x.shape[1] % group !== 0) {
      throw new ShapeError(`${c.where}: weight ${fmtShape(w.shape)} (group ${group}) does not match input ${fmtShape(x.shape)}`);
    }
    const k = w.shape.slice(2);
    const size = x.shape.slice(2);
    const stride = listAttr(c, "strides", rank, 1, 1);
    const dil = listAttr(c, "dilations", rank, 1, 1);
    const outPad = listAttr(c, "output_padding", rank, 0, 0);
    const eff = k.map((kk, a) => dil[a] * (kk - 1) + 1);
    const full = size.map((s, a) => stride[a] * (s - 1) + eff[a]);
    const p = transposePads(c, size, full, outPad, stride, rank);
    const outLen = full.map((f, a) => f + outPad[a] - p.begin[a] - p.end[a]);
    if (outLen.some((l) => l < 1)) throw new ShapeError(`${c.where}: output size [${outLen.join(", ")}] is empty`);
    // 1-D runs as 2-D with height 1: every per-axis list gets a leading entry.
    const lift = (v: readonly number[], lead: number) => (rank === 1 ? [lead, ...v] : [...v]);
    const [st, dl, begin, len] = [lift(stride, 1), lift(dil, 1), lift(p.begin, 0), lift(outLen, 1)];
    // The equivalent stride-1 convolution: weight [G·Og, Cg, k…], flipped in space.
    const [cin, og] = [w.shape[0], w.shape[1]];
    const cg = cin / group;
    const ks = lift(k, 1);
    const axes = ks.map((_, a) => a + 2);
    let w2 = reshape(w, [group, cg, og, ...ks]);
    w2 = reshape(permute(w2, [0, 2, 1, ...axes.map((a) => a + 1)]), [group * og, cg, ...ks]);
    for (const a of axes) w2 = flip(w2, a);
    let xz = rank === 1 ? to2d(x, 1) : x;
    for (const a of axes) xz = insertZeros(xz, a, st[a - 2]);
    const reach = ks.map((kk, a) => dl[a] * (kk - 1));
    let y = ks.length === 3
      ? conv3d(xz, w2, null, reach, reach, [1, 1, 1], dl, group)
      : conv2d(xz, w2, null, { padding: [reach[0], reach[1]], dilation: [dl[0], dl[1]], groups: group });
    // y spans the full output [0, full) per axis; take [begin, begin + len), zeros past its end.
    for (const a of axes) {
      const [b0, l0] = [begin[a - 2], len[a - 2]];
      const short = b0 + l0 - y.shape[a];
      if (short > 0) {
        const torch = new Array<number>(2 * (y.ndim - a)).fill(0);
        torch[torch.length - 1] = short;
        y = pad(y, torch);
      }
      y = slice(y, a, b0, b0 + l0);
    }
    if (b) y = add(y, reshape(b, [1, b.size, ...axes.map(() => 1)]));
    return rank === 1 ? from2d(y, 1) : y;
  };
}

/** ConvTranspose pads: explicit, or from output_shape / auto_pad SAME (output = input · stride). */
function transposePads(c: OpContext, size: number[], full: number[], outPad: number[], stride: number[], rank: number): Pads {
  const autoPad = c.attrs.string("auto_pad", "NOTSET");
  const declared = c.attrs.ints("output_shape");
  if (declared === undefined && (autoPad === "NOTSET" || autoPad === "VALID")) {
    if (autoPad === "VALID") return { begin: new Array<number>(rank).fill(0), end: new Array<number>(rank).fill(0) };
    const p = c.attrs.ints("pads", new Array<number>(2 * rank).fill(0));
    if (p.length !== 2 * rank || p.some((v) => v < 0)) throw new FormatError(`${c.where}: pads must be ${2 * rank} non-negative integers, got [${p.join(", ")}]`);
    return { begin: p.slice(0, rank), end: p.slice(rank) };
  }
  if (autoPad !== "NOTSET" && autoPad !== "SAME_UPPER" && autoPad !== "SAME_LOWER") throw new FormatError(`${c.where}: unknown auto_pad '${autoPad}'`);
  const target = declared ? declared.slice(-rank) : size.map((s, a) => s * stride[a]);
  if (target.length !== rank) throw new FormatError(`${c.where}: output_shape [${declared!.join(", ")}] has the wrong rank`);
  // A negative total (output_shape past the full output) extends the end with zeros (bias only).
  const total = target.map((t, a) => full[a] + outPad[a] - t);
  const half = total.map((t) => Math.max(0, Math.floor(t / 2)));
  const rest = total.map((t, a) => t - half[a]);
  return autoPad === "SAME_UPPER" || total.some((t) => t < 0) ? { begin: half, end: rest } : { begin: rest, end: half };
}

/** Pooling output length (ONNX = PyTorch's rule: with ceil_mode the last window starts inside input + left pad). */
function poolLen(size: number, eff: number, s: number, pb: number, pe: number, ceilMode: boolean): number {
  const span = size + pb + pe - eff;
  let out = (ceilMode ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceilMode && (out - 1) * s >= size + pb) out--;
  return out;
}

const pool = (kind: "max" | "avg"): Compiler => (c) => {
  need(c, 1);
  const kernel = c.attrs.ints("kernel_shape");
  if (!kernel || kernel.length < 1 || kernel.some((v) => v < 1 || v > 65536)) throw new FormatError(`${c.where}: kernel_shape must be given as positive integers`);
  const columnMajor = kind === "max" && c.attrs.int("storage_order", 0) === 1;
  const ceilMode = c.attrs.int("ceil_mode", 0) === 1;
  const output = c.outputIndex ?? 0;
  if (output > (kind === "max" ? 1 : 0)) throw new FormatError(`${c.where}: ${c.opType} has no output ${output}`);
  const includePad = c.attrs.int("count_include_pad", 0) === 1;
  return (i) => {
    const x = get(i, 0);
    const rank = spatialRank(c, x, output === 0);
    if (kernel.length !== rank) throw new ShapeError(`${c.where}: kernel_shape [${kernel.join(", ")}] does not match input ${fmtShape(x.shape)}`);
    const stride = listAttr(c, "strides", rank, 1, 1);
    const dil = kind === "max" ? listAttr(c, "dilations", rank, 1, 1) : new Array<number>(rank).fill(1);
    if (kind === "avg" && c.attrs.has("dilations") && c.attrs.ints("dilations", []).some((d) => d !== 1)) throw new NotSupportedError(`${c.where}: dilated average pooling is not supported`);
    const size = x.shape.slice(2);
    const eff = kernel.map((k, a) => dil[a] * (k - 1) + 1);
    const p = padsOf(c, size, eff, stride);
    // Extra cells at the end so that a floor-mode pool over the padded input gives the ONNX length.
    const extra = size.map((s, a) => Math.max(0, (poolLen(s, eff[a], stride[a], p.begin[a], p.end[a], ceilMode) - 1) * stride[a] + eff[a] - (s + p.begin[a] + p.end[a])));
    if (rank === 3) return pool3d(x, kind, kernel, stride, dil, p.begin, p.end, extra, includePad);
    const [begin, end, more] = [pair2(p.begin, 0), pair2(p.end, 0), pair2(extra, 0)];
    const [k2, s2, d2] = [pair2(kernel), pair2(stride), pair2(dil)];
    const x4 = to2d(x, rank);
    if (kind === "max" && !isFloatDType(x4.dtype)) {
      // MaxPool of int8 / uint8 (opset 12): exact in float64, padding still never wins.
      const y = maxPool2d(pad2d(cast(x4, "float64"), begin, [end[0] + more[0], end[1] + more[1]], -Infinity), k2, { stride: s2, dilation: d2 });
      if (output === 1) throw new NotSupportedError(`${c.where}: the Indices output of an integer MaxPool is not supported`);
      return from2d(cast(y, x4.dtype), rank);
    }
    if (kind === "max") {
      const xp = pad2d(x4, begin, [end[0] + more[0], end[1] + more[1]], -Infinity);
      if (output === 1) return from2d(onnxIndices(maxPool2dWithIndices(xp, k2, { stride: s2, dilation: d2 }).indices, xp.shape, x4.shape, begin, columnMajor), rank);
      return from2d(maxPool2d(xp, k2, { stride: s2, dilation: d2 }), rank);
    }
    const allEnd: [number, number] = [end[0] + more[0], end[1] + more[1]];
    const sum = avgPool2d(pad2d(x4, begin, allEnd, 0), k2, { stride: s2 });
    const cells = ones([1, 1, x4.shape[2], x4.shape[3]], { dtype: x4.dtype });
    const counted = includePad ? pad2d(pad2d(cells, begin, end, 1), [0, 0], more, 0) : pad2d(cells, begin, allEnd, 0);
    return from2d(div(sum, avgPool2d(counted, k2, { stride: s2 })), rank);
  };
};

/**
 * MaxPool's Indices output: PyTorch-style per-plane argmax in the padded plane → ONNX's flat
 * index into the unpadded input: (n·C + c)·H·W + h·W + w, or + w·H + h with storage_order 1.
 */
function onnxIndices(arg: Tensor, padded: readonly number[], orig: readonly number[], begin: [number, number], columnMajor: boolean): Tensor {
  const [n, c, oh, ow] = arg.shape;
  const [wp, h, w] = [padded[3], orig[2], orig[3]];
  const out = new Int32Array(arg.size);
  for (let p = 0; p < n * c; p++) {
    for (let k = 0; k < oh * ow; k++) {
      const i = p * oh * ow + k;
      const a = arg.data[i];
      const [y, x] = [Math.floor(a / wp) - begin[0], (a % wp) - begin[1]];
      out[i] = p * h * w + (columnMajor ? x * h + y : y * w + x);
    }
  }
  return new Tensor(out, [n, c, oh, ow]);
}

/** InstanceNormalization: per (n, c) plane, (x − mean) / √(var + ε) · scale[c] + B[c]. */
function instanceNorm(c: OpContext): Kernel {
  need(c, 3);
  const eps = c.attrs.float("epsilon", 1e-5);
  return (i) => {
    const [x, scale, bias] = [get(i, 0), get(i, 1), get(i, 2)];
    if (x.ndim < 3 || scale.size !== x.shape[1] || bias.size !== x.shape[1]) throw new ShapeError(`${c.where}: input ${fmtShape(x.shape)}, scale ${fmtShape(scale.shape)} and B ${fmtShape(bias.shape)} do not fit`);
    const axes = Array.from({ length: x.ndim - 2 }, (_, k) => k + 2);
    const centred = sub(x, mean(x, axes, { keepdim: true }));
    const variance = mean(mul(centred, centred), axes, { keepdim: true });
    const bcast = [1, x.shape[1], ...axes.map(() => 1)];
    return add(mul(div(centred, sqrt(add(variance, eps))), reshape(scale, bcast)), reshape(bias, bcast));
  };
}

/**
 * BatchNormalization with training_mode = 1 (opset ≥ 14; the layer builder takes the other
 * nodes): Y normalised by the batch's own mean and biased variance over every axis but 1,
 * and the running statistics outputs, mean · momentum + batch mean · (1 − momentum) (the same
 * for var), as onnx's reference does.
 */
function batchNormTraining(c: OpContext): Kernel {
  need(c, 5);
  const eps = c.attrs.float("epsilon", 1e-5);
  const momentum = c.attrs.float("momentum", 0.9);
  const output = c.outputIndex ?? 0;
  if (output > 2) throw new FormatError(`${c.where}: BatchNormalization has no output ${output}`);
  return (i) => {
    const [x, scale, bias, runMean, runVar] = [0, 1, 2, 3, 4].map((k) => get(i, k));
    const ch = x.shape[1];
    if (x.ndim < 2 || [scale, bias, runMean, runVar].some((t) => t.size !== ch)) throw new ShapeError(`${c.where}: input ${fmtShape(x.shape)} and its [C] parameters do not fit`);
    const axes = [0, ...Array.from({ length: x.ndim - 2 }, (_, k) => k + 2)];
    const bcast = [1, ch, ...axes.slice(1).map(() => 1)];
    const mu = mean(x, axes, { keepdim: true });
    const centred = sub(x, mu);
    const variance = mean(mul(centred, centred), axes, { keepdim: true });
    if (output === 1) return add(mul(runMean, momentum), mul(reshape(mu, [ch]), 1 - momentum));
    if (output === 2) return add(mul(runVar, momentum), mul(reshape(variance, [ch]), 1 - momentum));
    return add(mul(div(centred, sqrt(add(variance, eps))), reshape(scale, bcast)), reshape(bias, bcast));
  };
}

export const CONV_OPS: Readonly<Record<string, Compiler>> = {
  Conv: conv, ConvTranspose: convTranspose, MaxPool: pool("max"), AveragePool: pool("avg"), InstanceNormalization: instanceNorm,
  BatchNormalization: (c) => {
    if (c.attrs.int("training_mode", 0) !== 1) throw new NotSupportedError(`${c.where}: BatchNormalization runs as a layer (a BatchNorm module) unless training_mode = 1`);
    return batchNormTraining(c);
  },
};

