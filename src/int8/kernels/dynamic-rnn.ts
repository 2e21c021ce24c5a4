/**
 * Kernel of the dynamic LSTM / GRU node (../graph-rnn.ts): float input, integer GEMMs on
 * run-time quantized activations, float gates. For one layer and direction, X [T·B, I] the
 * layer input (all timesteps) and h, c [B, H] the state (zero, or given):
 *
 *   proj(A, W, S_W) = fl(fl(acc) · fl(S_A · S_W[n])),  acc = Σ_k (q_A − Z_A)·q_W  exact int32
 *     (the static path's int8 GEMM, ./dynamic-gemm.ts, or plain loops where it is unavailable),
 *     q_A, S_A, Z_A: A quantized at run time (per tensor: one range for the whole of A,
 *     onnxruntime's DynamicQuantizeLinear rule, ./dynamic-qparams.ts)
 *   P = proj(X, W_ih)   once for the whole sequence (onnxruntime and PyTorch both do this)
 *   LSTM step: R = proj(h, W_hh); z = fl(fl(P_t + R) + fl(b_ih + b_hh))
 *              i, f, o = σ(z_i, z_f, z_o), g = tanh(z_g)      (PyTorch's row order i, f, g, o)
 *              c' = fl(fl(f·c) + fl(i·g)), h' = fl(o · tanh(c'))
 *              — onnxruntime's DynamicQuantizeLSTM: Xt·W into the gate buffer, += Ht−1·R,
 *              then + (Wb + Rb)
 *   GRU step:  P' = fl(P + b_ih) (once), H = fl(proj(h, W_hh) + b_hh)
 *              r = σ(fl(P'_r + H_r)), z = σ(fl(P'_z + H_z)), n = tanh(fl(P'_n + fl(r·H_n)))
 *              h' = fl(fl(fl(1 − z)·n) + fl(z·h))     (PyTorch's GRU, ONNX linear_before_reset 1)
 *   σ(v) = fl(1 / (1 + e^−v)), tanh = fl(Math.tanh) (double, rounded once).
 * Layer l > 0 reads the concatenated directions [T, B, D·H] of layer l − 1; a reverse
 * direction walks t = T − 1 … 0 (its per-tensor input parameters are the forward one's).
 * Called by Int8Model.exec (../model.ts) and quant.quantizeDynamic's DynamicQuantizedLSTM / GRU.
 */
import { FormatError, ShapeError, fmtShape } from "../../tensor/errors.js";
import { type DynamicRnnNode, rnnGates } from "../graph-rnn.js";
import { bitsF32 } from "../graph-dynamic.js";
import type { QuantArray, QuantResult } from "./common.js";
import { quantizeRows, quantizeRows8, scaleAccumulators } from "./dynamic.js";
import { dynamicIgemm, dynamicIgemmAvailable, igemmWeights } from "./dynamic-gemm.js";

const f32 = Math.fround;
const sigmoid = (v: number): number => f32(1 / (1 + Math.exp(-v)));
const tanh = (v: number): number => f32(Math.tanh(v));

export type TensorTable = ReadonlyMap<string, Int8Array | Int32Array>;

function tensor<T extends Int8Array | Int32Array>(t: TensorTable, key: string, type: new (n: number) => T): T {
  const v = t.get(key);
  if (!(v instanceof type)) throw new FormatError(`Int8Model: tensor '${key}' must be ${type === (Int8Array as unknown) ? "int8" : "int32"}`);
  return v as T;
}

/**
 * proj(A, W, S_W) of the file header: A [m, k] float, W int8 [n, k] symmetric, scales [n] or [1];
 * the integer sums are exact (|q_A − Z_A| ≤ 255, |q_W| ≤ 128, k < 2^16).
 */
export function dynamicProjection(a: Float32Array, m: number, k: number, w: Int8Array, ws: Float32Array, n: number, act: DynamicRnnNode["act"], where: string): Float32Array {
  const out = new Float32Array(m * n);
  const perRow = ws.length > 1;
  if (dynamicIgemmAvailable()) {
    // the static path's int8 GEMM (./dynamic-gemm.ts): the same exact integers as the loops below
    const { q, scales, zps } = quantizeRows8(a, m, k, act, where);
    scaleAccumulators(dynamicIgemm(q, zps, m, k, igemmWeights(w, n, k)), scales, ws, m, n, null, out);
    return out;
  }
  const { q, scales, zps } = quantizeRows(a, m, k, act, where);
  const xc = new Int32Array(k);
  for (let r = 0; r < m; r++) {
    const z = zps[r];
    for (let j = 0; j < k; j++) xc[j] = q[r * k + j] - z;
    const sx = scales[r];
    for (let c = 0; c < n; c++) {
      let acc = 0;
      const wo = c * k;
      for (let j = 0; j < k; j++) acc += xc[j] * w[wo + j];
      out[r * n + c] = f32(f32(acc) * f32(sx * ws[perRow ? c : 0]));
    }
  }
  return out;
}

/** The final state of every layer and direction (order l·D + d), each [B, H]. */
export interface RnnState {
  h: Float32Array[];
  c: Float32Array[];
}

/**
 * The whole stack on time-major x [T, B, I]: output [T, B, D·H] and the final states.
 * `init` gives initial states per cell (default zeros; c only for the LSTM).
 */
