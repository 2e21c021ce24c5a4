/**
 * From annotations to fake-quantizers (PT2E's prepare over `node.meta.quantizationAnnotation`):
 *
 * 1. Quantization points: a node's output (outputQSpec), an input edge (inputQSpecMap entry for an
 *    activation value), a graph input (the spec of the first edge reading it: its QuantStub).
 * 2. Groups: SharedQuantizationSpec joins a point to the edge or node it names (an edge with no
 *    spec of its own stands for its value's point; sharing with a float value leaves the point
 *    float); an edge whose spec equals its value's output spec, or another edge's of the same
 *    value, joins it (implicit sharing). Each group gets one quantizer module.
 * 3. Where each group quantizes: a node output needs a quantizer unless the op keeps its input's
 *    grid (max pool, reshape, …) and shares its input's group; an edge needs one unless its value
 *    is already in its group. A group quantizing only one module call's output is attached to that
 *    module (`conv1.activation_post_process`, PyTorch's keys); otherwise it is registered as
 *    `activation_post_process_<k>` and called by inserted nodes (several nodes may call one
 *    shared quantizer: they observe together and quantize on one grid).
 * 4. Conv / linear / fused calls with a weight spec are swapped for QAT modules whose
 *    weight_fake_quant the spec builds; a bias spec must be the derived int32 one.
 * Called by prepare.ts.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import type { Module } from "../nn/module.js";
import { type GraphNode, mapRefs, refsOf } from "../graph/graph.js";
import type { GraphModule, NodeHook } from "../graph/graph-module.js";
import { FixedQParamsFakeQuantize } from "./fake-quantize.js";
import { FixedQParamsObserver } from "./observer-fixed.js";
import { attachGridPassThrough, attachOutputQuantizer, inheritGrid, markGrid } from "./stubs.js";
import { SHARES_INPUT_QPARAMS, keepsInputGrid, parameterOnlyValues } from "./prepare.js";
import { type QuantizationSpecBase, annotationOf, isEdge, sameSpec } from "./quantizer.js";

interface Point {
  key: string;
  value: number;
  /** The reading node of an edge point; null for an output point. */
  user: GraphNode | null;
  /** The producer of an output point (null for a graph input). */
  node: GraphNode | null;
  spec: QuantizationSpecBase;
  shares: boolean;
}

const outKey = (v: number) => `o${v}`;
const inKey = (v: number, user: GraphNode) => `i${v}@${user.name}`;

/** Node hook of an inserted quantizer node: tags its output with the quantizer's grid. */
const tagQuantizerGrid: NodeHook = (gm, node, _args, out) => markGrid(out, gm.getSubmodule(node.target));
/** Node hook of a functional op that keeps its input's parameters. */
const passInputGrid: NodeHook = (_gm, _node, args, out) => inheritGrid(args[0], out);

/** Builds the quantizer of a concrete spec. */
export function buildQuantizer(spec: QuantizationSpecBase, where: string, ctx?: { outChannels: number }): Module {
  if (spec.kind === "spec") return spec.build(ctx);
  if (spec.kind === "fixed") {
    const observer = FixedQParamsObserver.withArgs({ scale: spec.scale, zeroPoint: spec.zeroPoint, dtype: spec.dtype, quantMin: spec.qmin, quantMax: spec.qmax, qscheme: spec.qscheme });
    return new FixedQParamsFakeQuantize({ observer });
  }
  throw new NotSupportedError(`prepareQat: ${where}: a ${spec.kind} spec cannot build a quantizer here`);
}

/** Whether node `n` moves bytes without changing its input's grid. */
function keepsGrid(gm: GraphModule, n: GraphNode): boolean {
  if (n.kind === "call_function") return SHARES_INPUT_QPARAMS.has(n.target);
  return n.kind === "call_module" && keepsInputGrid(gm.getSubmodule(n.target));
}

/**
 * Applies the annotations of `gm`'s graph; returns the quantizer of each graph input (for the
 * QuantStubs) and the fake-quantizer modules of module weights it swapped in.
 */
