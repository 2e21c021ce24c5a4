/**
 * Float export from the captured graph (src/graph): `graphTrace(model, example)` captures the
 * model and returns the Trace the format exporters walk — module calls as before, and every
 * functional op of the forward as a `FunctionCall` pseudo-module whose export rule (below)
 * writes the ONNX node (Add, Mul, MatMul, Concat, Reshape, Transpose, Softmax, …). Tensors a
 * functional op reads that are parameters or constants become initializers.
 * Called by export.ts (the "float" format).
 */
import { NotSupportedError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { Module } from "../nn/module.js";
import type { Trace, TraceNode } from "../nn/trace.js";
import { type Arg, type GraphNode, isBatchDim, isRef, refsOf } from "../graph/graph.js";
import { capture, isAtomicModule } from "../graph/capture.js";
import { GraphModule } from "../graph/graph-module.js";
import { attr, floatTensorProto, int64TensorProto } from "./builders.js";
import type { ExportContext } from "./export-context.js";
import { type ExportCall, emitNode, findExportRule, registerExportRule } from "./op-map.js";
import type { AttributeProto } from "./proto.js";
import { transformerFunctionRule } from "./export-transformer.js";

/** A functional op as a trace node: its name and its arguments (`{ input: k }` = k-th dynamic input). */
export class FunctionCall extends Module {
  constructor(readonly op: string, readonly args: unknown[]) {
    super();
  }

  forward(): Tensor {
    throw new NotSupportedError(`FunctionCall '${this.op}' is an export record, not a runnable module`);
  }
}

/** The Trace of `model` on `example` from its captured graph (module calls and functional ops). */
export function graphTrace(model: Module, example: Tensor, atomic: (m: Module) => boolean = isAtomicModule): Trace {
  // a single layer with an export rule is one node; a leaf user module with a functional forward is captured op by op
  const g = capture(model, example, { atomic: (m) => atomic(m), rootAtomic: atomic(model) && findExportRule(model) !== undefined });
  const gm = new GraphModule(model, g);
  const constEnv = new Map<number, Tensor>();
  for (const n of g.nodes) if (n.kind === "get_attr" || n.kind === "constant") gm.runNode(n, constEnv);
  const nodes: TraceNode[] = [];
  for (const n of g.nodes) {
    if (n.kind === "get_attr" || n.kind === "constant") continue;
    const dynamic = refsOf(n.args).filter((id) => !constEnv.has(id));
    const shapes = dynamic.map((id) => g.value(id).shape);
    const out = n.outputs[0];
    const module = n.kind === "call_module" ? model.getSubmodule(n.target) : new FunctionCall(n.target, bindArgs(n, dynamic, constEnv));
    nodes.push({ path: n.kind === "call_module" ? n.target : n.name, module, inputs: dynamic, output: out, inputShapes: shapes, outputShape: g.value(out).shape });
  }
  const tensors = new Map<number, Tensor>();
  return { input: g.inputs[0], output: g.outputs[0], inputShape: g.value(g.inputs[0]).shape, outputShape: g.value(g.outputs[0]).shape, nodes, tensors };
}

function bindArgs(n: GraphNode, dynamic: number[], consts: Map<number, Tensor>): unknown[] {
  const walk = (a: Arg): unknown => {
    if (isRef(a)) return consts.get(a.ref) ?? { input: dynamic.indexOf(a.ref) };
    if (isBatchDim(a)) return 0; // ONNX Reshape: 0 copies the input's dim (the batch)
    if (Array.isArray(a)) return (a as Arg[]).map(walk);
    if (typeof a === "object" && a !== null) return Object.fromEntries(Object.entries(a).map(([k, x]) => [k, walk(x as Arg)]));
    return a;
  };
  return n.args.map(walk);
}

/** The value name of an argument: a dynamic input, or an initializer for a tensor or a number. */
function operand(ctx: ExportContext, call: ExportCall, a: unknown, i: number): string {
  if (a instanceof Tensor) return ctx.initializer(a, `${call.path}.arg${i}`);
  if (typeof a === "number") return ctx.constant(floatTensorProto(`${call.path}.arg${i}`, [a], []));
  const k = (a as { input?: number } | null)?.input;
  if (typeof k === "number" && k >= 0) return call.inputs[k];
  throw new NotSupportedError(`onnx export: functional op '${call.path}' has an argument the exporter cannot express`);
}

const BINARY: Record<string, string> = { add: "Add", sub: "Sub", mul: "Mul", div: "Div", pow: "Pow", maximum: "Max", minimum: "Min", matmul: "MatMul" };
const UNARY: Record<string, string> = { relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh", exp: "Exp", log: "Log", sqrt: "Sqrt", abs: "Abs", neg: "Neg", floor: "Floor", ceil: "Ceil", reciprocal: "Reciprocal" };

const axisOf = (v: unknown, rank: number, dflt: number): number => {
  const a = typeof v === "number" ? v : dflt;
  return a < 0 ? a + rank : a;
};

function functionRule(ctx: ExportContext, call: ExportCall): void {
  const f = call.module as FunctionCall;
  const a = f.args;
  const x = () => operand(ctx, call, a[0], 0);
  const rank = call.inputShapes[0]?.length ?? call.outputShape.length;
  const emit = (op: string, inputs: string[], attributes: AttributeProto[] = []) => void emitNode(ctx, call, op, inputs, attributes);
  if (BINARY[f.op]) return emit(BINARY[f.op], [x(), operand(ctx, call, a[1], 1)]);
  if (UNARY[f.op]) return emit(UNARY[f.op], [x()]);
  switch (f.op) {
    case "dropout":
      return ctx.bind(call.output, x());
    case "relu6":
    case "hardtanh":
    case "clamp": {
      const [lo, hi] = f.op === "relu6" ? [0, 6] : [a[1] as number | undefined, a[2] as number | undefined];
      const bound = (v: number | undefined, which: string) => (v === undefined || v === null ? "" : ctx.constant(floatTensorProto(`${call.path}.${which}`, [v], [])));
      return emit("Clip", [x(), bound(lo ?? (f.op === "hardtanh" ? -1 : undefined), "min"), bound(hi ?? (f.op === "hardtanh" ? 1 : undefined), "max")]);
    }
    case "concat":
      return emit("Concat", (a[0] as unknown[]).map((v, i) => operand(ctx, call, v, i)), [attr.int("axis", axisOf(a[1], call.outputShape.length, 0))]);
    case "reshape":
      return emit("Reshape", [x(), ctx.constant(int64TensorProto(`${call.path}.shape`, a[1] as number[]))]);
    case "flatten": {
      const start = axisOf(a[1], rank, 0);
      if (axisOf(a[2], rank, rank - 1) !== rank - 1) break;
      // ONNX Flatten always yields 2-D, which is torch.flatten only for start 1; else Reshape [0…, -1]
      if (start !== 1) return emit("Reshape", [x(), ctx.constant(int64TensorProto(`${call.path}.shape`, [...new Array<number>(start).fill(0), -1]))]);
      return emit("Flatten", [x()], [attr.int("axis", start)]);
    }
    case "transpose": {
      const perm = Array.from({ length: rank }, (_, i) => i);
      const [d0, d1] = [axisOf(a[1], rank, 0), axisOf(a[2], rank, 1)];
      [perm[d0], perm[d1]] = [perm[d1], perm[d0]];
      return emit("Transpose", [x()], [attr.ints("perm", perm)]);
    }
    case "permute":
      return emit("Transpose", [x()], [attr.ints("perm", (a[1] as number[]).map((d) => axisOf(d, rank, 0)))]);
    case "softmax":
    case "logSoftmax":
      return emit(f.op === "softmax" ? "Softmax" : "LogSoftmax", [x()], [attr.int("axis", axisOf(a[1], rank, rank - 1))]);
    case "linear": {
      if (rank !== 2 && transformerFunctionRule(ctx, call, f.op, a, (v, i) => operand(ctx, call, v, i))) return;
      const ins = [x(), operand(ctx, call, a[1], 1)];
      if (a[2] !== undefined && a[2] !== null) ins.push(operand(ctx, call, a[2], 2));
      return emit("Gemm", ins, [attr.int("transB", 1)]);
    }
    case "maxPool2d": {
      const k = typeof a[1] === "number" ? [a[1], a[1]] : (a[1] as number[]);
      const o = (a[2] ?? {}) as { stride?: number | number[]; padding?: number | number[] };
      const s = o.stride === undefined ? k : typeof o.stride === "number" ? [o.stride, o.stride] : o.stride;
      const p = o.padding === undefined ? [0, 0] : typeof o.padding === "number" ? [o.padding, o.padding] : o.padding;
      if ((o as { dilation?: unknown; ceilMode?: unknown }).dilation !== undefined || (o as { ceilMode?: unknown }).ceilMode) break;
      return emit("MaxPool", [x()], [attr.ints("kernel_shape", k), attr.ints("strides", s), attr.ints("pads", [p[0], p[1], p[0], p[1]])]);
    }
  }
  if (transformerFunctionRule(ctx, call, f.op, a, (v, i) => operand(ctx, call, v, i))) return;
  throw new NotSupportedError(`onnx export: functional op '${f.op}' (node ${call.path}) has no float ONNX mapping yet; wrap it in a module with an export rule`);
}

registerExportRule(FunctionCall, functionRule);
