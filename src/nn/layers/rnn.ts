/**
 * LSTM and GRU (torch.nn.LSTM / torch.nn.GRU, PyTorch 1.13 semantics): num_layers,
 * bidirectional, batch_first, bias, dropout between layers in training mode, unbatched
 * [T, I] input. Parameters are plain Parameters with PyTorch's state-dict keys and order:
 * per layer l and direction (suffix "" or "_reverse"): weight_ih_l{l}, weight_hh_l{l},
 * bias_ih_l{l}, bias_hh_l{l}; gate rows in PyTorch's order (LSTM i, f, g, o; GRU r, z, n),
 * all initialised U(−1/√H, 1/√H). `forward(x, h0?)` returns the output sequence
 * [T, B, D·H] ([B, T, D·H] with batchFirst); `forwardWithState` also returns the final state,
 * h_n (GRU) or [h_n, c_n] (LSTM), each [L·D, B, H]. The recurrence is src/ops/rnn.ts. Called by
 * users; the ONNX exporter (op-map.ts) writes them as ONNX LSTM / GRU nodes.
 */
import { zeros } from "../../tensor/creation.js";
import { ShapeError, ValueError, fmtShape } from "../../tensor/errors.js";
import type { Generator } from "../../tensor/random.js";
import type { Tensor } from "../../tensor/tensor.js";
import { dropout } from "../../ops/dropout.js";
import { concat, reshape, slice, stack, transpose } from "../../ops/layout.js";
import { gruSequence, lstmSequence, type RnnWeights } from "../../ops/rnn.js";
import { uniform } from "../init.js";
import { Module } from "../module.js";
import { pyBool } from "../repr.js";

export interface RnnOptions {
  numLayers?: number;
  /** Biases bias_ih / bias_hh (default true). */
  bias?: boolean;
  /** Input and output [B, T, F] instead of [T, B, F] (default false). */
  batchFirst?: boolean;
  /** Dropout on each layer's output but the last, in training mode (default 0). */
  dropout?: number;
  bidirectional?: boolean;
  generator?: Generator;
}

abstract class RnnBase extends Module {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;
  protected abstract readonly gates: number;
  protected abstract readonly kind: "LSTM" | "GRU";

