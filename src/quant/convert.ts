/**
 * `convert(qatModel)` → Int8Model: the integer-only network that computes what the
 * fake-quant model promised (Jacob et al. 2018 §2; docs/NUMERICS.md).
 *
 * The QAT model is traced once (module-level, src/nn/trace.ts); walking the trace, every
 * tensor gets the quantization parameters of the quantizer that produced it (QuantStub,
 * a layer's output quantizer) or inherits its input's (MaxPool, Flatten, Identity, Dropout,
 * DeQuantStub). Per layer:
 *
 *   weights   w_q = round(w_fq / S_w) (+Z_w)    w_fq = the fake-quantized (folded) weight
 *   bias      b_q = round(b / (S_x·S_w[c]))     int32, zero point 0 (BN folded into b)
 *   multiplier M[c] = S_x·S_w[c] / S_y = M0·2^(shift−31)
 *   clamp     [q_min, q_max] of the output quantizer, narrowed by a fused ReLU/ReLU6
 *
 * Add/Concat get TFLite-style rescaling multipliers, standalone activations and average
 * pools a requantization. Anything without an integer equivalent (an unfused BatchNorm, a
 * module kept in float by a `null` qconfig) is reported by path, never skipped. Sigmoid becomes a
 * 256-entry table (lutTable), computed offline from the float op.
 * Called by user code, the CLI and the ONNX exporter.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { zeros } from "../tensor/creation.js";
import { isFloatDType } from "../tensor/dtype.js";
import { noGrad } from "../tensor/grad-mode.js";
import { Hardtanh, ReLU, Sigmoid } from "../nn/layers/activation.js";
import { Dropout } from "../nn/layers/dropout.js";
import { BatchNorm2d } from "../nn/layers/batchnorm.js";
import { Identity } from "../nn/layers/linear.js";
import { Add, Concat } from "../nn/layers/merge.js";
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from "../nn/layers/pooling.js";
import { Flatten } from "../nn/layers/shape.js";
import { cloneModule } from "../nn/clone.js";
import type { Module } from "../nn/module.js";
import type { TraceNode } from "../nn/trace.js";
import { type Arg, type Graph, type GraphNode, isRef, refsOf } from "../graph/graph.js";
import { GraphModule, resolveArgs } from "../graph/graph-module.js";
import { DataFlow } from "../graph/pattern.js";
import { OPS, type OpTarget } from "../ops/captured.js";
import type { Int8Graph, Int8Node, QParams, ValueInfo } from "../int8/graph.js";
import { type IslandFn, Int8Model, type Int8Tensors } from "../int8/model.js";
import { quantizeMultiplier } from "../int8/fixed-point.js";
import { roundHalfEven } from "../int8/kernels/quantize.js";
import { convRequant, lutTable, quantizeBias, qaddParams } from "../int8/kernels/params.js";
import { sigmoid } from "../ops/unary.js";
import { QatConv2d, QatConvBn2d, QatLinear, QatLinearBn1d, QatWeightLayer, type ActClamp } from "./qat-modules.js";
import { DeQuantStub, QatModel, outputQuantizerOf } from "./stubs.js";
import { disableObserver, freezeBnStats } from "./schedule.js";
import { type RangeWarning, lastRangeReport, rangeWarnings } from "./range-report.js";
import { SHARES_INPUT_QPARAMS, keepsInputGrid } from "./prepare.js";
import { functionalAct } from "./fuse.js";

export interface ConvertOptions {
  /** Optional: checked against the captured input shape (the graph was captured by prepare). */
  example?: Tensor;
  /** Fail (naming them) instead of leaving ops without an integer kernel as float islands. */
  strict?: boolean;
}

interface QuantizerLike {
  scale: Tensor;
  zero_point: Tensor;
  quantMin: number;
  quantMax: number;
}

/** Scales, zero points and range of a (learnable) fake-quantizer. */
export function quantizerParams(q: Module, where: string): { scales: number[]; zps: number[]; qmin: number; qmax: number } {
  const f = q as unknown as Partial<QuantizerLike>;
  if (!(f.scale instanceof Tensor) || !(f.zero_point instanceof Tensor) || typeof f.quantMin !== "number" || typeof f.quantMax !== "number") {
    throw new NotSupportedError(`convert: quantizer at '${where}' (${q.constructor.name}) exposes no scale/zero_point/quantMin/quantMax`);
  }
  const { quantMin: qmin, quantMax: qmax } = f as QuantizerLike;
  const scales = Array.from(f.scale.data, (s) => Math.abs(s));
  const zps = Array.from(f.zero_point.data, (z) => Math.min(qmax, Math.max(qmin, roundHalfEven(z))));
  if (scales.some((s) => !(s > 0) || !Number.isFinite(s))) throw new ValueError(`convert: quantizer at '${where}' has a non-positive scale; run calibration or training first`);
  return { scales, zps, qmin, qmax };
}

