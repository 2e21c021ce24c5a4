/**
 * Int8Graph node builders of the quantized importer, shared by the QDQ patterns (a pending
 * float op meeting its QuantizeLinear) and the QOperator ops (QLinearConv, QGemm, …): the
 * parameters come out exactly as quant.convert computes them — convRequant for conv/linear,
 * int32 biases taken as stored when their scale is fround(Sx·Sw[c]) (else re-quantized with
 * quantizeBias), qaddParams, requantMultiplier, globalAvgPoolMultiplier (Max / Min and means:
 * quant-import-layout.ts), clamps from the
 * output range narrowed by a Relu / Clip — so an exported Int8Model imports bit-exact.
 * Also the ONNX attribute readers (Conv / pool geometry) and output-shape rules.
 * Called by quant-import-ops.ts and quant-import-qop.ts.
 */
import { NotSupportedError } from "../tensor/errors.js";
import { outputClamp } from "../quant/convert-layers.js";
import type { QParams, ValueInfo } from "../int8/graph.js";
import { convRequant, globalAvgPoolMultiplier, lutTable, qaddParams, quantizeBias, requantMultiplier } from "../int8/kernels/params.js";
import { Tensor } from "../tensor/tensor.js";
import { zeros } from "../tensor/creation.js";
import { noGrad } from "../tensor/grad-mode.js";
import { sigmoid } from "../ops/unary.js";
import type { IrNode } from "./graph.js";
import { maxMinNode, meanNode } from "./quant-import-layout.js";
import { type Act, type Bias, type Pending, type PoolGeometry, type FloatIsland, type QuantImporter, type WConst, where } from "./quant-import-state.js";

const pairOf = (m: { multiplier: number; shift: number }): [number, number] => [m.multiplier, m.shift];

/** The node clamp: the value's range narrowed by a float activation range (convert's rule). */
export function actClamp(q: QParams, act: Act | null): [number, number] {
  return outputClamp(q, act);
}

/** Per-channel list of length n from a vector or a scalar. */
function expand(v: number[], n: number, what: string, at: string): number[] {
  if (v.length === n) return v;
  if (v.length === 1) return new Array<number>(n).fill(v[0]);
  throw new NotSupportedError(`${at}: ${v.length} ${what} for ${n} output channels`);
}

/** Int32 bias on the grid Sx·Sw[c]: the stored integers when that is their scale, else re-quantized. */
function biasInts(b: Bias, xScale: number, wScales: number[], at: string): Int32Array {
  const n = wScales.length;
  if (b.kind === "float") {
    if (b.data.length !== n) throw new NotSupportedError(`${at}: ${b.data.length} biases for ${n} outputs`);
    return quantizeBias(b.data, xScale, wScales);
  }
  const { w } = b;
  if (w.data.length !== n) throw new NotSupportedError(`${at}: ${w.data.length} biases for ${n} outputs`);
  const scales = expand(w.scales, n, "bias scales", at);
  const zps = expand(w.zeroPoints, n, "bias zero points", at);
  const onGrid = scales.every((s, c) => zps[c] === 0 && Math.abs(s - Math.fround(Math.fround(xScale) * Math.fround(wScales[c]))) <= 1e-6 * s);
  if (onGrid && w.data instanceof Int32Array) return Int32Array.from(w.data);
  return quantizeBias(Array.from(w.data, (q, c) => scales[c] * (q - zps[c])), xScale, wScales);
}

interface WeightLayer {
  x: ValueInfo;
  w: WConst;
  b: Bias | null;
  name: string;
  shape: number[];
}

/**
 * Weight, bias, multiplier tensors of a conv / linear layer; returns the node fields they fill.
 * UINT8 weights (onnxruntime's U8U8 form, our weightType "uint8") become int8 q − 128 with zero
 * points Z − 128: the same real values, so our uint8 exports import to the Int8Model they came from.
 */
function weightTensors(imp: QuantImporter, l: WeightLayer, q: QParams, at: string) {
  const u8 = l.w.data instanceof Uint8Array;
  if (!(l.w.data instanceof Int8Array) && !u8) throw new NotSupportedError(`${at}: weights must be INT8 or UINT8`);
  const data = u8 ? Int8Array.from(l.w.data, (v) => v - 128) : (l.w.data as Int8Array);
  const oc = l.w.shape[0];
  if (l.w.scales.length > 1 && l.w.axis !== 0) throw new NotSupportedError(`${at}: per-axis weight scales must be on the output-channel axis`);
  const wScales = expand(l.w.scales, oc, "weight scales", at);
  const zps = expand(l.w.zeroPoints, oc, "weight zero points", at).map((z) => (u8 ? z - 128 : z));
  const bias = l.b ? imp.tensor(`${l.name}.bias`, biasInts(l.b, l.x.q.scale, wScales, at)) : null;
  const rq = convRequant(l.x.q.scale, wScales, q.scale);
  const hasZp = zps.some((z) => z !== 0);
  return {
    weight: imp.tensor(`${l.name}.weight`, data), wShape: [...l.w.shape], bias, wScales, weightBits: 8,
    requant: { multiplier: imp.tensor(`${l.name}.multiplier`, rq.multiplier), shift: imp.tensor(`${l.name}.shift`, rq.shift) },
    ...(hasZp ? { wZeroPoints: imp.tensor(`${l.name}.weight_zero_point`, Int32Array.from(zps)) } : {}),
  };
}