  constructor(inputSize: number, hiddenSize: number, opts: RnnOptions, gates: number) {
    super();
    const kind = gates === 4 ? "LSTM" : "GRU";
    for (const [name, v] of [["inputSize", inputSize], ["hiddenSize", hiddenSize], ["numLayers", opts.numLayers ?? 1]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ValueError(`${kind}: ${name} must be a positive integer, got ${v}`);
    }
    const p = opts.dropout ?? 0;
    if (!(p >= 0 && p < 1)) throw new ValueError(`${kind}: dropout must be in [0, 1), got ${p}`);
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    this.numLayers = opts.numLayers ?? 1;
    this.bias = opts.bias ?? true;
    this.batchFirst = opts.batchFirst ?? false;
    this.dropout = p;
    this.bidirectional = opts.bidirectional ?? false;
    const bound = 1 / Math.sqrt(hiddenSize);
    for (let l = 0; l < this.numLayers; l++) {
      for (const sfx of this.suffixes()) {
        const inF = l === 0 ? inputSize : hiddenSize * this.suffixes().length;
        const ps = [
          this.registerParameter(`weight_ih_l${l}${sfx}`, zeros([gates * hiddenSize, inF])),
          this.registerParameter(`weight_hh_l${l}${sfx}`, zeros([gates * hiddenSize, hiddenSize])),
        ];
        if (this.bias) {
          ps.push(this.registerParameter(`bias_ih_l${l}${sfx}`, zeros([gates * hiddenSize])));
          ps.push(this.registerParameter(`bias_hh_l${l}${sfx}`, zeros([gates * hiddenSize])));
        }
        for (const t of ps) uniform(t, -bound, bound, { generator: opts.generator });
      }
    }
  }

  /** "" and, when bidirectional, "_reverse". */
  suffixes(): string[] {
    return this.bidirectional ? ["", "_reverse"] : [""];
  }

  /** The four (or two) tensors of layer l, direction suffix sfx. */
  weights(l: number, sfx: string): RnnWeights {
    const get = (n: string) => this.getParameter(`${n}_l${l}${sfx}`);
    return { wih: get("weight_ih"), whh: get("weight_hh"), bih: this.bias ? get("bias_ih") : null, bhh: this.bias ? get("bias_hh") : null };
  }

  /** Input to [T, B, I]; `unbatched` when it was [T, I]. */
  protected toTbi(x: Tensor): { x: Tensor; unbatched: boolean } {
    if (x.ndim === 2) return { x: reshape(x, [x.shape[0], 1, x.shape[1]]), unbatched: true };
    if (x.ndim !== 3 || x.shape[2] !== this.inputSize) {
      throw new ShapeError(`${this.kind}: expected input [${this.batchFirst ? "B, T" : "T, B"}, ${this.inputSize}] (or unbatched [T, ${this.inputSize}]), got ${fmtShape(x.shape)}`);
    }
    return { x: this.batchFirst ? transpose(x, 0, 1) : x, unbatched: false };
  }

  /** An initial state [L·D, B, H] (or unbatched [L·D, H]) checked, or zeros. */
  protected state(h: Tensor | null | undefined, batch: number, unbatched: boolean, what: string): Tensor {
    const n = this.numLayers * this.suffixes().length;
    if (!h) return zeros([n, batch, this.hiddenSize]);
    const want = unbatched ? [n, this.hiddenSize] : [n, batch, this.hiddenSize];
    if (h.ndim !== want.length || h.shape.some((d, i) => d !== want[i])) throw new ShapeError(`${this.kind}: ${what} must be [${want.join(", ")}], got ${fmtShape(h.shape)}`);
    return unbatched ? reshape(h, [n, 1, this.hiddenSize]) : h;
  }

  /** Runs every layer; `cell` runs one direction from its initial state(s). */
  protected run(x: Tensor, init: Tensor[], cell: (x: Tensor, w: RnnWeights, reverse: boolean, s: Tensor[]) => { y: Tensor; final: Tensor[] }): { y: Tensor; finals: Tensor[][] } {
    const finals: Tensor[][] = init.map(() => []);
    let input = x;
    const dirs = this.suffixes();
    for (let l = 0; l < this.numLayers; l++) {
      const outs = dirs.map((sfx, d) => {
        const k = l * dirs.length + d;
        const r = cell(input, this.weights(l, sfx), d === 1, init.map((s) => reshape(slice(s, 0, k, k + 1), [s.shape[1], s.shape[2]])));
        r.final.forEach((f, j) => finals[j].push(f));
        return r.y;
      });
      input = outs.length === 1 ? outs[0] : concat(outs, 2);
      if (l < this.numLayers - 1 && this.dropout > 0) input = dropout(input, this.dropout, this.training);
    }
    return { y: input, finals };
  }

  /** [T, B, F] back to the caller's layout. */
  protected fromTbf(y: Tensor, unbatched: boolean): Tensor {
    if (unbatched) return reshape(y, [y.shape[0], y.shape[2]]);
    return this.batchFirst ? transpose(y, 0, 1) : y;
  }

  protected finalState(list: Tensor[], unbatched: boolean): Tensor {
    const s = stack(list, 0);
    return unbatched ? reshape(s, [s.shape[0], s.shape[2]]) : s;
  }

  override extraRepr(): string {
    let s = `${this.inputSize}, ${this.hiddenSize}`;
    if (this.numLayers !== 1) s += `, num_layers=${this.numLayers}`;
    if (!this.bias) s += `, bias=${pyBool(false)}`;
    if (this.batchFirst) s += `, batch_first=${pyBool(true)}`;
    if (this.dropout) s += `, dropout=${this.dropout}`;
    if (this.bidirectional) s += `, bidirectional=${pyBool(true)}`;
    return s;
  }
}

export class LSTM extends RnnBase {
  protected readonly gates = 4;
  protected readonly kind = "LSTM";

  constructor(inputSize: number, hiddenSize: number, opts: RnnOptions = {}) {
    super(inputSize, hiddenSize, opts, 4);
  }

  forward(x: Tensor, hx?: [Tensor, Tensor] | null): Tensor {
    return this.forwardWithState(x, hx)[0];
  }

  /** [output, [h_n, c_n]] as PyTorch's LSTM returns. */
  forwardWithState(x: Tensor, hx?: [Tensor, Tensor] | null): [Tensor, [Tensor, Tensor]] {
    const { x: xs, unbatched } = this.toTbi(x);
    const batch = xs.shape[1];
    const h0 = this.state(hx?.[0], batch, unbatched, "h_0");
    const c0 = this.state(hx?.[1], batch, unbatched, "c_0");
    const { y, finals } = this.run(xs, [h0, c0], (inp, w, rev, [h, c]) => {
      const r = lstmSequence(inp, h, c, w, rev);
      return { y: r.y, final: [r.h, r.c] };
    });
    return [this.fromTbf(y, unbatched), [this.finalState(finals[0], unbatched), this.finalState(finals[1], unbatched)]];
  }
}

export class GRU extends RnnBase {
  protected readonly gates = 3;
  protected readonly kind = "GRU";

  constructor(inputSize: number, hiddenSize: number, opts: RnnOptions = {}) {
    super(inputSize, hiddenSize, opts, 3);
  }

  forward(x: Tensor, hx?: Tensor | null): Tensor {
    return this.forwardWithState(x, hx)[0];
  }

  /** [output, h_n] as PyTorch's GRU returns. */
  forwardWithState(x: Tensor, hx?: Tensor | null): [Tensor, Tensor] {
    const { x: xs, unbatched } = this.toTbi(x);
    const h0 = this.state(hx, xs.shape[1], unbatched, "h_0");
    const { y, finals } = this.run(xs, [h0], (inp, w, rev, [h]) => {
      const r = gruSequence(inp, h, w, rev);
      return { y: r.y, final: [r.h] };
    });
    return [this.fromTbf(y, unbatched), this.finalState(finals[0], unbatched)];
  }
}
