/**
 * QDQ export of an Int8Model: float ONNX ops between QuantizeLinear / DequantizeLinear pairs,
 * the form onnxruntime's QDQ transformers fuse into integer kernels (QLinearConv, QGemm,
 * QLinearAdd, …) on x86 and that other runtimes read as "fake quantized".
 *
 *   input ─Q(Sx,Zx)→[Clip]→DQ→ Conv(DQ(w int8, Sw[c], axis 0), DQ(b int32, fround(Sx·Sw[c])))
 *         ─Q(Sy,Zy)→[Clip]→DQ→ …  ─Q→[Clip]→DQ→ output
 *
 * - Every int8 value is produced once as float by its op; each consumer gets its own
 *   QuantizeLinear → DequantizeLinear pair (onnxruntime fuses a node group only when its
 *   DQ inputs are not shared), the graph output one more.
 * - ReLU / ReLU6 / reduce_range are already in the int8 node's clamp [lo, hi] (ReLU is
 *   implicit when Zy = qmin); when the clamp is narrower than the storage range it becomes an
 *   integer Clip between Q and DQ (opset ≥ 12; PyTorch's own export does this for [0, 127]),
 *   which is exact and leaves Conv→Q adjacent so the fusion still applies. Below opset 12 a
 *   float Clip before the Q does it instead (exact up to float rounding at the bounds).
 * - MaxPool / Flatten keep their input's parameters (onnxruntime drops their Q/DQ);
 *   requantize is DQ→Q with the new parameters; avgpool2d is AveragePool → Q(Sx) → requantize;
 *   a table (lut) node is its float function (Sigmoid, Tanh, GELU's Erf form) between DQ and Q;
 *   pad / expand / resize / maximum / minimum / mean are Pad / Expand / Resize / Max / Min /
 *   ReduceMean between DQ and Q (export-int8-layout.ts).
 * - At opset ≥ 21 a conv / linear whose weightBits ≤ 4 and whose weights (and zero points) all
 *   lie in [-8, 7] stores them as packed INT4 (DequantizeLinear reads int4 from opset 21);
 *   below 21 they stay int8, numerically identical.
 * - Weights are uint8 (q + 128, zero points + 128) where `weightType` asks for it ("auto":
 *   where onnxruntime's fused u8×s8 AVX2 kernels could saturate; export-int8-weights.ts).
 * Opset ≥ 10 (per-tensor), ≥ 13 for per-axis weights. Registered as format "qdq".
 */
import type { Int8Node } from "../int8/graph.js";
import { attr, scalarTensorProto } from "./builders.js";
import { registerFormatExporter } from "./export.js";
import { emitLayoutNode } from "./export-int8-layout.js";
import { emitIntegerNode } from "./export-integer-ops.js";
import { type QuantEmitter, convAttributes, emitFlatten, emitLutFloat, emitSlice, emitIslandFloat, emitReshape, poolAttributes, quantizedFormatExporter, registerInt8Format } from "./export-int8.js";

interface Source {
  /** Float tensor whose QuantizeLinear gives the value. */
  float: string;
  /** Integer clamp after the QuantizeLinear (null: none needed). */
  clamp: [number, number] | null;
}

class QdqWriter {
  private readonly sources = new Map<string, Source>();

  constructor(private readonly em: QuantEmitter) {}

  run(): void {
    const g = this.em.model.graph;
    this.setSource(g.input.id, this.em.inputName, [g.input.q.qmin, g.input.q.qmax], "input");
    for (const e of this.em.extraInputs) this.setSource(e.value.id, e.name, [e.value.q.qmin, e.value.q.qmax], e.name);
    for (const n of g.nodes) this.node(n);
    this.dq(g.output, "output", this.em.outputName);
  }

  /** Records the float producer of a value; below opset 12 a needed clamp becomes a float Clip here. */
  private setSource(id: string, float: string, clamp: [number, number] | null, base: string): void {
    const q = this.em.value(id).q;
    const [qlo, qhi] = q.dtype === "uint8" ? [0, 255] : [-128, 127];
    const needed = clamp !== null && (clamp[0] > qlo || clamp[1] < qhi);
    if (!needed || this.em.opset >= 12) {
      this.sources.set(id, { float, clamp: needed ? clamp : null });
      return;
    }
    const s = Math.fround(q.scale);
    const [lo, hi] = [Math.fround(s * (clamp[0] - q.zeroPoint)), Math.fround(s * (clamp[1] - q.zeroPoint))];
    const y = this.em.ctx.temp(`${base}_clipped`);
    if (this.em.opset >= 11) {
      const bounds = [this.em.ctx.constant(scalarTensorProto(`${base}.clip_min`, lo)), this.em.ctx.constant(scalarTensorProto(`${base}.clip_max`, hi))];
      this.em.ctx.addNode("Clip", [float, ...bounds], [y], { name: `${base}/Clip` });
    } else {
      this.em.ctx.addNode("Clip", [float], [y], { name: `${base}/Clip`, attributes: [attr.float("min", lo), attr.float("max", hi)] });
    }
    this.sources.set(id, { float: y, clamp: null });
  }

