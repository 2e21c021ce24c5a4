/**
 * The graph layer: IR (graph.ts), op-level capture (capture.ts), the module that runs a
 * graph (graph-module.ts) and data-flow pattern matching (pattern.ts).
 */
export { Graph, type GraphNode, type GraphValue, type Arg, type ValueRef, type NodeKind, refsOf, mapRefs, isRef } from "./graph.js";
export { capture, isAtomicModule, type CaptureOptions } from "./capture.js";
export { GraphModule, resolveArgs } from "./graph-module.js";
export { DataFlow, type ChainStep, type NodePredicate } from "./pattern.js";
