/**
 * QOperator export of an Int8Model: integer tensors flow between quantized operators, float
 * only at the two ends.
 *
 *   input ─QuantizeLinear→[Clip]→ QLinearConv ─[Clip]→ MaxPool (uint8) → … → QGemm ─[Clip]→
 *         DequantizeLinear → output
 *
 * Per int8 node:
 *   conv2d       QLinearConv (int8 weights — uint8 + 128 where `weightType` asks for it on a
 *                uint8 input, export-int8-weights.ts — per-channel w_scale / w_zero_point, int32 bias)
 *   linear       com.microsoft QGemm with transB = 1 and the int32 bias as C: onnxruntime's CPU
 *                kernel, and what its own QDQ fusion produces for Gemm. (QLinearMatMul has no
 *                bias input; adding the bias after requantization with QLinearAdd would round
 *                twice and clamp a fused ReLU before the bias, so it is not exact.)
 *                on [..., K] inputs: Reshape to rows → QGemm → Reshape back (emitRowsGemm)
 *   matmul       QLinearMatMul (two quantized activations: attention's Q·Kᵀ, P·V)
 *   mul          com.microsoft QLinearMul
 *   add          com.microsoft QLinearAdd
 *   concat       com.microsoft QLinearConcat
 *   maxpool2d    MaxPool directly on uint8 / int8 (opset ≥ 12)
 *   avgpool2d    com.microsoft QLinearAveragePool (same scale in and out)
 *   globalavgpool com.microsoft QLinearGlobalAveragePool (channels_last = 0)
 *   requantize   DequantizeLinear → QuantizeLinear
 *   flatten      Flatten / Reshape on the quantized tensor
 * A node's clamp narrower than the storage range (ReLU6, reduce_range) is an integer Clip after
 * it. onnxruntime requantizes in float (x·scale rounded half to even) where we use fixed-point
 * multipliers: ±1 LSB at rounding ties. Opset ≥ 12. Registered as format "qoperator".
 */
import type { Int8Node, QParams } from "../int8/graph.js";
import { attr, scalarTensorProto } from "./builders.js";
import { emitLayoutNode } from "./export-int8-layout.js";
import { registerFormatExporter } from "./export.js";
import { emitIntegerNode } from "./export-integer-ops.js";
import { type QuantEmitter, emitFlatten, emitLutFloat, emitRowsGemm, emitSlice, emitIslandFloat, emitReshape, poolAttributes, quantizedFormatExporter, registerInt8Format, convAttributes } from "./export-int8.js";

const MS = "com.microsoft";

class QopWriter {
  /** The quantized tensor name of each int8 value. */
  private readonly names = new Map<string, string>();

  constructor(private readonly em: QuantEmitter) {}

  run(): void {
    const { ctx } = this.em;
    const g = this.em.model.graph;
    if (g.input.int) this.names.set(g.input.id, this.em.inputName); // int32 token ids: no quantization
    else {
      const q = ctx.temp("input_quantized");
      ctx.addNode("QuantizeLinear", [this.em.inputName, ...this.em.qparams(g.input.q)], [q], { name: "input/QuantizeLinear" });
      this.names.set(g.input.id, this.em.clampInt(q, [g.input.q.qmin, g.input.q.qmax], g.input.q.dtype, "input"));
    }
    for (const e of this.em.extraInputs) {
      const qe = ctx.temp(`${e.name}_quantized`);
      ctx.addNode("QuantizeLinear", [e.name, ...this.em.qparams(e.value.q)], [qe], { name: `${e.name}/QuantizeLinear` });
      this.names.set(e.value.id, this.em.clampInt(qe, [e.value.q.qmin, e.value.q.qmax], e.value.q.dtype, e.name));
    }
    for (const n of g.nodes) this.node(n);
    const out = this.em.value(g.output).q;
    ctx.addNode("DequantizeLinear", [this.name(g.output), ...this.em.qparams(out)], [this.em.outputName], { name: "output/DequantizeLinear" });
  }

