/**
 * The graph IR every model goes through (DESIGN.md §1): an op-level data-flow graph, like a
 * torch.fx Graph. Values are numbered; each has a shape (from the example run; dim 0 is the
 * batch) and a dtype, and is produced by exactly one node or is a graph input. Nodes:
 *
 *   call_module    target = dotted module path; the module's forward runs on the args
 *   call_function  target = an op name of src/ops/captured.ts (OPS); args may hold literals
 *   get_attr       target = dotted path of a parameter or buffer of the owning module
 *   constant       target = key into `constants` (a tensor made inside forward)
 *
 * Arguments are JSON-like trees whose leaves are literals or value references `{ ref: id }`
 * (a concat takes an array of refs, a conv2d an options object). Parameters stay in the
 * modules that own them, so training updates them and state-dict keys stay PyTorch's.
 * Written by ./capture.ts (and the passes in src/quant), run by ./graph-module.ts.
 */
import { ValueError } from "../tensor/errors.js";
import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";

/** A reference to a graph value inside an argument tree. */
export interface ValueRef {
  readonly ref: number;
}

/** Marks the batch dimension inside a shape argument (reshape of a captured batch size). */
export interface BatchDim {
  readonly batchOf: number;
}

export type Arg = number | string | boolean | null | undefined | ValueRef | BatchDim | readonly Arg[] | { readonly [key: string]: Arg };

export type NodeKind = "call_module" | "call_function" | "get_attr" | "constant";

export interface GraphNode {
  /** Unique within the graph: the module path, or the op name with a counter ("add_1"). */
  name: string;
  kind: NodeKind;
  target: string;
  args: Arg[];
  /** The values this node produces (one, or several for multi-output ops). */
  outputs: number[];
  /** Pass data (torch.fx's node.meta), e.g. `quantizationAnnotation` written by a quant.Quantizer. */
  meta?: Record<string, unknown>;
}

export interface GraphValue {
  id: number;
  shape: number[];
  dtype: DType;
}

export function isRef(a: unknown): a is ValueRef {
  return typeof a === "object" && a !== null && !Array.isArray(a) && typeof (a as { ref?: unknown }).ref === "number" && Object.keys(a).length === 1;
}

export function isBatchDim(a: unknown): a is BatchDim {
  return typeof a === "object" && a !== null && !Array.isArray(a) && typeof (a as { batchOf?: unknown }).batchOf === "number";
}

/** Every value id referenced in an argument tree, in order. */
export function refsOf(args: readonly Arg[]): number[] {
  const out: number[] = [];
  const walk = (a: Arg): void => {
    if (isRef(a)) out.push(a.ref);
    else if (Array.isArray(a)) for (const x of a as Arg[]) walk(x);
    else if (typeof a === "object" && a !== null && !isBatchDim(a)) for (const x of Object.values(a)) walk(x as Arg);
  };
  for (const a of args) walk(a);
  return out;
}

/** The argument tree with each reference replaced by f(id). */
export function mapRefs(args: readonly Arg[], f: (id: number) => number): Arg[] {
  const walk = (a: Arg): Arg => {
    if (isRef(a)) return { ref: f(a.ref) };
    if (isBatchDim(a)) return { batchOf: f(a.batchOf) };
    if (Array.isArray(a)) return (a as Arg[]).map(walk);
    if (typeof a === "object" && a !== null) return Object.fromEntries(Object.entries(a).map(([k, x]) => [k, walk(x as Arg)]));
    return a;
  };
  return args.map(walk);
}

export class Graph {
  inputs: number[] = [];
  outputs: number[] = [];
  nodes: GraphNode[] = [];
  readonly values = new Map<number, GraphValue>();
  readonly constants = new Map<string, Tensor>();
  private nextId = 0;
  private readonly names = new Set<string>();

  /** A new value with the given shape and dtype. */
  addValue(shape: readonly number[], dtype: DType): number {
    const id = this.nextId++;
    this.values.set(id, { id, shape: [...shape], dtype });
    return id;
  }