function activationQParams(q: Module, where: string): QParams {
  const p = quantizerParams(q, where);
  if (p.scales.length !== 1) throw new NotSupportedError(`convert: activation quantizer at '${where}' is per-channel; activations must be per-tensor`);
  const dtype = p.qmin >= 0 ? "uint8" : "int8";
  return { scale: Math.fround(p.scales[0]), zeroPoint: p.zps[0], dtype, qmin: p.qmin, qmax: p.qmax };
}

/** Output clamp: the quantizer range narrowed by a fused activation. */
function outputClamp(q: QParams, act: ActClamp | null): [number, number] {
  if (!act) return [q.qmin, q.qmax];
  const lo = Math.max(q.qmin, Math.min(q.qmax, q.zeroPoint + Math.round(act.min / q.scale)));
  const hi = act.max === Infinity ? q.qmax : Math.max(lo, Math.min(q.qmax, q.zeroPoint + Math.round(act.max / q.scale)));
  return [lo, hi];
}

const pairOf = (real: number): [number, number] => {
  const m = quantizeMultiplier(real);
  return [m.multiplier, m.shift];
};

/** Builds the graph while walking the trace. */
class GraphBuilder {
  readonly values = new Map<number, ValueInfo>();
  readonly nodes: Int8Node[] = [];
  readonly tensors: Int8Tensors = new Map();
  private count = 0;

  value(id: number, where: string): ValueInfo {
    const v = this.values.get(id);
    if (!v) throw new NotSupportedError(`convert: '${where}' consumes a tensor that is not quantized (is a module before it kept in float?)`);
    return v;
  }

  define(id: number, shape: readonly number[], q: QParams, source: string): ValueInfo {
    const v: ValueInfo = { id: `v${this.count++}`, shape: [-1, ...shape.slice(1)], q, source };
    this.values.set(id, v);
    return v;
  }

  alias(from: number, to: number): void {
    this.values.set(to, this.values.get(from)!);
  }
}

function addWeightLayer(b: GraphBuilder, n: TraceNode, m: QatWeightLayer): void {
  const x = b.value(n.inputs[0], n.path);
  const fq = outputQuantizerOf(m);
  if (!fq) throw new NotSupportedError(`convert: layer '${n.path}' has no output quantizer`);
  const y = b.define(n.output, n.outputShape, activationQParams(fq, `${n.path}.activation_post_process`), n.path);
  const wq = quantizerParams(m.weight_fake_quant, `${n.path}.weight_fake_quant`);
  const wf = noGrad(() => m.quantizedWeight());
  const oc = wf.shape[0];
  const per = wf.size / oc;
  const sw = wq.scales.length === 1 ? new Array<number>(oc).fill(wq.scales[0]) : wq.scales;
  const zw = wq.zps.length === 1 ? new Array<number>(oc).fill(wq.zps[0]) : wq.zps;
  const wInt = new Int8Array(wf.size);
  for (let c = 0; c < oc; c++) {
    for (let k = 0; k < per; k++) wInt[c * per + k] = Math.min(wq.qmax, Math.max(wq.qmin, roundHalfEven(wf.data[c * per + k] / sw[c]) + zw[c]));
  }
  const biasF = m instanceof QatConvBn2d || m instanceof QatLinearBn1d ? m.foldedBias() : m.bias ? m.bias.data : null;
  const key = n.path || "layer";
  b.tensors.set(`${key}.weight`, wInt);
  // Symmetric weights have zero points 0; PyTorch's fused observer gives a one-signed channel
  // an affine zero point (e.g. 127), which the kernels subtract while packing.
  const hasZp = zw.some((z) => z !== 0);
  if (hasZp) b.tensors.set(`${key}.weight_zero_point`, Int32Array.from(zw));
  if (biasF) b.tensors.set(`${key}.bias`, quantizeBias(biasF, x.q.scale, sw));
  const rq = convRequant(x.q.scale, sw, y.q.scale);
  b.tensors.set(`${key}.multiplier`, rq.multiplier);
  b.tensors.set(`${key}.shift`, rq.shift);
  const bits = Math.ceil(Math.log2(wq.qmax - wq.qmin + 1));
  const common = {
    name: n.path, inputs: [x.id], output: y.id, weight: `${key}.weight`, wShape: [...wf.shape], bias: biasF ? `${key}.bias` : null,
    requant: { multiplier: `${key}.multiplier`, shift: `${key}.shift` }, clamp: outputClamp(y.q, m.act), wScales: sw, weightBits: bits,
    ...(hasZp ? { wZeroPoints: `${key}.weight_zero_point` } : {}),
  };
  if (m instanceof QatConv2d || m instanceof QatConvBn2d) {
    const g = m.geometry;
    if (typeof g.padding === "string") throw new NotSupportedError(`convert: '${n.path}' uses padding='${g.padding}'; give explicit padding`);
    b.nodes.push({ ...common, op: "conv2d", stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups });
  } else if (m instanceof QatLinear || m instanceof QatLinearBn1d) {
    if (n.inputShapes[0].length !== 2) throw new NotSupportedError(`convert: linear '${n.path}' needs 2-D input, got rank ${n.inputShapes[0].length}`);
    b.nodes.push({ ...common, op: "linear" });
  }
}