export function convNode(imp: QuantImporter, l: WeightLayer & { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number }, q: QParams, clamp: [number, number], at: string): ValueInfo {
  const y = imp.newValue(l.shape, q, l.name);
  const t = weightTensors(imp, l, q, at);
  imp.nodes.push({ op: "conv2d", name: imp.nodeName(l.name), inputs: [l.x.id], output: y.id, ...t, stride: l.stride, padding: l.padding, dilation: l.dilation, groups: l.groups, clamp });
  return y;
}

export function linearNode(imp: QuantImporter, l: WeightLayer, q: QParams, clamp: [number, number], at: string): ValueInfo {
  const y = imp.newValue(l.shape, q, l.name);
  imp.nodes.push({ op: "linear", name: imp.nodeName(l.name), inputs: [l.x.id], output: y.id, ...weightTensors(imp, l, q, at), clamp });
  return y;
}

export function addNode(imp: QuantImporter, a: ValueInfo, b: ValueInfo, q: QParams, clamp: [number, number], name: string): ValueInfo {
  const y = imp.newValue(a.shape, q, name);
  const p = qaddParams(a.q.scale, b.q.scale, q.scale);
  imp.nodes.push({
    op: "add", name: imp.nodeName(name), inputs: [a.id, b.id], output: y.id, aMultiplier: pairOf(p.aMultiplier), bMultiplier: pairOf(p.bMultiplier),
    outMultiplier: pairOf(p.outMultiplier), leftShift: p.leftShift, clamp,
  });
  return y;
}

/** An integer product of two quantized activations (matmul / elementwise mul), requantized by Sa·Sb/Sy. */
export function productNode(imp: QuantImporter, op: "matmul" | "mul", a: ValueInfo, b: ValueInfo, q: QParams, clamp: [number, number], name: string, shape: number[]): ValueInfo {
  const y = imp.newValue(shape, q, name);
  imp.nodes.push({ op, name: imp.nodeName(name), inputs: [a.id, b.id], output: y.id, multiplier: pairOf(requantMultiplier(a.q.scale * b.q.scale, q.scale)), clamp });
  return y;
}

/** NumPy broadcast of two shapes (−1 unknown), for product outputs. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[a.length - rank + i] ?? 1, y = b[b.length - rank + i] ?? 1;
    return x === 1 ? y : y === 1 ? x : x >= 0 ? x : y;
  });
}

/** Concat (clamped to the storage range by the kernel), then a requantize when the clamp is narrower. */
export function concatNode(imp: QuantImporter, inputs: ValueInfo[], axis: number, q: QParams, clamp: [number, number], name: string, shape: number[]): ValueInfo {
  const full: QParams = { ...q, ...rangeOf(q.dtype) };
  const y = imp.newValue(shape, full, name);
  const multipliers = inputs.map((v) => (v.q.scale === q.scale && v.q.zeroPoint === q.zeroPoint && v.q.dtype === q.dtype ? null : pairOf(requantMultiplier(v.q.scale, q.scale))));
  imp.nodes.push({ op: "concat", name: imp.nodeName(name), inputs: inputs.map((v) => v.id), output: y.id, axis, multipliers });
  return imp.requantize(y, q, clamp, `${name}.clamp`);
}

const rangeOf = (d: QParams["dtype"]) => (d === "uint8" ? { qmin: 0, qmax: 255 } : { qmin: -128, qmax: 127 });

/** Sigmoid as quant.convert builds it: a 256-entry table of the float op (lutTable). */
export function sigmoidNode(imp: QuantImporter, x: ValueInfo, q: QParams, clamp: [number, number], name: string): ValueInfo {
  const y = imp.newValue(x.shape, q, name);
  const f = (xs: Float32Array) => noGrad(() => sigmoid(new Tensor(xs, [xs.length]))).data as Float32Array;
  const table = imp.tensor(`${name}.table`, lutTable(x.q, q, clamp, f));
  imp.nodes.push({ op: "lut", name: imp.nodeName(name), inputs: [x.id], output: y.id, fn: "sigmoid", table, clamp });
  return y;
}