  value(id: number): GraphValue {
    const v = this.values.get(id);
    if (!v) throw new ValueError(`graph: no value %${id}`);
    return v;
  }

  /** A name not yet used in this graph: `base`, else `base_1`, `base_2`, … */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Appends (or inserts at `index`) a node; its name is made unique. */
  addNode(node: Omit<GraphNode, "name"> & { name?: string }, index = this.nodes.length): GraphNode {
    const n: GraphNode = { ...node, name: this.uniqueName(node.name ?? node.target) };
    this.nodes.splice(index, 0, n);
    return n;
  }

  /** The node producing value `id`, or null for a graph input. */
  producer(id: number): GraphNode | null {
    for (const n of this.nodes) if (n.outputs.includes(id)) return n;
    return null;
  }

  /** For each value, the nodes that read it (a node reading twice appears twice). */
  consumers(): Map<number, GraphNode[]> {
    const m = new Map<number, GraphNode[]>();
    for (const n of this.nodes) {
      for (const id of refsOf(n.args)) {
        const list = m.get(id);
        if (list) list.push(n);
        else m.set(id, [n]);
      }
    }
    return m;
  }

  /** Number of readers of each value, graph outputs counted as readers. */
  useCounts(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const n of this.nodes) for (const id of refsOf(n.args)) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const id of this.outputs) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  }

  /** Makes every reader of value `from` (nodes after `after`, and graph outputs) read `to`. */
  replaceUses(from: number, to: number, after: GraphNode | null = null): void {
    let start = after ? this.nodes.indexOf(after) + 1 : 0;
    for (; start < this.nodes.length; start++) {
      const n = this.nodes[start];
      n.args = mapRefs(n.args, (id) => (id === from ? to : id));
    }
    this.outputs = this.outputs.map((id) => (id === from ? to : id));
  }

  /** Removes `node`; its outputs must be unused by then. */
  removeNode(node: GraphNode): void {
    const i = this.nodes.indexOf(node);
    if (i < 0) throw new ValueError(`graph: node '${node.name}' is not in the graph`);
    const uses = this.useCounts();
    for (const id of node.outputs) {
      if ((uses.get(id) ?? 0) > 0) throw new ValueError(`graph: cannot remove '${node.name}': its output %${id} is still read`);
    }
    this.nodes.splice(i, 1);
    this.names.delete(node.name);
  }

  /** Nodes calling the module at `path`. */
  moduleCalls(path: string): GraphNode[] {
    return this.nodes.filter((n) => n.kind === "call_module" && n.target === path);
  }

  /** Human-readable listing, one node a line (like torch.fx's print_tabular). */
  toString(): string {
    const fmtArg = (a: Arg): string => {
      if (isRef(a)) return `%${a.ref}`;
      if (isBatchDim(a)) return `N(%${a.batchOf})`;
      if (Array.isArray(a)) return `[${(a as Arg[]).map(fmtArg).join(", ")}]`;
      if (typeof a === "object" && a !== null) return `{${Object.entries(a).map(([k, x]) => `${k}: ${fmtArg(x as Arg)}`).join(", ")}}`;
      return JSON.stringify(a) ?? "undefined";
    };
    const lines = [`graph(${this.inputs.map((i) => `%${i}: [${this.value(i).shape.join(", ")}]`).join(", ")}):`];
    for (const n of this.nodes) {
      const outs = n.outputs.map((o) => `%${o}`).join(", ");
      const shape = n.outputs.length === 1 ? ` [${this.value(n.outputs[0]).shape.join(", ")}]` : "";
      lines.push(`  ${outs}${shape} = ${n.kind}[${n.target}](${n.args.map(fmtArg).join(", ")})  # ${n.name}`);
    }
    lines.push(`  return ${this.outputs.map((o) => `%${o}`).join(", ")}`);
    return lines.join("\n");
  }
}
