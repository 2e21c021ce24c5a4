/**
 * The walk over a prepared model's graph that `convert` does, and its float islands: which
 * quantizer sets a node's output parameters (attached to a module, or an inserted
 * activation_post_process_<k> node), and for an op with no integer kernel the Int8Model
 * "float" node — dequantize its quantized inputs (reached directly or through integer-valued
 * shape arithmetic), run the op or module in float, quantize with its output parameters.
 * Called by ./convert.ts.
 */
import { NotSupportedError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { isFloatDType } from "../tensor/dtype.js";
import { noGrad } from "../tensor/grad-mode.js";
import type { Module } from "../nn/module.js";
import type { TraceNode } from "../nn/trace.js";
import { type Arg, type Graph, type GraphNode, isRef, mapRefs, refsOf } from "../graph/graph.js";
import { GraphModule, resolveArgs } from "../graph/graph-module.js";
import { DataFlow } from "../graph/pattern.js";
import { OPS, type OpTarget } from "../ops/captured.js";
import type { Int8Node } from "../int8/graph.js";
import { type IslandFn } from "../int8/model.js";
import { describeModuleIsland, islandTensorEntry } from "../int8/islands.js";
import { LayerNorm } from "../nn/layers/normalization.js";
import { Embedding } from "../nn/layers/embedding.js";
import { Softmax } from "../nn/layers/activation.js";
import { Linear } from "../nn/layers/linear.js";
import { outputQuantizerOf } from "./stubs.js";
import { SHARES_INPUT_QPARAMS, appliesInfiniteMask, keepsInputGrid } from "./prepare.js";
import { type GraphBuilder, activationQParams } from "./convert-layers.js";
import type { ConvertReport } from "./convert.js";

/** The graph node list of a prepared model as convert walks it (one per op, quantizers folded in). */
export interface Walk {
  gm: GraphModule;
  graph: Graph;
  flow: DataFlow;
  islands: Map<string, IslandFn>;
  report: ConvertReport;
  strict: boolean;
  /** Values computed from parameters and constants alone (prepare.ts parameterOnlyValues). */
  constant: Set<number>;
}

/** The node's path in the QAT model (as module paths were before graphs: "module.conv1", "module.add_1"). */
export const pathOf = (n: GraphNode): string => `module.${n.kind === "call_module" ? n.target : n.name}`;

export const isQuantizerNode = (gm: GraphModule, n: GraphNode): boolean => n.kind === "call_module" && /^activation_post_process(_\d+)?$/.test(n.target) && gm.getSubmodule(n.target) !== null;

/** The quantizer that sets `n`'s output parameters: attached to its module, or an inserted node reading it alone. */
export function outputQuantizer(w: Walk, n: GraphNode): { fq: Module; where: string; node: GraphNode | null } | null {
  if (n.kind === "call_module") {
    const own = outputQuantizerOf(w.gm.getSubmodule(n.target));
    if (own) return { fq: own, where: `${pathOf(n)}.activation_post_process`, node: null };
  }
  const r = w.flow.soleReader(n) ?? w.flow.readersOf(n.outputs[0]).find((x) => isQuantizerNode(w.gm, x)) ?? null;
  if (r && isQuantizerNode(w.gm, r)) return { fq: w.gm.getSubmodule(r.target), where: r.target, node: r };
  return null;
}

export function traceNodeOf(w: Walk, n: GraphNode): TraceNode {
  const ins = refsOf(n.args);
  return {
    path: pathOf(n), module: w.gm.getSubmodule(n.target), inputs: ins, output: n.outputs[0],
    inputShapes: ins.map((id) => w.graph.value(id).shape), outputShape: w.graph.value(n.outputs[0]).shape,
  };
}

/** A float island: dequantize inputs, run `fn`, quantize with the output quantizer. */
export function addIsland(b: GraphBuilder, w: Walk, n: GraphNode, reason: string): void {
  const source = pathOf(n);
  const mod = n.kind === "call_module" ? w.gm.getSubmodule(n.target) : null;
  const opType = (mod as { opType?: unknown } | null)?.opType; // an imported ONNX op names itself
  const fn = mod ? (typeof opType === "string" ? opType : mod.typeName) : n.target;
  if (w.strict) throw new NotSupportedError(`convert (strict): '${source}' (${fn}) has no integer implementation: ${reason}`);
  if (isIntValued(w, n.outputs[0])) return addIntIsland(b, w, n, fn, reason);
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
  else {
    const fn = islandFunction(w, n, quantized, side);
    // parameters read directly or through parameter-only ops: their frozen values go in the tensor table,
    // so the island runs from a file and exports with them as initializers
    const params = n.kind === "call_function" && side.every((p) => p.outputs.every((o) => w.constant.has(o))) ? { op: n.target, args: parameterCall(w, n, quantized) } : null;
    const stored = params ?? (mod ? moduleCall(w, n, mod, quantized, side) : null);
    if (stored) node.call = { op: stored.op, args: storeTensors(b, name, stored.args) };
    // a −∞ mask applied before the op: the mask op, then the op, for the exporters
    else if (n.kind === "call_function" && side.every((p) => appliesInfiniteMask(p) || p.outputs.every((o) => w.constant.has(o)))) {
      node.steps = islandSteps(w, n, quantized, side).map((st, j) => ({ op: st.op, args: storeTensors(b, `${name}.step${j}`, st.args) }));
    }
    w.islands.set(name, fn);
  }
  b.nodes.push(node);
  w.report.islands.push({ name, fn, source, reason });
  if (q?.node) b.alias(n.outputs[0], q.node.outputs[0]);
}

/** The unused `q` of an int32 value (token ids, shape arithmetic). */
export const INT_Q = { scale: 1, zeroPoint: 0, dtype: "int8", qmin: -128, qmax: 127 } as const;

/** An int32 value (ONNX int64 shape arithmetic arrives as int32). */
const isIntValued = (w: Walk, id: number): boolean => w.graph.value(id).dtype === "int32";

/**
 * Integer-valued shape arithmetic on quantized values (ONNX Shape → Gather → Div → Concat feeding
 * a Reshape or an Expand): a float node whose int32 output is passed through unquantized
 * (`ValueInfo.int`) to the islands that read it, exported as the op's own int64 ONNX value.
 * A value of rank ≥ 2 keeps −1 for the batch dim; a scalar or a shape vector keeps its shape.
 */
function addIntIsland(b: GraphBuilder, w: Walk, n: GraphNode, fn: string, reason: string): void {
  const source = pathOf(n);
  const { leaves, side } = islandClosure(b, w, n);
  const inputs = leaves.map((id) => b.value(id, source));
  const shape = w.graph.value(n.outputs[0]).shape;
  const y = Object.assign(b.define(n.outputs[0], shape, { ...INT_Q }, source), { int: true });
  if (shape.length < 2) y.shape = [...shape];
  const name = `${source}#float`;
  const node: Int8Node = { op: "float", name, inputs: inputs.map((v) => v.id), output: y.id, fn, source };
  const mod = n.kind === "call_module" ? w.gm.getSubmodule(n.target) : null;
  const call = n.kind === "call_function" && side.length === 0 ? literalCall(n, leaves) : null;
  if (call) node.call = call;
  else {
    const stored = mod ? moduleCall(w, n, mod, leaves, side) : null;
    if (stored) node.call = { op: stored.op, args: storeTensors(b, name, stored.args) };
    w.islands.set(name, islandFunction(w, n, leaves, side));
  }
  b.nodes.push(node);
  w.report.islands.push({ name, fn, source, reason });
}

/** Island modules with a functional form: their op and arguments (`{ input: 0 }` the input, parameters as Tensors). */
const MODULE_CALLS: [new (...a: never[]) => Module, (m: never) => { op: string; args: unknown[] }][] = [
  [LayerNorm, (m: LayerNorm) => ({ op: "layerNorm", args: [{ input: 0 }, m.normalizedShape, m.weight, m.bias, m.eps] })],
  [Embedding, (m: Embedding) => ({ op: "embedding", args: [{ input: 0 }, m.weight, m.paddingIdx ?? null] })],
  [Softmax, (m: Softmax) => ({ op: "softmax", args: [{ input: 0 }, m.dim] })],
  [Linear, (m: Linear) => ({ op: "linear", args: [{ input: 0 }, m.weight, m.bias] })],
];

/**
 * The stored call of a module island: its functional form (MODULE_CALLS), or the module's
 * stored form through a registered codec (an imported ONNX op: int8/islands.ts) with its
 * arguments — `{ input: k }`, constants computed from parameters as Tensors. Null when neither.
 */
function moduleCall(w: Walk, n: GraphNode, m: Module, inputs: number[], side: GraphNode[]): { op: string; args: unknown[] } | null {
  if (inputs.length === 1) for (const [cls, make] of MODULE_CALLS) if (m instanceof cls) return make(m as never);
  const head = describeModuleIsland(m);
  if (!head || !side.every((p) => p.outputs.every((o) => w.constant.has(o)))) return null;
  return { op: head.op, args: [head.spec, ...parameterCall(w, n, inputs)] };
}

/** A module island's stored call with its tensors in the table (see moduleCall), or null: for convert-dynamic's float islands. */
export function storedModuleCall(b: GraphBuilder, w: Walk, n: GraphNode, m: Module, name: string, inputs: number[], side: GraphNode[]): { op: string; args: unknown[] } | null {
  const stored = moduleCall(w, n, m, inputs, side);
  return stored ? { op: stored.op, args: storeTensors(b, name, stored.args) } : null;
}

/** Stores the imported op a table was just made from on its node (LutNode.call), so a model loaded from a file exports the op. */
export function storeTableOp(b: GraphBuilder, m: Module): void {
  const node = b.nodes[b.nodes.length - 1];
  const head = describeModuleIsland(m);
  if (node?.op === "lut" && head) node.call = { op: head.op, args: storeTensors(b, node.name, [head.spec, { input: 0 }]) };
}

/** The call's Tensor arguments as tensor-table references (float32 as int32 bits) under `<island>.arg<k>`, non-finite numbers as `{ float: "-Infinity" }`. */
function storeTensors(b: GraphBuilder, name: string, args: unknown[]): unknown[] {
  let k = 0;
  const walk = (a: unknown): unknown => {
    if (a instanceof Tensor) {
      const { ref, data } = islandTensorEntry(noGrad(() => a.detach()), `${name}.arg${k++}`);
      b.tensors.set(ref.tensor, data);
      return ref;
    }
    if (typeof a === "number" && !Number.isFinite(a)) return { float: String(a) }; // JSON has no ±Infinity / NaN
    if (Array.isArray(a)) return a.map(walk);
    if (a !== null && typeof a === "object") return Object.fromEntries(Object.entries(a).map(([key, v]) => [key, walk(v)]));
    return a;
  };
  return args.map(walk);
}

/**
 * A functional island of several ops (a −∞ mask then softmax): each step's op and arguments —
 * `{ input: k }` a quantized input, `{ step: j }` an earlier step's output, parameter-only values
 * as frozen Tensors; the last step is the island's output.
 */
function islandSteps(w: Walk, n: GraphNode, inputs: number[], side: GraphNode[]): { op: string; args: unknown[] }[] {
  const ops = [...side.filter((p) => appliesInfiniteMask(p)), n];
  const outs = ops.map((p) => p.outputs[0]);
  return ops.map((p) => {
    const leaves = [...inputs];
    const args = parameterCall(w, p, leaves.concat(outs.filter((o) => o !== p.outputs[0])));
    const remap = (a: unknown): unknown => {
      if (Array.isArray(a)) return a.map(remap);
      if (a !== null && typeof a === "object" && !(a instanceof Tensor)) {
        const o = a as { input?: number; batchOf?: number };
        if (Object.keys(o).join() === "input" && o.input! >= inputs.length) return { step: outs.indexOf(outs.filter((x) => x !== p.outputs[0])[o.input! - inputs.length]) };
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, remap(v)]));
      }
      return a;
    };
    return { op: p.target, args: args.map(remap) };
  });
}

