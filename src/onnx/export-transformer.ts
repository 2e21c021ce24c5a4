/**
 * Float ONNX export of the transformer layers and functional ops (additive to op-map.ts and the
 * FunctionCall rule of export-graph.ts, which calls `transformerFunctionRule` for ops it does
 * not know). Mappings:
 *   LayerNorm / layerNorm → LayerNormalization (opset ≥ 17), else ReduceMean/Sub/Mul/Sqrt/Div
 *   GELU / gelu           → Erf form 0.5·x·(1 + Erf(x/√2)) (tanh form with Tanh)
 *   erf → Erf;  Embedding / embedding → Gather(axis 0);  Softmax → Softmax;  Tanh → Tanh
 *   slice → Slice;  where → Where (a uint8 mask constant becomes a bool initializer)
 *   pad → Pad (constant mode);  linear above rank 2 → Transpose + MatMul + Add
 * Called by export-graph.ts (imported there, which also registers the module rules).
 */
import { NotSupportedError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { GELU, Softmax, Tanh } from "../nn/layers/activation.js";
import { Embedding } from "../nn/layers/embedding.js";
import { LayerNorm } from "../nn/layers/normalization.js";
import { attr, floatTensorProto, int64TensorProto, tensorProto } from "./builders.js";
import type { ExportContext } from "./export-context.js";
import { type ExportCall, emitNode, registerExportRule } from "./op-map.js";
import { type AttributeProto, DataType } from "./proto.js";

const at = (call: ExportCall, suffix: string): string => (call.path ? `${call.path}.${suffix}` : suffix);
const scalar = (ctx: ExportContext, call: ExportCall, name: string, v: number): string => ctx.constant(floatTensorProto(at(call, name), [v], []));

/** Emits `op` into a temp value (or the call's output when last) and returns its name. */
function step(ctx: ExportContext, call: ExportCall, op: string, inputs: string[], last: boolean, attributes: AttributeProto[] = []): string {
  if (last) return emitNode(ctx, call, op, inputs, attributes);
  const out = ctx.temp(at(call, op.toLowerCase()));
  ctx.addNode(op, inputs, [out], { name: at(call, op.toLowerCase()), attributes });
  return out;
}

/** LayerNormalization (opset ≥ 17) or its decomposition over the last `k` axes. */
export function emitLayerNorm(ctx: ExportContext, call: ExportCall, x: string, rank: number, k: number, weight: string | null, bias: string | null, eps: number, n: number): void {
  if (ctx.opset >= 17) {
    const w = weight ?? ctx.constant(floatTensorProto(at(call, "ones"), new Array(n).fill(1), [n]));
    emitNode(ctx, call, "LayerNormalization", bias ? [x, w, bias] : [x, w], [attr.int("axis", -k), attr.float("epsilon", eps)]);
    return;
  }
  const axes = Array.from({ length: k }, (_, i) => rank - k + i);
  const mean = step(ctx, call, "ReduceMean", [x], false, [attr.ints("axes", axes)]);
  const d = step(ctx, call, "Sub", [x, mean], false);
  const sq = step(ctx, call, "Mul", [d, d], false);
  const v = step(ctx, call, "ReduceMean", [sq], false, [attr.ints("axes", axes)]);
  const ve = step(ctx, call, "Add", [v, scalar(ctx, call, "eps", eps)], false);
  const sd = step(ctx, call, "Sqrt", [ve], false);
  const xh = step(ctx, call, "Div", [d, sd], !weight && !bias);
  if (!weight && !bias) return;
  const scaled = weight ? step(ctx, call, "Mul", [xh, weight], !bias) : xh;
  if (bias) step(ctx, call, "Add", [scaled, bias], true);
}

/** GELU with Erf (exact) or Tanh (approximate "tanh"). */
export function emitGelu(ctx: ExportContext, call: ExportCall, x: string, approximate: string): void {
  if (approximate === "tanh") {
    const x3 = step(ctx, call, "Mul", [step(ctx, call, "Mul", [x, x], false), x], false);
    const inner = step(ctx, call, "Add", [x, step(ctx, call, "Mul", [x3, scalar(ctx, call, "c", 0.044715)], false)], false);
    const t = step(ctx, call, "Tanh", [step(ctx, call, "Mul", [inner, scalar(ctx, call, "k", Math.sqrt(2 / Math.PI))], false)], false);
    const onePlus = step(ctx, call, "Add", [t, scalar(ctx, call, "one", 1)], false);
    step(ctx, call, "Mul", [step(ctx, call, "Mul", [x, scalar(ctx, call, "half", 0.5)], false), onePlus], true);
    return;
  }
  const e = step(ctx, call, "Erf", [step(ctx, call, "Div", [x, scalar(ctx, call, "sqrt2", Math.SQRT2)], false)], false);
  const onePlus = step(ctx, call, "Add", [e, scalar(ctx, call, "one", 1)], false);
  step(ctx, call, "Mul", [step(ctx, call, "Mul", [x, scalar(ctx, call, "half", 0.5)], false), onePlus], true);
}

registerExportRule(LayerNorm, (ctx, call) => {
  const m = call.module as LayerNorm;
  const w = m.weight ? ctx.initializer(m.weight, at(call, "weight")) : null;
  const b = m.bias ? ctx.initializer(m.bias, at(call, "bias")) : null;
  const n = m.normalizedShape.reduce((p, d) => p * d, 1);
  emitLayerNorm(ctx, call, call.inputs[0], call.inputShapes[0].length, m.normalizedShape.length, w, b, m.eps, n);
});
registerExportRule(GELU, (ctx, call) => emitGelu(ctx, call, call.inputs[0], (call.module as GELU).approximate));
registerExportRule(Softmax, (ctx, call) => {
  const rank = call.inputShapes[0].length;
  const d = (call.module as Softmax).dim;
  const axis = d < 0 ? d + rank : d;
  if (ctx.opset < 13 && axis !== rank - 1) throw new NotSupportedError(`onnx export: '${call.path}' Softmax over axis ${axis} (not the last) needs opset ≥ 13`);
  emitNode(ctx, call, "Softmax", call.inputs, [attr.int("axis", axis)]);
});
registerExportRule(Tanh, (ctx, call) => void emitNode(ctx, call, "Tanh", call.inputs));
registerExportRule(Embedding, (ctx, call) => {
  const m = call.module as Embedding;
  emitNode(ctx, call, "Gather", [ctx.initializer(m.weight, at(call, "weight")), call.inputs[0]], [attr.int("axis", 0)]);
});

/** Resolves argument i of a functional op to a value name (dynamic input or initializer). */
export type OperandOf = (a: unknown, i: number) => string;

/**
 * Emits a functional op the generic FunctionCall rule does not map; returns false when `op` is
 * not one of these. `args` are the bound arguments (tensors for constants, {input: k} for inputs).
 */
export function transformerFunctionRule(ctx: ExportContext, call: ExportCall, op: string, args: unknown[], operand: OperandOf): boolean {
  const rank = call.inputShapes[0]?.length ?? call.outputShape.length;
  const ax = (v: unknown, r: number, dflt: number) => {
    const a = typeof v === "number" ? v : dflt;
    return a < 0 ? a + r : a;
  };
  switch (op) {
    case "erf":
      emitNode(ctx, call, "Erf", [operand(args[0], 0)]);
      return true;
    case "gelu":
      emitGelu(ctx, call, operand(args[0], 0), (args[1] as string | undefined) ?? "none");
      return true;
    case "layerNorm": {
      const ns = typeof args[1] === "number" ? [args[1]] : (args[1] as number[]);
      const w = args[2] ? operand(args[2], 2) : null;
      const b = args[3] ? operand(args[3], 3) : null;
      const xRank = args[0] instanceof Tensor ? args[0].ndim : rank;
      emitLayerNorm(ctx, call, operand(args[0], 0), xRank, ns.length, w, b, (args[4] as number | undefined) ?? 1e-5, ns.reduce((p, d) => p * d, 1));
      return true;
    }
    case "embedding":
      emitNode(ctx, call, "Gather", [operand(args[1], 1), operand(args[0], 0)], [attr.int("axis", 0)]);
      return true;
    case "slice": {
      if (ctx.opset < 10) return false;
      const inShape = args[0] instanceof Tensor ? args[0].shape : call.inputShapes[0];
      const a = ax(args[1], inShape.length, 0);
      const int64 = (name: string, v: number) => ctx.constant(int64TensorProto(at(call, name), [v]));
      const n = inShape[a];
      const end = args[3] === undefined || args[3] === null ? n : Math.min(args[3] as number, n);
      emitNode(ctx, call, "Slice", [operand(args[0], 0), int64("starts", args[2] as number), int64("ends", end), int64("axes", a), int64("steps", (args[4] as number | undefined) ?? 1)]);
      return true;
    }
    case "where": {
      const c = args[0];
      const cond = c instanceof Tensor ? ctx.constant({ ...tensorProto(at(call, "cond"), { dtype: "uint8", shape: c.shape, data: Uint8Array.from(c.data, (v) => (v ? 1 : 0)) }), dataType: DataType.BOOL }) : null;
      if (!cond) return false; // a dynamic condition would need a Cast from our uint8 masks
      emitNode(ctx, call, "Where", [cond, operand(args[1], 1), operand(args[2], 2)]);
      return true;
    }
    case "pad": {
      if (ctx.opset < 11) return false;
      const pads = args[1] as number[];
      const before = new Array<number>(rank).fill(0);
      const after = new Array<number>(rank).fill(0);
      for (let i = 0; i < pads.length / 2; i++) {
        before[rank - 1 - i] = pads[2 * i];
        after[rank - 1 - i] = pads[2 * i + 1];
      }
      const value = (args[2] as number | undefined) ?? 0;
      emitNode(ctx, call, "Pad", [operand(args[0], 0), ctx.constant(int64TensorProto(at(call, "pads"), [...before, ...after])), scalar(ctx, call, "value", value)]);
      return true;
    }
    case "linear": {
      const x = operand(args[0], 0);
      const w = operand(args[1], 1);
      const wt = ctx.temp(at(call, "weight_t"));
      ctx.addNode("Transpose", [w], [wt], { name: at(call, "transpose"), attributes: [attr.ints("perm", [1, 0])] });
      const hasBias = args[2] !== undefined && args[2] !== null;
      const mm = step(ctx, call, "MatMul", [x, wt], !hasBias);
      if (hasBias) step(ctx, call, "Add", [mm, operand(args[2], 2)], true);
      return true;
    }
  }
  return false;
}
