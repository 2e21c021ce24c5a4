/**
 * ONNX export of dynamic Int8Models (float values between run-time quantized Linear layers,
 * src/int8/graph-dynamic.ts), in the forms onnxruntime's own tools write:
 *
 *   dynamic_linear (per tensor, uint8) — onnxruntime.quantization.quantize_dynamic's MatMul:
 *     DynamicQuantizeLinear(x) → (x_q, x_scale, x_zp); MatMulInteger(x_q, W_q[K, N], x_zp, w_zp)
 *     → Cast(float) → Mul(·, Mul(x_scale, w_scale)) → Add(bias)
 *     the same float32 operations as the Int8Model kernel, so the outputs are equal bit for bit.
 *     Weights go as int8 (QInt8) when they lie in [−64, 64] and as uint8 = w + 128 (QUInt8)
 *     otherwise: onnxruntime's u8×s8 AVX2 kernel saturates int16 pair sums beyond that
 *     (measured: every output of a full-range int8 MLP off, up to 0.08).
 *   linear_nbits — com.microsoft MatMulNBits (bits, block_size, K, N; B uint8 [N, blocks,
 *     blob], scales [N·blocks], packed zero points, bias); a run-time quantized input is
 *     written as its quantize-dequantize in float ops first (ReduceMin/Max per row or tensor,
 *     onnxruntime's parameter rule, Round, Clip), since MatMulNBits only takes float inputs:
 *     equal to the Int8Model within float summation order.
 *   float islands — the float op itself (emitIslandFloat) on float inputs.
 *   dynamic_lstm / dynamic_gru — ./export-dynamic-rnn.ts (DynamicQuantizeLSTM; an unrolled GRU).
 * Called by exportInt8Model (export-int8.ts) for graphs whose input is a float value.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import type { Int8Node } from "../int8/graph.js";
import { type DynamicActivation, type DynamicLinearNode, type LinearNBitsNode, bitsF32, packCodes, unpackCodes } from "../int8/graph-dynamic.js";
import { attr, floatTensorProto, int64TensorProto, scalarTensorProto, tensorProto } from "./builders.js";
import { type QuantEmitter, emitIslandFloat } from "./export-int8.js";
import { DataType } from "./proto.js";
import { emitDynamicRnn } from "./export-dynamic-rnn.js";

const MS = "com.microsoft";

/** Is this the graph of a dynamic model (float input)? */
export function isDynamicGraph(g: { input: { float?: boolean } }): boolean {
  return g.input.float === true;
}

function f32Of(em: QuantEmitter, key: string): Float32Array {
  const t = em.model.tensors.get(key);
  if (!(t instanceof Int32Array)) throw new ValueError(`onnx export: tensor '${key}' is not a float32-bits tensor`);
  return bitsF32(t);
}

export function emitDynamicLinear(em: QuantEmitter, n: DynamicLinearNode, x: string, y: string): void {
  if (n.act.granularity !== "per_tensor" || n.act.dtype !== "uint8") {
    throw new NotSupportedError(`onnx export: '${n.name}' quantizes its input ${n.act.granularity} to ${n.act.dtype}; DynamicQuantizeLinear is per tensor uint8 (use the dynamic preset, or grouped weights for MatMulNBits)`);
  }
  if (em.opset < 11) throw new NotSupportedError(`onnx export: DynamicQuantizeLinear needs opset ≥ 11, got ${em.opset}`);
  const ctx = em.ctx;
  const [nOut, k] = n.wShape;
  const w = em.model.tensors.get(n.wInt8) as Int8Array;
  // int8 weights (quantize_dynamic's default QInt8) when they fit [−64, 64]: onnxruntime's u8×s8 AVX2
  // kernel adds pairs of u8·s8 products in int16 (vpmaddubsw), exact only then; wider weights go as
  // uint8 = w + 128 with zero point + 128 (QuantType.QUInt8), whose u8×u8 kernel is exact everywhere
  const u8 = w.some((v) => v < -64 || v > 64);
  const shift = u8 ? 128 : 0;
  const wt = u8 ? new Uint8Array(k * nOut) : new Int8Array(k * nOut);
  for (let c = 0; c < nOut; c++) for (let j = 0; j < k; j++) wt[j * nOut + c] = w[c * k + j] + shift;
  const ws = f32Of(em, n.wScales);
  const zps = (n.wZeroPoints ? Array.from(em.model.tensors.get(n.wZeroPoints)!) : new Array<number>(nOut).fill(0)).map((z) => z + shift);
  const dtype = u8 ? "uint8" : "int8";
  const wName = ctx.constant(tensorProto(`${n.name}.weight_quantized`, { dtype, shape: [k, nOut], data: wt }));
  const perChannel = ws.length > 1 || zps.some((z) => z !== zps[0]);
  const sName = ctx.constant(perChannel ? floatTensorProto(`${n.name}.weight_scale`, Array.from(ws.length > 1 ? ws : new Float32Array(nOut).fill(ws[0]))) : scalarTensorProto(`${n.name}.weight_scale`, ws[0]));
  const zName = ctx.constant(perChannel ? tensorProto(`${n.name}.weight_zero_point`, { dtype, shape: [nOut], data: zps }) : scalarTensorProto(`${n.name}.weight_zero_point`, zps[0], dtype));
  const [xq, xs, xz] = [ctx.temp(`${n.name}.input_quantized`), ctx.temp(`${n.name}.input_scale`), ctx.temp(`${n.name}.input_zero_point`)];
  ctx.addNode("DynamicQuantizeLinear", [x], [xq, xs, xz], { name: `${n.name}/DynamicQuantizeLinear` });
  const acc = ctx.temp(`${n.name}.acc`);
  ctx.addNode("MatMulInteger", [xq, wName, xz, zName], [acc], { name: `${n.name}/MatMulInteger` });
  const accF = ctx.temp(`${n.name}.acc_float`);
  ctx.addNode("Cast", [acc], [accF], { name: `${n.name}/Cast`, attributes: [attr.int("to", DataType.FLOAT)] });
  const scale = ctx.temp(`${n.name}.output_scale`);
  ctx.addNode("Mul", [xs, sName], [scale], { name: `${n.name}/ScaleMul` });
  if (!n.bias) {
    ctx.addNode("Mul", [accF, scale], [y], { name: `${n.name}/Mul` });
    return;
  }
  const y0 = ctx.temp(`${n.name}.scaled`);
  ctx.addNode("Mul", [accF, scale], [y0], { name: `${n.name}/Mul` });
  ctx.addNode("Add", [y0, ctx.constant(floatTensorProto(`${n.name}.bias`, Array.from(f32Of(em, n.bias))))], [y], { name: `${n.name}/Add` });
}