  private name(id: string): string {
    return this.names.get(id)!;
  }

  /** The value's tensor with its scale and zero point: the (x, x_scale, x_zero_point) triple. */
  private triple(id: string): string[] {
    return [this.name(id), ...this.em.qparams(this.em.value(id).q)];
  }

  private q(n: Int8Node): QParams {
    return this.em.value(n.output).q;
  }

  /** Names the node's output, with its clamp as an integer Clip when it is narrower than the storage range. */
  private define(n: Int8Node, y: string, clamp: [number, number] | null): void {
    this.names.set(n.output, clamp ? this.em.clampInt(y, clamp, this.q(n).dtype, n.name) : y);
  }

  private node(n: Int8Node): void {
    const { ctx } = this.em;
    const y = ctx.temp(`${n.name}_output`);
    const out = () => this.em.qparams(this.q(n));
    switch (n.op) {
      case "conv2d":
      case "linear": {
        const w = this.em.weight(n);
        const b = this.em.biasData(n);
        if (n.op === "conv2d") {
          const ins = [...this.triple(n.inputs[0]), w.data, w.scale, w.zeroPoint, ...out(), ...(b ? [b] : [])];
          ctx.addNode("QLinearConv", ins, [y], { name: n.name, attributes: convAttributes(n) });
        } else {
          const [x, ...xq] = this.triple(n.inputs[0]);
          emitRowsGemm(this.em, n, x, y, (x2d, y2d) => {
            const ins = [x2d, ...xq, w.data, w.scale, w.zeroPoint, b ?? "", ...out()];
            ctx.addNode("QGemm", ins, [y2d], { name: n.name, domain: MS, attributes: [attr.int("transB", 1)] });
          });
        }
        return this.define(n, y, n.clamp);
      }
      case "add":
        ctx.addNode("QLinearAdd", [...this.triple(n.inputs[0]), ...this.triple(n.inputs[1]), ...out()], [y], { name: n.name, domain: MS });
        return this.define(n, y, n.clamp);
      case "concat":
        ctx.addNode("QLinearConcat", [...out(), ...n.inputs.flatMap((i) => this.triple(i))], [y], { name: n.name, domain: MS, attributes: [attr.int("axis", n.axis)] });
        return this.define(n, y, null);
      case "maxpool2d":
        ctx.addNode("MaxPool", [this.name(n.inputs[0])], [y], { name: n.name, attributes: poolAttributes(n, this.em.opset) });
        return this.define(n, y, null);
      case "avgpool2d":
        ctx.addNode("QLinearAveragePool", [...this.triple(n.inputs[0]), ...out()], [y], { name: n.name, domain: MS, attributes: [...poolAttributes(n, this.em.opset), attr.int("channels_last", 0)] });
        return this.define(n, y, null);
      case "globalavgpool":
        ctx.addNode("QLinearGlobalAveragePool", [...this.triple(n.inputs[0]), ...out()], [y], { name: n.name, domain: MS, attributes: [attr.int("channels_last", 0)] });
        return this.define(n, y, n.clamp);
      case "requantize":
        this.viaFloat(n, y, ([f]) => {
          if (n.factor === undefined || n.factor === 1) return f;
          const g = ctx.temp(`${n.name}_scaled`);
          ctx.addNode("Mul", [f, ctx.constant(scalarTensorProto(`${n.name}.factor`, n.factor))], [g], { name: `${n.name}/Mul` });
          return g;
        });
        return this.define(n, y, n.clamp);
      case "slice":
        emitSlice(this.em, this.name(n.inputs[0]), n, y);
        return this.define(n, y, null);
      case "matmul":
        ctx.addNode("QLinearMatMul", [...this.triple(n.inputs[0]), ...this.triple(n.inputs[1]), ...out()], [y], { name: n.name });
        return this.define(n, y, n.clamp);
      case "mul":
        ctx.addNode("QLinearMul", [...this.triple(n.inputs[0]), ...this.triple(n.inputs[1]), ...out()], [y], { name: n.name, domain: MS });
        return this.define(n, y, n.clamp);
      case "lut": {
        if (n.fn === "sigmoid") {
          ctx.addNode("QLinearSigmoid", [...this.triple(n.inputs[0]), ...out()], [y], { name: n.name, domain: MS });
          return this.define(n, y, n.clamp);
        }
        // no QLinear form in onnxruntime: the float function between DequantizeLinear and QuantizeLinear
        this.viaFloat(n, y, ([f]) => {
          const g = ctx.temp(`${n.name}_float`);
          emitLutFloat(this.em, n, f, g);
          return g;
        });
        return this.define(n, y, n.clamp);
      }
      case "flatten":
        emitFlatten(this.em, this.name(n.inputs[0]), n.startDim, n.name, y);
        return this.define(n, y, null);
      case "reshape":
        emitReshape(this.em, this.name(n.inputs[0]), n, y);
        return this.define(n, y, null);
      case "transpose":
        ctx.addNode("Transpose", [this.name(n.inputs[0])], [y], { name: n.name, attributes: [attr.ints("perm", n.perm)] });
        return this.define(n, y, null);
      case "pad":
      case "expand":
      case "resize":
        emitLayoutNode(this.em, n, [this.name(n.inputs[0])], y, true); // on the quantized tensor (export-int8-layout.ts)
        return this.define(n, y, null);
      case "maximum":
      case "minimum":
      case "mean":
        // no QLinear form: DQ → Max / Min / ReduceMean → Q
        this.viaFloat(n, y, (floats) => {
          const f = ctx.temp(`${n.name}_float`);
          emitLayoutNode(this.em, n, floats, f, false);
          return f;
        });
        return this.define(n, y, n.clamp);
      case "softmax_int":
      case "layernorm_int":
        emitIntegerNode(this.em, n, this.name(n.inputs[0]), y); // integer ops on the quantized tensors (export-integer-ops.ts)
        return this.define(n, y, null);
      case "float":
        if (this.em.value(n.output).int) {
          // integer-valued shape arithmetic: the op's own int64 output, read as is
          emitIslandFloat(this.em, n, n.inputs.map((id, k) => (this.em.value(id).int ? this.name(id) : this.dequantize(n, id, k))), y);
          return void this.names.set(n.output, y);
        }
        this.viaFloat(n, y, (floats) => {
          const f = ctx.temp(`${n.name}_float`);
          emitIslandFloat(this.em, n, floats, f);
          return f;
        });
        return this.define(n, y, [this.q(n).qmin, this.q(n).qmax]);
    }
  }

  /** The k-th input of `n` dequantized to float. */
  private dequantize(n: Int8Node, id: string, k: number): string {
    const f = this.em.ctx.temp(`${n.name}_in${k}_float`);
    this.em.ctx.addNode("DequantizeLinear", this.triple(id), [f], { name: `${n.name}/DequantizeLinear_${k}` });
    return f;
  }

  /**
   * y = QuantizeLinear(emit(DequantizeLinear of each input)): an op with no QLinear form runs in
   * float between the two (int32 token ids reach it as they are). `emit` returns its float output.
   */
  private viaFloat(n: Int8Node, y: string, emit: (floats: string[]) => string): void {
    const { ctx } = this.em;
    const floats = n.inputs.map((id, k) => (this.em.value(id).int ? this.name(id) : this.dequantize(n, id, k)));
    ctx.addNode("QuantizeLinear", [emit(floats), ...this.em.qparams(this.q(n))], [y], { name: `${n.name}/QuantizeLinear` });
  }
}

registerInt8Format("qoperator", { minOpset: 12, emit: (em) => new QopWriter(em).run() });
registerFormatExporter("qoperator", quantizedFormatExporter("qoperator", 12));
