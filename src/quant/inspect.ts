/**
 * Per-layer inspection of a prepared model (`qat inspect`, the HTML report): for every
 * quantized output, its quantization parameters and range, the layer's weight bits/scales,
 * histograms with the quantization grid, and the SQNR of the fake-quant output against the
 * same model run with fake-quant off:
 *
 *   SQNR_dB = 10·log10( Σ f² / Σ (f − q)² )     f = float output, q = fake-quant output
 *
 * It is cumulative (errors of earlier layers included), like PyTorch's Numeric Suite
 * comparisons, so the layer where it drops most is the one that loses the most. Observers are
 * paused during inspection and the quantizer switches restored afterwards.
 * Called by the CLI (`qat inspect`, `qat report`) and user code.
 */
import type { Tensor } from "../tensor/tensor.js";
import { noGrad } from "../tensor/grad-mode.js";
import type { Module } from "../nn/module.js";
import { QatWeightLayer } from "./qat-modules.js";
import { quantizerParams } from "./convert.js";
import { type QatModel, outputQuantizerOf } from "./stubs.js";
import { quantizers } from "./schedule.js";

/** A histogram of observed values with the quantization levels that cover them. */
export interface Histogram {
  /** Bin edges, bins + 1 of them, increasing. */
  edges: number[];
  /** Count per bin. */
  counts: number[];
  /** The real values of the quantization levels within the range, for overlay. */
  grid: number[];
}

/** One quantized layer as `qat inspect` sees it (`layers.json` is LayerReport[]). */
export interface LayerReport {
  name: string;
  type: string;
  outputShape: number[];
  /** Weight bit width; null for layers without weights. */
  weightBits: number | null;
  /** Smallest and largest weight scale over the output channels (equal when per-tensor). */
  weightScale: { min: number; max: number } | null;
  activationScale: number;
  activationZeroPoint: number;
  activationQmin: number;
  activationQmax: number;
  /** Observed [min, max] of the float weights. */
  weightRange: [number, number] | null;
  /** Observed [min, max] of the output activations. */
  activationRange: [number, number];
  /** Signal-to-quantization-noise ratio of the layer output, float vs quantized, in dB. */
  sqnrDb: number | null;
  weightHistogram: Histogram | null;
  activationHistogram: Histogram | null;
}

/** Histogram of `v` with `bins` equal bins, and the grid levels (z, s, [qmin, qmax]) inside it. */
export function histogram(v: ArrayLike<number>, bins: number, grid: { scale: number; zeroPoint: number; qmin: number; qmax: number } | null): Histogram {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (v[i] < lo) lo = v[i];
    if (v[i] > hi) hi = v[i];
  }
  if (!(hi > lo)) hi = lo + 1e-6;
  const counts = new Array<number>(bins).fill(0);
  const w = (hi - lo) / bins;
  for (let i = 0; i < v.length; i++) counts[Math.min(bins - 1, Math.floor((v[i] - lo) / w))]++;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * w);
  const levels: number[] = [];
  if (grid) {
    for (let q = grid.qmin; q <= grid.qmax; q++) {
      const r = (q - grid.zeroPoint) * grid.scale;
      if (r >= lo - grid.scale && r <= hi + grid.scale) levels.push(r);
    }
  }
  return { edges, counts, grid: levels };
}

function range(v: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    lo = Math.min(lo, v[i]);
    hi = Math.max(hi, v[i]);
  }
  return [lo, hi];
}

/** Outputs of every module with an output quantizer, by path, in call order. */
function captureOutputs(qm: QatModel, x: Tensor): Map<string, Tensor> {
  const outs = new Map<string, Tensor>();
  const handles = [];
  for (const [path, m] of qm.namedModules()) {
    if (!outputQuantizerOf(m)) continue;
    handles.push(m.registerForwardHook((_m, _i, y) => void (outs.has(path) || outs.set(path, y))));
  }
  noGrad(() => qm.forward(x));
  for (const h of handles) h.remove();
  return outs;
}

function weightInfo(m: Module, bins: number): Pick<LayerReport, "weightBits" | "weightScale" | "weightRange" | "weightHistogram"> {
  if (!(m instanceof QatWeightLayer)) return { weightBits: null, weightScale: null, weightRange: null, weightHistogram: null };
  const q = quantizerParams(m.weight_fake_quant, "weight_fake_quant");
  const w = noGrad(() => m.quantizedWeight());
  const sorted = [...q.scales].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1];
  return {
    weightBits: Math.ceil(Math.log2(q.qmax - q.qmin + 1)),
    weightScale: { min: sorted[0], max: sorted[sorted.length - 1] },
    weightRange: range(w.data),
    weightHistogram: histogram(m.weight.data, bins, { scale: median, zeroPoint: 0, qmin: q.qmin, qmax: q.qmax }),
  };
}

/** Layer reports for `qm` on the input batch `x` (see the file header). */
export function inspectModel(qm: QatModel, x: Tensor, opts: { bins?: number } = {}): LayerReport[] {
  const bins = opts.bins ?? 64;
  const qs = quantizers(qm) as unknown as { fake_quant_enabled?: Tensor; observer_enabled?: Tensor }[];
  const saved = qs.map((q) => [q.fake_quant_enabled?.data[0], q.observer_enabled?.data[0]] as const);
  const wasTraining = qm.training;
  qm.eval();
  try {
    for (const q of qs) if (q.observer_enabled) q.observer_enabled.data[0] = 0;
    const quantized = captureOutputs(qm, x);
    for (const q of qs) if (q.fake_quant_enabled) q.fake_quant_enabled.data[0] = 0;
    const float = captureOutputs(qm, x);
    const reports: LayerReport[] = [];
    for (const [path, qy] of quantized) {
      const m = qm.getSubmodule(path);
      const fy = float.get(path)!;
      const a = quantizerParams(outputQuantizerOf(m)!, `${path}.activation_post_process`);
      let sig = 0;
      let noise = 0;
      for (let i = 0; i < fy.size; i++) {
        sig += fy.data[i] * fy.data[i];
        noise += (fy.data[i] - qy.data[i]) ** 2;
      }
      const grid = { scale: a.scales[0], zeroPoint: a.zps[0], qmin: a.qmin, qmax: a.qmax };
      reports.push({
        name: path || "(input)", type: m.constructor.name, outputShape: [...qy.shape],
        activationScale: a.scales[0], activationZeroPoint: a.zps[0], activationQmin: a.qmin, activationQmax: a.qmax,
        activationRange: [(a.qmin - a.zps[0]) * a.scales[0], (a.qmax - a.zps[0]) * a.scales[0]],
        sqnrDb: noise === 0 ? null : 10 * Math.log10(sig / noise),
        activationHistogram: histogram(fy.data, bins, grid),
        ...weightInfo(m, bins),
      });
    }
    return reports;
  } finally {
    qs.forEach((q, i) => {
      if (q.fake_quant_enabled && saved[i][0] !== undefined) q.fake_quant_enabled.data[0] = saved[i][0]!;
      if (q.observer_enabled && saved[i][1] !== undefined) q.observer_enabled.data[0] = saved[i][1]!;
    });
    qm.train(wasTraining);
  }
}