function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

/** Converts one traced call; returns false if the module is not handled here. */
function addNode(b: GraphBuilder, n: TraceNode): void {
  const m = n.module;
  if (m instanceof QatWeightLayer) return addWeightLayer(b, n, m);
  if (m instanceof Identity || m instanceof Dropout || m instanceof DeQuantStub) return b.alias(n.inputs[0], n.output);
  const x = b.value(n.inputs[0], n.path);
  const fq = outputQuantizerOf(m);
  const own = () => b.define(n.output, n.outputShape, activationQParams(fq!, `${n.path}.activation_post_process`), n.path);
  if (m instanceof MaxPool2d) {
    const y = b.define(n.output, n.outputShape, x.q, n.path);
    b.nodes.push({ op: "maxpool2d", name: n.path, inputs: [x.id], output: y.id, kernel: pair(m.kernelSize), stride: pair(m.stride), padding: pair(m.padding), dilation: pair(m.dilation), ceilMode: m.ceilMode });
    return;
  }
  if (m instanceof Flatten) {
    if (m.endDim !== -1 && m.endDim !== n.inputShapes[0].length - 1) throw new NotSupportedError(`convert: Flatten '${n.path}' must flatten to the last dim`);
    const y = b.define(n.output, n.outputShape, x.q, n.path);
    b.nodes.push({ op: "flatten", name: n.path, inputs: [x.id], output: y.id, startDim: m.startDim });
    return;
  }
  if (!fq) throw new NotSupportedError(`convert: module '${n.path}' (${m.constructor.name}) has no integer implementation or output quantizer (kept in float, or not fused?)`);
  const y = own();
  if (m instanceof ReLU || m instanceof Hardtanh) {
    const act = m instanceof Hardtanh ? { min: m.minVal, max: m.maxVal } : { min: 0, max: Infinity };
    b.nodes.push({ op: "requantize", name: n.path, inputs: [x.id], output: y.id, multiplier: pairOf(x.q.scale / y.q.scale), clamp: outputClamp(y.q, act) });
  } else if (m instanceof BatchNorm2d) {
    addBatchNorm(b, n, m, x, y);
  } else if (m instanceof Sigmoid) {
    const key = `${n.path}.table`;
    const f = (xs: Float32Array) => noGrad(() => sigmoid(new Tensor(xs, [xs.length]))).data as Float32Array;
    const clamp: [number, number] = [y.q.qmin, y.q.qmax];
    b.tensors.set(key, lutTable(x.q, y.q, clamp, f));
    b.nodes.push({ op: "lut", name: n.path, inputs: [x.id], output: y.id, fn: "sigmoid", table: key, clamp });
  } else if (m instanceof Add) {
    const xb = b.value(n.inputs[1], n.path);
    const p = qaddParams(x.q.scale, xb.q.scale, y.q.scale);
    const mp = (q: { multiplier: number; shift: number }): [number, number] => [q.multiplier, q.shift];
    b.nodes.push({ op: "add", name: n.path, inputs: [x.id, xb.id], output: y.id, aMultiplier: mp(p.aMultiplier), bMultiplier: mp(p.bMultiplier), outMultiplier: mp(p.outMultiplier), leftShift: p.leftShift, clamp: [y.q.qmin, y.q.qmax] });
  } else if (m instanceof Concat) {
    const ins = n.inputs.map((id) => b.value(id, n.path));
    const axis = m.dim < 0 ? m.dim + n.outputShape.length : m.dim;
    b.nodes.push({ op: "concat", name: n.path, inputs: ins.map((v) => v.id), output: y.id, axis, multipliers: ins.map((v) => (v.q.scale === y.q.scale && v.q.zeroPoint === y.q.zeroPoint ? null : pairOf(v.q.scale / y.q.scale))) });
  } else if (m instanceof AdaptiveAvgPool2d && n.outputShape[2] === 1 && n.outputShape[3] === 1) {
    const hw = n.inputShapes[0][2] * n.inputShapes[0][3];
    b.nodes.push({ op: "globalavgpool", name: n.path, inputs: [x.id], output: y.id, multiplier: pairOf(x.q.scale / (y.q.scale * hw)), clamp: [y.q.qmin, y.q.qmax] });
  } else if (m instanceof AvgPool2d) {
    const mid = b.define(-n.output - 1, n.outputShape, x.q, `${n.path}#pooled`);
    b.nodes.push({ op: "avgpool2d", name: n.path, inputs: [x.id], output: mid.id, kernel: pair(m.kernelSize), stride: pair(m.stride), padding: pair(m.padding), ceilMode: m.ceilMode, countIncludePad: m.countIncludePad });
    b.nodes.push({ op: "requantize", name: `${n.path}.requant`, inputs: [mid.id], output: y.id, multiplier: pairOf(x.q.scale / y.q.scale), clamp: [y.q.qmin, y.q.qmax] });
  } else {
    throw new NotSupportedError(`convert: module '${n.path}' (${m.constructor.name}) has no integer implementation`);
  }
}

