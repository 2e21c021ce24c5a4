/**
 * Dynamic quantization of nn.LSTM / nn.GRU, PyTorch's quantize_dynamic(model, {nn.LSTM,
 * nn.GRU}, dtype=torch.qint8): each weight_ih / weight_hh becomes int8 symmetric codes with
 * PyTorch's weight-observer scales (amax / 127.5), per output row (per_channel_dynamic_qconfig)
 * or per tensor (default_dynamic_qconfig, PyTorch's default); biases stay float; the GEMM inputs
 * are quantized at run time per tensor to uint8 (DynamicQuantizeLinear's rule; PyTorch's x86
 * engines use 7-bit reduce_range codes instead, so neither is bit-exact with the other). The
 * node and its arithmetic: src/int8/graph-rnn.ts, src/int8/kernels/dynamic-rnn.ts.
 *   - `dynamicRnnNode(module, path)`: the Int8Model node and its tensors (also used by convert);
 *   - `DynamicQuantizedLSTM` / `DynamicQuantizedGRU`: the layers quantizeDynamic puts in place
 *     of nn.LSTM / nn.GRU (float in, float out; forward / forwardWithState like the float layer).
 * Called by quantize-dynamic.ts and convert-dynamic.ts.
 */
import { ShapeError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { GRU, LSTM } from "../nn/layers/rnn.js";
import { Module } from "../nn/module.js";
import { pyBool } from "../nn/repr.js";
import type { DynamicRnnCell, DynamicRnnNode } from "../int8/graph-rnn.js";
import { f32Bits } from "../int8/graph-dynamic.js";
import { type RnnState, dynamicRnnSequence, swapLeading } from "../int8/kernels/dynamic-rnn.js";
import { GroupwiseFakeQuantize } from "./groupwise.js";

/** Weight scales per output row (default) or one per tensor (PyTorch's default_dynamic_qconfig). */
export type RnnWeightGranularity = "per_channel" | "per_tensor";

/** int8 codes and scales of a weight [R, C], per row or per tensor (GroupwiseFakeQuantize's symmetric 8-bit rule). */
function quantizeWeight(w: Tensor, granularity: RnnWeightGranularity): { codes: Int8Array; scales: Float32Array } {
  const fq = new GroupwiseFakeQuantize({ bits: 8, groupSize: "row", symmetric: true });
  const src = granularity === "per_tensor" ? new Tensor(w.data, [1, w.size]) : w;
  const c = fq.quantizeCodes(src);
  return { codes: Int8Array.from(c.codes), scales: Float32Array.from(c.scales) };
}

/** The dynamic_lstm / dynamic_gru node of an LSTM or GRU module, with its tensors (keys `${path}.…`). */
export function dynamicRnnNode(m: LSTM | GRU, path: string, granularity: RnnWeightGranularity = "per_channel", io: { input: string; output: string } = { input: "x", output: "y" }): { node: DynamicRnnNode; tensors: Map<string, Int8Array | Int32Array> } {
  const tensors = new Map<string, Int8Array | Int32Array>();
  const key = path || "rnn";
  const cells: DynamicRnnCell[] = [];
  for (let l = 0; l < m.numLayers; l++) {
    for (const sfx of m.suffixes()) {
      const w = m.weights(l, sfx);
      const put = (name: string, t: Int8Array | Int32Array): string => {
        const k = `${key}.${name}_l${l}${sfx}`;
        tensors.set(k, t);
        return k;
      };
      const ih = quantizeWeight(w.wih, granularity);
      const hh = quantizeWeight(w.whh, granularity);
      cells.push({
        wIh: put("weight_ih", ih.codes), wIhScales: put("weight_ih_scale", f32Bits(ih.scales)),
        wHh: put("weight_hh", hh.codes), wHhScales: put("weight_hh_scale", f32Bits(hh.scales)),
        bIh: w.bih ? put("bias_ih", f32Bits(w.bih.data as ArrayLike<number>)) : null,
        bHh: w.bhh ? put("bias_hh", f32Bits(w.bhh.data as ArrayLike<number>)) : null,
      });
    }
  }
  const node: DynamicRnnNode = {
    op: m instanceof LSTM ? "dynamic_lstm" : "dynamic_gru", name: path, inputs: [io.input], output: io.output,
    inputSize: m.inputSize, hiddenSize: m.hiddenSize, numLayers: m.numLayers, bidirectional: m.bidirectional, batchFirst: m.batchFirst,
    cells, act: { granularity: "per_tensor", dtype: "uint8" }, weightBits: 8,
  };
  return { node, tensors };
}

function f32Of(t: Tensor): Float32Array {
  return t.dtype === "float32" ? (t.data as Float32Array) : Float32Array.from(t.data as ArrayLike<number>);
}

/** Shared body of the two layers: layouts (batch_first, unbatched), states, the kernel. */
abstract class DynamicQuantizedRnn extends Module {
  readonly node: DynamicRnnNode;
  readonly tensors: Map<string, Int8Array | Int32Array>;
  readonly granularity: RnnWeightGranularity;

  constructor(m: LSTM | GRU, granularity: RnnWeightGranularity, path: string) {
    super();
    const r = dynamicRnnNode(m, path, granularity);
    this.node = r.node;
    this.tensors = r.tensors;
    this.granularity = granularity;
  }

  get inputSize(): number {
    return this.node.inputSize;
  }
  get hiddenSize(): number {
    return this.node.hiddenSize;
  }

  /** Runs the kernel; states are [L·D, B, H] (or [L·D, H] unbatched). */
  protected runWith(x: Tensor, h0: Tensor | null | undefined, c0: Tensor | null | undefined): [Tensor, Tensor, Tensor] {
    const n = this.node;
    const kind = n.op === "dynamic_lstm" ? "LSTM" : "GRU";
    const unbatched = x.ndim === 2;
    if ((x.ndim !== 2 && x.ndim !== 3) || x.shape[x.ndim - 1] !== n.inputSize) {
      throw new ShapeError(`DynamicQuantized${kind}: expected input [${n.batchFirst ? "B, T" : "T, B"}, ${n.inputSize}] (or unbatched [T, ${n.inputSize}]), got ${fmtShape(x.shape)}`);
    }
    const [steps, batch] = unbatched ? [x.shape[0], 1] : n.batchFirst ? [x.shape[1], x.shape[0]] : [x.shape[0], x.shape[1]];
    const cells = n.cells.length;
    const H = n.hiddenSize;
    const split = (s: Tensor | null | undefined, what: string): Float32Array[] | undefined => {
      if (!s) return undefined;
      const want = unbatched ? [cells, H] : [cells, batch, H];
      if (s.ndim !== want.length || s.shape.some((d, i) => d !== want[i])) throw new ShapeError(`DynamicQuantized${kind}: ${what} must be [${want.join(", ")}], got ${fmtShape(s.shape)}`);
      const d = f32Of(s);
      return Array.from({ length: cells }, (_, k) => d.slice(k * batch * H, (k + 1) * batch * H));
    };
    const data = f32Of(x);
    const xt = n.batchFirst && !unbatched ? swapLeading(data, batch, steps, n.inputSize) : data;
    const r: { y: Float32Array } & RnnState = dynamicRnnSequence(n, xt, steps, batch, this.tensors, { h: split(h0, "h_0"), c: split(c0, "c_0") });
    const F = (n.bidirectional ? 2 : 1) * H;
    const y = n.batchFirst && !unbatched ? swapLeading(r.y, steps, batch, F) : r.y;
    const yShape = unbatched ? [steps, F] : n.batchFirst ? [batch, steps, F] : [steps, batch, F];
    const state = (list: Float32Array[]) => {
      const out = new Float32Array(cells * batch * H);
      list.forEach((s, k) => out.set(s, k * batch * H));
      return new Tensor(out, unbatched ? [cells, H] : [cells, batch, H]);
    };
    return [new Tensor(y, yShape), state(r.h), state(r.c)];
  }

  override extraRepr(): string {
    const n = this.node;
    let s = `${n.inputSize}, ${n.hiddenSize}`;
    if (n.numLayers !== 1) s += `, num_layers=${n.numLayers}`;
    if (n.batchFirst) s += `, batch_first=${pyBool(true)}`;
    if (n.bidirectional) s += `, bidirectional=${pyBool(true)}`;
    return `${s}, weights=int8 ${this.granularity}, activations=${n.act.granularity} ${n.act.dtype}`;
  }
}

/** nn.LSTM after quantizeDynamic (see the file header). */
export class DynamicQuantizedLSTM extends DynamicQuantizedRnn {
  constructor(m: LSTM, granularity: RnnWeightGranularity = "per_channel", path = "") {
    super(m, granularity, path);
  }
  forward(x: Tensor, hx?: [Tensor, Tensor] | null): Tensor {
    return this.forwardWithState(x, hx)[0];
  }
  /** [output, [h_n, c_n]] as PyTorch's LSTM returns. */
  forwardWithState(x: Tensor, hx?: [Tensor, Tensor] | null): [Tensor, [Tensor, Tensor]] {
    const [y, h, c] = this.runWith(x, hx?.[0], hx?.[1]);
    return [y, [h, c]];
  }
}

/** nn.GRU after quantizeDynamic (see the file header). */
export class DynamicQuantizedGRU extends DynamicQuantizedRnn {
  constructor(m: GRU, granularity: RnnWeightGranularity = "per_channel", path = "") {
    super(m, granularity, path);
  }
  forward(x: Tensor, hx?: Tensor | null): Tensor {
    return this.forwardWithState(x, hx)[0];
  }
  /** [output, h_n] as PyTorch's GRU returns. */
  forwardWithState(x: Tensor, hx?: Tensor | null): [Tensor, Tensor] {
    const [y, h] = this.runWith(x, hx, null);
    return [y, h];
  }
}