/**
 * Runs, in graph order and without gradients, the nodes that compute `ids` from parameters and
 * constants (weights, their slices, masks), not entering values in `stop` (they come from
 * elsewhere); `subst` makes the walk read one value in place of another (a fake-quantizer's
 * output by its input: the raw weight). Returns the computed values by id (a substituted id
 * under its replacement). Called by convert, convert-functional and convert-dynamic.
 */
export function evalParameterValues(w: Walk, ids: readonly number[], opts: { stop?: readonly number[]; subst?: ReadonlyMap<number, number> } = {}): Map<number, Tensor> {
  const stop = opts.stop ?? [];
  const subst = opts.subst ?? new Map<number, number>();
  const need = new Set<GraphNode>();
  const visit = (v: number): void => {
    const src = subst.get(v) ?? v;
    const p = w.graph.producer(src);
    if (!p || need.has(p) || stop.includes(src)) return;
    need.add(p);
    for (const r of refsOf(p.args)) visit(r);
  };
  for (const id of ids) visit(id);
  const env = new Map<number, Tensor>();
  noGrad(() => {
    for (const p of w.graph.nodes) {
      if (!need.has(p)) continue;
      const args = p.args;
      if (subst.size) p.args = mapRefs(args, (r) => subst.get(r) ?? r);
      try {
        w.gm.runNode(p, env);
      } finally {
        p.args = args;
      }
    }
  });
  return env;
}

