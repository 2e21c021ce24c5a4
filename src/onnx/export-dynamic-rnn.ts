/**
 * ONNX export of the dynamic LSTM / GRU node (src/int8/graph-rnn.ts):
 *
 *   dynamic_lstm → one com.microsoft DynamicQuantizeLSTM per layer (both directions in one node),
 *     onnxruntime's own quantized LSTM (what its quantize_dynamic writes for an ONNX LSTM):
 *     W [D, I, 4H] and R [D, H, 4H] transposed, gate rows from PyTorch's i f g o to ONNX's
 *     i o f c, B [D, 8H] = (b_ih, b_hh), per-row scales [D, 4H] (or [D] per tensor). Weights go
 *     as uint8 = w + 128 with zero point 128: onnxruntime's u8×s8 AVX2 kernel sums pairs of
 *     products in int16 and saturates for full-range int8 weights (export-dynamic.ts), its u8×u8
 *     kernel is exact; the zero points of a uint8 W must all be equal, 128 is. Its GEMM inputs
 *     are quantized exactly as ours (the whole sequence for X·W, the [B, H] state per step), its
 *     sigmoid / tanh are MLAS approximations: equal to Int8Model.run up to those roundings.
 *     Between layers Y [T, D, B, H] → Transpose → Reshape [T, B, D·H]; batch_first input and
 *     output are transposed.
 *   dynamic_gru → unrolled: onnxruntime has no quantized GRU op, and a float GRU on the
 *     dequantized weights would drop the run-time quantization of the input and of every
 *     state (it would compute another function than Int8Model). Each GEMM is export-dynamic's
 *     DynamicQuantizeLinear → MatMulInteger → Cast → Mul → Add (bit for bit ours); the gates are
 *     Sigmoid / Tanh / Mul / Add / Sub in the kernel's order. One X·W for the whole sequence
 *     ([T, B, I] → [T, B, 3H]), then per step Gather(t) and the state's GEMM; outputs Concat.
 *     The sequence length must be static (batch_first input [N, T, I]: T is fixed at
 *     conversion; a time-major graph input has T in the batch position and is refused).
 * Called by export-dynamic.ts (emitDynamicGraph).
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import type { DynamicRnnNode } from "../int8/graph-rnn.js";
import type { DynamicLinearNode } from "../int8/graph-dynamic.js";
import { bitsF32 } from "../int8/graph-dynamic.js";
import { attr, floatTensorProto, int64TensorProto, scalarTensorProto, tensorProto } from "./builders.js";
import type { QuantEmitter } from "./export-int8.js";
import { emitDynamicLinear } from "./export-dynamic.js";

const MS = "com.microsoft";
/** PyTorch's LSTM gate k at ONNX position j: i o f c ← i f g o. */
const LSTM_ORDER = [0, 3, 1, 2];

function f32Of(em: QuantEmitter, key: string): Float32Array {
  const t = em.model.tensors.get(key);
  if (!(t instanceof Int32Array)) throw new ValueError(`onnx export: tensor '${key}' is not a float32-bits tensor`);
  return bitsF32(t);
}

function int8Of(em: QuantEmitter, key: string): Int8Array {
  const t = em.model.tensors.get(key);
  if (!(t instanceof Int8Array)) throw new ValueError(`onnx export: tensor '${key}' is not int8`);
  return t;
}

/** Rows of a [4·H, ...] array in ONNX gate order. */
function reorder(a: ArrayLike<number>, h: number): number[] {
  const row = a.length / (LSTM_ORDER.length * h);
  return LSTM_ORDER.flatMap((k) => Array.from({ length: h * row }, (_, i) => a[k * h * row + i]));
}