export function gapNode(imp: QuantImporter, x: ValueInfo, q: QParams, clamp: [number, number], name: string): ValueInfo {
  const hw = x.shape.length === 4 ? x.shape[2] * x.shape[3] : 0;
  if (!(hw > 0)) throw new NotSupportedError(`onnx import (quantized): global average pool '${name}' needs a 4-D input with static H, W`);
  const y = imp.newValue([x.shape[0], x.shape[1], 1, 1], q, name);
  imp.nodes.push({ op: "globalavgpool", name: imp.nodeName(name), inputs: [x.id], output: y.id, multiplier: pairOf(globalAvgPoolMultiplier(x.q.scale, q.scale, hw)), clamp });
  return y;
}

/** Average pool on x's grid, then a requantize to q when q differs (convert's avgpool2d + requantize). */
export function avgPoolNode(imp: QuantImporter, x: ValueInfo, pool: PoolGeometry, q: QParams, clamp: [number, number], name: string, shape: number[]): ValueInfo {
  const mid = imp.newValue(shape, x.q, `${name}#pooled`);
  imp.nodes.push({ op: "avgpool2d", name: imp.nodeName(name), inputs: [x.id], output: mid.id, kernel: pool.kernel, stride: pool.stride, padding: pool.padding, ceilMode: pool.ceilMode, countIncludePad: pool.countIncludePad });
  return imp.requantize(mid, q, clamp, `${name}.requant`);
}

export function maxPoolNode(imp: QuantImporter, x: ValueInfo, pool: PoolGeometry, name: string, shape: number[]): ValueInfo {
  const y = imp.newValue(shape, x.q, name);
  imp.nodes.push({ op: "maxpool2d", name: imp.nodeName(name), inputs: [x.id], output: y.id, kernel: pool.kernel, stride: pool.stride, padding: pool.padding, dilation: pool.dilation, ceilMode: pool.ceilMode });
  return y;
}

export function flattenNode(imp: QuantImporter, x: ValueInfo, startDim: number, name: string): ValueInfo {
  const shape = [...x.shape.slice(0, startDim), x.shape.slice(startDim).reduce((a, b) => a * b, 1)];
  const y = imp.newValue(shape, x.q, name);
  imp.nodes.push({ op: "flatten", name: imp.nodeName(name), inputs: [x.id], output: y.id, startDim });
  return y;
}

/** The int8 node(s) of a pending float op whose output QuantizeLinear gives q. */
export function materialize(imp: QuantImporter, p: Pending, act: Act | null, q: QParams, n: IrNode): ValueInfo {
  const clamp = actClamp(q, act);
  const at = where(n);
  switch (p.op) {
    case "conv":
      return convNode(imp, p, q, clamp, at);
    case "linear":
      return linearNode(imp, p, q, clamp, at);
    case "add":
      return addNode(imp, p.a, p.b, q, clamp, p.name);
    case "concat":
      return concatNode(imp, p.inputs, p.axis, q, clamp, p.name, p.shape);
    case "gap":
      return gapNode(imp, p.x, q, clamp, p.name);
    case "avgpool":
      return avgPoolNode(imp, p.x, p.pool, q, clamp, p.name, p.shape);
    case "identity":
      return imp.requantize(p.x, q, clamp, p.name);
    case "sigmoid":
      return sigmoidNode(imp, p.x, q, clamp, p.name);
    case "island":
      return islandNode(imp, p.island, q, clamp, p.name);
    case "matmul":
    case "mul":
      return productNode(imp, p.op, p.a, p.b, q, clamp, p.name, p.shape);
    case "maxmin":
      return maxMinNode(imp, p.kind, p.inputs, p.constant, q, clamp, p.name, p.shape);
    case "mean":
      return meanNode(imp, p.x, p.axes, p.keepdims, q, clamp, p.name, p.shape);
    case "scale": {
      const y = imp.newValue(p.x.shape, q, p.name);
      imp.nodes.push({ op: "requantize", name: imp.nodeName(p.name), inputs: [p.x.id], output: y.id, multiplier: pairOf(requantMultiplier(p.x.q.scale * p.factor, q.scale)), clamp, factor: p.factor });
      return y;
    }
  }
}

/** The quantized leaves of an island tree (each once, in first-use order). */
function islandLeaves(island: FloatIsland, out: ValueInfo[] = []): ValueInfo[] {
  for (const i of island.inputs) {
    if (i.kind === "dq" && !out.includes(i.v)) out.push(i.v);
    else if (i.kind === "island") islandLeaves(i.island, out);
  }
  return out;
}

/** Evaluates an island tree on the dequantized leaves. */
function evalIsland(island: FloatIsland, leaves: ValueInfo[], xs: Tensor[]): Tensor {
  const args = island.inputs.map((i) => (i.kind === "dq" ? xs[leaves.indexOf(i.v)] : i.kind === "island" ? evalIsland(i.island, leaves, xs) : i.t));
  return island.kernel(args);
}

