/**
 * Import of dynamically quantized ONNX graphs (no QuantizeLinear / DequantizeLinear / QLinear*)
 * into a dynamic Int8Model (src/int8/graph-dynamic.ts): the forms export-dynamic.ts writes and
 * onnxruntime's tools write —
 *
 *   DynamicQuantizeLinear(x) → MatMulInteger(x_q, W, x_zp, w_zp) → Cast(float) → Mul(·, x_scale·w_scale)
 *     [→ Add(bias)]  ⇒ dynamic_linear (one DynamicQuantizeLinear may feed several MatMulIntegers,
 *     as onnxruntime's quantize_dynamic shares it between Q, K and V projections; int8 or uint8 W)
 *   com.microsoft MatMulNBits(A, B, scales[, zero_points][, —, bias]) ⇒ linear_nbits (float input)
 *   com.microsoft DynamicQuantizeLSTM ⇒ dynamic_lstm (./quant-import-dynamic-rnn.ts)
 *   any op the float importer has a kernel for (onnx-ops.ts) ⇒ a float island on float values
 *     (constant subgraphs are folded at import).
 * Called by importQuantizedGraph (import-quantized.ts) when isDynamicOnnxGraph holds.
 */
import { FormatError, NotSupportedError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { noGrad } from "../tensor/grad-mode.js";
import type { Int8Graph, Int8Node, ValueInfo } from "../int8/graph.js";
import { FLOAT_Q, f32Bits } from "../int8/graph-dynamic.js";
import { Int8Model, type IslandFn } from "../int8/model.js";
import { DataType, type ModelProto } from "./proto.js";
import { type IrGraph, type IrNode, describeNode } from "./graph.js";
import { readTensorProto } from "./tensor-proto.js";
import { GENERIC_OPS } from "./onnx-ops.js";
import { importDynamicLstm } from "./quant-import-dynamic-rnn.js";

const MS = "com.microsoft";
const STATIC_QUANT = new Set(["QuantizeLinear", "DequantizeLinear", "QGemm", "ConvInteger"]);

/** A graph with DynamicQuantizeLinear or MatMulNBits and no static quantization ops. */
export function isDynamicOnnxGraph(g: IrGraph): boolean {
  const dyn = g.nodes.some((n) => (n.domain === "" && n.opType === "DynamicQuantizeLinear") || (n.domain === MS && (n.opType === "MatMulNBits" || n.opType === "DynamicQuantizeLSTM")));
  return dyn && !g.nodes.some((n) => STATIC_QUANT.has(n.opType) || n.opType.startsWith("QLinear"));
}

export class DynamicImporter {
  readonly values = new Map<string, ValueInfo>();
  readonly consts = new Map<string, Tensor>();
  readonly nodes: Int8Node[] = [];
  readonly tensors = new Map<string, Int8Array | Int32Array>();
  readonly islands = new Map<string, IslandFn>();
  readonly done = new Set<number>();
  private count = 0;

  constructor(readonly g: IrGraph) {
    for (const [name, tp] of g.initializers) this.consts.set(name, readTensorProto(tp, `initializer '${name}'`));
  }

  define(name: string, shape: number[], source: string): ValueInfo {
    const v: ValueInfo = { id: `v${this.count++}`, shape, q: FLOAT_Q, source, float: true };
    this.values.set(name, v);
    return v;
  }

  value(name: string, n: IrNode): ValueInfo {
    const v = this.values.get(name);
    if (!v) throw new NotSupportedError(`onnx import (dynamic): ${describeNode(n)} reads '${name}', which is neither a float value nor a constant`);
    return v;
  }

  constOf(name: string, n: IrNode, what: string): Tensor {
    const t = this.consts.get(name);
    if (!t) throw new NotSupportedError(`onnx import (dynamic): ${describeNode(n)}: ${what} '${name}' must be a constant`);
    return t;
  }

  /** The only consumer of `name` (index), or null. */
  sole(name: string): IrNode | null {
    const c = this.g.consumers.get(name) ?? [];
    return c.length === 1 ? this.g.nodes[c[0]] : null;
  }

  key(n: IrNode): string {
    return n.name || `${n.opType}_${n.index}`;
  }
}


/** DynamicQuantizeLinear and the MatMulInteger chains it feeds (see the file header). */
function importDql(imp: DynamicImporter, d: IrNode): void {
  const x = imp.value(d.inputs[0], d);
  const [q, s, z] = d.outputs;
  for (const mi of imp.g.consumers.get(q) ?? []) {
    const m = imp.g.nodes[mi];
    const fail = (why: string): never => {
      throw new NotSupportedError(`onnx import (dynamic): ${describeNode(m)} after DynamicQuantizeLinear: ${why} (expected MatMulInteger → Cast → Mul by x_scale·w_scale [→ Add bias])`);
    };
    if (m.opType !== "MatMulInteger" || m.inputs[0] !== q || (m.inputs[2] ?? "") !== z) fail("not MatMulInteger(x_q, W, x_zero_point, w_zero_point)");
    const w = imp.constOf(m.inputs[1], m, "the weight");
    if (w.ndim !== 2 || (w.dtype !== "int8" && w.dtype !== "uint8")) fail(`the weight must be a 2-D int8 / uint8 constant, got ${w.dtype} [${w.shape.join(", ")}]`);
    const [k, nOut] = w.shape;
    const shift = w.dtype === "uint8" ? 128 : 0;
    const zt = m.inputs[3] ? imp.constOf(m.inputs[3], m, "the weight zero point") : null;
    if (zt && zt.size !== 1 && zt.size !== nOut) fail(`the weight zero point must be a scalar or [${nOut}]`);
    const cast = imp.sole(m.outputs[0]);
    if (!cast || cast.opType !== "Cast" || cast.attrs.int("to") !== DataType.FLOAT) fail("its output must go to one Cast(to=FLOAT)");
    const mul = imp.sole(cast!.outputs[0]);
    if (!mul || mul.opType !== "Mul") fail("the Cast must go to one Mul");
    const scaleName = mul!.inputs[0] === cast!.outputs[0] ? mul!.inputs[1] : mul!.inputs[0];
    const sp = imp.g.nodes.find((n) => n.opType === "Mul" && n.outputs[0] === scaleName);
    const wsName = sp ? (sp.inputs[0] === s ? sp.inputs[1] : sp.inputs[1] === s ? sp.inputs[0] : null) : null;
    if (!sp || !wsName) fail("the scale must be Mul(x_scale, w_scale)");
    const ws = imp.constOf(wsName!, sp!, "the weight scale");
    if (ws.size !== 1 && ws.size !== nOut) fail(`the weight scale must be a scalar or [${nOut}]`);
    let out = mul!.outputs[0];
    let bias: Tensor | null = null;
    const add = imp.sole(out);
    if (add && add.opType === "Add") {
      const other = add.inputs[0] === out ? add.inputs[1] : add.inputs[0];
      const b = imp.consts.get(other);
      if (b && b.size === nOut && b.dtype === "float32") {
        bias = b;
        out = add.outputs[0];
        imp.done.add(add.index);
      }
    }
    const name = imp.key(m);
    const wq = new Int8Array(nOut * k);
    for (let j = 0; j < k; j++) for (let c = 0; c < nOut; c++) wq[c * k + j] = w.data[j * nOut + c] - shift;
    const zps = Int32Array.from({ length: nOut }, (_, c) => (zt ? zt.data[zt.size === 1 ? 0 : c] : shift) - shift);
    imp.tensors.set(`${name}.weight`, wq);
    imp.tensors.set(`${name}.weight_scale`, f32Bits(ws.data as ArrayLike<number>));
    const hasZp = zps.some((v) => v !== 0);
    if (hasZp) imp.tensors.set(`${name}.weight_zero_point`, zps);
    if (bias) imp.tensors.set(`${name}.bias`, f32Bits(bias.data as ArrayLike<number>));
    const y = imp.define(out, [...x.shape.slice(0, -1), nOut], name);
    imp.nodes.push({
      op: "dynamic_linear", name, inputs: [x.id], output: y.id, wInt8: `${name}.weight`, wShape: [nOut, k], wScales: `${name}.weight_scale`,
      ...(hasZp ? { wZeroPoints: `${name}.weight_zero_point` } : {}), bias: bias ? `${name}.bias` : null, act: { granularity: "per_tensor", dtype: "uint8" }, weightBits: 8,
    });
    for (const n of [m, cast!, mul!, sp!]) imp.done.add(n.index);
  }
}

function importMatMulNBits(imp: DynamicImporter, n: IrNode): void {
  const fail = (why: string): never => {
    throw new NotSupportedError(`onnx import (dynamic): ${describeNode(n)}: ${why}`);
  };
  const x = imp.value(n.inputs[0], n);
  const k = n.attrs.int("K");
  const nOut = n.attrs.int("N");
  const bits = n.attrs.int("bits", 4);
  const bs = n.attrs.int("block_size");
  if (k === undefined || nOut === undefined || bs === undefined) fail("needs attributes K, N and block_size");
  if (![2, 4, 8].includes(bits)) fail(`bits ${bits} is not 2, 4 or 8`);
  if (n.inputs[4]) fail("g_idx (act-order) is not supported");
  const blocks = Math.ceil(k! / bs!);
  const b = imp.constOf(n.inputs[1], n, "B");
  if (b.dtype !== "uint8" || b.size !== (nOut! * blocks * bs! * bits) / 8) fail(`B must be uint8 [${nOut}, ${blocks}, ${(bs! * bits) / 8}], got ${b.dtype} [${b.shape.join(", ")}]`);
  const s = imp.constOf(n.inputs[2], n, "scales");
  if (s.dtype !== "float32" || s.size !== nOut! * blocks) fail(`scales must be float32 with ${nOut! * blocks} values`);
  const name = imp.key(n);
  let zeroPoints: string | null = null;
  if (n.inputs[3]) {
    const zp = imp.constOf(n.inputs[3], n, "zero_points");
    if (zp.dtype !== "uint8") fail(`zero_points must be packed uint8 (float zero points are not supported), got ${zp.dtype}`);
    const perRow = Math.ceil((blocks * bits) / 8);
    const per = 8 / bits;
    const z = new Int32Array(nOut! * blocks);
    for (let r = 0; r < nOut!; r++) for (let gi = 0; gi < blocks; gi++) z[r * blocks + gi] = (zp.data[r * perRow + Math.floor(gi / per)] >> ((gi % per) * bits)) & ((1 << bits) - 1);
    imp.tensors.set(`${name}.weight_zero_point`, z);
    zeroPoints = `${name}.weight_zero_point`;
  }
  const bias = n.inputs[5] ? imp.constOf(n.inputs[5], n, "bias") : null;
  imp.tensors.set(`${name}.weight_packed`, new Int8Array(Uint8Array.from(b.data as ArrayLike<number>).buffer));
  imp.tensors.set(`${name}.weight_scale`, f32Bits(s.data as ArrayLike<number>));
  if (bias) imp.tensors.set(`${name}.bias`, f32Bits(bias.data as ArrayLike<number>));
  const y = imp.define(n.outputs[0], [...x.shape.slice(0, -1), nOut!], name);
  imp.nodes.push({ op: "linear_nbits", name, inputs: [x.id], output: y.id, wPacked: `${name}.weight_packed`, wShape: [nOut!, k!], bits, blockSize: bs!, scales: `${name}.weight_scale`, zeroPoints, bias: bias ? `${name}.bias` : null, act: null });
}

/** A float op: folded when every input is constant, else a float island on float values. */
function importFloatOp(imp: DynamicImporter, n: IrNode): void {
  const compile = n.domain === "" ? GENERIC_OPS[n.opType] : undefined;
  if (n.opType === "Constant" && n.domain === "") {
    const t = n.attrs.tensor("value");
    if (!t) throw new NotSupportedError(`onnx import (dynamic): ${describeNode(n)} has no tensor 'value'`);
    imp.consts.set(n.outputs[0], t);
    return;
  }
  if (!compile) throw new NotSupportedError(`onnx import (dynamic): ${describeNode(n)}: op ${n.domain ? `${n.domain}::` : ""}${n.opType} is not supported (dynamic graphs: DynamicQuantizeLinear → MatMulInteger chains, MatMulNBits, and float ops ${Object.keys(GENERIC_OPS).join(", ")})`);
  if (n.outputs.length !== 1) throw new NotSupportedError(`onnx import (dynamic): ${describeNode(n)} has ${n.outputs.length} outputs; a float island has one`);
  const consts = n.inputs.map((name) => (name === "" ? null : imp.consts.get(name)));
  const kernel = compile({ opType: n.opType, where: describeNode(n), attrs: n.attrs, opset: imp.g.opset, consts });
  if (consts.every((c) => c !== undefined)) {
    imp.consts.set(n.outputs[0], noGrad(() => kernel(consts as (Tensor | null)[])));
    return;
  }
  const runtime = n.inputs.map((name, i) => (consts[i] === undefined ? imp.value(name, n) : null));
  const ins = runtime.filter((v): v is ValueInfo => v !== null);
  const name = `${imp.key(n)}#float`;
  imp.islands.set(name, (xs) => {
    let j = 0;
    return kernel(runtime.map((v, i) => (v ? xs[j++] : (consts[i] as Tensor | null))));
  });
  const y = imp.define(n.outputs[0], [...ins[0].shape], imp.key(n));
  // the output shape is known once it runs; declared as the first input's rank with unknown dims
  y.shape = ins[0].shape.map(() => -1);
  imp.nodes.push({ op: "float", name, inputs: ins.map((v) => v.id), output: y.id, fn: n.opType, source: imp.key(n) });
}

/** The dynamic Int8Model of an ONNX graph (see the file header). */
export function importDynamicGraph(model: ModelProto, g: IrGraph): Int8Model {
  const imp = new DynamicImporter(g);
  const inputs = g.inputs.map((i) => {
    if (i.elemType !== DataType.FLOAT) throw new NotSupportedError(`onnx import (dynamic): graph input '${i.name}' must be FLOAT`);
    return imp.define(i.name, (i.dims ?? []).map((d, k) => (typeof d === "number" && k > 0 ? d : -1)), i.name);
  });
  for (const n of g.nodes) {
    if (imp.done.has(n.index)) continue;
    if (n.domain === "" && n.opType === "DynamicQuantizeLinear") importDql(imp, n);
    else if (n.domain === MS && n.opType === "MatMulNBits") importMatMulNBits(imp, n);
    else if (n.domain === MS && n.opType === "DynamicQuantizeLSTM") importDynamicLstm(imp, n);
    else if (n.opType === "MatMulInteger" || n.opType === "Cast") throw new NotSupportedError(`onnx import (dynamic): ${describeNode(n)} is not part of a DynamicQuantizeLinear → MatMulInteger → Cast → Mul chain`);
    else importFloatOp(imp, n);
  }
  if (g.outputs.length !== 1) throw new NotSupportedError(`onnx import (dynamic): the graph has ${g.outputs.length} outputs; an Int8Model returns one`);
  const out = imp.values.get(g.outputs[0]);
  if (!out) throw new FormatError(`onnx import (dynamic): the graph output '${g.outputs[0]}' is not a computed float value`);
  const graph: Int8Graph = {
    input: inputs[0], ...(inputs.length > 1 ? { extraInputs: inputs.slice(1) } : {}), output: out.id,
    values: [...imp.values.values()], nodes: imp.nodes,
    meta: { producer: "qat-ts onnx import", format: "dynamic", source: model.producerName ?? "", graph: g.name },
  };
  return new Int8Model(graph, imp.tensors, imp.islands);
}
