/**
 * State of the quantized importer while it walks a sorted ONNX graph and builds an Int8Graph.
 * Every ONNX value the walk has seen is one of:
 *   - an integer tensor (`ints`): an Int8Graph value (QuantizeLinear output, QLinear* output,
 *     MaxPool / Flatten / Clip on one);
 *   - a float tensor (`floats`): the graph input, DequantizeLinear of an integer value ("dq"),
 *     DequantizeLinear of an int8 / int32 constant (weights, biases), a float constant, or a
 *     float op on dequantized inputs waiting for the QuantizeLinear that fixes its output
 *     parameters ("pending"; Relu / Clip on it narrow its clamp);
 *   - a constant (ConstTable).
 * A pending op becomes an int8 node when a QuantizeLinear reads it (memoised per output
 * parameters, so the one-Q→DQ-pair-per-consumer form gives one node). An integer Clip right
 * after a Q or QLinear* node (reduce_range's [0, 127], ReLU6) folds into that node's clamp.
 * Called by import-quantized.ts and the handlers in quant-import-ops.ts / quant-import-qop.ts.
 */
import { NotSupportedError, FormatError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { type Int8Graph, type Int8Node, type QParams, type ValueInfo, nodeTensorKeys } from "../int8/graph.js";
import { type IslandFn, Int8Model, type Int8Tensors } from "../int8/model.js";
import { requantMultiplier } from "../int8/kernels/params.js";
import { describeNode, type IrGraph, type IrNode } from "./graph.js";
import { type ActParams, ConstTable, storageRange } from "./quant-import-consts.js";

/** An int8 / int32 constant read through DequantizeLinear, with its per-axis parameters. */
export interface WConst {
  data: Int8Array | Uint8Array | Int32Array;
  shape: number[];
  scales: number[];
  zeroPoints: number[];
  /** Axis of the scale vector, or null for per-tensor. */
  axis: number | null;
}

/** Float range a Relu / Clip allows. */
export interface Act {
  min: number;
  max: number;
}

export type Bias = { kind: "int"; w: WConst } | { kind: "float"; data: ArrayLike<number> };

export interface PoolGeometry {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  ceilMode: boolean;
  countIncludePad: boolean;
}

/** A float op on dequantized inputs, waiting for its output QuantizeLinear. */
export type Pending = { name: string; shape: number[] } & (
  | { op: "conv"; x: ValueInfo; w: WConst; b: Bias | null; stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number }
  | { op: "linear"; x: ValueInfo; w: WConst; b: Bias | null }
  | { op: "add"; a: ValueInfo; b: ValueInfo }
  | { op: "concat"; inputs: ValueInfo[]; axis: number }
  | { op: "gap"; x: ValueInfo }
  | { op: "avgpool"; x: ValueInfo; pool: PoolGeometry }
  | { op: "identity"; x: ValueInfo }
  | { op: "sigmoid"; x: ValueInfo }
  | { op: "island"; island: FloatIsland }
  | { op: "matmul" | "mul"; a: ValueInfo; b: ValueInfo }
  | { op: "scale"; x: ValueInfo; factor: number }
  | { op: "maxmin"; kind: "maximum" | "minimum"; inputs: ValueInfo[]; constant: Tensor | null }
  | { op: "mean"; x: ValueInfo; axes: number[]; keepdims: boolean }
);

/**
 * A float op with no integer form between DequantizeLinear and QuantizeLinear (a float island):
 * its ONNX kernel, and per input a dequantized value, another island (chains of float ops) or
 * a constant. Materialized as an Int8Model "float" node when its QuantizeLinear is reached.
 */
export interface FloatIsland {
  opType: string;
  kernel: (inputs: readonly (Tensor | null)[]) => Tensor;
  inputs: ({ kind: "dq"; v: ValueInfo } | { kind: "island"; island: FloatIsland } | { kind: "const"; t: Tensor | null })[];
}

export type FloatRef =
  | { kind: "input" }
  | { kind: "dq"; v: ValueInfo }
  | { kind: "pending"; p: Pending; act: Act | null }
  | { kind: "wconst"; w: WConst }
  | { kind: "fconst"; t: Tensor };

/** Handles one node; returning false hands it to the float-island fallback (an op with no integer pattern here). */
export type Handler = (imp: QuantImporter, n: IrNode) => void | false;

/** "QuantizeLinear node 'x'" for messages. */
export const where = (n: IrNode): string => `onnx import (quantized): ${describeNode(n)}`;

export class QuantImporter {
  readonly g: IrGraph;
  readonly consts: ConstTable;
  readonly floats = new Map<string, FloatRef>();
  readonly ints = new Map<string, ValueInfo>();
  readonly values: ValueInfo[] = [];
  readonly nodes: Int8Node[] = [];
  readonly tensors: Int8Tensors = new Map();
  /** Float computations of island nodes, by node name. */
  readonly islands = new Map<string, IslandFn>();
  input: ValueInfo | null = null;
  /** Node indices already handled (Clips folded into their producer). */
  readonly done = new Set<number>();
  private readonly memo = new Map<string, ValueInfo>();
  private readonly usedNames = new Set<string>();

  constructor(g: IrGraph) {
    this.g = g;
    this.consts = new ConstTable(g);
  }

  /** A unique node name from the ONNX node's name (or op type and index). */
  nodeName(n: IrNode | string): string {
    const base = typeof n === "string" ? n : n.name || `${n.opType}_${n.index}`;
    let name = base;
    for (let i = 1; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  newValue(shape: readonly number[], q: QParams, source: string): ValueInfo {
    const v: ValueInfo = { id: `v${this.values.length}`, shape: [...shape], q, source };
    this.values.push(v);
    return v;
  }

  float(name: string, n: IrNode): FloatRef {
    const f = this.floats.get(name);
    if (f) return f;
    const t = this.consts.get(name);
    if (t && t.dtype === "float32") return { kind: "fconst", t };
    if (this.ints.has(name)) throw new NotSupportedError(`${where(n)} reads the integer tensor '${name}' as float (no DequantizeLinear)`);
    throw new NotSupportedError(`${where(n)} reads '${name}', which is not a quantized or dequantized tensor the importer can follow`);
  }

  /** The Int8Graph value of a dequantized input ("dq"); NotSupportedError otherwise. */
  dq(name: string, n: IrNode): ValueInfo {
    const f = this.float(name, n);
    if (f.kind !== "dq") throw new NotSupportedError(`${where(n)}: input '${name}' must come from a DequantizeLinear of a quantized activation (got ${f.kind === "pending" ? "a float op's output without QuantizeLinear" : f.kind})`);
    return f.v;
  }

  int(name: string, n: IrNode): ValueInfo {
    const v = this.ints.get(name);
    if (!v) throw new NotSupportedError(`${where(n)}: input '${name}' is not a quantized tensor`);
    return v;
  }

  /**
   * Integer Clips reading `out` with constant bounds, when they are its only consumers and
   * agree: their range, and they are marked done (their outputs alias the producer's value).
   */
  private foldedClip(out: string): { range: [number, number] | null; aliases: string[] } {
    const indices = this.g.consumers.get(out) ?? [];
    const users = indices.map((i) => this.g.nodes[i]);
    if (users.length === 0 || this.g.outputs.includes(out) || users.some((u) => u.opType !== "Clip" || u.inputs[0] !== out)) return { range: null, aliases: [] };
    const ranges = users.map((u) => this.clipBounds(u));
    if (ranges.some((r) => !r || r[0] !== ranges[0]![0] || r[1] !== ranges[0]![1])) return { range: null, aliases: [] };
    for (const i of indices) this.done.add(i);
    return { range: ranges[0], aliases: users.map((u) => u.outputs[0]) };
  }

  /** Constant integer bounds of a Clip on a quantized tensor (missing bound = ±∞), or null. */
  clipBounds(n: IrNode): [number, number] | null {
    const read = (i: number, dflt: number): number | null => {
      const name = n.inputs[i];
      if (!name) return dflt;
      const t = this.consts.get(name);
      return t && t.size === 1 && t.dtype !== "float32" ? t.data[0] : null;
    };
    const lo = read(1, -Infinity);
    const hi = read(2, Infinity);
    return lo === null || hi === null || this.g.opset < 12 ? null : [lo, hi];
  }

  /**
   * Defines the integer output `out` of a quantizing node with parameters p: `make` builds
   * the int8 node(s) for the value range [qmin, qmax] (storage range narrowed by a folded
   * integer Clip), memoised under `key` so identical requests share one node.
   */
  produce(out: string, p: ActParams, key: string | null, make: (q: QParams) => ValueInfo): ValueInfo {
    const { range, aliases } = this.foldedClip(out);
    const [slo, shi] = storageRange(p.dtype);
    const [qmin, qmax] = range ? [Math.max(slo, range[0]), Math.min(shi, range[1])] : [slo, shi];
    if (qmin > qmax || p.zeroPoint < slo || p.zeroPoint > shi || !Number.isInteger(p.zeroPoint)) throw new FormatError(`onnx import (quantized): '${out}' has zero point ${p.zeroPoint} or clip [${qmin}, ${qmax}] outside ${p.dtype}`);
    const q: QParams = { scale: Math.fround(p.scale), zeroPoint: p.zeroPoint, dtype: p.dtype, qmin, qmax };
    const memoKey = key === null ? null : `${key}|${q.scale}|${q.zeroPoint}|${q.dtype}|${qmin}|${qmax}`;
    let v = memoKey === null ? undefined : this.memo.get(memoKey);
    if (!v) {
      v = make(q);
      if (memoKey !== null) this.memo.set(memoKey, v);
    }
    for (const name of [out, ...aliases]) this.ints.set(name, v);
    return v;
  }

  /** A requantize node x → (q, clamp); exact identity when the parameters agree and the clamp covers x's range. */
  requantize(x: ValueInfo, q: QParams, clamp: [number, number], name: string): ValueInfo {
    const same = x.q.scale === q.scale && x.q.zeroPoint === q.zeroPoint && x.q.dtype === q.dtype;
    if (same && clamp[0] <= x.q.qmin && clamp[1] >= x.q.qmax) return x;
    const y = this.newValue(x.shape, q, name);
    const m = requantMultiplier(x.q.scale, q.scale);
    this.nodes.push({ op: "requantize", name: this.nodeName(name), inputs: [x.id], output: y.id, multiplier: [m.multiplier, m.shift], clamp });
    return y;
  }

  /** Stores an int8 / int32 tensor under a unique key. */
  tensor(key: string, data: Int8Array | Int32Array): string {
    let k = key;
    for (let i = 1; this.tensors.has(k); i++) k = `${key}_${i}`;
    this.tensors.set(k, data);
    return k;
  }

  /** The finished model; the graph output must be a (dequantized) quantized tensor. */
  finish(meta: Record<string, unknown>): Int8Model {
    if (this.g.outputs.length !== 1) throw new NotSupportedError(`onnx import (quantized): the graph has ${this.g.outputs.length} outputs; an Int8Model has one`);
    const outName = this.g.outputs[0];
    const f = this.floats.get(outName);
    const out = f?.kind === "dq" ? f.v : this.ints.get(outName);
    if (!out) throw new NotSupportedError(`onnx import (quantized): graph output '${outName}' is computed in float, not dequantized from a quantized tensor`);
    if (!this.input) throw new NotSupportedError("onnx import (quantized): the graph input is never quantized (no QuantizeLinear reads it)");
    const nodes = this.live(out.id);
    const used = new Set([this.input.id, ...nodes.map((n) => n.output)]);
    const keys = new Set(nodes.flatMap(nodeTensorKeys));
    const tensors: Int8Tensors = new Map([...this.tensors].filter(([k]) => keys.has(k)));
    const graph: Int8Graph = { input: this.input, output: out.id, values: this.values.filter((v) => used.has(v.id)), nodes, meta };
    return new Int8Model(graph, tensors, this.islands);
  }

  /** The nodes the output depends on, in order (memoised duplicates and dead ends dropped). */
  private live(output: string): Int8Node[] {
    const need = new Set([output]);
    const keep: Int8Node[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (!need.has(n.output)) continue;
      keep.push(n);
      for (const x of n.inputs) need.add(x);
    }
    return keep.reverse();
  }
}
