/**
 * Import-side graph validation: a decoded ModelProto becomes an IrGraph — default-domain
 * opset, initializers by name, real graph inputs (initializers removed) with their declared
 * element type and dims, and the nodes in a topological order. Everything a hostile file
 * could get wrong is a FormatError here: bounded counts, names defined twice, inputs nobody
 * produces (a missing initializer), cycles (Kahn's algorithm leaves nodes over), unknown
 * element types, absurd dims. The order prefers, after a node, its single consumer (so a
 * Conv→BatchNormalization→Relu chain stays contiguous for fusion), then file order.
 * Called by import.ts.
 */
import { FormatError, NotSupportedError } from "../tensor/errors.js";
import { Attrs } from "./attrs.js";
import { DataType, dataTypeName, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from "./proto.js";
import { MAX_TENSOR_ELEMENTS } from "./tensor-proto.js";

export const MAX_NODES = 100_000;
export const MAX_INITIALIZERS = 100_000;
export const MIN_OPSET = 7;
export const MAX_OPSET = 22;

/**
 * Ops whose every version before opset 7 computes what their opset-7 form does (the legacy
 * `consumed_inputs` hint aside): a graph of opset 1–6 imports when all its nodes are among
 * them; anything else there (Add's `broadcast` attribute, BatchNormalization's `is_test`, …)
 * is a NotSupportedError naming the node.
 */
export const LEGACY_OPSET_OPS: ReadonlySet<string> = new Set([
  "Abs", "Ceil", "Clip", "Conv", "Elu", "Exp", "Flatten", "Floor", "GlobalAveragePool", "GlobalMaxPool", "HardSigmoid", "Identity",
  "InstanceNormalization", "LeakyRelu", "Log", "LogSoftmax", "Max", "Mean", "Min", "Neg", "Not", "Reciprocal", "Relu", "Selu",
  "Sigmoid", "Softmax", "Softplus", "Softsign", "Sqrt", "Sum", "Tanh", "Transpose",
]);

export interface IrNode {
  /** Position in the file. */
  index: number;
  opType: string;
  domain: string;
  /** The node's name, or "" when the file gives none. */
  name: string;
  /** Input value names ("" = omitted optional input). */
  inputs: string[];
  outputs: string[];
  /** Outer-scope values read inside the node's subgraphs (If branches), not in `inputs`. */
  implicitInputs: string[];
  attrs: Attrs;
  proto: NodeProto;
}

export interface IrInput {
  name: string;
  elemType: number;
  /** Declared dims: a number, a symbolic name, or null (unknown); null when no shape is given. */
  dims: (number | string | null)[] | null;
}

export interface IrGraph {
  /** The graph's name ("" when none). */
  name: string;
  opset: number;
  /** Version per non-default domain (e.g. com.microsoft). */
  domains: Map<string, number>;
  /** Topologically sorted. */
  nodes: IrNode[];
  initializers: Map<string, TensorProto>;
  inputs: IrInput[];
  outputs: string[];
  /** Node indices (into `nodes`) consuming each value. */
  consumers: Map<string, number[]>;
}

/** "Conv node 'conv1'" or "Conv node #3". */
export function describeNode(n: { opType: string; name: string; index: number }): string {
  return `${n.opType} node ${n.name ? `'${n.name}'` : `#${n.index}`}`;
}

function opsets(model: ModelProto): { opset: number; domains: Map<string, number> } {
  const domains = new Map<string, number>();
  let opset: number | undefined;
  for (const o of model.opsetImport ?? []) {
    const v = o.version;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new FormatError(`onnx import: opset import for domain '${o.domain ?? ""}' has an invalid version ${String(v)}`);
    const d = o.domain ?? "";
    if (d === "" || d === "ai.onnx") opset = v;
    else domains.set(d, v);
  }
  if (opset === undefined) throw new FormatError("onnx import: the model imports no default-domain opset");
  if (opset < 1 || opset > MAX_OPSET) throw new NotSupportedError(`onnx import: opset ${opset} is not supported (${MIN_OPSET}–${MAX_OPSET})`);
  return { opset, domains };
}

function readInput(v: ValueInfoProto): IrInput {
  const name = v.name ?? "";
  const tt = v.type?.tensorType;
  if (!tt) throw new FormatError(`onnx import: graph input '${name}' is not a tensor (or has no type)`);
  const elemType = tt.elemType ?? 0;
  if (!Object.values(DataType).includes(elemType as never) || elemType === 0) throw new FormatError(`onnx import: graph input '${name}' has an invalid element type ${elemType}`);
  if (!tt.shape) return { name, elemType, dims: null };
  const dimList = tt.shape.dim ?? [];
  if (dimList.length > 8) throw new FormatError(`onnx import: graph input '${name}' has rank ${dimList.length} (limit 8)`);
  let count = 1;
  const dims = dimList.map((d) => {
    if (d.dimValue !== undefined && d.dimValue !== null) {
      const x = d.dimValue;
      if (!Number.isSafeInteger(x) || x < 0 || x > 2 ** 31 - 1) throw new FormatError(`onnx import: graph input '${name}' declares dimension ${x}`);
      count *= x;
      return x;
    }
    return typeof d.dimParam === "string" && d.dimParam !== "" ? d.dimParam : null;
  });
  if (count > MAX_TENSOR_ELEMENTS) throw new FormatError(`onnx import: graph input '${name}' declares ${count} elements (limit ${MAX_TENSOR_ELEMENTS})`);
  return { name, elemType, dims };
}

function stringList(list: unknown, what: string): string[] {
  if (!Array.isArray(list)) return [];
  for (const s of list) if (typeof s !== "string") throw new FormatError(`onnx import: ${what} has a non-string name`);
  return list as string[];
}

function readNodes(protos: readonly NodeProto[]): IrNode[] {
  if (protos.length > MAX_NODES) throw new FormatError(`onnx import: ${protos.length} nodes is over the limit of ${MAX_NODES}`);
  return protos.map((p, index) => {
    const opType = p.opType ?? "";
    const name = typeof p.name === "string" ? p.name : "";
    if (opType === "") throw new FormatError(`onnx import: node #${index}${name ? ` '${name}'` : ""} has no op_type`);
    const where = describeNode({ opType, name, index });
    const inputs = stringList(p.input, where);
    const outputs = stringList(p.output, where);
    const attrs = new Attrs(p.attribute ?? [], where);
    const implicitInputs = outerReads(p);
    return { index, opType, domain: p.domain === "ai.onnx" ? "" : (p.domain ?? ""), name, inputs, outputs, implicitInputs, attrs, proto: p };
  });
}

/** Names a node's subgraphs (GRAPH / GRAPHS attributes, recursively) read from the enclosing scope. */
function outerReads(p: NodeProto, depth = 0): string[] {
  if (!p.attribute || p.attribute.length === 0) return [];
  const graphs = (p.attribute ?? []).flatMap((a) => [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]);
  if (graphs.length === 0) return [];
  if (depth > 16) throw new FormatError(`onnx import: subgraphs nested more than 16 deep`);
  const reads = new Set<string>();
  for (const g of graphs) {
    const local = new Set<string>([...(g.initializer ?? []).map((t) => t.name ?? ""), ...(g.input ?? []).map((v) => v.name ?? "")]);
    for (const n of g.node ?? []) for (const o of n.output ?? []) local.add(o);
    for (const n of g.node ?? []) {
      for (const v of [...(n.input ?? []), ...outerReads(n, depth + 1)]) if (v !== "" && !local.has(v)) reads.add(v);
    }
    for (const o of g.output ?? []) if (o.name && !local.has(o.name)) reads.add(o.name);
  }
  return [...reads];
}

/**
 * The nodes of a subgraph (an If branch) in topological order, validated as a graph whose
 * predefined values are `outer` plus the subgraph's own initializers; `where` names the
 * owning node in errors. Called by import-build.ts when it folds an If.
 */
export function parseSubgraph(g: GraphProto, outer: ReadonlySet<string>, where: string): { nodes: IrNode[]; initializers: TensorProto[]; outputs: string[] } {
  const initializers = g.initializer ?? [];
  const outputs = (g.output ?? []).map((v) => v.name ?? "");
  if (outputs.some((o) => o === "")) throw new FormatError(`onnx import: ${where}: a subgraph output has no name`);
  const nodes = readNodes(g.node ?? []);
  const predefined = new Set([...outer, ...initializers.map((t) => t.name ?? "")]);
  return { nodes: topoSort(nodes, predefined, outputs), initializers, outputs };
}

/** Validates the graph and sorts its nodes. */
export function parseGraph(model: ModelProto): IrGraph {
  const { opset, domains } = opsets(model);
  const g = model.graph;
  if (!g) throw new FormatError("onnx import: the model has no graph");
  const inits = g.initializer ?? [];
  if (inits.length > MAX_INITIALIZERS) throw new FormatError(`onnx import: ${inits.length} initializers is over the limit of ${MAX_INITIALIZERS}`);
  const initializers = new Map<string, TensorProto>();
  for (const t of inits) {
    const name = t.name ?? "";
    if (name === "" || initializers.has(name)) throw new FormatError(`onnx import: initializer name '${name}' is empty or used twice`);
    initializers.set(name, t);
  }
  const inputs = (g.input ?? []).filter((v) => !initializers.has(v.name ?? "")).map(readInput);
  const outputs = (g.output ?? []).map((v) => v.name ?? "");
  if (outputs.length === 0 || outputs.some((o) => o === "")) throw new FormatError("onnx import: the graph declares no (or an unnamed) output");
  const nodes = readNodes(g.node ?? []);
  if (opset < MIN_OPSET) {
    const bad = nodes.find((n) => n.domain !== "" || !LEGACY_OPSET_OPS.has(n.opType));
    if (bad) throw new NotSupportedError(`onnx import: opset ${opset} is not supported (${MIN_OPSET}–${MAX_OPSET}) for ${describeNode(bad)}; below ${MIN_OPSET} only ${[...LEGACY_OPSET_OPS].join(", ")} import`);
  }
  const sorted = topoSort(nodes, new Set([...initializers.keys(), ...inputs.map((i) => i.name)]), outputs);
  const consumers = new Map<string, number[]>();
  const consume = (v: string, i: number) => {
    if (v === "") return;
    const list = consumers.get(v);
    if (list) list.push(i);
    else consumers.set(v, [i]);
  };
  sorted.forEach((n, i) => {
    for (const v of n.inputs) consume(v, i);
    for (const v of n.implicitInputs) consume(v, i);
  });
  return { name: typeof g.name === "string" ? g.name : "", opset, domains, nodes: sorted, initializers, inputs, outputs, consumers };
}

/** Producer index per value; FormatError for a value defined twice. */
function producers(nodes: readonly IrNode[], predefined: ReadonlySet<string>): Map<string, number> {
  const producer = new Map<string, number>();
  for (const n of nodes) {
    for (const o of n.outputs) {
      if (o === "") continue;
      if (predefined.has(o) || producer.has(o)) throw new FormatError(`onnx import: value '${o}' (output of ${describeNode(n)}) is defined twice`);
      producer.set(o, n.index);
    }
  }
  return producer;
}

/** Kahn's algorithm with a min-heap on file order and a preference for chain successors. */
function topoSort(nodes: IrNode[], predefined: ReadonlySet<string>, outputs: readonly string[]): IrNode[] {
  const producer = producers(nodes, predefined);
  const pending = new Array<number>(nodes.length).fill(0);
  const users: number[][] = nodes.map(() => []);
  for (const n of nodes) {
    const reads = n.implicitInputs.length === 0 && n.inputs.length <= 1 ? n.inputs : new Set([...n.inputs, ...n.implicitInputs]);
    for (const v of reads) {
      if (v === "" || predefined.has(v)) continue;
      const p = producer.get(v);
      if (p === undefined) throw new FormatError(`onnx import: ${describeNode(n)} reads '${v}', which no node, initializer or graph input defines`);
      pending[n.index]++;
      users[p].push(n.index);
    }
  }
  for (const o of outputs) {
    if (!predefined.has(o) && !producer.has(o)) throw new FormatError(`onnx import: graph output '${o}' is never produced`);
  }
  const heap = new MinHeap();
  for (const n of nodes) if (pending[n.index] === 0) heap.push(n.index);
  const order: IrNode[] = [];
  let preferred = -1;
  while (heap.size > 0 || preferred >= 0) {
    const i = preferred >= 0 ? preferred : heap.pop();
    preferred = -1;
    order.push(nodes[i]);
    for (const u of users[i]) {
      if (--pending[u] !== 0) continue;
      if (users[i].length === 1 && preferred < 0) preferred = u;
      else heap.push(u);
    }
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.filter((n) => pending[n.index] > 0).slice(0, 5).map(describeNode);
    throw new FormatError(`onnx import: the graph has a cycle (nodes never ready: ${stuck.join(", ")}${order.length + 5 < nodes.length ? ", …" : ""})`);
  }
  return order;
}

/** A binary min-heap of node indices. */
class MinHeap {
  private readonly a: number[] = [];

  get size(): number {
    return this.a.length;
  }

  push(v: number): void {
    const a = this.a;
    a.push(v);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }

  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

export { dataTypeName };
