/**
 * ONNX forms of the Int8Model nodes that move bytes on their input's grid (pad, expand,
 * resize) or compare / average on the output grid (maximum, minimum, mean), for both
 * quantized writers:
 *   pad     → Pad (mode, pads; the constant value DQ(value), or the integer itself on
 *             quantized tensors)           expand → Expand (shape [1, d1, …])
 *   resize  → Resize mode nearest with the node's scales and nearest attributes (sizes,
 *             the run-time batch then the static dims, when the model gave sizes); Resize-10 below 11
 *   maximum / minimum → Max / Min (the constant as its real value Sy·(c − Zy))
 *   mean    → ReduceMean (axes an attribute below opset 18, an input from then on)
 * In QDQ graphs each sits between DequantizeLinear and QuantizeLinear; the QOperator writer
 * runs pad / expand / resize on the quantized tensors (onnxruntime has int8 / uint8 kernels
 * for them) and Max / Min / ReduceMean between DequantizeLinear and QuantizeLinear (no
 * QLinear op exists for them). Called by export-qdq.ts and export-qoperator.ts.
 */
import { NotSupportedError } from "../tensor/errors.js";
import type { Int8Node } from "../int8/graph.js";
import { attr, floatTensorProto, int64TensorProto, scalarTensorProto } from "./builders.js";
import type { QuantEmitter } from "./export-int8.js";

export type LayoutInt8Node = Extract<Int8Node, { op: "pad" | "expand" | "resize" | "maximum" | "minimum" | "mean" }>;

/** Node kinds this file writes. */
export const LAYOUT_NODE_OPS = new Set<string>(["pad", "expand", "resize", "maximum", "minimum", "mean"]);

/** Whether the QOperator writer runs `n` on the quantized tensors (else between DQ and Q). */
export const runsOnIntegers = (n: LayoutInt8Node): boolean => n.op === "pad" || n.op === "expand" || n.op === "resize";

/**
 * Writes the ONNX op of `n` reading `xs` (float tensors, or the quantized ones when
 * `integers`) into `y`.
 */
export function emitLayoutNode(em: QuantEmitter, n: LayoutInt8Node, xs: string[], y: string, integers: boolean): void {
  const { ctx } = em;
  const i64 = (what: string, v: number[]) => ctx.constant(int64TensorProto(`${n.name}.${what}`, v));
  switch (n.op) {
    case "pad": {
      const q = em.value(n.inputs[0]).q;
      const real = Math.fround(Math.fround(q.scale) * (n.value - q.zeroPoint));
      const attributes = [attr.string("mode", n.mode)];
      if (em.opset >= 11) {
        const value = integers ? scalarTensorProto(`${n.name}.value`, n.value, q.dtype) : scalarTensorProto(`${n.name}.value`, real);
        return void ctx.addNode("Pad", [xs[0], i64("pads", n.pads), ctx.constant(value)], [y], { name: n.name, attributes });
      }
      if (integers) throw new NotSupportedError(`onnx export: Pad '${n.name}' on quantized tensors needs opset ≥ 11, got ${em.opset}`);
      return void ctx.addNode("Pad", [xs[0]], [y], { name: n.name, attributes: [...attributes, attr.ints("pads", n.pads), attr.float("value", real)] });
    }
    case "expand":
      return void ctx.addNode("Expand", [xs[0], i64("shape", [1, ...n.shape.slice(1)])], [y], { name: n.name });
    case "resize":
      return resize(em, n, xs[0], y);
    case "maximum":
    case "minimum": {
      const ins = [...xs];
      if (n.constant) {
        const q = em.value(n.output).q;
        const c = em.model.tensors.get(n.constant)!;
        ins.push(ctx.constant(floatTensorProto(`${n.name}.constant`, Array.from(c, (v) => Math.fround(q.scale) * (v - q.zeroPoint)), n.constShape ?? [1])));
      }
      if (ins.length === 1) return void ctx.addNode("Identity", ins, [y], { name: n.name });
      return void ctx.addNode(n.op === "maximum" ? "Max" : "Min", ins, [y], { name: n.name });
    }
    case "mean": {
      const keep = attr.int("keepdims", n.keepdims ? 1 : 0);
      if (em.opset >= 18) return void ctx.addNode("ReduceMean", [xs[0], i64("axes", n.axes)], [y], { name: n.name, attributes: [keep] });
      return void ctx.addNode("ReduceMean", [xs[0]], [y], { name: n.name, attributes: [keep, attr.ints("axes", n.axes)] });
    }
  }
}

/** Resize mode nearest: the model's scales, or sizes (the input's run-time batch, then the static dims) when it gave sizes. */
function resize(em: QuantEmitter, n: Extract<LayoutInt8Node, { op: "resize" }>, x: string, y: string): void {
  const { ctx } = em;
  const inShape = em.value(n.inputs[0]).shape;
  const outShape = em.value(n.output).shape;
  // scales as the model gave them; sizes when it gave sizes (or when float32 scales would not give these dims)
  const exact = !n.sizes && n.scales.every((s, i) => i === 0 || Math.floor(Math.fround(s) * inShape[i]) === outShape[i]);
  if (em.opset < 11) {
    if (n.coordinateMode !== "asymmetric" || n.nearestMode !== "simple" || !exact) throw new NotSupportedError(`onnx export: Resize '${n.name}' (${n.coordinateMode}, ${n.nearestMode}) needs opset ≥ 11, got ${em.opset}`);
    ctx.addNode("Resize", [x, ctx.constant(floatTensorProto(`${n.name}.scales`, n.scales))], [y], { name: n.name, attributes: [attr.string("mode", "nearest")] });
    return;
  }
  const legacy = n.nearestMode === "simple";
  if (legacy && n.coordinateMode !== "asymmetric") throw new NotSupportedError(`onnx export: Resize '${n.name}' uses the Resize-10 rounding with ${n.coordinateMode}`);
  const attributes = [attr.string("mode", "nearest"), attr.string("coordinate_transformation_mode", n.coordinateMode), attr.string("nearest_mode", legacy ? "floor" : n.nearestMode)];
  if (legacy && n.scales.some((s) => s < 1)) throw new NotSupportedError(`onnx export: Resize '${n.name}' downsamples with Resize-10's rounding; export at opset 10`);
  if (exact) {
    ctx.addNode("Resize", [x, "", ctx.constant(floatTensorProto(`${n.name}.scales`, n.scales))], [y], { name: n.name, attributes });
    return;
  }
  // sizes: the run-time batch, then the static dims
  const shape = ctx.temp(`${n.name}_shape`);
  ctx.addNode("Shape", [x], [shape], { name: `${n.name}/Shape` });
  const batch = ctx.temp(`${n.name}_batch`);
  const c = (what: string, v: number[]) => ctx.constant(int64TensorProto(`${n.name}.${what}`, v));
  ctx.addNode("Slice", [shape, c("batch_start", [0]), c("batch_end", [1])], [batch], { name: `${n.name}/Slice` });
  const sizes = ctx.temp(`${n.name}_sizes`);
  ctx.addNode("Concat", [batch, c("dims", outShape.slice(1))], [sizes], { name: `${n.name}/Concat`, attributes: [attr.int("axis", 0)] });
  ctx.addNode("Resize", [x, "", "", sizes], [y], { name: n.name, attributes });
}
