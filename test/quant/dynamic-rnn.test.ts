/**
 * Dynamically quantized LSTM / GRU (quant.quantizeDynamic with modules ["LSTM", "GRU"], the
 * `dynamic` preset's convert, Int8Model's dynamic_lstm / dynamic_gru nodes):
 *  - against PyTorch 1.13's quantize_dynamic (scripts/golden/rnn_dynamic.py, onednn engine):
 *    the float modules are PyTorch's, the int8 weight scales (per tensor and per row) are
 *    PyTorch's to the float32 ulp, and the outputs agree within the activation-rounding
 *    difference of the two schemes (PyTorch's x86 engines quantize activations to 7-bit
 *    reduce_range codes, we to 8-bit DynamicQuantizeLinear codes: not bit-exact, bounds below);
 *  - bit for bit against an independent float64 re-implementation of the same integer rule
 *    (BigInt sums, each float32 step rounded with Math.fround) written here;
 *  - convert ≡ quantizeDynamic; encode/decode; the validator's errors.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { GRU, LSTM, type RnnOptions } from "../../src/nn/layers/rnn.js";
import { Sequential } from "../../src/nn/layers/container.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { FormatError, ValueError } from "../../src/tensor/errors.js";
import { quantizeDynamic } from "../../src/quant/quantize-dynamic.js";
import { DynamicQuantizedGRU, DynamicQuantizedLSTM } from "../../src/quant/quantize-dynamic-rnn.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { convert } from "../../src/quant/convert.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { Int8Model } from "../../src/int8/model.js";
import { validateInt8Graph } from "../../src/int8/validate.js";
import { readGolden } from "../nn/golden.js";

interface GT {
  shape: number[];
  data: number[];
}
interface Case {
  name: string;
  kind: "LSTM" | "GRU";
  options: { input_size: number; hidden_size: number; num_layers?: number; bidirectional?: boolean; batch_first?: boolean };
  state_dict: Record<string, GT>;
  x: GT;
  float: number[];
  dynamic: { per_tensor: number[]; per_channel: number[] };
  weight_scales: { per_tensor: Record<string, number[]>; per_channel: Record<string, number[]> };
}
const golden = readGolden<{ cases: Case[] }>("quant/rnn_dynamic.json");

function build(c: Case): LSTM | GRU {
  const o: RnnOptions = { numLayers: c.options.num_layers, bidirectional: c.options.bidirectional, batchFirst: c.options.batch_first };
  const m = c.kind === "LSTM" ? new LSTM(c.options.input_size, c.options.hidden_size, o) : new GRU(c.options.input_size, c.options.hidden_size, o);
  const sd = new Map(Object.entries(c.state_dict).map(([k, v]) => [k, new Tensor(Float32Array.from(v.data), v.shape)]));
  m.loadStateDict(sd, { strict: true });
  m.eval();
  return m;
}
const tensorOf = (g: GT) => new Tensor(Float32Array.from(g.data), g.shape);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
const run = (m: { forward(x: Tensor): Tensor }, x: Tensor) => noGrad(() => m.forward(x)).data as Float32Array;

// ---- an independent re-implementation of the rule (src/int8/kernels/dynamic-rnn.ts header) ----
const fr = Math.fround;
function rhe(v: number): number {
  const f = Math.floor(v);
  return v - f < 0.5 ? f : v - f > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}
/** int8 codes and scales of w [R, C]: amax / 127.5 per row or for the tensor; codes round(w · fl(1/s)) half to even (PyTorch's fake-quant form), clamped to [−128, 127]. */
function refWeight(w: Float32Array, rows: number, perTensor: boolean): { q: number[]; s: number[] } {
  const cols = w.length / rows;
  const groups = perTensor ? 1 : rows;
  const len = w.length / groups;
  const s: number[] = [];
  const q: number[] = [];
  for (let g = 0; g < groups; g++) {
    let amax = 0;
    for (let i = 0; i < len; i++) amax = Math.max(amax, Math.abs(w[g * len + i]));
    s.push(fr(Math.max(fr(amax / 127.5), 1.1920928955078125e-7)));
  }
  for (let i = 0; i < w.length; i++) q.push(Math.max(-128, Math.min(127, rhe(fr(w[i] * fr(1 / s[perTensor ? 0 : Math.floor(i / cols)]))))));
  return { q, s };
}
/** fl(fl(Σ(q_a − Z_a)·q_w) · fl(S_a·S_w)) with DynamicQuantizeLinear parameters for all of a. */
function refProj(a: number[], m: number, k: number, w: { q: number[]; s: number[] }, n: number): number[] {
  const lo = Math.min(0, ...a.map(fr));
  const hi = Math.max(0, ...a.map(fr));
  const sa = hi === lo ? 1 : fr(fr(hi - lo) / 255);
  const za = rhe(Math.max(0, Math.min(255, fr(0 - fr(lo / sa)))));
  const qa = a.map((v) => Math.max(0, Math.min(255, rhe(fr(v / sa)) + za)) - za);
  const out: number[] = [];
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let acc = 0n;
      for (let j = 0; j < k; j++) acc += BigInt(qa[r * k + j]) * BigInt(w.q[c * k + j]);
      out.push(fr(fr(Number(acc)) * fr(sa * w.s[w.s.length === 1 ? 0 : c])));
    }
  }
  return out;
}
const sig = (v: number) => fr(1 / (1 + Math.exp(-v)));
const th = (v: number) => fr(Math.tanh(v));
/** The stack on time-major x [T, B, I] from zero state. */
function refRnn(m: LSTM | GRU, x: number[], T: number, B: number, perTensor: boolean): number[] {
  const lstm = m instanceof LSTM;
  const G = lstm ? 4 : 3;
  const H = m.hiddenSize;
  const dirs = m.suffixes();
  let input = x;
  let inF = m.inputSize;
  for (let l = 0; l < m.numLayers; l++) {
    const out = new Array<number>(T * B * dirs.length * H).fill(0);
    dirs.forEach((sfx, d) => {
      const w = m.weights(l, sfx);
      const wih = refWeight(w.wih.data as Float32Array, G * H, perTensor);
      const whh = refWeight(w.whh.data as Float32Array, G * H, perTensor);
      const bih = w.bih ? Array.from(w.bih.data as Float32Array) : new Array<number>(G * H).fill(0);
      const bhh = w.bhh ? Array.from(w.bhh.data as Float32Array) : new Array<number>(G * H).fill(0);
      const p = refProj(input, T * B, inF, wih, G * H);
      let h = new Array<number>(B * H).fill(0);
      const c = new Array<number>(B * H).fill(0);
      for (let s = 0; s < T; s++) {
        const t = d === 1 ? T - 1 - s : s;
        const r = refProj(h, B, H, whh, G * H);
        const next = h.slice();
        for (let b = 0; b < B; b++) {
          for (let j = 0; j < H; j++) {
            const P = (g: number) => p[(t * B + b) * G * H + g * H + j];
            const R = (g: number) => r[b * G * H + g * H + j];
            if (lstm) {
              const z = (g: number) => fr(fr(P(g) + R(g)) + fr(bih[g * H + j] + bhh[g * H + j]));
              const cn = fr(fr(sig(z(1)) * c[b * H + j]) + fr(sig(z(0)) * th(z(2))));
              c[b * H + j] = cn;
              next[b * H + j] = fr(sig(z(3)) * th(cn));
            } else {
              const Pb = (g: number) => fr(P(g) + bih[g * H + j]);
              const Rb = (g: number) => fr(R(g) + bhh[g * H + j]);
              const rg = sig(fr(Pb(0) + Rb(0)));
              const zg = sig(fr(Pb(1) + Rb(1)));
              const ng = th(fr(Pb(2) + fr(rg * Rb(2))));
              next[b * H + j] = fr(fr(fr(1 - zg) * ng) + fr(zg * h[b * H + j]));
            }
            out[(t * B + b) * dirs.length * H + d * H + j] = next[b * H + j];
          }
        }
        h = next;
      }
    });
    input = out;
    inF = dirs.length * H;
  }
  return input;
}
/** x in time-major order as a plain array, and T, B. */
function timeMajor(m: LSTM | GRU, x: Tensor): { data: number[]; T: number; B: number } {
  const [a, b, f] = x.shape;
  if (!m.batchFirst) return { data: Array.from(x.data as Float32Array), T: a, B: b };
  const out: number[] = [];
  for (let t = 0; t < b; t++) for (let i = 0; i < a; i++) for (let k = 0; k < f; k++) out.push((x.data as Float32Array)[(i * b + t) * f + k]);
  return { data: out, T: b, B: a };
}
function fromTimeMajor(m: LSTM | GRU, y: number[], T: number, B: number): number[] {
  if (!m.batchFirst) return y;
  const F = y.length / (T * B);
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let k = 0; k < F; k++) out.push(y[(t * B + b) * F + k]);
  return out;
}

