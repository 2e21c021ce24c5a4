/**
 * Int8Model: an integer-only network. `run(float)` quantizes the input (the only float →
 * int step), executes every node with the integer kernels of ./kernels (int32 accumulation,
 * fixed-point requantization, clamps), and dequantizes the output (the only int → float
 * step); on the native backend a shape that ran once is compiled into one native call
 * (./plan.ts). `runQuantized` skips both ends. `encode()/decode()` give a compact file: a
 * safetensors container holding int8 weights, int32 biases and multipliers, with the graph
 * (./graph.ts) as JSON metadata. Built by quant.convert and the ONNX importer; saved and
 * loaded by ./fs.ts; inspected by the CLI.
 */
import { DTypeError, FormatError, NotSupportedError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { noGrad } from "../tensor/grad-mode.js";
import { Tensor } from "../tensor/tensor.js";
import { isFloatDType } from "../tensor/dtype.js";
import { decodeSafetensorsWithMetadata, encodeSafetensors } from "../nn/safetensors.js";
import { type Int8Graph, type Int8Node, type ValueInfo, nodeTensorKeys } from "./graph.js";
import { validateInt8Graph } from "./validate.js";
import type { QuantArray, QuantResult } from "./kernels/common.js";
import { qconv2d } from "./kernels/qconv2d.js";
import { qlinear } from "./kernels/qlinear.js";
import { qadd, qconcat, qlut, qrequantize } from "./kernels/elementwise.js";
import { qavgPool2d, qglobalAvgPool, qmaxPool2d } from "./kernels/pool.js";
import { dequantizeTensor, quantizeTensor } from "./kernels/quantize.js";
import { sliceQuant, transposeQuant } from "./kernels/layout.js";
import { qmatmul, qmul } from "./kernels/qmatmul.js";
import { runIntegerNode } from "./integer-nodes.js";
import { type IslandFn, islandFromCall, islandFromSteps } from "./islands.js";
import { dynamicLinear, linearNBits } from "./kernels/dynamic.js";
import { dynamicRnn } from "./kernels/dynamic-rnn.js";
import { runLayoutNode } from "./layout-nodes.js";
export type { IslandFn } from "./islands.js";
import { LayerCache, escapingValues } from "./layer-cache.js";
import { RunPlans } from "./plan.js";

const META_KEY = "qat_ts.int8";
const FORMAT_VERSION = 1;

export type Int8Tensors = Map<string, Int8Array | Int32Array>;

/** One row of inspect(). */
export interface LayerInfo {
  name: string;
  op: string;
  outputShape: number[];
  weightShape?: number[];
  weightBits?: number;
  weightScale?: { min: number; max: number; perChannel: boolean };
  outScale: number;
  outZeroPoint: number;
  outDType: string;
  /** Representable output range, e.g. [0, 15] for 4-bit activations. */
  outQMin: number;
  outQMax: number;
  /** Fixed-point multiplier M0 and shift of the first channel (conv/linear). */
  multiplier?: number;
  shift?: number;
}

const pairOf = (p: [number, number]) => ({ multiplier: p[0], shift: p[1] });

/** Throws a ShapeError unless `shape` fits value v's declared shape (-1 = any batch). */
function checkShape(shape: readonly number[], v: ValueInfo): void {
  const want = v.shape;
  const ok = shape.length === want.length && want.every((d, i) => d === -1 || d === shape[i]);
  if (!ok) throw new ShapeError(`Int8Model: input shape ${fmtShape(shape)} does not match the model's [N, ${want.slice(1).join(", ")}]`);
}

export class Int8Model {
  readonly graph: Int8Graph;
  readonly tensors: Int8Tensors;
  private readonly values = new Map<string, ValueInfo>();
  private readonly readers = new Map<string, number>();
  private readonly layers: LayerCache;
  private readonly islands = new Map<string, IslandFn>();
  /** Compiled native runs by input shape (./plan.ts), used by plain `run` calls. */
  private readonly plans: RunPlans;

  /**
   * `islands` gives the float computation of island nodes by node name (convert passes the
   * module islands); functional islands with a `call` are rebuilt from the graph.
   */
  constructor(graph: Int8Graph, tensors: Int8Tensors, islands?: ReadonlyMap<string, IslandFn>) {
    this.graph = graph;
    this.tensors = tensors;
    for (const n of graph.nodes) {
      // a table of an imported ONNX op keeps its module in this process, for the exporters
      if (n.op === "lut" && islands?.has(n.name)) this.islands.set(n.name, islands.get(n.name)!);
      else if (n.op === "lut" && n.call) this.islands.set(n.name, islandFromCall(n.name, n.call, tensors));
      if (n.op !== "float") continue;
      const fn = islands?.get(n.name) ?? (n.call ? islandFromCall(n.name, n.call, tensors) : n.steps ? islandFromSteps(n.name, n.steps, tensors) : null);
      if (fn) this.islands.set(n.name, fn);
    }
    for (const v of graph.values) this.values.set(v.id, v);
    this.validate();
    // How many nodes read each value (+1 for the model output): conv + pool fuse only when the pool is the sole reader.
    this.readers.set(graph.output, 1);
    for (const n of graph.nodes) for (const i of n.inputs) this.readers.set(i, (this.readers.get(i) ?? 0) + 1);
    this.layers = new LayerCache(tensors, (id) => this.value(id), this.readers, escapingValues(graph));
    this.plans = new RunPlans({ graph, tensors, value: (id) => this.value(id), readers: this.readers, layers: this.layers });
  }

  private validate(): void {
    const known = new Set<string>([this.graph.input.id, ...(this.graph.extraInputs ?? []).map((v) => v.id)]);
    for (const n of this.graph.nodes) {
      for (const i of n.inputs) if (!known.has(i)) throw new FormatError(`Int8Model: node '${n.name}' reads value '${i}' before it is produced`);
      if (!this.values.has(n.output)) throw new FormatError(`Int8Model: node '${n.name}' writes undeclared value '${n.output}'`);
      known.add(n.output);
      for (const key of nodeTensorKeys(n)) if (!this.tensors.has(key)) throw new FormatError(`Int8Model: node '${n.name}' needs missing tensor '${key}'`);
    }
    if (!known.has(this.graph.output)) throw new FormatError(`Int8Model: output '${this.graph.output}' is never produced`);
  }

  /** Quantization parameters of a value. */
  value(id: string): ValueInfo {
    const v = this.values.get(id);
    if (!v) throw new ValueError(`Int8Model: no value '${id}'`);
    return v;
  }

  /** Float input(s) [N, ...] → float output, integer arithmetic in between. */
  run(x: Tensor, ...more: Tensor[]): Tensor {
    const compiled = more.length === 0 ? this.plans.run(x) : null; // a shape that ran before, on the native backend: one call
    if (compiled) return compiled;
    const q = this.quantizeInput(x);
    const extra = this.inputs().slice(1);
    if (more.length !== extra.length) throw new ValueError(`Int8Model.run: the model takes ${extra.length + 1} input(s), got ${more.length + 1}`);
    const inputs = more.map((t, i) => this.quantizeAs(t, extra[i]));
    const { output } = this.runQuantized(q, { inputs });
    const out = this.value(this.graph.output);
    if (out.float) return new Tensor(output.data, output.shape); // a dynamic model ends in float
    const y = new Tensor(dequantizeTensor(output.data as QuantArray, out.q.scale, out.q.zeroPoint), output.shape);
    if (more.length === 0) this.plans.learn(x); // this shape ran without an error: compile it for the next runs
    return y;
  }

  /** Whether a plain `run` on an input of this shape takes a compiled native plan (./plan.ts). */
  compiledFor(shape: readonly number[]): boolean {
    return this.plans.has(shape);
  }

  /** The graph inputs in order (the first is `graph.input`). */
  inputs(): ValueInfo[] {
    return [this.graph.input, ...(this.graph.extraInputs ?? [])];
  }

  /** x quantized with value v's parameters; `what` names it in errors ("input", "input 'v3'"). */
  private quantizeAs(x: Tensor, v: ValueInfo, what = `input '${v.id}'`): Tensor {
    if (!(x instanceof Tensor)) throw new ValueError(`Int8Model.run: ${what === "input" ? "the input" : what} must be a Tensor, got ${x === null ? "null" : typeof x}`);
    if (v.int) {
      // token ids: passed through as int32
      if (x.dtype !== "int32") throw new DTypeError(`Int8Model.run: ${what} holds token ids and must be int32, got ${x.dtype}`);
      checkShape(x.shape, v);
      return new Tensor(Int32Array.from(x.data as Int32Array), x.shape);
    }
    if (!isFloatDType(x.dtype)) throw new DTypeError(`Int8Model.run: ${what} must be float32 or float64, got ${x.dtype}`);
    checkShape(x.shape, v);
    if (v.float) return new Tensor(Float32Array.from(x.data as Float32Array), x.shape); // a float input (dynamic models)
    return new Tensor(quantizeTensor(x.data as Float32Array | Float64Array, v.q.scale, v.q.zeroPoint, v.q.qmin, v.q.qmax, v.q.dtype), x.shape);
  }

  /** The quantized input tensor (uint8/int8) for a float input. */
  quantizeInput(x: Tensor): Tensor {
    return this.quantizeAs(x, this.graph.input, "input");
  }

  /**
   * Runs on an already quantized input; `collect` keeps every intermediate value. `teacher`
   * (value id → tensor) makes each node read those values instead of its own upstream
   * results — layer-by-layer parity checks against a reference model use it.
   */
  runQuantized(q: Tensor, opts: { collect?: boolean; teacher?: Map<string, QuantResult>; inputs?: Tensor[] } = {}): { output: Tensor; values?: Map<string, QuantResult> } {
    const want = this.graph.input.int ? "int32" : this.graph.input.float ? "float32" : this.graph.input.q.dtype;
    if (q.dtype !== want) throw new DTypeError(`Int8Model.runQuantized: input must be ${want}, got ${q.dtype}`);
    checkShape(q.shape, this.graph.input);
    const env = new Map<string, QuantResult>([[this.graph.input.id, { data: q.data as QuantArray, shape: [...q.shape] }]]);
    const extra = this.graph.extraInputs ?? [];
    if ((opts.inputs?.length ?? 0) !== extra.length) throw new ValueError(`Int8Model.runQuantized: the model takes ${extra.length} more input(s), got ${opts.inputs?.length ?? 0}`);
    extra.forEach((v, i) => {
      const t = opts.inputs![i];
      const dtype = v.int ? "int32" : v.float ? "float32" : v.q.dtype;
      if (t.dtype !== dtype) throw new DTypeError(`Int8Model.runQuantized: input '${v.id}' must be ${dtype}, got ${t.dtype}`);
      checkShape(t.shape, v);
      env.set(v.id, { data: t.data as QuantArray, shape: [...t.shape] });
    });
    const teacher = opts.teacher;
    const nodes = this.graph.nodes;
    this.layers.beginRun(!teacher && !opts.collect);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i];
      if (!teacher) {
        // conv → 2×2 max pool, add → requantize in one pass when nothing else reads the first output
        const fused = this.layers.fused(node, nodes[i + 1], env, !opts.collect);
        if (fused) {
          if (fused.pair) i++;
          env.set(nodes[i].output, fused.result);
          continue;
        }
        env.set(node.output, this.exec(node, env));
        continue;
      }
      const inputs = new Map(node.inputs.map((id) => [id, teacher.get(id) ?? env.get(id)!]));
      env.set(node.output, this.exec(node, inputs));
    }
    const out = env.get(this.graph.output)!;
    return { output: new Tensor(out.data, out.shape), values: opts.collect ? env : undefined };
  }

  private exec(node: Int8Node, env: Map<string, QuantResult>): QuantResult {
    const x0 = env.get(node.inputs[0])!;
    if (node.op === "linear" && x0.shape.length > 2) {
      // a linear layer on [..., K] (tokens of a transformer): the leading dims are rows
      const k = x0.shape[x0.shape.length - 1];
      const inner = new Map(env).set(node.inputs[0], { data: x0.data, shape: [x0.data.length / k, k] });
      const y = this.exec(node, inner);
      return { data: y.data, shape: [...x0.shape.slice(0, -1), node.wShape[0]] };
    }
    const x = x0;
    const xq = this.value(node.inputs[0]).q;
    const yq = this.value(node.output).q;
    const fast = this.layers.fastLayer(node, x, xq.zeroPoint, yq);
    if (fast) return fast;
    switch (node.op) {
      case "conv2d":
        return qconv2d({
          x: x.data, xZp: xq.zeroPoint, xShape: x.shape, w: this.layers.packedWeights(node), wShape: node.wShape,
          bias: this.layers.int32(node.bias), geometry: { stride: node.stride, padding: node.padding, dilation: node.dilation, groups: node.groups },
          requant: { multiplier: this.layers.int32(node.requant.multiplier)!, shift: this.layers.int32(node.requant.shift)! },
          yZp: yq.zeroPoint, clampMin: node.clamp[0], clampMax: node.clamp[1], outDType: yq.dtype,
        });
      case "linear":
        return qlinear({
          x: x.data, xZp: xq.zeroPoint, xShape: x.shape, w: this.layers.packedWeights(node), wShape: node.wShape, bias: this.layers.int32(node.bias),
          requant: { multiplier: this.layers.int32(node.requant.multiplier)!, shift: this.layers.int32(node.requant.shift)! },
          yZp: yq.zeroPoint, clampMin: node.clamp[0], clampMax: node.clamp[1], outDType: yq.dtype,
        });
      case "add": {
        const b = env.get(node.inputs[1])!;
        const r = qadd({
          a: x.data, aZp: xq.zeroPoint, b: b.data, bZp: this.value(node.inputs[1]).q.zeroPoint,
          aMultiplier: pairOf(node.aMultiplier), bMultiplier: pairOf(node.bMultiplier), outMultiplier: pairOf(node.outMultiplier),
          outZp: yq.zeroPoint, outDType: yq.dtype, leftShift: node.leftShift, clampMin: node.clamp[0], clampMax: node.clamp[1], shape: x.shape,
        });
        return { data: r.data, shape: [...x.shape] };
      }
      case "concat":
        return qconcat({
          inputs: node.inputs.map((id, i) => {
            const v = env.get(id)!;
            const m = node.multipliers[i];
            return { x: v.data, shape: v.shape, zp: this.value(id).q.zeroPoint, multiplier: m ? pairOf(m) : undefined };
          }),
          axis: node.axis, outZp: yq.zeroPoint, outDType: yq.dtype,
        });
      case "maxpool2d":
        return qmaxPool2d({ x: x.data, xShape: x.shape, kernelSize: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation, ceilMode: node.ceilMode });
      case "avgpool2d":
        return qavgPool2d({ x: x.data, xZp: xq.zeroPoint, xShape: x.shape, kernelSize: node.kernel, stride: node.stride, padding: node.padding, ceilMode: node.ceilMode, countIncludePad: node.countIncludePad });
      case "globalavgpool":
        return qglobalAvgPool({
          x: x.data, xZp: xq.zeroPoint, xShape: x.shape, multiplier: node.multiplier ? pairOf(node.multiplier) : undefined,
          yZp: yq.zeroPoint, outDType: yq.dtype, clampMin: node.clamp[0], clampMax: node.clamp[1],
        });
      case "requantize": {
        const r = qrequantize({ x: x.data, xZp: xq.zeroPoint, multiplier: pairOf(node.multiplier), yZp: yq.zeroPoint, outDType: yq.dtype, clampMin: node.clamp[0], clampMax: node.clamp[1], shape: x.shape });
        return { data: r.data, shape: [...x.shape] };
      }
      case "lut": {
        const table = this.layers.int32(node.table)!;
        return qlut({ x: x.data, table, outDType: yq.dtype, shape: x.shape });
      }
      case "reshape": {
        const shape = node.shape.map((d) => (d === -1 ? x.shape[0] : d));
        const known = shape.reduce((a, d) => (d === -2 ? a : a * d), 1);
        return { data: x.data, shape: shape.map((d) => (d === -2 ? x.data.length / known : d)) };
      }
      case "dynamic_linear":
        return dynamicLinear(node, x, this.tensors);
      case "linear_nbits":
        return linearNBits(node, x, this.tensors);
      case "dynamic_lstm":
      case "dynamic_gru":
        return dynamicRnn(node, x, this.tensors);
      case "float":
        return this.runIsland(node, env, yq);
      case "softmax_int":
      case "layernorm_int":
        return runIntegerNode(node, x, yq, this.tensors);
      case "transpose":
        return transposeQuant(x, node.perm);
      case "slice":
        return sliceQuant(x, node.axis, node.start, Math.min(node.end, x.shape[node.axis]), node.step);
      case "matmul":
      case "mul": {
        const b = env.get(node.inputs[1])!;
        const args = {
          a: x.data, aZp: xq.zeroPoint, aShape: x.shape, b: b.data, bZp: this.value(node.inputs[1]).q.zeroPoint, bShape: b.shape,
          multiplier: node.multiplier, yZp: yq.zeroPoint, outDType: yq.dtype, clampMin: node.clamp[0], clampMax: node.clamp[1],
        };
        return node.op === "matmul" ? qmatmul(args) : qmul(args);
      }
      case "maximum":
      case "minimum":
      case "mean":
      case "pad":
      case "expand":
      case "resize":
        return runLayoutNode(node, env, (id) => this.value(id), this.tensors);
      case "flatten": {
        const s = x.shape;
        return { data: x.data, shape: [...s.slice(0, node.startDim), s.slice(node.startDim).reduce((a, b) => a * b, 1)] };
      }
    }
  }

  /** Float islands by name, with the op or module each runs (for reports). */
  get floatIslands(): { name: string; fn: string; source: string; runnable: boolean }[] {
    return this.graph.nodes.flatMap((n) => (n.op === "float" ? [{ name: n.name, fn: n.fn, source: n.source, runnable: this.islands.has(n.name) }] : []));
  }

  /** The module a module island runs (for exporters), or null. */
  islandModule(name: string): unknown {
    return this.islands.get(name)?.module ?? null;
  }

  /** Dequantize the inputs, run the float op, quantize the output (round half to even, clamp). */
  private runIsland(node: Extract<Int8Node, { op: "float" }>, env: Map<string, QuantResult>, yq: ValueInfo["q"]): QuantResult {
    const fn = this.islands.get(node.name);
    if (!fn) {
      throw new NotSupportedError(`Int8Model: float island '${node.name}' (${node.fn} at '${node.source}') was converted from a module and cannot run from a file; export the model to ONNX, or run it in the process that converted it`);
    }
    const xs = node.inputs.map((id) => {
      const v = env.get(id)!;
      const q = this.value(id).q;
      if (this.value(id).float) return new Tensor(v.data as unknown as Float32Array, v.shape);
      if (this.value(id).int) return new Tensor(v.data as unknown as Int32Array, v.shape);
      return new Tensor(dequantizeTensor(v.data as QuantArray, q.scale, q.zeroPoint), v.shape);
    });
    const y = noGrad(() => fn(xs));
    // integer-valued shape arithmetic: passed on unquantized, as int32
    if (this.value(node.output).int) return { data: Int32Array.from(y.data as ArrayLike<number>) as unknown as QuantArray, shape: [...y.shape] };
    const yf = y.dtype === "float32" ? (y.data as Float32Array) : Float32Array.from(y.data as ArrayLike<number>);
    if (this.value(node.output).float) return { data: yf as unknown as QuantArray, shape: [...y.shape] };
    return { data: quantizeTensor(yf, yq.scale, yq.zeroPoint, yq.qmin, yq.qmax, yq.dtype), shape: [...y.shape] };
  }

  /** Per-layer summary: shapes, bits, scales, zero points, multipliers. */
  inspect(): LayerInfo[] {
    return this.graph.nodes.map((n) => {
      const out = this.value(n.output);
      const info: LayerInfo = { name: n.name, op: n.op, outputShape: out.shape, outScale: out.q.scale, outZeroPoint: out.q.zeroPoint, outDType: out.q.dtype, outQMin: out.q.qmin, outQMax: out.q.qmax };
      if (n.op === "conv2d" || n.op === "linear") {
        info.weightShape = n.wShape;
        info.weightBits = n.weightBits;
        info.weightScale = { min: Math.min(...n.wScales), max: Math.max(...n.wScales), perChannel: n.wScales.length > 1 };
        info.multiplier = this.layers.int32(n.requant.multiplier)![0];
        info.shift = this.layers.int32(n.requant.shift)![0];
      }
      return info;
    });
  }

  /** Serialized model (safetensors container + graph JSON). */
  encode(): Uint8Array {
    // a float island that runs a module with no stored form cannot run from a file: refused, naming them
    const nodes: unknown[] = Array.isArray(this.graph.nodes) ? this.graph.nodes : []; // (tests encode malformed graphs on purpose)
    const bound = nodes.filter((n): n is Int8Node => n !== null && typeof n === "object" && (n as Int8Node).op === "float" && !(n as { call?: unknown }).call && !(n as { steps?: unknown }).steps);
    if (bound.length) {
      const names = bound.slice(0, 8).map((n) => `'${n.name}' (${(n as { fn: string }).fn})`).join(", ");
      throw new NotSupportedError(`Int8Model.encode: ${bound.length} float island(s) run a module with no stored form, so a file could not run them: ${names}${bound.length > 8 ? ", …" : ""}; export the model to ONNX (onnx.exportInt8Model) instead, or keep those layers quantizable`);
    }
    const sd: Record<string, Tensor> = {};
    for (const [k, v] of this.tensors) sd[k] = new Tensor(v, [v.length]);
    return encodeSafetensors(sd, { metadata: { [META_KEY]: JSON.stringify({ version: FORMAT_VERSION, graph: this.graph }) } });
  }

  static decode(bytes: Uint8Array, source = "<int8 model>"): Int8Model {
    const { tensors, metadata } = decodeSafetensorsWithMetadata(bytes, source);
    const raw = metadata?.[META_KEY];
    if (raw === undefined) throw new FormatError(`${source}: not a qat-ts Int8Model file (no '${META_KEY}' metadata)`);
    let parsed: { version: number; graph: Int8Graph };
    try {
      parsed = JSON.parse(raw) as { version: number; graph: Int8Graph };
    } catch (e) {
      throw new FormatError(`${source}: model graph is not valid JSON (${(e as Error).message})`);
    }
    if (parsed?.version !== FORMAT_VERSION) throw new FormatError(`${source}: Int8Model format version ${String(parsed?.version)} is not supported`);
    const table: Int8Tensors = new Map();
    for (const [k, t] of Object.entries(tensors)) {
      if (!(t.data instanceof Int8Array || t.data instanceof Int32Array)) throw new FormatError(`${source}: tensor '${k}' must be int8 or int32, got ${t.dtype}`);
      table.set(k, t.data);
    }
    try {
      validateInt8Graph(parsed.graph, table);
      return new Int8Model(parsed.graph, table);
    } catch (e) {
      if (e instanceof FormatError) throw new FormatError(`${source}: ${e.message}`);
      throw new FormatError(`${source}: malformed graph (${(e as Error).message})`);
    }
  }

  /** Bytes of the serialized model. */
  get sizeBytes(): number {
    return this.encode().length;
  }
}

