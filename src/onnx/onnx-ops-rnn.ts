/**
 * ONNX LSTM and GRU (opsets 7–22) as generic kernels over src/ops/rnn.ts, so an imported
 * recurrent model trains (gradients reach X, the initial state and W / R / B / P, which stay
 * in ONNX's layout as the node's parameters). Gate rows are reordered at run time from ONNX's
 * order to PyTorch's: LSTM (i, o, f, c) → (i, f, g, o), GRU (z, r, h) → (r, z, n); B is
 * [Wb, Rb]; peepholes P are (i, o, f). Supported: direction forward / reverse / bidirectional,
 * layout 0 and 1, clip, GRU linear_before_reset 0 (ONNX's default) and 1 (PyTorch's),
 * initial_h / initial_c, sequence_lens (per-element lengths: state kept and outputs zero past
 * them). Not supported (a NotSupportedError naming the node): activations other than the
 * defaults, LSTM input_forget. Each used output (Y, Y_h, Y_c) is its own step, as
 * for Split (import-build.ts): the recurrence runs once per used output. Registered in
 * onnx-ops.ts.
 */
import { FormatError, NotSupportedError, ShapeError, fmtShape } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { zeros } from "../tensor/creation.js";
import { concat, permute, reshape, slice, stack, transpose } from "../ops/layout.js";
import { gruSequence, lstmSequence } from "../ops/rnn.js";
import { type Compiler, type OpContext, get, intValues, opt } from "./onnx-ops-util.js";

/** Row blocks of an ONNX gate tensor (along axis 0 of [G·H, …]) in PyTorch's order. */
function reorder(t: Tensor, h: number, order: readonly number[]): Tensor {
  return concat(order.map((k) => slice(t, 0, k * h, (k + 1) * h)), 0);
}

/** Direction d of a [D, …] tensor. */
function dir(t: Tensor, d: number): Tensor {
  return reshape(slice(t, 0, d, d + 1), t.shape.slice(1));
}