/**
 * A BatchNorm2d not fused into a conv (e.g. BN → ReLU → conv), with running statistics, is the
 * per-channel affine y = a_c·x + b_c, a_c = γ_c/√(σ²_c + ε), b_c = β_c − μ_c·a_c — emitted as a
 * depthwise 1×1 integer convolution: weight ±127 (0 when a_c = 0) with scale |a_c|/127, int32
 * bias b_c on the grid Sx·Sw_c, the usual requantization (PyTorch's quantized BatchNorm2d
 * computes the same affine map).
 */
function addBatchNorm(b: GraphBuilder, n: TraceNode, m: BatchNorm2d, x: ValueInfo, y: ValueInfo): void {
  if (!m.running_mean || !m.running_var) throw new NotSupportedError(`convert: BatchNorm2d '${n.path}' has no running statistics (track_running_stats=false)`);
  const c = m.numFeatures;
  const a = new Array<number>(c), bias = new Float64Array(c), scales = new Array<number>(c);
  const w = new Int8Array(c);
  for (let i = 0; i < c; i++) {
    a[i] = (m.weight ? m.weight.data[i] : 1) / Math.sqrt(m.running_var.data[i] + m.eps);
    bias[i] = (m.bias ? m.bias.data[i] : 0) - m.running_mean.data[i] * a[i];
    w[i] = a[i] > 0 ? 127 : a[i] < 0 ? -127 : 0;
    scales[i] = a[i] !== 0 ? Math.abs(a[i]) / 127 : 1;
  }
  const key = n.path || "batchnorm";
  const rq = convRequant(x.q.scale, scales, y.q.scale);
  b.tensors.set(`${key}.weight`, w);
  b.tensors.set(`${key}.bias`, quantizeBias(bias, x.q.scale, scales));
  b.tensors.set(`${key}.multiplier`, rq.multiplier);
  b.tensors.set(`${key}.shift`, rq.shift);
  b.nodes.push({
    op: "conv2d", name: n.path, inputs: [x.id], output: y.id, weight: `${key}.weight`, wShape: [c, 1, 1, 1], bias: `${key}.bias`,
    requant: { multiplier: `${key}.multiplier`, shift: `${key}.shift` }, clamp: [y.q.qmin, y.q.qmax], wScales: scales, weightBits: 8,
    stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: c,
  });
}

/** What convert did: integer nodes, float islands (with where they come from). */
export interface ConvertReport {
  islands: { name: string; fn: string; source: string; reason: string }[];
  /** Activation ranges dominated by a few outliers in the last calibration (range-report.ts), if any. */
  rangeWarnings: RangeWarning[];
}

/** The graph node list of a prepared model as convert walks it (one per op, quantizers folded in). */
interface Walk {
  gm: GraphModule;
  graph: Graph;
  flow: DataFlow;
  islands: Map<string, IslandFn>;
  report: ConvertReport;
  strict: boolean;
}

/** The node's path in the QAT model (as module paths were before graphs: "module.conv1", "module.add_1"). */
const pathOf = (n: GraphNode): string => `module.${n.kind === "call_module" ? n.target : n.name}`;

const isQuantizerNode = (gm: GraphModule, n: GraphNode): boolean => n.kind === "call_module" && /^activation_post_process(_\d+)?$/.test(n.target) && gm.getSubmodule(n.target) !== null;

/** The quantizer that sets `n`'s output parameters: attached to its module, or an inserted node reading it alone. */
function outputQuantizer(w: Walk, n: GraphNode): { fq: Module; where: string; node: GraphNode | null } | null {
  if (n.kind === "call_module") {
    const own = outputQuantizerOf(w.gm.getSubmodule(n.target));
    if (own) return { fq: own, where: `${pathOf(n)}.activation_post_process`, node: null };
  }
  const r = w.flow.soleReader(n) ?? w.flow.readersOf(n.outputs[0]).find((x) => isQuantizerNode(w.gm, x)) ?? null;
  if (r && isQuantizerNode(w.gm, r)) return { fq: w.gm.getSubmodule(r.target), where: r.target, node: r };
  return null;
}