  /** A fresh Q → [Clip] → DQ pair of value `id` for one consumer; returns the float DQ output. */
  private dq(id: string, consumer: string, outName?: string): string {
    const { ctx } = this.em;
    const v = this.em.value(id);
    const src = this.sources.get(id)!;
    if (v.int) return src.float; // int32 token ids and int64 shape arithmetic reach their readers as they are
    const [s, z] = this.em.qparams(v.q);
    const q = ctx.temp(`${consumer}/${id}_quantized`);
    ctx.addNode("QuantizeLinear", [src.float, s, z], [q], { name: `${consumer}/QuantizeLinear` });
    const c = src.clamp ? this.em.clampInt(q, src.clamp, v.q.dtype, `${consumer}/${id}`) : q;
    const y = outName ?? ctx.temp(`${consumer}/${id}_dequantized`);
    ctx.addNode("DequantizeLinear", [c, s, z], [y], { name: `${consumer}/DequantizeLinear` });
    return y;
  }

  /** The 8-bit tensor of value `id` (Q → [Clip]) for an integer-only consumer (softmax_int, layernorm_int). */
  private quantized(id: string, consumer: string): string {
    const v = this.em.value(id);
    const src = this.sources.get(id)!;
    const [s, z] = this.em.qparams(v.q);
    const q = this.em.ctx.temp(`${consumer}/${id}_quantized`);
    this.em.ctx.addNode("QuantizeLinear", [src.float, s, z], [q], { name: `${consumer}/QuantizeLinear` });
    return src.clamp ? this.em.clampInt(q, src.clamp, v.q.dtype, `${consumer}/${id}`) : q;
  }

  private out(n: Int8Node): string {
    return this.em.ctx.temp(`${n.name}_output`);
  }