/** Quantize-dequantize of x in float ops with the run-time parameters of `act` (see the file header). */
function emitDynamicFakeQuant(em: QuantEmitter, act: DynamicActivation, x: string, base: string): string {
  const ctx = em.ctx;
  const [qmin, qmax] = act.dtype === "uint8" ? [0, 255] : [-128, 127];
  const c = (name: string, v: number) => ctx.constant(scalarTensorProto(`${base}.${name}`, v));
  const t = (name: string) => ctx.temp(`${base}.${name}`);
  const node = (op: string, ins: string[], name: string, attributes?: ReturnType<typeof attr.int>[]) => {
    const o = t(name);
    ctx.addNode(op, ins, [o], { name: `${base}/${name}`, ...(attributes ? { attributes } : {}) });
    return o;
  };
  const reduce = (op: string, name: string): string => {
    const perRow = act.granularity === "per_token";
    if (em.opset >= 18) {
      const ins = perRow ? [x, ctx.constant(int64TensorProto(`${base}.axes`, [-1]))] : [x];
      return node(op, ins, name, [attr.int("keepdims", perRow ? 1 : 0)]);
    }
    return node(op, [x], name, perRow ? [attr.ints("axes", [-1]), attr.int("keepdims", 1)] : [attr.int("keepdims", 0)]);
  };
  const zero = c("zero", 0);
  const lo = node("Min", [reduce("ReduceMin", "min"), zero], "lo");
  const hi = node("Max", [reduce("ReduceMax", "max"), zero], "hi");
  const s0 = node("Div", [node("Sub", [hi, lo], "range"), c("levels", qmax - qmin)], "scale_raw");
  const s = node("Where", [node("Equal", [hi, lo], "empty"), c("one", 1), s0], "scale");
  const qminC = c("qmin", qmin);
  const qmaxC = c("qmax", qmax);
  const z = node("Round", [node("Clip", [node("Sub", [qminC, node("Div", [lo, s], "lo_scaled")], "zp_raw"), qminC, qmaxC], "zp_clamped")], "zero_point");
  const q = node("Clip", [node("Add", [node("Round", [node("Div", [x, s], "x_scaled")], "x_rounded"), z], "x_shifted"), qminC, qmaxC], "x_codes");
  return node("Mul", [node("Sub", [q, z], "x_centred"), s], "x_dequantized");
}

/** Codes, block size and zero points in MatMulNBits form (power-of-two blocks of at least 16). */
function nbitsLayout(em: QuantEmitter, n: LinearNBitsNode): { packed: Uint8Array; blockSize: number; blocks: number } {
  const [nOut, k] = n.wShape;
  const pow2 = (v: number) => v >= 16 && (v & (v - 1)) === 0;
  const packed = em.model.tensors.get(n.wPacked) as Int8Array;
  if (pow2(n.blockSize)) return { packed: new Uint8Array(packed.buffer, packed.byteOffset, packed.length), blockSize: n.blockSize, blocks: Math.ceil(k / n.blockSize) };
  if (n.blockSize < k) throw new NotSupportedError(`onnx export: '${n.name}' has blocks of ${n.blockSize}; MatMulNBits needs a power of two ≥ 16 (groupSize 16, 32, 64, 128, …)`);
  // one block per row: re-pack into the next power-of-two block (zero padding, as MatMulNBits pads K)
  let bs = 16;
  while (bs < k) bs *= 2;
  const codes = unpackCodes(packed, nOut, k, n.bits, n.blockSize);
  const re = packCodes(codes, nOut, k, n.bits, bs);
  return { packed: new Uint8Array(re.buffer), blockSize: bs, blocks: 1 };
}

