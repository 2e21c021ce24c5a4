/**
 * One direction of one LSTM / GRU layer over a whole sequence, composed of differentiable ops
 * (linear, slice, sigmoid, tanh, mul, add), so gradients reach the input, the initial state and
 * every weight. Gate order is PyTorch's: LSTM rows (i, f, g, o), GRU rows (r, z, n).
 *
 *   LSTM: i = σ(Wi·x + bi + Ri·h + rbi [+ pi⊙c]), f = σ(… [+ pf⊙c]), g = tanh(…),
 *         c' = f⊙c + i⊙g, o = σ(… [+ po⊙c']), h' = o⊙tanh(c')
 *   GRU:  r = σ(Wr·x + br + Rr·h + rbr), z = σ(…),
 *         n = tanh(Wn·x + bn + r⊙(Rn·h + rbn))        (linearBeforeReset, PyTorch's form)
 *         n = tanh(Wn·x + bn + Rn·(r⊙h) + rbn)        (ONNX's default, linear_before_reset = 0)
 *         h' = (1 − z)⊙n + z⊙h
 *
 * Peepholes, the pre-activation clip and per-element sequence lengths exist for ONNX import
 * (src/onnx/onnx-ops-rnn.ts).
 * Called by nn.LSTM / nn.GRU (src/nn/layers/rnn.ts) and the ONNX importer.
 */