function traceNodeOf(w: Walk, n: GraphNode): TraceNode {
  const ins = refsOf(n.args);
  return {
    path: pathOf(n), module: w.gm.getSubmodule(n.target), inputs: ins, output: n.outputs[0],
    inputShapes: ins.map((id) => w.graph.value(id).shape), outputShape: w.graph.value(n.outputs[0]).shape,
  };
}

/** A float island: dequantize inputs, run `fn`, quantize with the output quantizer. */
function addIsland(b: GraphBuilder, w: Walk, n: GraphNode, reason: string): void {
  const source = pathOf(n);
  const mod = n.kind === "call_module" ? w.gm.getSubmodule(n.target) : null;
  const opType = (mod as { opType?: unknown } | null)?.opType; // an imported ONNX op names itself
  const fn = mod ? (typeof opType === "string" ? opType : mod.typeName) : n.target;
  if (w.strict) throw new NotSupportedError(`convert (strict): '${source}' (${fn}) has no integer implementation: ${reason}`);
  const q = outputQuantizer(w, n);
  // ops that keep their input's parameters (reshape, slice, … without an integer kernel) quantize their output with them
  const shares = n.kind === "call_module" ? keepsInputGrid(w.gm.getSubmodule(n.target)) : SHARES_INPUT_QPARAMS.has(n.target);
  if (!q && !shares) throw new NotSupportedError(`convert: '${source}' (${fn}) runs in float but its output has no quantizer`);
  const { leaves: quantized, side } = islandClosure(b, w, n);
  const inputs = quantized.map((id) => b.value(id, source));
  if (!q && inputs.length === 0) throw new NotSupportedError(`convert: '${source}' (${fn}) reads no quantized value`);
  const y = b.define(n.outputs[0], w.graph.value(n.outputs[0]).shape, q ? activationQParams(q.fq, q.where) : inputs[0].q, source);
  const name = `${source}#float`;
  const node: Int8Node = { op: "float", name, inputs: inputs.map((v) => v.id), output: y.id, fn, source };
  const call = n.kind === "call_function" && side.length === 0 ? literalCall(n, quantized) : null;
  if (call) node.call = call;
  else w.islands.set(name, islandFunction(w, n, quantized, side));
  b.nodes.push(node);
  w.report.islands.push({ name, fn, source, reason });
  if (q?.node) b.alias(n.outputs[0], q.node.outputs[0]);
}

/** `{ op, args }` with `{ input: k }` for the k-th quantized input, or null if an argument is a float tensor. */
function literalCall(n: GraphNode, inputs: number[]): { op: string; args: unknown[] } | null {
  let ok = true;
  const args = mapArgs(n.args, (id) => {
    const k = inputs.indexOf(id);
    if (k < 0) ok = false;
    return { input: k };
  });
  return ok ? { op: n.target, args } : null;
}

/** The island's float computation in this process: the op or the module's own forward (no hooks). */
function islandFunction(w: Walk, n: GraphNode, inputs: number[], side: GraphNode[]): IslandFn {
  const env = new Map<number, Tensor>();
  for (const p of side) {
    if (p.kind !== "get_attr" && p.kind !== "constant") continue;
    w.gm.runNode(p, env);
    for (const id of p.outputs) env.set(id, noGrad(() => env.get(id)!.detach()));
  }
  const run = side.filter((p) => p.kind !== "get_attr" && p.kind !== "constant");
  const gm = w.gm;
  const fn: IslandFn = (xs) => {
    const local = new Map(env);
    inputs.forEach((id, k) => local.set(id, xs[k]));
    for (const p of run) gm.runNode(p, local); // run-time shape arithmetic (Shape → Gather → …) on the dequantized inputs
    if (n.kind === "call_function") return (OPS[n.target as OpTarget] as (...a: unknown[]) => Tensor)(...resolveArgs(n.args, local));
    const mod = gm.getSubmodule(n.target);
    const impl = (Object.getPrototypeOf(mod) as { forward: (...a: unknown[]) => Tensor }).forward;
    return impl.apply(mod, resolveArgs(n.args, local));
  };
  if (n.kind === "call_module") fn.module = gm.getSubmodule(n.target);
  return fn;
}

/**
 * What an island needs: the quantized values it reads (directly, or through integer-valued
 * shape arithmetic such as ONNX Shape → Gather → Mul feeding a Reshape), and the nodes of that
 * arithmetic and the constants, in graph order. A float value that is not quantized is an error.
 */
