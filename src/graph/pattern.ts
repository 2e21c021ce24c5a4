/**
 * Pattern matching over data flow: a pattern is a chain of node predicates, matched from an
 * anchor node along its output, where every intermediate value must have exactly one reader
 * (the next node of the chain) and must not be a graph output. That is the condition under
 * which fusing the chain into one op cannot change what any other node sees — the check
 * whose absence once fused a ReLU that followed a residual Add into the conv before it.
 * Called by src/quant/fuse.ts and user passes.
 */
import type { Graph, GraphNode } from "./graph.js";
import { refsOf } from "./graph.js";

export type NodePredicate = (n: GraphNode) => boolean;

/** One element of a chain; `optional` elements may be skipped. */
export interface ChainStep {
  match: NodePredicate;
  optional?: boolean;
}

/** Indexes readers once; answers "the single reader of v" queries. */
export class DataFlow {
  private readonly readers = new Map<number, GraphNode[]>();
  private readonly outputs: Set<number>;

  constructor(readonly graph: Graph) {
    for (const n of graph.nodes) {
      for (const id of refsOf(n.args)) {
        const list = this.readers.get(id);
        if (list) list.push(n);
        else this.readers.set(id, [n]);
      }
    }
    this.outputs = new Set(graph.outputs);
  }

  /** The nodes reading value `id` (once per reference). */
  readersOf(id: number): readonly GraphNode[] {
    return this.readers.get(id) ?? [];
  }

  /** The only reader of `n`'s single output, if it has exactly one and is not a graph output. */
  soleReader(n: GraphNode): GraphNode | null {
    if (n.outputs.length !== 1 || this.outputs.has(n.outputs[0])) return null;
    const r = this.readersOf(n.outputs[0]);
    return r.length === 1 ? r[0] : null;
  }

  /**
   * The longest chain starting at `anchor` that matches `steps` (anchor = steps[0]), each link
   * the sole reader of the previous node's output, as its first argument. Null if the
   * anchor does not match or a required step is missing.
   */
  matchChain(anchor: GraphNode, steps: readonly ChainStep[]): GraphNode[] | null {
    if (!steps[0].match(anchor)) return null;
    const chain = [anchor];
    for (const step of steps.slice(1)) {
      const last = chain[chain.length - 1];
      const next = this.soleReader(last);
      const firstArgIsLast = next !== null && refsOf(next.args.slice(0, 1))[0] === last.outputs[0];
      if (next && firstArgIsLast && step.match(next)) chain.push(next);
      else if (!step.optional) return null;
    }
    return chain;
  }
}
