/**
 * Import of com.microsoft DynamicQuantizeLSTM (onnxruntime's quantized LSTM, the form
 * export-dynamic-rnn.ts writes) into a dynamic_lstm node (src/int8/graph-rnn.ts): one layer,
 * time-major X [T, B, I], directions forward or bidirectional, int8 weights (zero point 0) or
 * uint8 weights with one zero point z (codes w − z must fit int8), scales per tensor [D] or per
 * row [D, 4H], optional bias B [D, 8H]; gate rows go back from ONNX's i o f c to PyTorch's
 * i f g o. Y [T, D, B, H] must be read as [T, B, D·H] — Transpose(0, 2, 1, 3) → Reshape([0, 0,
 * −1]) (PyTorch's and our exporter's form), or Squeeze(axis 1) for one direction — and those
 * nodes become part of the import; a batch-first layer (X a Transpose(1, 0, 2) read only by the
 * LSTM, its output transposed back) imports as one batchFirst node. Not imported: sequence_lens, initial states, peepholes, the
 * Y_h / Y_c outputs, clip, input_forget, activations other than the defaults, direction
 * "reverse" (each a NotSupportedError naming it).
 * Called by quant-import-dynamic.ts (importDynamicGraph).
 */
import { NotSupportedError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { f32Bits } from "../int8/graph-dynamic.js";
import type { DynamicRnnCell } from "../int8/graph-rnn.js";
import { type IrNode, describeNode } from "./graph.js";
import type { DynamicImporter } from "./quant-import-dynamic.js";

/** ONNX position j of PyTorch gate k: PyTorch i f g o ← ONNX i o f c. */
const FROM_ONNX = [0, 2, 3, 1];

/** Rows [4H, cols] of direction d of a [D, 4H·cols] array back in PyTorch's gate order. */
function gateRows(data: ArrayLike<number>, d: number, h: number, cols: number, map: (v: number) => number): number[] {
  const base = d * 4 * h * cols;
  return FROM_ONNX.flatMap((j) => Array.from({ length: h * cols }, (_, i) => map(data[base + j * h * cols + i])));
}

export function importDynamicLstm(imp: DynamicImporter, n: IrNode): void {
  const fail = (why: string): never => {
    throw new NotSupportedError(`onnx import (dynamic): ${describeNode(n)}: ${why}`);
  };
  let x = imp.value(n.inputs[0], n);
  // batch_first: X = Transpose(perm 1, 0, 2) read by nothing else (imported just before as a float island), taken in below
  // when the output is transposed back too
  const tIn = imp.g.nodes.find((p) => p.outputs[0] === n.inputs[0]);
  const island = tIn && tIn.opType === "Transpose" && (tIn.attrs.ints("perm") ?? []).join() === "1,0,2" && imp.sole(n.inputs[0]) === n ? imp.nodes.findIndex((k) => k.op === "float" && k.output === x.id) : -1;
  const H = n.attrs.int("hidden_size");
  if (H === undefined) fail("needs the hidden_size attribute");
  const direction = n.attrs.string("direction", "forward");
  if (direction !== "forward" && direction !== "bidirectional") fail(`direction '${direction}' is not supported (forward or bidirectional)`);
  for (const a of ["clip", "activations", "activation_alpha", "activation_beta"]) if (n.attrs.has(a)) fail(`attribute '${a}' is not supported`);
  if (n.attrs.int("input_forget", 0) !== 0) fail("input_forget = 1 is not supported");
  [4, 5, 6, 7].forEach((i) => {
    if (n.inputs[i]) fail(`input ${["sequence_lens", "initial_h", "initial_c", "P"][i - 4]} is not supported (zero initial state, full-length sequences)`);
  });
  if (n.outputs.slice(1).some((o) => o && (imp.g.consumers.get(o)?.length ?? 0) > 0)) fail("only the output Y may be read (Y_h / Y_c are not imported)");
  const D = direction === "bidirectional" ? 2 : 1;
  const h = H!;
  const w = imp.constOf(n.inputs[1], n, "W");
  const r = imp.constOf(n.inputs[2], n, "R");
  const inF = w.shape[1];
  if (w.ndim !== 3 || w.shape[0] !== D || w.shape[2] !== 4 * h || r.ndim !== 3 || r.shape[0] !== D || r.shape[1] !== h || r.shape[2] !== 4 * h) fail(`W / R must be [${D}, I, ${4 * h}] / [${D}, ${h}, ${4 * h}], got [${w.shape.join(", ")}] / [${r.shape.join(", ")}]`);
  if (x.shape.length !== 3 || (x.shape[2] >= 0 && x.shape[2] !== inF)) fail(`X must be [T, B, ${inF}], got [${x.shape.join(", ")}]`);
  const name = imp.key(n);
  const cells: DynamicRnnCell[] = [];
  const codes = (t: Tensor, zp: Tensor, what: string): { z: number } => {
    if (t.dtype !== "int8" && t.dtype !== "uint8") fail(`${what} must be int8 or uint8, got ${t.dtype}`);
    if (zp.dtype !== t.dtype) fail(`${what}'s zero point must be ${t.dtype}, got ${zp.dtype}`);
    const z = zp.data[0];
    if (Array.from(zp.data as ArrayLike<number>).some((v) => v !== z)) fail(`${what}'s zero points must all be equal`);
    if (t.dtype === "int8" && z !== 0) fail(`${what}'s int8 zero point must be 0, got ${z}`);
    if (Array.from(t.data as ArrayLike<number>).some((v) => v - z < -128 || v - z > 127)) fail(`${what} − zero point ${z} leaves the int8 range`);
    return { z };
  };
  const scaleOf = (t: Tensor, what: string): number => {
    if (t.dtype !== "float32" || (t.size !== D && t.size !== D * 4 * h)) fail(`${what} must be float32 [${D}] or [${D}, ${4 * h}]`);
    return t.size / D;
  };
  const ws = imp.constOf(n.inputs[8], n, "W_scale");
  const rs = imp.constOf(n.inputs[10], n, "R_scale");
  const wz = codes(w, imp.constOf(n.inputs[9], n, "W_zero_point"), "W");
  const rz = codes(r, imp.constOf(n.inputs[11], n, "R_zero_point"), "R");
  const [wPer, rPer] = [scaleOf(ws, "W_scale"), scaleOf(rs, "R_scale")];
  const b = n.inputs[3] ? imp.constOf(n.inputs[3], n, "B") : null;
  if (b && (b.dtype !== "float32" || b.size !== D * 8 * h)) fail(`B must be float32 [${D}, ${8 * h}]`);
  const put = (key: string, t: Int8Array | Int32Array): string => {
    imp.tensors.set(`${name}.${key}`, t);
    return `${name}.${key}`;
  };
  for (let d = 0; d < D; d++) {
    const sfx = `_l0${d ? "_reverse" : ""}`;
    // [D, k, 4H] → rows [4H, k]
    const transposed = (t: Tensor, k: number, z: number): Int8Array => {
      const out = new Int8Array(4 * h * k);
      for (let j = 0; j < k; j++) for (let c = 0; c < 4 * h; c++) out[c * k + j] = t.data[d * k * 4 * h + j * 4 * h + c] - z;
      return Int8Array.from(gateRows(out, 0, h, k, (v) => v));
    };
    const scales = (t: Tensor, per: number): Int32Array => f32Bits(per === 1 ? [t.data[d]] : gateRows(t.data as ArrayLike<number>, d, h, 1, (v) => v));
    cells.push({
      wIh: put(`weight_ih${sfx}`, transposed(w, inF, wz.z)), wIhScales: put(`weight_ih_scale${sfx}`, scales(ws, wPer)),
      wHh: put(`weight_hh${sfx}`, transposed(r, h, rz.z)), wHhScales: put(`weight_hh_scale${sfx}`, scales(rs, rPer)),
      bIh: b ? put(`bias_ih${sfx}`, f32Bits(gateRows(b.data as ArrayLike<number>, 2 * d, h, 1, (v) => v))) : null,
      bHh: b ? put(`bias_hh${sfx}`, f32Bits(gateRows(b.data as ArrayLike<number>, 2 * d + 1, h, 1, (v) => v))) : null,
    });
  }
  // Y [T, D, B, H] read as [T, B, D·H]
  const t1 = imp.sole(n.outputs[0]);
  let out: string | null = null;
  if (t1 && t1.opType === "Transpose" && (t1.attrs.ints("perm") ?? []).join() === "0,2,1,3") {
    const rs2 = imp.sole(t1.outputs[0]);
    const shape = rs2 && rs2.opType === "Reshape" ? imp.consts.get(rs2.inputs[1]) : undefined;
    if (rs2 && shape && Array.from(shape.data as ArrayLike<number>).map(Number).join() === "0,0,-1") {
      out = rs2.outputs[0];
      imp.done.add(t1.index).add(rs2.index);
    }
  } else if (t1 && D === 1 && t1.opType === "Squeeze") {
    const axes = t1.inputs[1] ? Array.from(imp.consts.get(t1.inputs[1])?.data as ArrayLike<number>).map(Number) : t1.attrs.ints("axes");
    if (axes?.join() === "1") {
      out = t1.outputs[0];
      imp.done.add(t1.index);
    }
  }
  if (out === null) fail("Y [T, D, B, H] must go to Transpose(perm 0, 2, 1, 3) → Reshape([0, 0, −1]) (or Squeeze(axis 1) for one direction)");
  const tOut = island >= 0 ? imp.sole(out!) : null;
  const batchFirst = tOut !== null && tOut.opType === "Transpose" && (tOut.attrs.ints("perm") ?? []).join() === "1,0,2";
  if (batchFirst) {
    imp.nodes.splice(island, 1);
    imp.islands.delete(`${imp.key(tIn!)}#float`);
    x = imp.value(tIn!.inputs[0], tIn!);
    imp.done.add(tOut.index);
    out = tOut.outputs[0];
  }
  const y = imp.define(out!, [x.shape[0], x.shape[1], D * h], name);
  imp.nodes.push({
    op: "dynamic_lstm", name, inputs: [x.id], output: y.id, inputSize: inF, hiddenSize: h, numLayers: 1, bidirectional: D === 2, batchFirst,
    cells, act: { granularity: "per_tensor", dtype: "uint8" }, weightBits: 8,
  });
}
