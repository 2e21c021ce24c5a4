/**
 * Post-training calibration: run a few batches through a prepared model with observers on and
 * fake-quant off, in eval mode (BN on running statistics), so every quantizer gets its range
 * from float activations; then fake-quant is switched back on. Used alone it is PTQ
 * (followed by disableObserver to freeze the ranges); before QAT it initialises the ranges.
 * While it runs, every activation quantizer's input is sampled (./range-report.ts): the
 * ranges are kept for `lastRangeReport(model)`, outlier-dominated ones are passed to
 * `onWarning` (default: console.warn), and `percentile` clips each activation range to that
 * percentile of the observed values.
 * Called by user code and `qat calibrate`.
 */
import { noGrad } from "../tensor/grad-mode.js";
import { ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import type { Module } from "../nn/module.js";
import { disableFakeQuant, enableFakeQuant, enableObserver } from "./schedule.js";
import { type RangeCollector, type RangeWarning, activationQuantizers, collectRanges, rangeWarnings, setLastRangeReport } from "./range-report.js";

export interface CalibrateOptions {
  /** Batches to run (default 16; all if the loader is shorter). */
  batches?: number;
  /**
   * Clip every activation range to [p_(100−q), p_q] of the observed values, q = percentile
   * (e.g. 99.99), instead of the full min/max: one outlier then no longer sets the scale.
   */
  percentile?: number;
  /** Called with the outlier-dominated activation ranges (default: console.warn of each message). */
  onWarning?: (warnings: RangeWarning[]) => void;
}

/** Returns the number of samples seen. */
export function calibrate(model: Module, loader: Iterable<{ x: Tensor }>, opts: CalibrateOptions = {}): number {
  const batches = opts.batches ?? 16;
  if (!Number.isInteger(batches) || batches < 1) throw new ValueError(`calibrate: batches must be a positive integer, got ${batches}`);
  const q = opts.percentile;
  if (q !== undefined && !(q > 50 && q <= 100)) throw new ValueError(`calibrate: percentile must be in (50, 100], got ${q}`);
  const wasTraining = model.training;
  model.eval();
  enableObserver(model);
  disableFakeQuant(model);
  const before = q === undefined ? null : snapshotBuffers(model);
  const inputs: Tensor[] = [];
  let ranges = collectRanges(model);
  try {
    noGrad(() => {
      for (const { x } of loader) {
        model.forward(x);
        inputs.push(x);
        if (inputs.length >= batches) break;
      }
      if (q === undefined) return;
      // Percentile mode, second pass: an outlier also inflates every range downstream of it, so
      // the same batches run again from fresh observers with each activation clamped to its
      // first-pass percentiles; then each range is clipped to its own percentiles.
      ranges.stop();
      const bounds = new Map([...ranges.collectors].map(([layer, c]) => [layer, [c.percentile(100 - q), c.percentile(q)]]));
      model.loadStateDict(before!, { strict: false });
      const clamps = activationQuantizers(model).map(([layer, fq]) => fq.registerForwardPreHook((_m, args) => {
        const [lo, hi] = bounds.get(layer) ?? [NaN, NaN];
        return lo <= hi ? [(args[0] as Tensor).clamp(lo, hi)] : undefined;
      }));
      ranges = collectRanges(model);
      try {
        for (const x of inputs) model.forward(x);
      } finally {
        clamps.forEach((h) => h.remove());
      }
    });
  } finally {
    ranges.stop();
    enableFakeQuant(model);
    model.train(wasTraining);
  }
  if (q !== undefined) clipRanges(model, ranges.collectors, q);
  const report = [...ranges.collectors].filter(([, c]) => c.count > 0).map(([layer, c]) => c.summary(layer));
  setLastRangeReport(model, report);
  const warnings = rangeWarnings(report);
  if (warnings.length > 0) (opts.onWarning ?? ((w) => w.forEach((x) => console.warn(`calibrate: ${x.message}`))))(warnings);
  return inputs.reduce((n, x) => n + x.shape[0], 0);
}

/** Copies of every buffer by state-dict key (the observers' state before the first pass). */
function snapshotBuffers(model: Module): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of model.namedBuffers()) out[k] = new Tensor(t.data.slice(), [...t.shape]);
  return out;
}

interface RangeObserver {
  min_val: Tensor;
  max_val: Tensor;
}

/** Sets each activation observer's min/max to the percentiles, then the quantizer's scale and zero point. */
function clipRanges(model: Module, collectors: Map<string, RangeCollector>, q: number): void {
  for (const [layer, fq] of activationQuantizers(model)) {
    const c = collectors.get(layer);
    if (!c || c.count === 0) continue;
    const obs = ((fq as { activation_post_process?: unknown }).activation_post_process ?? fq) as Partial<RangeObserver>;
    // Per-tensor min/max observers only: a histogram observer's L2 range search already discounts outliers.
    if (!obs.min_val || !obs.max_val || obs.min_val.size !== 1 || "histogram" in obs) continue;
    const lo = Math.max(obs.min_val.data[0], c.percentile(100 - q));
    const hi = Math.min(obs.max_val.data[0], c.percentile(q));
    obs.min_val.data[0] = Math.min(lo, hi);
    obs.max_val.data[0] = hi;
    const f = fq as { calculateQParams?: () => { scale: Tensor; zeroPoint: Tensor }; scale?: Tensor; zero_point?: Tensor };
    if (typeof f.calculateQParams === "function" && f.scale && f.zero_point && f.scale.size === 1) {
      const p = f.calculateQParams();
      f.scale.data[0] = p.scale.data[0];
      f.zero_point.data[0] = p.zeroPoint.data[0];
    }
  }
}