describe("dynamic LSTM / GRU vs PyTorch quantize_dynamic (torch 1.13, onednn)", () => {
  for (const c of golden.cases) {
    describe(c.name, () => {
      const m = build(c);
      const x = tensorOf(c.x);
      const range = Math.max(...c.float.map(Math.abs));
      it("the float module (PyTorch's state_dict) is PyTorch's", () => {
        expect(maxDiff(run(m, x), c.float)).toBeLessThan(2e-6 * Math.max(1, range));
      });
      for (const gran of ["per_tensor", "per_channel"] as const) {
        const q = quantizeDynamic(new Sequential(m), { modules: [c.kind], rnnWeights: gran });
        const layer = q.getSubmodule("0") as DynamicQuantizedLSTM | DynamicQuantizedGRU;
        it(`${gran}: int8 weight scales are PyTorch's (amax / 127.5) to the float32 ulp`, () => {
          for (const cell of layer.node.cells) {
            for (const [key, sk] of [[cell.wIh, cell.wIhScales], [cell.wHh, cell.wHhScales]] as const) {
              const name = key.slice(key.indexOf(".") + 1);
              const ours = new Float32Array((layer.tensors.get(sk) as Int32Array).buffer);
              const theirs = c.weight_scales[gran][name];
              expect(ours.length).toBe(theirs.length);
              theirs.forEach((v, i) => expect(Math.abs(ours[i] - v)).toBeLessThanOrEqual(Math.abs(fr(v)) * 1.2e-7));
            }
          }
        });
        it(`${gran}: outputs agree with PyTorch's within the activation-rounding difference`, () => {
          const ours = run(q, x);
          const theirs = c.dynamic[gran];
          const errOurs = maxDiff(ours, c.float) / range;
          const errTorch = maxDiff(theirs, c.float) / range;
          const gap = maxDiff(ours, theirs) / range;
          console.log(`[rnn dynamic golden] ${c.name} ${gran}: max |ours − float| ${(100 * errOurs).toFixed(2)} %, |PyTorch − float| ${(100 * errTorch).toFixed(2)} %, |ours − PyTorch| ${(100 * gap).toFixed(2)} % of the output range`);
          expect(errOurs).toBeLessThan(0.03);
          expect(errTorch).toBeLessThan(0.05);
          expect(gap).toBeLessThan(0.05);
          expect(maxDiff(ours, c.float)).toBeGreaterThan(0);
        });
        it(`${gran}: equals the float64 re-implementation of the integer rule bit for bit`, () => {
          const { data, T, B } = timeMajor(m, x);
          const ref = fromTimeMajor(m, refRnn(m, data, T, B, gran === "per_tensor"), T, B);
          expect(Array.from(run(q, x))).toEqual(ref);
        });
      }
    });
  }
});