export function dynamicRnnSequence(node: DynamicRnnNode, x: Float32Array, steps: number, batch: number, t: TensorTable, init?: Partial<RnnState>): { y: Float32Array } & RnnState {
  const lstm = node.op === "dynamic_lstm";
  const G = rnnGates(node);
  const H = node.hiddenSize;
  const D = node.bidirectional ? 2 : 1;
  const where = `Int8Model '${node.name}'`;
  if (node.cells.length !== node.numLayers * D) throw new FormatError(`${where}: ${node.cells.length} cells for ${node.numLayers} layer(s) × ${D} direction(s)`);
  let input = x;
  let inF = node.inputSize;
  const finals: RnnState = { h: [], c: [] };
  for (let l = 0; l < node.numLayers; l++) {
    const out = new Float32Array(steps * batch * D * H);
    for (let d = 0; d < D; d++) {
      const cell = node.cells[l * D + d];
      const wIh = tensor(t, cell.wIh, Int8Array);
      const wHh = tensor(t, cell.wHh, Int8Array);
      if (wIh.length !== G * H * inF || wHh.length !== G * H * H) throw new FormatError(`${where}: layer ${l} weights have ${wIh.length} / ${wHh.length} elements, expected ${G * H * inF} / ${G * H * H}`);
      const sIh = bitsF32(tensor(t, cell.wIhScales, Int32Array));
      const sHh = bitsF32(tensor(t, cell.wHhScales, Int32Array));
      const bIh = cell.bIh ? bitsF32(tensor(t, cell.bIh, Int32Array)) : null;
      const bHh = cell.bHh ? bitsF32(tensor(t, cell.bHh, Int32Array)) : null;
      const p = dynamicProjection(input, steps * batch, inF, wIh, sIh, G * H, node.act, where);
      const k = l * D + d;
      const h = Float32Array.from(init?.h?.[k] ?? new Float32Array(batch * H));
      const c = Float32Array.from(init?.c?.[k] ?? new Float32Array(batch * H));
      if (h.length !== batch * H || c.length !== batch * H) throw new ShapeError(`${where}: initial state of layer ${l} direction ${d} must hold ${batch}·${H} values`);
      if (lstm) {
        const bsum = new Float32Array(G * H).map((_, j) => f32((bIh ? bIh[j] : 0) + (bHh ? bHh[j] : 0)));
        for (let s = 0; s < steps; s++) {
          const ti = d === 1 ? steps - 1 - s : s;
          const r = dynamicProjection(h, batch, H, wHh, sHh, G * H, node.act, where);
          for (let b = 0; b < batch; b++) {
            const po = (ti * batch + b) * G * H;
            const ro = b * G * H;
            const z = (g: number, j: number) => f32(f32(p[po + g * H + j] + r[ro + g * H + j]) + bsum[g * H + j]);
            for (let j = 0; j < H; j++) {
              const ig = sigmoid(z(0, j));
              const fg = sigmoid(z(1, j));
              const gg = tanh(z(2, j));
              const og = sigmoid(z(3, j));
              const cn = f32(f32(fg * c[b * H + j]) + f32(ig * gg));
              c[b * H + j] = cn;
              h[b * H + j] = f32(og * tanh(cn));
            }
            out.set(h.subarray(b * H, (b + 1) * H), (ti * batch + b) * D * H + d * H);
          }
        }
      } else {
        if (bIh) for (let i = 0; i < p.length; i++) p[i] = f32(p[i] + bIh[i % (G * H)]);
        for (let s = 0; s < steps; s++) {
          const ti = d === 1 ? steps - 1 - s : s;
          const hh = dynamicProjection(h, batch, H, wHh, sHh, G * H, node.act, where);
          if (bHh) for (let i = 0; i < hh.length; i++) hh[i] = f32(hh[i] + bHh[i % (G * H)]);
          for (let b = 0; b < batch; b++) {
            const po = (ti * batch + b) * G * H;
            const ho = b * G * H;
            for (let j = 0; j < H; j++) {
              const rg = sigmoid(f32(p[po + j] + hh[ho + j]));
              const zg = sigmoid(f32(p[po + H + j] + hh[ho + H + j]));
              const ng = tanh(f32(p[po + 2 * H + j] + f32(rg * hh[ho + 2 * H + j])));
              h[b * H + j] = f32(f32(f32(1 - zg) * ng) + f32(zg * h[b * H + j]));
            }
            out.set(h.subarray(b * H, (b + 1) * H), (ti * batch + b) * D * H + d * H);
          }
        }
      }
      finals.h.push(h);
      finals.c.push(c);
    }
    input = out;
    inF = D * H;
  }
  return { y: input, ...finals };
}

/** [A, B, F] ↔ [B, A, F]. */
export function swapLeading(x: Float32Array, a: number, b: number, f: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out.set(x.subarray((i * b + j) * f, (i * b + j + 1) * f), (j * a + i) * f);
  return out;
}

/** The node on a float input [T, B, I] ([B, T, I] with batchFirst), zero initial state: the output sequence. */
export function dynamicRnn(node: DynamicRnnNode, x: QuantResult, t: TensorTable): QuantResult {
  const s = x.shape;
  if (s.length !== 3 || s[2] !== node.inputSize) throw new ShapeError(`Int8Model: '${node.name}' needs input [${node.batchFirst ? "B, T" : "T, B"}, ${node.inputSize}], got ${fmtShape(s)}`);
  const [steps, batch] = node.batchFirst ? [s[1], s[0]] : [s[0], s[1]];
  const data = x.data as unknown as Float32Array;
  const xt = node.batchFirst ? swapLeading(data, batch, steps, node.inputSize) : data;
  const F = (node.bidirectional ? 2 : 1) * node.hiddenSize;
  const { y } = dynamicRnnSequence(node, xt, steps, batch, t);
  const out = node.batchFirst ? swapLeading(y, steps, batch, F) : y;
  return { data: out as unknown as QuantArray, shape: [s[0], s[1], F] };
}