  private node(n: Int8Node): void {
    const { ctx } = this.em;
    switch (n.op) {
      case "conv2d":
      case "linear": {
        const x = this.dq(n.inputs[0], n.name);
        const y = this.out(n);
        if (n.op === "linear" && this.em.value(n.inputs[0]).shape.length > 2) {
          // a linear layer on [..., K] (transformer tokens): MatMul with the [K, O] weight, then Add bias —
          // the form PyTorch exports and onnxruntime's quantizer writes for it
          const w = this.em.weight(n, { allowInt4: true, transposed: true, qdq: true });
          const b = this.em.bias(n, { ...w, axis: w.axis === undefined ? undefined : 0 });
          const mm = b ? ctx.temp(`${n.name}_matmul`) : y;
          ctx.addNode("MatMul", [x, this.em.dequantizeConst(w, `${n.name}.weight`)], [mm], { name: n.name });
          if (b) ctx.addNode("Add", [mm, this.em.dequantizeConst(b, `${n.name}.bias`)], [y], { name: `${n.name}/Add` });
          return this.setSource(n.output, y, n.clamp, n.name);
        }
        const w = this.em.weight(n, { allowInt4: true, qdq: true });
        const ins = [x, this.em.dequantizeConst(w, `${n.name}.weight`)];
        const b = this.em.bias(n, w);
        if (b) ins.push(this.em.dequantizeConst(b, `${n.name}.bias`));
        if (n.op === "conv2d") ctx.addNode("Conv", ins, [y], { name: n.name, attributes: convAttributes(n) });
        else ctx.addNode("Gemm", ins, [y], { name: n.name, attributes: [attr.int("transB", 1)] });
        return this.setSource(n.output, y, n.clamp, n.name);
      }
      case "add": {
        const y = this.out(n);
        ctx.addNode("Add", [this.dq(n.inputs[0], n.name), this.dq(n.inputs[1], n.name)], [y], { name: n.name });
        return this.setSource(n.output, y, n.clamp, n.name);
      }
      case "slice": {
        const y = this.out(n);
        emitSlice(this.em, this.dq(n.inputs[0], n.name), n, y);
        return this.setSource(n.output, y, null, n.name);
      }
      case "matmul":
      case "mul": {
        const y = this.out(n);
        ctx.addNode(n.op === "matmul" ? "MatMul" : "Mul", [this.dq(n.inputs[0], n.name), this.dq(n.inputs[1], n.name)], [y], { name: n.name });
        return this.setSource(n.output, y, n.clamp, n.name);
      }
      case "concat": {
        const y = this.out(n);
        ctx.addNode("Concat", n.inputs.map((i) => this.dq(i, n.name)), [y], { name: n.name, attributes: [attr.int("axis", n.axis)] });
        return this.setSource(n.output, y, null, n.name);
      }
      case "maxpool2d":
      case "avgpool2d": {
        const y = this.out(n);
        ctx.addNode(n.op === "maxpool2d" ? "MaxPool" : "AveragePool", [this.dq(n.inputs[0], n.name)], [y], { name: n.name, attributes: poolAttributes(n, this.em.opset) });
        return this.setSource(n.output, y, null, n.name);
      }
      case "globalavgpool": {
        const y = this.out(n);
        ctx.addNode("GlobalAveragePool", [this.dq(n.inputs[0], n.name)], [y], { name: n.name });
        return this.setSource(n.output, y, n.clamp, n.name);
      }
      case "requantize": {
        const x = this.dq(n.inputs[0], n.name);
        if (n.factor === undefined || n.factor === 1) return this.setSource(n.output, x, n.clamp, n.name);
        const y = this.out(n);
        ctx.addNode("Mul", [x, ctx.constant(scalarTensorProto(`${n.name}.factor`, n.factor))], [y], { name: n.name });
        return this.setSource(n.output, y, n.clamp, n.name);
      }
      case "lut": {
        const y = this.out(n);
        emitLutFloat(this.em, n, this.dq(n.inputs[0], n.name), y);
        return this.setSource(n.output, y, n.clamp, n.name);
      }
      case "flatten": {
        const y = this.out(n);
        emitFlatten(this.em, this.dq(n.inputs[0], n.name), n.startDim, n.name, y);
        return this.setSource(n.output, y, null, n.name);
      }
      case "reshape": {
        const y = this.out(n);
        emitReshape(this.em, this.dq(n.inputs[0], n.name), n, y);
        return this.setSource(n.output, y, null, n.name);
      }
      case "transpose": {
        const y = this.out(n);
        ctx.addNode("Transpose", [this.dq(n.inputs[0], n.name)], [y], { name: n.name, attributes: [attr.ints("perm", n.perm)] });
        return this.setSource(n.output, y, null, n.name);
      }
      case "pad":
      case "expand":
      case "resize":
      case "maximum":
      case "minimum":
      case "mean": {
        // DQ → op → Q (export-int8-layout.ts); pad / expand / resize keep the input's grid
        const y = this.out(n);
        emitLayoutNode(this.em, n, n.inputs.map((i) => this.dq(i, n.name)), y, false);
        return this.setSource(n.output, y, "clamp" in n ? n.clamp : null, n.name);
      }
      case "softmax_int":
      case "layernorm_int": {
        // integer ops on the quantized input (export-integer-ops.ts); the result dequantized for the next Q
        const q = ctx.temp(`${n.name}_quantized`);
        emitIntegerNode(this.em, n, this.quantized(n.inputs[0], n.name), q);
        const y = this.out(n);
        ctx.addNode("DequantizeLinear", [q, ...this.em.qparams(this.em.value(n.output).q)], [y], { name: `${n.name}/DequantizeLinear` });
        return this.setSource(n.output, y, null, n.name);
      }
      case "float": {
        const y = this.out(n);
        emitIslandFloat(this.em, n, n.inputs.map((i) => this.dq(i, n.name)), y);
        if (this.em.value(n.output).int) return void this.sources.set(n.output, { float: y, clamp: null }); // shape arithmetic: int64, read as is
        const q = this.em.value(n.output).q; // Int8Model quantizes into [qmin, qmax] (e.g. reduce_range's [0, 127])
        return this.setSource(n.output, y, [q.qmin, q.qmax], n.name);
      }
    }
  }
}

registerInt8Format("qdq", { minOpset: 10, emit: (em) => new QdqWriter(em).run() });
registerFormatExporter("qdq", quantizedFormatExporter("qdq", 10));