function islandClosure(b: GraphBuilder, w: Walk, n: GraphNode): { leaves: number[]; side: GraphNode[] } {
  const leaves: number[] = [];
  const side = new Set<GraphNode>();
  const visit = (id: number): void => {
    if (b.values.has(id)) {
      if (!leaves.includes(id)) leaves.push(id);
      return;
    }
    const p = w.graph.producer(id);
    const intValued = p !== null && p.outputs.every((o) => !isFloatDType(w.graph.value(o).dtype));
    if (!p || !(p.kind === "get_attr" || p.kind === "constant" || intValued)) {
      throw new NotSupportedError(`convert: '${pathOf(n)}' reads value %${id}, which is neither quantized, a constant, nor shape arithmetic on quantized values`);
    }
    if (side.has(p)) return;
    side.add(p);
    for (const r of refsOf(p.args)) visit(r);
  };
  for (const id of refsOf(n.args)) visit(id);
  return { leaves, side: w.graph.nodes.filter((x) => side.has(x)) };
}

function mapArgs(args: readonly Arg[], f: (id: number) => unknown): unknown[] {
  const walk = (a: Arg): unknown => {
    if (isRef(a)) return f(a.ref);
    if (Array.isArray(a)) return (a as Arg[]).map(walk);
    if (typeof a === "object" && a !== null) {
      if ("batchOf" in a) return -1;
      return Object.fromEntries(Object.entries(a).map(([k, x]) => [k, walk(x as Arg)]));
    }
    return a;
  };
  return args.map(walk);
}

/** Functional ops with an integer form; returns false to make the node a float island. */
function addFunction(b: GraphBuilder, w: Walk, n: GraphNode): string | null {
  const ins = refsOf(n.args);
  if (!ins.every((id) => b.values.has(id))) return "an input is a float tensor (parameter or constant)";
  const x = b.value(ins[0], pathOf(n));
  const out = n.outputs[0];
  const shape = w.graph.value(out).shape;
  const a = n.args;
  if (SHARES_INPUT_QPARAMS.has(n.target)) {
    if (n.target === "dropout") return b.alias(ins[0], out), null;
    if (["reshape", "flatten", "squeeze", "unsqueeze"].includes(n.target)) {
      if (shape[0] !== w.graph.value(ins[0]).shape[0]) return `${n.target} changes the batch dimension`;
      const y = b.define(out, shape, x.q, pathOf(n));
      b.nodes.push({ op: "reshape", name: pathOf(n), inputs: [x.id], output: y.id, shape: [-1, ...shape.slice(1)] });
      return null;
    }
    if (n.target === "permute" || n.target === "transpose") {
      const rank = w.graph.value(ins[0]).shape.length;
      const norm = (d: unknown) => ((d as number) < 0 ? (d as number) + rank : (d as number));
      const perm = n.target === "permute" ? (a[1] as number[]).map(norm) : swapPerm(rank, norm(a[1]), norm(a[2]));
      if (perm[0] !== 0) return `${n.target} moves the batch dimension`;
      const y = b.define(out, shape, x.q, pathOf(n));
      b.nodes.push({ op: "transpose", name: pathOf(n), inputs: [x.id], output: y.id, perm });
      return null;
    }
    if (n.target === "maxPool2d") {
      const o = (a[2] ?? {}) as { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number | [number, number]; ceilMode?: boolean };
      const k = pair(a[1] as number | [number, number]);
      const y = b.define(out, shape, x.q, pathOf(n));
      b.nodes.push({ op: "maxpool2d", name: pathOf(n), inputs: [x.id], output: y.id, kernel: k, stride: pair(o.stride ?? k), padding: pair(o.padding ?? 0), dilation: pair(o.dilation ?? 1), ceilMode: o.ceilMode ?? false });
      return null;
    }
    return `${n.target} has no integer kernel yet`;
  }
  const q = outputQuantizer(w, n);
  if (!q) return "its output has no quantizer";
  const y = b.define(out, shape, activationQParams(q.fq, q.where), pathOf(n));
  if (q.node) b.alias(out, q.node.outputs[0]);
  const relu = functionalAct(n);
  if (relu) {
    const act = relu instanceof Hardtanh ? { min: relu.minVal, max: relu.maxVal } : { min: 0, max: Infinity };
    b.nodes.push({ op: "requantize", name: pathOf(n), inputs: [x.id], output: y.id, multiplier: pairOf(x.q.scale / y.q.scale), clamp: outputClamp(y.q, act) });
    return null;
  }
  if (n.target === "add" && ins.length === 2 && sameShape(w, ins)) {
    const xb = b.value(ins[1], pathOf(n));
    const p = qaddParams(x.q.scale, xb.q.scale, y.q.scale);
    const mp = (v: { multiplier: number; shift: number }): [number, number] => [v.multiplier, v.shift];
    b.nodes.push({ op: "add", name: pathOf(n), inputs: [x.id, xb.id], output: y.id, aMultiplier: mp(p.aMultiplier), bMultiplier: mp(p.bMultiplier), outMultiplier: mp(p.outMultiplier), leftShift: p.leftShift, clamp: [y.q.qmin, y.q.qmax] });
    return null;
  }
  if (n.target === "concat") {
    const vs = ins.map((id) => b.value(id, pathOf(n)));
    const axis0 = (a[1] ?? 0) as number;
    const axis = axis0 < 0 ? axis0 + shape.length : axis0;
    b.nodes.push({ op: "concat", name: pathOf(n), inputs: vs.map((v) => v.id), output: y.id, axis, multipliers: vs.map((v) => (v.q.scale === y.q.scale && v.q.zeroPoint === y.q.zeroPoint ? null : pairOf(v.q.scale / y.q.scale))) });
    return null;
  }
  const gap = globalPoolOf(n, w.graph.value(ins[0]).shape, shape);
  if (gap) {
    // global average pooling written functionally: adaptiveAvgPool2d(x, 1) or x.mean([2, 3])
    const hw = gap.hw;
    const keep = shape.length === 4;
    const pooled = keep ? y : b.define(-1 - out, [shape[0], shape[1], 1, 1], y.q, `${pathOf(n)}#pooled`);
    b.nodes.push({ op: "globalavgpool", name: pathOf(n), inputs: [x.id], output: pooled.id, multiplier: pairOf(x.q.scale / (y.q.scale * hw)), clamp: [y.q.qmin, y.q.qmax] });
    if (!keep) b.nodes.push({ op: "reshape", name: `${pathOf(n)}.reshape`, inputs: [pooled.id], output: y.id, shape: [-1, shape[1]] });
    return null;
  }
  // not integer: undo the definition, the caller makes an island
  b.values.delete(out);
  if (q.node) b.values.delete(q.node.outputs[0]);
  return `${n.target} has no integer kernel`;
}