/** The arguments of a functional island: `{ input: k }` for the k-th quantized input, parameter-only values as frozen Tensors. */
function parameterCall(w: Walk, n: GraphNode, inputs: number[]): unknown[] {
  const env = evalParameterValues(w, refsOf(n.args), { stop: inputs });
  return mapArgs(
    n.args,
    (id) => {
      const k = inputs.indexOf(id);
      return k >= 0 ? { input: k } : noGrad(() => env.get(id)!.detach());
    },
    (id) => (inputs.includes(id) ? { batchOf: inputs.indexOf(id) } : -1),
  );
}

/** `{ op, args }` with `{ input: k }` for the k-th quantized input, or null if an argument is a float tensor. */
export function literalCall(n: GraphNode, inputs: number[]): { op: string; args: unknown[] } | null {
  let ok = true;
  const index = (id: number): number => {
    const k = inputs.indexOf(id);
    if (k < 0) ok = false;
    return k;
  };
  const args = mapArgs(n.args, (id) => ({ input: index(id) }), (id) => ({ batchOf: index(id) }));
  return ok ? { op: n.target, args } : null;
}

/** The island's float computation in this process: the op or the module's own forward (no hooks). */
export function islandFunction(w: Walk, n: GraphNode, inputs: number[], side: GraphNode[]): IslandFn {
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
export function islandClosure(b: GraphBuilder, w: Walk, n: GraphNode): { leaves: number[]; side: GraphNode[] } {
  const leaves: number[] = [];
  const side = new Set<GraphNode>();
  const visit = (id: number): void => {
    if (b.values.has(id)) {
      if (!leaves.includes(id)) leaves.push(id);
      return;
    }
    const p = w.graph.producer(id);
    if (p && p.kind !== "get_attr" && p.kind !== "constant" && !w.constant.has(id) && isIntValued(w, id)) {
      // int32 shape arithmetic on quantized values: its own node, read unquantized (addIntIsland)
      addIsland(b, w, p, "integer-valued shape arithmetic");
      if (!leaves.includes(id)) leaves.push(id);
      return;
    }
    const intValued = p !== null && p.outputs.every((o) => !isFloatDType(w.graph.value(o).dtype));
    if (!p || !(p.kind === "get_attr" || p.kind === "constant" || intValued || w.constant.has(id) || appliesInfiniteMask(p))) {
      throw new NotSupportedError(`convert: '${pathOf(n)}' reads value %${id}, which is neither quantized, a constant, nor shape arithmetic on quantized values`);
    }
    if (side.has(p)) return;
    side.add(p);
    for (const r of refsOf(p.args)) visit(r);
  };
  for (const id of refsOf(n.args)) visit(id);
  return { leaves, side: w.graph.nodes.filter((x) => side.has(x)) };
}

/** The argument tree with each reference replaced by f(id) and each batch dim by batch(id) (default −1). */
export function mapArgs(args: readonly Arg[], f: (id: number) => unknown, batch: (id: number) => unknown = () => -1): unknown[] {
  const walk = (a: Arg): unknown => {
    if (isRef(a)) return f(a.ref);
    if (Array.isArray(a)) return (a as Arg[]).map(walk);
    if (typeof a === "object" && a !== null) {
      if ("batchOf" in a) return batch((a as { batchOf: number }).batchOf);
      return Object.fromEntries(Object.entries(a).map(([k, x]) => [k, walk(x as Arg)]));
    }
    return a;
  };
  return args.map(walk);
}