export function applyAnnotations(gm: GraphModule, swap: (m: Module, weight: () => Module) => Module | null): { inputQuantizers: (Module | null)[] } {
  const g = gm.graph;
  const constant = parameterOnlyValues(g);
  const points = new Map<string, Point>();
  const add = (p: Omit<Point, "shares">) => points.set(p.key, { ...p, shares: p.spec.kind === "shared" });
  const calls = new Map<string, GraphNode[]>();
  for (const n of g.nodes) if (n.kind === "call_module") calls.set(n.target, [...(calls.get(n.target) ?? []), n]);
  swapWeightModules(gm, calls, swap);
  for (const n of g.nodes) {
    const ann = annotationOf(n);
    if (!ann) continue;
    for (const [k, s] of ann.inputQSpecMap) {
      if (typeof k !== "number" || s === null || constant.has(k)) continue;
      if (!refsOf(n.args).includes(k)) throw new ValueError(`prepareQat: node '${n.name}' annotates input %${k}, which it does not read`);
      if (s.kind === "derived") throw new NotSupportedError(`prepareQat: node '${n.name}': a derived spec on an activation input is not supported (only a conv/linear bias is derived)`);
      add({ key: inKey(k, n), value: k, user: n, node: null, spec: s });
    }
    if (ann.outputQSpec && n.outputs.length > 0) {
      if (ann.outputQSpec.kind === "derived") throw new NotSupportedError(`prepareQat: node '${n.name}': a derived output spec is not supported`);
      add({ key: outKey(n.outputs[0]), value: n.outputs[0], user: null, node: n, spec: ann.outputQSpec });
    }
  }
  // a graph input is quantized by its QuantStub with the spec of the first edge that reads it
  const edgesOf = new Map<number, Point[]>(); // value → its edge points, in graph order
  for (const p of points.values()) {
    if (!p.user) continue;
    const list = edgesOf.get(p.value);
    if (list) list.push(p);
    else edgesOf.set(p.value, [p]);
  }
  for (const v of g.inputs) {
    const first = edgesOf.get(v)?.[0];
    if (first) add({ key: outKey(v), value: v, user: null, node: null, spec: first.spec });
  }
  // union-find over point keys; each root remembers a concrete spec of its group
  const parent = new Map<string, string>();
  const specOfRoot = new Map<string, QuantizationSpecBase>();
  for (const p of points.values()) if (!p.shares) specOfRoot.set(p.key, p.spec);
  const find = (k: string): string => {
    let r = k;
    while (parent.has(r)) r = parent.get(r)!;
    return r;
  };
  const union = (a: string, b: string) => {
    const [ra, rb] = [find(a), find(b)];
    if (ra === rb) return;
    parent.set(ra, rb);
    if (!specOfRoot.has(rb) && specOfRoot.has(ra)) specOfRoot.set(rb, specOfRoot.get(ra)!);
  };
  // explicit sharing (resolved in graph order; a point sharing with a float value is dropped)
  for (const p of [...points.values()]) {
    if (p.spec.kind !== "shared") continue;
    const e = p.spec.edgeOrNode;
    const target = isEdge(e) ? (points.has(inKey(e.value, e.user)) ? inKey(e.value, e.user) : outKey(e.value)) : outKey(e.outputs[0]);
    if (target === p.key) throw new ValueError(`prepareQat: '${p.user?.name ?? p.node?.name}' shares its quantization with itself`);
    if (points.has(target)) union(p.key, target);
    else points.delete(p.key);
  }
  const concrete = (root: string): QuantizationSpecBase | null => specOfRoot.get(root) ?? null;
  // implicit sharing: an edge with its value's output spec, or with an equal spec of another edge of the value
  for (const p of points.values()) {
    if (!p.user || p.shares || annotationOf(p.user)?.allowImplicitSharing === false) continue;
    const out = points.get(outKey(p.value));
    const same = (q: Point) => {
      const s = concrete(find(q.key));
      return s !== null && sameSpec(s, p.spec);
    };
    if (out && out.key !== p.key && same(out)) union(p.key, out.key);
    else {
      const other = (edgesOf.get(p.value) ?? []).find((q) => q !== p && points.has(q.key) && !q.shares && sameSpec(q.spec, p.spec));
      if (other) union(p.key, other.key);
    }
  }
  // physical sites, in PyTorch's naming order: module outputs, functional outputs, then edges
  const groupOf = (p: Point) => find(p.key);
  const valueGroup = (v: number, user: GraphNode) => {
    const e = points.get(inKey(v, user)) ?? points.get(outKey(v));
    return e ? groupOf(e) : null;
  };
  const sites = new Map<string, Point[]>();
  const addSite = (p: Point) => {
    const list = sites.get(groupOf(p));
    if (list) list.push(p);
    else sites.set(groupOf(p), [p]);
  };
  const outPoint = (n: GraphNode) => (n.outputs.length > 0 ? points.get(outKey(n.outputs[0])) : undefined);
  const ordered: Point[] = [];
  for (const nodes of calls.values()) for (const n of nodes) if (outPoint(n)) ordered.push(outPoint(n)!);
  for (const n of g.nodes) if (n.kind !== "call_module" && outPoint(n)) ordered.push(outPoint(n)!);
  for (const n of g.nodes) if (n.kind === "call_module" && keepsGrid(gm, n)) attachGridPassThrough(gm.getSubmodule(n.target));
  for (const n of g.nodes) if (n.kind === "call_function" && keepsGrid(gm, n)) gm.nodeHooks.set(n.name, passInputGrid);
  for (const p of ordered) {
    const n = p.node!;
    const x = refsOf(n.args)[0];
    if (p.shares && keepsGrid(gm, n) && x !== undefined && valueGroup(x, n) === groupOf(p)) continue; // bytes move, grid kept
    addSite(p);
  }
  const edgeSites: Point[] = [];
  for (const p of points.values()) {
    if (!p.user) continue;
    const out = points.get(outKey(p.value));
    if (out && groupOf(out) === groupOf(p)) continue;
    edgeSites.push(p);
    addSite(p);
  }
  // graph inputs: their QuantStubs
  const modules = new Map<string, Module>();
  const moduleOf = (root: string, where: string) => {
    let m = modules.get(root);
    if (!m) {
      const spec = concrete(root);
      if (!spec) throw new ValueError(`prepareQat: ${where} only shares quantization; nothing in its group has a spec of its own`);
      m = buildQuantizer(spec, where);
      modules.set(root, m);
    }
    return m;
  };
  const inputQuantizers = g.inputs.map((v) => {
    const p = points.get(outKey(v));
    if (!p) return null;
    if (sites.has(groupOf(p))) throw new NotSupportedError(`prepareQat: graph input %${v}'s quantizer is shared with another value; give that value its own spec`);
    return moduleOf(groupOf(p), `graph input %${v}`);
  });
  const names = new Map<string, string>();
  const nameOf = (root: string, where: string) => {
    let name = names.get(root);
    if (!name) {
      const taken = new Set(gm.namedChildren().map(([c]) => c));
      let k = 0;
      while (taken.has(`activation_post_process_${k}`)) k++;
      name = `activation_post_process_${k}`;
      gm.registerModule(name, moduleOf(root, where));
      names.set(root, name);
    }
    return name;
  };
  for (const p of ordered) {
    const root = groupOf(p);
    const own = sites.get(root);
    if (!own?.includes(p)) continue;
    const n = p.node!;
    if (n.kind === "call_module" && own.length === 1 && calls.get(n.target)!.length === 1 && !keepsGrid(gm, n)) {
      attachOutputQuantizer(gm.getSubmodule(n.target), moduleOf(root, n.name));
      continue;
    }
    const name = nameOf(root, n.name);
    const out = n.outputs[0];
    const v = g.addValue(g.value(out).shape, g.value(out).dtype);
    const q = g.addNode({ kind: "call_module", target: name, args: [{ ref: out }], outputs: [v], name }, g.nodes.indexOf(n) + 1);
    g.replaceUses(out, v, q);
    gm.nodeHooks.set(q.name, tagQuantizerGrid);
  }
  // edges: one inserted quantizer per value and group, before the first user that reads it so
  const inserted = new Map<string, number>();
  for (const p of edgeSites) {
    const user = p.user!;
    const key = `${p.value}/${groupOf(p)}`;
    let v = inserted.get(key);
    if (v === undefined) {
      const name = nameOf(groupOf(p), user.name);
      v = g.addValue(g.value(p.value).shape, g.value(p.value).dtype);
      const q = g.addNode({ kind: "call_module", target: name, args: [{ ref: p.value }], outputs: [v], name }, g.nodes.indexOf(user));
      gm.nodeHooks.set(q.name, tagQuantizerGrid);
      inserted.set(key, v);
    }
    const nv = v;
    user.args = mapRefs(user.args, (id) => (id === p.value ? nv : id));
  }
  return { inputQuantizers };
}