import { ShapeError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { add, mul, sub } from "./binary.js";
import { cast, reshape, slice, stack } from "./layout.js";
import { linear } from "./matmul.js";
import { clamp, sigmoid, tanh } from "./unary.js";

export interface RnnWeights {
  /** [G·H, I] input weights, G = 4 (LSTM) or 3 (GRU). */
  wih: Tensor;
  /** [G·H, H] recurrent weights. */
  whh: Tensor;
  bih?: Tensor | null;
  bhh?: Tensor | null;
}

/**
 * Per batch element, how many timesteps are real (ONNX sequence_lens): from its length on an
 * element keeps its state and its outputs are zero. A reversed pass starts at length − 1.
 */
export type SequenceLengths = readonly number[] | null | undefined;

/** [B, 1] mask: 1 where timestep t is inside the element's length. */
function activeMask(lengths: SequenceLengths, t: number, like: Tensor): Tensor | null {
  if (!lengths) return null;
  const m = new Float64Array(lengths.length).map((_, b) => (t < lengths[b] ? 1 : 0));
  return cast(new Tensor(m, [lengths.length, 1]), like.dtype);
}

/** m ? next : prev, elementwise over the batch (m null: next). */
const keep = (m: Tensor | null, next: Tensor, prev: Tensor): Tensor => (m ? add(mul(m, next), mul(sub(1, m), prev)) : next);

export interface LstmOptions {
  /** Peephole weights [H] each (ONNX P = [i, o, f]). */
  peepholes?: { i: Tensor; f: Tensor; o: Tensor } | null;
  /** Clip gate pre-activations to [−clip, clip] (ONNX `clip`). */
  clip?: number;
  lengths?: SequenceLengths;
}

export interface GruOptions {
  /** PyTorch's form (true, the default) or ONNX's default (false). */
  linearBeforeReset?: boolean;
  clip?: number;
  lengths?: SequenceLengths;
}

/** Timestep t of [T, B, F] → [B, F]. */
function step(x: Tensor, t: number): Tensor {
  const s = slice(x, 0, t, t + 1);
  return reshape(s, [x.shape[1], x.shape[2]]);
}

const gate = (z: Tensor, k: number, h: number): Tensor => slice(z, -1, k * h, (k + 1) * h);
const clipped = (z: Tensor, clip: number | undefined): Tensor => (clip === undefined ? z : clamp(z, -clip, clip));

function checkShapes(what: string, x: Tensor, h0: Tensor, w: RnnWeights, gates: number): number {
  const hidden = h0.shape[1];
  if (x.ndim !== 3 || h0.ndim !== 2 || h0.shape[0] !== x.shape[1]) throw new ShapeError(`${what}: input ${fmtShape(x.shape)} [T, B, I] and state ${fmtShape(h0.shape)} [B, H] do not fit`);
  if (w.wih.ndim !== 2 || w.wih.shape[0] !== gates * hidden || w.wih.shape[1] !== x.shape[2] || w.whh.ndim !== 2 || w.whh.shape[0] !== gates * hidden || w.whh.shape[1] !== hidden) {
    throw new ShapeError(`${what}: weights ${fmtShape(w.wih.shape)} / ${fmtShape(w.whh.shape)} do not fit input size ${x.shape[2]} and hidden size ${hidden}`);
  }
  return hidden;
}

/** LSTM over x [T, B, I] from (h0, c0) [B, H]; y [T, B, H] in time order, h / c the final state. */
export function lstmSequence(x: Tensor, h0: Tensor, c0: Tensor, w: RnnWeights, reverse = false, opts: LstmOptions = {}): { y: Tensor; h: Tensor; c: Tensor } {
  const hs = checkShapes("lstm", x, h0, w, 4);
  const xw = linear(x, w.wih, w.bih ?? null);
  const p = opts.peepholes ?? null;
  let [h, c] = [h0, c0];
  const ys: Tensor[] = new Array<Tensor>(x.shape[0]);
  for (let k = 0; k < x.shape[0]; k++) {
    const t = reverse ? x.shape[0] - 1 - k : k;
    const z = add(step(xw, t), linear(h, w.whh, w.bhh ?? null));
    let [zi, zf] = [gate(z, 0, hs), gate(z, 1, hs)];
    if (p) [zi, zf] = [add(zi, mul(p.i, c)), add(zf, mul(p.f, c))];
    const i = sigmoid(clipped(zi, opts.clip));
    const f = sigmoid(clipped(zf, opts.clip));
    const g = tanh(clipped(gate(z, 2, hs), opts.clip));
    const cNext = add(mul(f, c), mul(i, g));
    let zo = gate(z, 3, hs);
    if (p) zo = add(zo, mul(p.o, cNext));
    const hNext = mul(sigmoid(clipped(zo, opts.clip)), tanh(cNext));
    const m = activeMask(opts.lengths, t, x);
    [h, c] = [keep(m, hNext, h), keep(m, cNext, c)];
    ys[t] = m ? mul(m, hNext) : hNext;
  }
  return { y: stack(ys, 0), h, c };
}

/** GRU over x [T, B, I] from h0 [B, H]; y [T, B, H] in time order, h the final state. */
export function gruSequence(x: Tensor, h0: Tensor, w: RnnWeights, reverse = false, opts: GruOptions = {}): { y: Tensor; h: Tensor } {
  const hs = checkShapes("gru", x, h0, w, 3);
  const lbr = opts.linearBeforeReset ?? true;
  const xw = linear(x, w.wih, w.bih ?? null);
  const rbn = w.bhh ? slice(w.bhh, 0, 2 * hs, 3 * hs) : null;
  const whhRz = slice(w.whh, 0, 0, 2 * hs);
  const whhN = slice(w.whh, 0, 2 * hs, 3 * hs);
  const bhhRz = w.bhh ? slice(w.bhh, 0, 0, 2 * hs) : null;
  let h = h0;
  const ys: Tensor[] = new Array<Tensor>(x.shape[0]);
  for (let k = 0; k < x.shape[0]; k++) {
    const t = reverse ? x.shape[0] - 1 - k : k;
    const xt = step(xw, t);
    const rz = add(slice(xt, -1, 0, 2 * hs), linear(h, whhRz, bhhRz));
    const r = sigmoid(clipped(slice(rz, -1, 0, hs), opts.clip));
    const z = sigmoid(clipped(slice(rz, -1, hs, 2 * hs), opts.clip));
    const hn = lbr ? mul(r, linear(h, whhN, rbn)) : linear(mul(r, h), whhN, rbn);
    const n = tanh(clipped(add(slice(xt, -1, 2 * hs, 3 * hs), hn), opts.clip));
    const hNext = add(mul(sub(1, z), n), mul(z, h));
    const m = activeMask(opts.lengths, t, x);
    h = keep(m, hNext, h);
    ys[t] = m ? mul(m, hNext) : hNext;
  }
  return { y: stack(ys, 0), h };
}