/** The permutation that swaps dims d0 and d1. */
function swapPerm(rank: number, d0: number, d1: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[d0], perm[d1]] = [perm[d1], perm[d0]];
  return perm;
}

/** A functional global average pool over H, W of a 4-D input: adaptiveAvgPool2d(x, 1), mean(x, [2, 3] | [-2, -1]). */
function globalPoolOf(n: GraphNode, inShape: readonly number[], outShape: readonly number[]): { hw: number } | null {
  if (inShape.length !== 4 || !(inShape[2] > 0 && inShape[3] > 0)) return null;
  const hw = inShape[2] * inShape[3];
  const [, a, o] = n.args;
  if (n.target === "adaptiveAvgPool2d" && (a === 1 || (Array.isArray(a) && a[0] === 1 && a[1] === 1))) return { hw };
  if (n.target === "mean" && Array.isArray(a) && a.length === 2) {
    const axes = (a as number[]).map((d) => (d < 0 ? d + 4 : d)).sort();
    const keepdim = (o as { keepdim?: boolean } | undefined)?.keepdim === true;
    if (axes[0] === 2 && axes[1] === 3 && outShape.length === (keepdim ? 4 : 2)) return { hw };
  }
  return null;
}

const sameShape = (w: Walk, ids: number[]): boolean => ids.every((id) => w.graph.value(id).shape.join() === w.graph.value(ids[0]).shape.join());

/** The integer-only model of a prepared (and trained or calibrated) QAT model. */
export function convert(model: QatModel, opts: ConvertOptions = {}): Int8Model {
  return convertWithReport(model, opts).model;
}

/**
 * convert, also returning the report (float islands with their reasons). Freezes the live
 * model first: observers off and BN statistics frozen (PyTorch's convert ends training), so
 * nothing a later forward does can change what convert or an export reads.
 */