/** Swaps conv / linear / fused calls that have a weight spec for QAT modules (all calls of a module must agree). */
function swapWeightModules(gm: GraphModule, calls: Map<string, GraphNode[]>, swap: (m: Module, weight: () => Module) => Module | null): void {
  for (const [path, nodes] of calls) {
    const specs = nodes.map((n) => annotationOf(n)?.inputQSpecMap.get("weight") ?? null);
    const bias = nodes.map((n) => annotationOf(n)?.inputQSpecMap.get("bias") ?? null).find((b) => b !== null);
    if (bias && bias.kind !== "derived") {
      throw new NotSupportedError(`prepareQat: '${path}': the bias is quantized as derived from input and weight scales (int32 on S_x·S_w, what the integer kernels take); give a DerivedQuantizationSpec or none`);
    }
    const spec = specs[0];
    if (specs.some((s) => s !== spec)) throw new ValueError(`prepareQat: module '${path}' is called ${nodes.length} times with different weight specs; one module has one weight`);
    if (!spec) continue;
    if (spec.kind !== "spec") throw new NotSupportedError(`prepareQat: '${path}': a weight needs a QuantizationSpec (got a ${spec.kind} spec)`);
    const mod = gm.getSubmodule(path);
    const swapped = swap(mod, () => spec.build({ outChannels: (mod as { weight?: { shape: number[] } }).weight?.shape[0] ?? (mod as unknown as { layer: { weight: { shape: number[] } } }).layer.weight.shape[0] }));
    if (!swapped) throw new NotSupportedError(`prepareQat: '${path}' (${mod.typeName}) has a weight spec but no QAT form (Conv2d, Linear and their fused groups have one)`);
    gm.setSubmodule(path, swapped);
  }
}
