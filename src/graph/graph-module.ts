/**
 * GraphModule: a Module that runs a Graph (torch.fx.GraphModule). It adopts the captured
 * model's children under the same names (and its own direct parameters and buffers), so its
 * state-dict keys are the original model's and training updates the same tensors; every
 * node runs through the ordinary ops and modules, so autograd flows through every node.
 * Modules are looked up by path on every call, so passes may swap them (fusion, QAT).
 * Built by src/quant/prepare.ts and user code (`new GraphModule(model, capture(model, x))`).
 */
import { CaptureError, ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { Module } from "../nn/module.js";
import { OPS, isOpTarget } from "../ops/captured.js";
import { type Arg, Graph, type GraphNode, isBatchDim, isRef } from "./graph.js";

type AnyOp = (...args: unknown[]) => unknown;

/**
 * Runs after a node, may replace its output. Hooks are plain functions that receive the
 * GraphModule (never closures over modules), so a cloned GraphModule uses its own modules.
 */
export type NodeHook = (gm: GraphModule, node: GraphNode, args: unknown[], out: Tensor) => Tensor | void;

export class GraphModule extends Module {
  graph: Graph;
  /** Per node name: a hook run after the node (passes use them, e.g. to tag quantization grids). */
  readonly nodeHooks = new Map<string, NodeHook>();
  /** Class name of the captured model, for printing. */
  readonly sourceType: string;

  constructor(root: Module, graph: Graph) {
    super();
    this.graph = graph;
    this.sourceType = root.typeName;
    for (const [name, child] of root.childSlots()) if (child) this.registerModule(name, child);
    for (const [name, t, kind] of root.localState()) {
      if (kind === "parameter") this.registerParameter(name, t);
      else this.registerBuffer(name, t);
    }
    for (const n of graph.nodes) {
      if (n.kind === "call_function" && !isOpTarget(n.target)) throw new CaptureError(`GraphModule: node '${n.name}' calls unknown op '${n.target}'`);
    }
  }

  /** Runs the graph; returns the first output. */
  forward(...inputs: Tensor[]): Tensor {
    return this.forwardAll(...inputs)[0];
  }

  /** Runs the graph; returns every output in order. */
  forwardAll(...inputs: Tensor[]): Tensor[] {
    const g = this.graph;
    if (inputs.length !== g.inputs.length) throw new ValueError(`GraphModule(${this.sourceType}): the graph takes ${g.inputs.length} input(s), got ${inputs.length}`);
    const env = new Map<number, Tensor>();
    g.inputs.forEach((id, i) => env.set(id, inputs[i]));
    for (const n of g.nodes) this.runNode(n, env);
    return g.outputs.map((id) => env.get(id)!);
  }

  /** Runs one node, storing its outputs in env. Exposed for passes that interpret graphs. */
  runNode(n: GraphNode, env: Map<number, Tensor>): void {
    let out = this.evalNode(n, env);
    const hook = this.nodeHooks.get(n.name);
    if (hook && !Array.isArray(out)) out = hook(this, n, resolveArgs(n.args, env), out) ?? out;
    const list = Array.isArray(out) ? out : [out];
    n.outputs.forEach((id, i) => env.set(id, list[i]));
  }

  private evalNode(n: GraphNode, env: Map<number, Tensor>): Tensor | Tensor[] {
    switch (n.kind) {
      case "get_attr":
        return this.attr(n.target);
      case "constant":
        return this.graph.constants.get(n.target)!;
      case "call_module":
        return this.getSubmodule(n.target).forward(...resolveArgs(n.args, env));
      case "call_function": {
        const args = resolveArgs(n.args, env);
        if (n.target === "dropout" && args.length >= 3) args[2] = this.training;
        return (OPS[n.target as keyof typeof OPS] as AnyOp)(...args) as Tensor | Tensor[];
      }
    }
  }

  /** The parameter or buffer at a dotted path (a get_attr target). */
  attr(path: string): Tensor {
    const i = path.lastIndexOf(".");
    const owner = this.getSubmodule(i < 0 ? "" : path.slice(0, i));
    const name = path.slice(i + 1);
    const t = owner.localState().find(([n]) => n === name)?.[1] ?? (owner as unknown as Record<string, unknown>)[name];
    if (!(t instanceof Tensor)) throw new ValueError(`GraphModule: no parameter or buffer '${path}'`);
    return t;
  }

  override extraRepr(): string {
    return `${this.sourceType}, ${this.graph.nodes.length} nodes`;
  }
}

/** Resolves an argument tree against computed values. */
export function resolveArgs(args: readonly Arg[], env: Map<number, Tensor>): unknown[] {
  const walk = (a: Arg): unknown => {
    if (isRef(a)) {
      const t = env.get(a.ref);
      if (!t) throw new ValueError(`graph: value %${a.ref} read before it is computed`);
      return t;
    }
    if (isBatchDim(a)) return env.get(a.batchOf)!.shape[0];
    if (Array.isArray(a)) return (a as Arg[]).map(walk);
    if (typeof a === "object" && a !== null) return Object.fromEntries(Object.entries(a).map(([k, x]) => [k, walk(x as Arg)]));
    return a;
  };
  return args.map(walk);
}