export function convertWithReport(model: QatModel, opts: ConvertOptions = {}): { model: Int8Model; report: ConvertReport } {
  if (!(model instanceof QatModel)) throw new ValueError("convert: expected the model returned by quant.prepareQat");
  if (!(model.module instanceof GraphModule)) throw new ValueError("convert: the QAT model has no captured graph; prepare it with quant.prepareQat");
  disableObserver(model);
  freezeBnStats(model);
  const inGraph = (model.module as GraphModule).graph;
  const inShape = inGraph.value(inGraph.inputs[0]).shape;
  if (opts.example) checkExample(opts.example, inShape);
  // One forward with observers off: fused fake-quantizers (PyTorch's FusedMovingAvgObsFakeQuantize)
  // derive their scale from the observed range only when they run, so the live model's scale
  // buffers become the ones convert reads (and an export after more forwards reads the same).
  const wasTraining = model.training;
  model.eval();
  try {
    const rest = inGraph.inputs.slice(1).map((id) => zeros([1, ...inGraph.value(id).shape.slice(1)]));
    noGrad(() => model.forward(opts.example ?? zeros([1, ...inShape.slice(1)]), ...rest));
  } finally {
    model.train(wasTraining);
  }
  const m = cloneModule(model);
  const gm = m.module as GraphModule;
  const graph = gm.graph;
  const w: Walk = { gm, graph, flow: new DataFlow(graph), islands: new Map(), report: { islands: [], rangeWarnings: rangeWarnings(lastRangeReport(model) ?? []) }, strict: opts.strict ?? false };
  const b = new GraphBuilder();
  const input = b.define(graph.inputs[0], graph.value(graph.inputs[0]).shape, activationQParams(outputQuantizerOf(m.quant)!, "quant.activation_post_process"), "quant");
  const extraInputs = graph.inputs.slice(1).map((id, i) => {
    const where = `quant_${i + 1}`;
    return b.define(id, graph.value(id).shape, activationQParams(outputQuantizerOf(m.extraInputStubs[i])!, `${where}.activation_post_process`), where);
  });
  for (const n of graph.nodes) {
    if (n.kind === "get_attr" || n.kind === "constant" || (isQuantizerNode(gm, n) && b.values.has(n.outputs[0]))) continue;
    // integer-valued shape arithmetic runs inside the islands that read it (islandClosure)
    if (n.outputs.every((o) => !isFloatDType(graph.value(o).dtype))) continue;
    if (isQuantizerNode(gm, n)) {
      // a quantizer after a value no node defined yet (e.g. after a module called twice): requantize
      const x = b.value(refsOf(n.args)[0], pathOf(n));
      const y = b.define(n.outputs[0], graph.value(n.outputs[0]).shape, activationQParams(gm.getSubmodule(n.target), pathOf(n)), pathOf(n));
      b.nodes.push({ op: "requantize", name: pathOf(n), inputs: [x.id], output: y.id, multiplier: pairOf(x.q.scale / y.q.scale), clamp: [y.q.qmin, y.q.qmax] });
      continue;
    }
    const why = n.kind === "call_function" ? addFunction(b, w, n) : addModuleCall(b, w, n);
    if (why !== null) addIsland(b, w, n, why);
  }
  const out = b.value(graph.outputs[0], "model output");
  if (graph.outputs.length !== 1) throw new NotSupportedError(`convert: the model has ${graph.outputs.length} outputs; Int8Model returns one`);
  const int8Graph: Int8Graph = {
    input, output: out.id, ...(extraInputs.length ? { extraInputs } : {}),
    values: [...new Map([...b.values.values()].map((v) => [v.id, v])).values()],
    nodes: b.nodes,
    meta: { qconfig: model.description.qconfig, producer: "qat-ts convert", floatIslands: w.report.islands.map((i) => i.source) },
  };
  return { model: new Int8Model(int8Graph, b.tensors, w.islands), report: w.report };
}

/** A module call: its integer form, or the reason it becomes a float island. */
function addModuleCall(b: GraphBuilder, w: Walk, n: GraphNode): string | null {
  const t = traceNodeOf(w, n);
  if (!t.inputs.every((id) => b.values.has(id))) return "an input is a float tensor";
  const m = t.module;
  const q = outputQuantizerOf(m) ? null : outputQuantizer(w, n);
  if (q?.node && (m instanceof ReLU || m instanceof Hardtanh)) {
    // a module called more than once: its quantizer is a graph node after each call
    const x = b.value(t.inputs[0], n.target);
    const y = b.define(t.output, t.outputShape, activationQParams(q.fq, q.where), n.target);
    b.alias(t.output, q.node.outputs[0]);
    const act = m instanceof Hardtanh ? { min: m.minVal, max: m.maxVal } : { min: 0, max: Infinity };
    b.nodes.push({ op: "requantize", name: `${pathOf(n)}#${n.name}`, inputs: [x.id], output: y.id, multiplier: pairOf(x.q.scale / y.q.scale), clamp: outputClamp(y.q, act) });
    return null;
  }
  try {
    addNode(b, t);
    return null;
  } catch (e) {
    if (e instanceof NotSupportedError && /no integer implementation/.test(e.message)) return `${t.module.typeName} has no integer kernel`;
    throw e;
  }
}

function checkExample(x: Tensor, shape: readonly number[]): void {
  if (x.ndim !== shape.length || x.shape.some((d, i) => i > 0 && d !== shape[i])) {
    throw new ValueError(`convert: example of shape [${x.shape.join(", ")}] does not match the captured input [N, ${shape.slice(1).join(", ")}]`);
  }
}