function emitLinearNBits(em: QuantEmitter, n: LinearNBitsNode, x: string, y: string): void {
  const ctx = em.ctx;
  const [nOut, k] = n.wShape;
  const { packed, blockSize, blocks } = nbitsLayout(em, n);
  const a = n.act ? emitDynamicFakeQuant(em, n.act, x, `${n.name}.input`) : x;
  const blob = (blockSize * n.bits) / 8;
  const b = ctx.constant(tensorProto(`${n.name}.weight_packed`, { dtype: "uint8", shape: [nOut, blocks, blob], data: packed }));
  const scales = ctx.constant(floatTensorProto(`${n.name}.weight_scale`, Array.from(f32Of(em, n.scales))));
  let zp = "";
  if (n.zeroPoints) {
    const z = em.model.tensors.get(n.zeroPoints) as Int32Array;
    const perRow = Math.ceil((blocks * n.bits) / 8);
    const zb = new Uint8Array(nOut * perRow);
    const per = 8 / n.bits;
    for (let r = 0; r < nOut; r++) for (let g = 0; g < blocks; g++) zb[r * perRow + Math.floor(g / per)] |= z[r * blocks + g] << ((g % per) * n.bits);
    zp = ctx.constant(tensorProto(`${n.name}.weight_zero_point`, { dtype: "uint8", shape: [nOut * perRow], data: zb }));
  }
  const bias = n.bias ? ctx.constant(floatTensorProto(`${n.name}.bias`, Array.from(f32Of(em, n.bias)))) : "";
  const inputs = [a, b, scales, zp, "", bias];
  while (inputs[inputs.length - 1] === "") inputs.pop();
  ctx.addNode("MatMulNBits", inputs, [y], {
    name: n.name, domain: MS,
    attributes: [attr.int("K", k), attr.int("N", nOut), attr.int("bits", n.bits), attr.int("block_size", blockSize), attr.int("accuracy_level", 0)],
  });
}

const BINARY: Record<string, string> = { add: "Add", sub: "Sub", mul: "Mul", div: "Div" };

/** A float island: a binary op with a number literal (attention's q·(1/√d)) here, the rest by emitIslandFloat. */
function emitFloatNode(em: QuantEmitter, n: Extract<Int8Node, { op: "float" }>, inputs: string[], y: string): void {
  const a = n.call?.args ?? [];
  const op = n.call ? BINARY[n.call.op] : undefined;
  const isIn = (v: unknown) => typeof v === "object" && v !== null && (v as { input?: unknown }).input === 0;
  if (op && inputs.length === 1 && a.length === 2 && (typeof a[0] === "number" || typeof a[1] === "number") && (isIn(a[0]) || isIn(a[1]))) {
    const c = em.ctx.constant(scalarTensorProto(`${n.name}.scalar`, (typeof a[0] === "number" ? a[0] : a[1]) as number));
    em.ctx.addNode(op, typeof a[0] === "number" ? [c, inputs[0]] : [inputs[0], c], [y], { name: n.name });
    return;
  }
  emitIslandFloat(em, n, inputs, y);
}

/** Writes every node of a dynamic Int8Model (the caller adds graph inputs / outputs). */
export function emitDynamicGraph(em: QuantEmitter): void {
  const g = em.model.graph;
  const names = new Map<string, string>([[g.input.id, em.inputName], ...em.extraInputs.map((e) => [e.value.id, e.name] as [string, string])]);
  const nameOf = (id: string): string => {
    const v = names.get(id);
    if (v === undefined) throw new ValueError(`onnx export: value '${id}' is read before it is written`);
    return v;
  };
  for (const v of [g.input, ...(g.extraInputs ?? [])]) {
    if (!v.float) throw new NotSupportedError(`onnx export: input '${v.id}' of a dynamic model is quantized; a dynamic model takes float inputs`);
  }
  for (const node of g.nodes as Int8Node[]) {
    const y = node.output === g.output ? em.outputName : em.ctx.temp(node.name || node.output);
    const out = em.value(node.output);
    if (!out.float && !(out.int && node.op === "float")) throw new NotSupportedError(`onnx export: '${node.name}' (${node.op}) writes a quantized value in a dynamic model; export dynamic models whose values are all float`);
    const x = nameOf(node.inputs[0]);
    if (node.op === "dynamic_linear") emitDynamicLinear(em, node, x, y);
    else if (node.op === "linear_nbits") emitLinearNBits(em, node, x, y);
    else if (node.op === "dynamic_lstm" || node.op === "dynamic_gru") emitDynamicRnn(em, node, x, y);
    else if (node.op === "float") emitFloatNode(em, node, node.inputs.map(nameOf), y);
    else throw new NotSupportedError(`onnx export: '${node.name}' (${node.op}) in a dynamic model has no float-valued ONNX form`);
    names.set(node.output, y);
  }
  if (!names.has(g.output)) throw new ValueError("onnx export: the model output is never written");
}