describe("dynamic LSTM / GRU: module API, convert, files", () => {
  const c = golden.cases[0];
  const lstm = build(c);
  const x = tensorOf(c.x);

  it("forwardWithState returns PyTorch's shapes and continues a sequence from a given state", () => {
    const q = new DynamicQuantizedLSTM(lstm as LSTM);
    const [y, [h, cs]] = q.forwardWithState(x);
    expect(y.shape).toEqual([9, 3, 32]);
    expect(h.shape).toEqual([4, 3, 16]);
    expect(cs.shape).toEqual([4, 3, 16]);
    // the last forward step of the top layer is h_n[2]
    const yd = y.data as Float32Array;
    expect(Array.from((h.data as Float32Array).subarray(2 * 48, 2 * 48 + 16))).toEqual(Array.from(yd.subarray(8 * 96, 8 * 96 + 16)));
    const [y2] = q.forwardWithState(x, [h, cs]);
    expect(maxDiff(y2.data, y.data)).toBeGreaterThan(0);
    const g = new DynamicQuantizedGRU(build(golden.cases[2]) as GRU);
    const [gy, gh] = g.forwardWithState(new Tensor(Float32Array.from(c.x.data.slice(0, 9 * 8)), [9, 8]));
    expect(gy.shape).toEqual([9, 32]);
    expect(gh.shape).toEqual([4, 16]);
  });

  it("quantizeDynamic refuses unknown classes and 4-bit RNNs", () => {
    expect(() => quantizeDynamic(new Sequential(lstm), { modules: ["Conv2d"] })).toThrow(ValueError);
    expect(() => quantizeDynamic(new Sequential(lstm), { modules: ["LSTM"], dtype: "int4" })).toThrow(/int8 weights/);
    // the default selects Linear only: the LSTM stays float
    const q = quantizeDynamic(new Sequential(lstm, new Linear(32, 4)));
    expect(q.getSubmodule("0")).toBeInstanceOf(LSTM);
  });

  it("the dynamic preset's convert makes a dynamic_lstm node equal to quantizeDynamic's layer; the file round-trips", () => {
    const bf = build(golden.cases[1]);
    const model = new Sequential(bf, new Linear(32 / 2, 5));
    const xb = tensorOf(golden.cases[1].x);
    const int8 = convert(prepareQat(model, { qconfig: qconfigs.dynamic, example: xb }));
    expect(int8.graph.nodes.map((n) => n.op)).toEqual(["dynamic_lstm", "dynamic_linear"]);
    const q = quantizeDynamic(model, { modules: ["LSTM", "Linear"] });
    const ours = int8.run(xb).data as Float32Array;
    expect(Array.from(ours)).toEqual(Array.from(run(q, xb)));
    const back = Int8Model.decode(int8.encode());
    expect(Array.from(back.run(xb).data as Float32Array)).toEqual(Array.from(ours));
    // another batch size
    const x2 = new Tensor(Float32Array.from(golden.cases[1].x.data.slice(0, 2 * 9 * 8)), [2, 9, 8]);
    expect(int8.run(x2).shape).toEqual([2, 9, 5]);
  });

  it("a qconfig null override keeps the LSTM a float island", () => {
    const bf = build(golden.cases[1]);
    const xb = tensorOf(golden.cases[1].x);
    const int8 = convert(prepareQat(new Sequential(bf, new Linear(16, 5)), { qconfig: qconfigs.dynamic, example: xb, overrides: [{ type: LSTM, qconfig: null }] }));
    expect(int8.graph.nodes.map((n) => n.op)).toEqual(["float", "dynamic_linear"]);
  });

  it("the validator names the field at fault", () => {
    const bf = build(golden.cases[1]);
    const xb = tensorOf(golden.cases[1].x);
    const int8 = convert(prepareQat(new Sequential(bf, new Linear(16, 5)), { qconfig: qconfigs.dynamic, example: xb }));
    const bad = (edit: (n: Record<string, unknown>) => void, why: RegExp) => {
      const g = structuredClone(int8.graph);
      edit(g.nodes[0] as unknown as Record<string, unknown>);
      expect(() => validateInt8Graph(g, int8.tensors)).toThrow(FormatError);
      expect(() => validateInt8Graph(g, int8.tensors)).toThrow(why);
    };
    bad((n) => (n.cells = []), /cells/);
    bad((n) => (n.hiddenSize = 8), /wIh|wHh|cells/);
    bad((n) => (n.act = { granularity: "per_row", dtype: "uint8" }), /act/);
    bad((n) => ((n.cells as { wIhScales: string }[])[0].wIhScales = "nope"), /wIhScales/);
  });
});