const rnn = (kind: "LSTM" | "GRU"): Compiler => (c: OpContext) => {
  const maxInputs = kind === "LSTM" ? 8 : 6;
  if (c.consts.length < 3 || c.consts.length > maxInputs) throw new FormatError(`${c.where}: ${kind} expects 3–${maxInputs} inputs, got ${c.consts.length}`);
  const a = c.attrs;
  const direction = a.string("direction", "forward");
  if (!["forward", "reverse", "bidirectional"].includes(direction)) throw new FormatError(`${c.where}: unknown direction '${direction}'`);
  const dirs = direction === "bidirectional" ? 2 : 1;
  const hidden = a.int("hidden_size");
  const layout = a.int("layout", 0);
  if (layout !== 0 && layout !== 1) throw new FormatError(`${c.where}: layout must be 0 or 1, got ${layout}`);
  const clipAttr = a.has("clip") ? a.float("clip", 0) : undefined;
  if (clipAttr !== undefined && !(clipAttr > 0)) throw new FormatError(`${c.where}: clip must be positive, got ${clipAttr}`);
  const defaults = kind === "LSTM" ? ["Sigmoid", "Tanh", "Tanh"] : ["Sigmoid", "Tanh"];
  const acts = readStrings(c, "activations");
  if (acts && (acts.length !== defaults.length * dirs || acts.some((s, i) => s.toLowerCase() !== defaults[i % defaults.length].toLowerCase()))) {
    throw new NotSupportedError(`${c.where}: activations [${acts.join(", ")}] are not supported (only the defaults ${defaults.join(", ")})`);
  }
  if (kind === "LSTM" && a.int("input_forget", 0) !== 0) throw new NotSupportedError(`${c.where}: LSTM input_forget = 1 is not supported`);
  const lbr = kind === "GRU" && a.int("linear_before_reset", 0) === 1;
  const order = kind === "LSTM" ? [0, 2, 3, 1] : [1, 0, 2];
  const gates = order.length;
  const outputIndex = c.outputIndex ?? 0;
  if (outputIndex > (kind === "LSTM" ? 2 : 1)) throw new FormatError(`${c.where}: ${kind} has no output ${outputIndex}`);
  return (i) => {
    const [x0, w, r] = [get(i, 0), get(i, 1), get(i, 2)];
    const b = opt(i, 3);
    const seqLens = opt(i, 4);
    const x = layout === 1 ? transpose(x0, 0, 1) : x0;
    if (x.ndim !== 3) throw new ShapeError(`${c.where}: X must be 3-D, got ${fmtShape(x0.shape)}`);
    const [steps, batch, inSize] = x.shape;
    const h = hidden ?? r.shape[r.ndim - 1];
    const want = (t: Tensor, shape: number[], what: string) => {
      if (t.ndim !== shape.length || t.shape.some((d, k) => d !== shape[k])) throw new ShapeError(`${c.where}: ${what} must be [${shape.join(", ")}], got ${fmtShape(t.shape)}`);
    };
    want(w, [dirs, gates * h, inSize], "W");
    want(r, [dirs, gates * h, h], "R");
    if (b) want(b, [dirs, 2 * gates * h], "B");
    const lengths = seqLens ? intValues(seqLens, c.where) : null;
    if (lengths && (lengths.length !== batch || lengths.some((v) => v < 0 || v > steps))) throw new ShapeError(`${c.where}: sequence_lens must hold ${batch} lengths in [0, ${steps}], got [${lengths.join(", ")}]`);
    const state = (t: Tensor | null, what: string): Tensor => {
      if (!t) return zeros([dirs, batch, h], { dtype: x.dtype });
      const s = layout === 1 ? transpose(t, 0, 1) : t;
      want(s, [dirs, batch, h], what);
      return s;
    };
    const h0 = state(opt(i, 5), "initial_h");
    const c0 = kind === "LSTM" ? state(opt(i, 6), "initial_c") : null;
    const p = kind === "LSTM" ? opt(i, 7) : null;
    if (p) want(p, [dirs, 3 * h], "P");
    const ys: Tensor[] = [];
    const hs: Tensor[] = [];
    const cs: Tensor[] = [];
    for (let d = 0; d < dirs; d++) {
      const bd = b ? dir(b, d) : null;
      const weights = {
        wih: reorder(dir(w, d), h, order), whh: reorder(dir(r, d), h, order),
        bih: bd ? reorder(slice(bd, 0, 0, gates * h), h, order) : null, bhh: bd ? reorder(slice(bd, 0, gates * h, 2 * gates * h), h, order) : null,
      };
      const reverse = direction === "reverse" || d === 1;
      if (kind === "LSTM") {
        const pd = p ? dir(p, d) : null;
        const peepholes = pd ? { i: slice(pd, 0, 0, h), o: slice(pd, 0, h, 2 * h), f: slice(pd, 0, 2 * h, 3 * h) } : null;
        const res = lstmSequence(x, dir(h0, d), dir(c0!, d), weights, reverse, { peepholes, clip: clipAttr, lengths });
        ys.push(res.y);
        hs.push(res.h);
        cs.push(res.c);
      } else {
        const res = gruSequence(x, dir(h0, d), weights, reverse, { linearBeforeReset: lbr, clip: clipAttr, lengths });
        ys.push(res.y);
        hs.push(res.h);
      }
    }
    if (outputIndex === 0) {
      const y = stack(ys, 1);
      return layout === 1 ? permute(y, [2, 0, 1, 3]) : y;
    }
    const s = stack(outputIndex === 1 ? hs : cs, 0);
    return layout === 1 ? transpose(s, 0, 1) : s;
  };
};

const readStrings = (c: OpContext, name: string): string[] | undefined => c.attrs.strings(name);

export const RNN_OPS: Readonly<Record<string, Compiler>> = { LSTM: rnn("LSTM"), GRU: rnn("GRU") };