/**
 * A float island (DQ → float ops → Q): an Int8Model "float" node that dequantizes its
 * inputs, runs the ONNX kernels in float and quantizes with q (clamped to `clamp`). Its output
 * shape is found by running it once on zeros of batch 1.
 */
export function islandNode(imp: QuantImporter, island: FloatIsland, q: QParams, clamp: [number, number], name: string): ValueInfo {
  const leaves = islandLeaves(island);
  if (leaves.length === 0) throw new NotSupportedError(`onnx import (quantized): float op '${name}' reads no quantized tensor`);
  const probe = noGrad(() => evalIsland(island, leaves, leaves.map((v) => zeros(v.shape.map((d) => (d < 0 ? 1 : d))))));
  const shape = [-1, ...probe.shape.slice(1)];
  const qv = { ...q, qmin: Math.max(q.qmin, clamp[0]), qmax: Math.min(q.qmax, clamp[1]) };
  const y = imp.newValue(shape, qv, name);
  const nodeName = imp.nodeName(`${name}#float`);
  imp.nodes.push({ op: "float", name: nodeName, inputs: leaves.map((v) => v.id), output: y.id, fn: island.opType, source: name });
  imp.islands.set(nodeName, (xs) => evalIsland(island, leaves, xs));
  return y;
}

/** Symmetric 2-D pads from ONNX [top, left, bottom, right]. */
function symmetricPads(n: IrNode): [number, number] {
  const autoPad = n.attrs.string("auto_pad", "NOTSET");
  if (autoPad !== "NOTSET" && autoPad !== "VALID") throw new NotSupportedError(`${where(n)}: auto_pad ${autoPad} is not supported; give explicit pads`);
  const pads = n.attrs.ints("pads", [0, 0, 0, 0]);
  if (pads.length !== 4 || pads[0] !== pads[2] || pads[1] !== pads[3]) throw new NotSupportedError(`${where(n)}: pads [${pads.join(", ")}] must be 2-D and symmetric`);
  return [pads[0], pads[1]];
}

function pair2(n: IrNode, name: string, dflt: number): [number, number] {
  const v = n.attrs.ints(name, [dflt, dflt]);
  if (v.length !== 2 || v.some((d) => d < 1)) throw new NotSupportedError(`${where(n)}: ${name} [${v.join(", ")}] must be two positive integers (2-D only)`);
  return [v[0], v[1]];
}

export function convGeometry(n: IrNode, wShape: readonly number[]) {
  const ks = n.attrs.ints("kernel_shape");
  if (wShape.length !== 4 || (ks && (ks[0] !== wShape[2] || ks[1] !== wShape[3]))) throw new NotSupportedError(`${where(n)}: only 2-D convolutions with kernel_shape matching the weight are supported`);
  return { stride: pair2(n, "strides", 1), padding: symmetricPads(n), dilation: pair2(n, "dilations", 1), groups: n.attrs.int("group", 1) };
}

export function poolGeometry(n: IrNode): PoolGeometry {
  const kernel = n.attrs.ints("kernel_shape");
  if (!kernel || kernel.length !== 2) throw new NotSupportedError(`${where(n)}: kernel_shape must be 2-D`);
  if (n.attrs.int("storage_order", 0) !== 0) throw new NotSupportedError(`${where(n)}: storage_order 1 is not supported`);
  return {
    kernel: [kernel[0], kernel[1]], stride: pair2(n, "strides", 1), padding: symmetricPads(n), dilation: pair2(n, "dilations", 1),
    ceilMode: n.attrs.int("ceil_mode", 0) === 1, countIncludePad: n.attrs.int("count_include_pad", 0) === 1,
  };
}

/** Output size of a window op along one dim (PyTorch's rule: with ceil_mode the last window starts inside). */
function outDim(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (o - 1) * s >= size + p) o--;
  return o;
}

/** [N, C, OH, OW] of a conv (C = outChannels) or pool (C = x's channels). */
export function windowShape(x: readonly number[], c: number, k: [number, number], g: { stride: [number, number]; padding: [number, number]; dilation: [number, number]; ceilMode?: boolean }, n: IrNode): number[] {
  if (x.length !== 4) throw new NotSupportedError(`${where(n)}: input must be 4-D (NCHW), got rank ${x.length}`);
  const oh = outDim(x[2], k[0], g.stride[0], g.padding[0], g.dilation[0], g.ceilMode ?? false);
  const ow = outDim(x[3], k[1], g.stride[1], g.padding[1], g.dilation[1], g.ceilMode ?? false);
  if (!(oh >= 1 && ow >= 1)) throw new NotSupportedError(`${where(n)}: the window does not fit the ${x[2]}×${x[3]} input`);
  return [x[0], c, oh, ow];
}