function emitLstm(em: QuantEmitter, n: DynamicRnnNode, x: string, y: string): void {
  const ctx = em.ctx;
  const H = n.hiddenSize;
  const D = n.bidirectional ? 2 : 1;
  if (n.act.granularity !== "per_tensor" || n.act.dtype !== "uint8") throw new NotSupportedError(`onnx export: '${n.name}' quantizes ${n.act.granularity} to ${n.act.dtype}; DynamicQuantizeLSTM quantizes per tensor to uint8`);
  let cur = x;
  if (n.batchFirst) {
    cur = ctx.temp(`${n.name}.time_major`);
    ctx.addNode("Transpose", [x], [cur], { name: `${n.name}/to_time_major`, attributes: [attr.ints("perm", [1, 0, 2])] });
  }
  const merge = ctx.constant(int64TensorProto(`${n.name}.merge_dirs`, [0, 0, -1]));
  for (let l = 0; l < n.numLayers; l++) {
    const cells = n.cells.slice(l * D, (l + 1) * D);
    const inF = l === 0 ? n.inputSize : D * H;
    const shift = 128;
    const dtype = "uint8";
    const perRow = cells.some((c) => f32Of(em, c.wIhScales).length > 1 || f32Of(em, c.wHhScales).length > 1);
    const weight = (key: (c: (typeof cells)[number]) => string, k: number, name: string): string => {
      const data = new Uint8Array(D * k * 4 * H);
      cells.forEach((c, d) => {
        const w = reorder(int8Of(em, key(c)), H);
        // [4H, k] → [k, 4H]
        for (let r = 0; r < 4 * H; r++) for (let j = 0; j < k; j++) data[d * k * 4 * H + j * 4 * H + r] = w[r * k + j] + shift;
      });
      return ctx.constant(tensorProto(`${n.name}.${name}_l${l}`, { dtype, shape: [D, k, 4 * H], data }));
    };
    const scales = (key: (c: (typeof cells)[number]) => string, name: string): [string, string] => {
      const vals = cells.flatMap((c) => {
        const s = f32Of(em, key(c));
        if (!perRow) return [s[0]];
        return s.length === 1 ? new Array<number>(4 * H).fill(s[0]) : reorder(s, H);
      });
      const shape = perRow ? [D, 4 * H] : [D];
      const s = ctx.constant(floatTensorProto(`${n.name}.${name}_scale_l${l}`, vals, shape));
      const z = ctx.constant(tensorProto(`${n.name}.${name}_zero_point_l${l}`, { dtype, shape, data: new Array<number>(vals.length).fill(shift) }));
      return [s, z];
    };
    const w = weight((c) => c.wIh, inF, "W");
    const r = weight((c) => c.wHh, H, "R");
    const [ws, wz] = scales((c) => c.wIhScales, "W");
    const [rs, rz] = scales((c) => c.wHhScales, "R");
    const hasBias = cells.some((c) => c.bIh || c.bHh);
    let b = "";
    if (hasBias) {
      const vals = cells.flatMap((c) => [c.bIh, c.bHh].flatMap((k) => (k ? reorder(f32Of(em, k), H) : new Array<number>(4 * H).fill(0))));
      b = ctx.constant(floatTensorProto(`${n.name}.B_l${l}`, vals, [D, 8 * H]));
    }
    const yl = ctx.temp(`${n.name}.Y_l${l}`);
    ctx.addNode("DynamicQuantizeLSTM", [cur, w, r, b, "", "", "", "", ws, wz, rs, rz], [yl], {
      name: `${n.name}/DynamicQuantizeLSTM_l${l}`, domain: MS,
      attributes: [attr.int("hidden_size", H), attr.string("direction", D === 2 ? "bidirectional" : "forward")],
    });
    const yt = ctx.temp(`${n.name}.Y_l${l}_tbdh`);
    ctx.addNode("Transpose", [yl], [yt], { name: `${n.name}/Y_l${l}_transpose`, attributes: [attr.ints("perm", [0, 2, 1, 3])] });
    const last = l === n.numLayers - 1 && !n.batchFirst;
    cur = last ? y : ctx.temp(`${n.name}.H_l${l}`);
    ctx.addNode("Reshape", [yt, merge], [cur], { name: `${n.name}/Y_l${l}_merge` });
  }
  if (n.batchFirst) ctx.addNode("Transpose", [cur], [y], { name: `${n.name}/to_batch_first`, attributes: [attr.ints("perm", [1, 0, 2])] });
}

