/**
 * Activation range report: per activation quantizer, the observed minimum and maximum, the
 * percentiles of the observed values, and a warning when the range is dominated by a few
 * outliers — max|x| / (99.99th percentile of |x|) > 100 by default, e.g. one 1e30 pixel in a
 * calibration batch, which would otherwise give a scale so coarse that the int8 model is at
 * chance. Percentiles come from a bounded, evenly strided sample of each batch (at most
 * `samplesPerBatch` values); minimum and maximum are exact. Also the percentile clipping of
 * `calibrate({ percentile })`.
 * Called by ./calibrate.ts (collects during calibration), the CLI (`qat calibrate`, `qat
 * demo` print the warnings) and convert's report (rangeWarnings / lastRangeReport).
 */
import { ValueError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Module } from "../nn/module.js";

/** Default ratio max|x| / p99.99(|x|) above which a range is reported as outlier-dominated. */
export const OUTLIER_RATIO = 100;
/** Default percentile of |x| the maximum is compared with. */
export const OUTLIER_PERCENTILE = 99.99;

/** One activation quantizer's observed range. */
export interface LayerRange {
  /** Module path of the quantizer's owner (e.g. `module.conv1`, `quant` for the input). */
  layer: string;
  /** Finite values observed (non-finite ones are counted apart and never part of the range). */
  count: number;
  nonFinite: number;
  min: number;
  max: number;
  /** The OUTLIER_PERCENTILE-th percentile of |x| (of the sample). */
  absPercentile: number;
  /** max|x| / absPercentile (Infinity when the percentile is 0 and max|x| is not). */
  ratio: number;
}

/** An outlier-dominated range, with a one-line message naming the layer. */
export interface RangeWarning {
  layer: string;
  ratio: number;
  maxAbs: number;
  absPercentile: number;
  message: string;
}

/** Collects one quantizer's values: exact min/max, a bounded strided sample for percentiles. */
export class RangeCollector {
  count = 0;
  nonFinite = 0;
  min = Infinity;
  max = -Infinity;
  private readonly parts: Float32Array[] = [];

  constructor(readonly samplesPerBatch = 8192) {
    if (!Number.isInteger(samplesPerBatch) || samplesPerBatch < 1) throw new ValueError(`RangeCollector: samplesPerBatch must be a positive integer, got ${samplesPerBatch}`);
  }

  add(x: ArrayLike<number>): void {
    const n = x.length;
    const step = Math.max(1, Math.ceil(n / this.samplesPerBatch));
    const sample = new Float32Array(Math.ceil(n / step));
    let k = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i];
      if (!Number.isFinite(v)) {
        this.nonFinite++;
        continue;
      }
      this.count++;
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      if (i % step === 0) sample[k++] = v;
    }
    this.parts.push(sample.subarray(0, k));
  }

  /** The sorted sample. */
  private sorted(): Float32Array {
    const all = new Float32Array(this.parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of this.parts) {
      all.set(p, o);
      o += p.length;
    }
    return all.sort();
  }

  /** The p-th percentile (0..100, linear interpolation) of the sampled values, or of |values|. */
  percentile(p: number, abs = false): number {
    if (!(p >= 0 && p <= 100)) throw new ValueError(`percentile: p must be in [0, 100], got ${p}`);
    const s = abs ? this.sorted().map(Math.abs).sort() : this.sorted();
    if (s.length === 0) return NaN;
    const pos = (p / 100) * (s.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(s.length - 1, lo + 1);
    return s[lo] + (s[hi] - s[lo]) * (pos - lo);
  }

  summary(layer: string, percentile = OUTLIER_PERCENTILE): LayerRange {
    const absPercentile = this.percentile(percentile, true);
    const maxAbs = Math.max(Math.abs(this.min), Math.abs(this.max));
    const ratio = this.count === 0 ? NaN : absPercentile > 0 ? maxAbs / absPercentile : maxAbs > 0 ? Infinity : 1;
    return { layer, count: this.count, nonFinite: this.nonFinite, min: this.min, max: this.max, absPercentile, ratio };
  }
}

/** The ranges whose max|x| exceeds `ratio` times their percentile of |x|, as warnings naming the layer. */
export function rangeWarnings(ranges: readonly LayerRange[], opts: { ratio?: number } = {}): RangeWarning[] {
  const limit = opts.ratio ?? OUTLIER_RATIO;
  const out: RangeWarning[] = [];
  for (const r of ranges) {
    if (!(r.ratio > limit)) continue;
    const maxAbs = Math.max(Math.abs(r.min), Math.abs(r.max));
    out.push({
      layer: r.layer, ratio: r.ratio, maxAbs, absPercentile: r.absPercentile,
      message: `activation range of '${r.layer}' is dominated by outliers: max |x| = ${maxAbs.toPrecision(3)} is ${r.ratio === Infinity ? "infinitely many" : r.ratio.toPrecision(3)} times its ${OUTLIER_PERCENTILE}th percentile ${r.absPercentile.toPrecision(3)}; the int8 model will lose most of its resolution there (check the input data, or calibrate with { percentile: ${OUTLIER_PERCENTILE} })`,
    });
  }
  return out;
}

/** Names of activation quantizers: a module's output quantizer, or a functional op's (`_<k>`). */
const ACT_QUANTIZER = /^activation_post_process(?:_\d+)?$/;

/** The activation quantizers of a prepared model, by the path of the layer they follow (or their own, for functional ops). */
export function activationQuantizers(model: Module): [string, Module][] {
  const out: [string, Module][] = [];
  for (const [path, m] of model.namedModules()) {
    const dot = path.lastIndexOf(".");
    const leaf = path.slice(dot + 1);
    if (!ACT_QUANTIZER.test(leaf)) continue;
    const owner = dot < 0 ? "" : path.slice(0, dot);
    if (owner.endsWith("weight_fake_quant") || ACT_QUANTIZER.test(owner.slice(owner.lastIndexOf(".") + 1))) continue; // a quantizer's own observer
    if (leaf !== "activation_post_process") {
      out.push([`${owner ? `${owner}.` : ""}${leaf}`, m]); // a functional op's output quantizer (activation_post_process_<k>)
      continue;
    }
    out.push([owner || "(input)", m]);
  }
  return out;
}

/** Collectors attached to every activation quantizer's input through forward pre-hooks; `stop()` detaches them. */
export function collectRanges(model: Module, samplesPerBatch?: number): { collectors: Map<string, RangeCollector>; stop(): void } {
  const collectors = new Map<string, RangeCollector>();
  const handles = activationQuantizers(model).map(([layer, q]) => {
    const c = new RangeCollector(samplesPerBatch);
    collectors.set(layer, c);
    return q.registerForwardPreHook((_m, args) => {
      c.add((args[0] as Tensor).data);
      return undefined;
    });
  });
  return { collectors, stop: () => handles.forEach((h) => h.remove()) };
}

const reports = new WeakMap<Module, LayerRange[]>();

/** Records the ranges of the last calibration of `model` (./calibrate.ts). */
export function setLastRangeReport(model: Module, ranges: LayerRange[]): void {
  reports.set(model, ranges);
}

/** The ranges observed by the last `calibrate` of `model`, or null if it was never calibrated. */
export function lastRangeReport(model: Module): LayerRange[] | null {
  return reports.get(model) ?? null;
}