function emitGru(em: QuantEmitter, n: DynamicRnnNode, x: string, y: string): void {
  const ctx = em.ctx;
  const H = n.hiddenSize;
  const D = n.bidirectional ? 2 : 1;
  const shape = em.value(n.inputs[0]).shape;
  const T = n.batchFirst ? shape[1] : -1;
  if (!(T >= 1)) throw new NotSupportedError(`onnx export: '${n.name}' (dynamic GRU) is unrolled over a static sequence length; its input [${shape.join(", ")}] is time-major with T in the batch position (use batchFirst)`);
  const c = (name: string, proto: Parameters<typeof ctx.constant>[0]) => ctx.constant({ ...proto, name: `${n.name}.${name}` });
  const one = c("one", scalarTensorProto("one", 1));
  const node = (op: string, ins: string[], name: string, attributes?: ReturnType<typeof attr.int>[]): string => {
    const o = ctx.temp(`${n.name}.${name}`);
    ctx.addNode(op, ins, [o], { name: `${n.name}/${name}`, ...(attributes ? { attributes } : {}) });
    return o;
  };
  const lin = (key: string, wKey: string, sKey: string, bKey: string | null, k: number, input: string): string => {
    const out = ctx.temp(`${n.name}.${key}`);
    const dl: DynamicLinearNode = { op: "dynamic_linear", name: `${n.name}/${key}`, inputs: [], output: "", wInt8: wKey, wShape: [3 * H, k], wScales: sKey, bias: bKey, act: n.act, weightBits: 8 };
    emitDynamicLinear(em, dl, input, out);
    return out;
  };
  const starts = [0, H, 2 * H].map((s, g) => c(`gate${g}_start`, int64TensorProto("s", [s])));
  const ends = [H, 2 * H, 3 * H].map((e, g) => c(`gate${g}_end`, int64TensorProto("e", [e])));
  const axis = c("gate_axis", int64TensorProto("a", [-1]));
  const gate = (v: string, g: number, name: string) => node("Slice", [v, starts[g], ends[g], axis], name);
  const toSeq = c("to_seq", int64TensorProto("s", [1, -1, H]));
  let cur = x;
  if (n.batchFirst) cur = node("Transpose", [x], "time_major", [attr.ints("perm", [1, 0, 2])]);
  for (let l = 0; l < n.numLayers; l++) {
    const inF = l === 0 ? n.inputSize : D * H;
    const dirOuts: string[] = [];
    for (let d = 0; d < D; d++) {
      const cell = n.cells[l * D + d];
      const tag = `l${l}${d ? "_reverse" : ""}`;
      // X·W_ih + b_ih for the whole sequence: [T, B, 3H]
      const p = lin(`P_${tag}`, cell.wIh, cell.wIhScales, cell.bIh, inF, cur);
      const hs: string[] = new Array<string>(T);
      let h: string | null = null;
      for (let s = 0; s < T; s++) {
        const t = d === 1 ? T - 1 - s : s;
        const st = `${tag}_t${t}`;
        const pt = node("Gather", [p, c(`t${t}`, int64TensorProto("t", [t], []))], `P_${st}`, [attr.int("axis", 0)]);
        // the state's GEMM; from the zero state it is exactly b_hh (or 0)
        const hh: string | null = h ? lin(`H_${st}`, cell.wHh, cell.wHhScales, cell.bHh, H, h) : cell.bHh ? c(`bhh_${tag}`, floatTensorProto("b", Array.from(f32Of(em, cell.bHh)))) : null;
        const add = (a: string, b: string | null, name: string) => (b ? node("Add", [a, b], name) : a);
        const hg = (g: number) => (hh ? gate(hh, g, `H${g}_${st}`) : null);
        const r = node("Sigmoid", [add(gate(pt, 0, `P0_${st}`), hg(0), `r_in_${st}`)], `r_${st}`);
        const z = node("Sigmoid", [add(gate(pt, 1, `P1_${st}`), hg(1), `z_in_${st}`)], `z_${st}`);
        const hn = hg(2);
        const nIn = hn ? node("Add", [gate(pt, 2, `P2_${st}`), node("Mul", [r, hn], `rh_${st}`)], `n_in_${st}`) : gate(pt, 2, `P2_${st}`);
        const ng = node("Tanh", [nIn], `n_${st}`);
        const keep = node("Mul", [node("Sub", [one, z], `1mz_${st}`), ng], `keep_${st}`);
        h = h ? node("Add", [keep, node("Mul", [z, h], `zh_${st}`)], `h_${st}`) : keep;
        hs[t] = node("Reshape", [h, toSeq], `y_${st}`);
      }
      dirOuts.push(T === 1 ? hs[0] : node("Concat", hs, `Y_${tag}`, [attr.int("axis", 0)]));
    }
    const last = l === n.numLayers - 1 && !n.batchFirst;
    const out = last ? y : ctx.temp(`${n.name}.H_l${l}`);
    if (D === 1) ctx.addNode("Identity", [dirOuts[0]], [out], { name: `${n.name}/Y_l${l}` });
    else ctx.addNode("Concat", dirOuts, [out], { name: `${n.name}/Y_l${l}`, attributes: [attr.int("axis", 2)] });
    cur = out;
  }
  if (n.batchFirst) ctx.addNode("Transpose", [cur], [y], { name: `${n.name}/to_batch_first`, attributes: [attr.ints("perm", [1, 0, 2])] });
}

/** Writes a dynamic_lstm / dynamic_gru node (see the file header). */
export function emitDynamicRnn(em: QuantEmitter, n: DynamicRnnNode, x: string, y: string): void {
  if (n.op === "dynamic_lstm") emitLstm(em, n, x, y);
  else emitGru(em, n, x, y);
}
