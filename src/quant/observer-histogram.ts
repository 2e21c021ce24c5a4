/**
 * HistogramObserver (torch.ao.quantization.HistogramObserver, PyTorch 1.13): a running
 * 2048-bin histogram of the observed values, merged across batches of different ranges by
 * upsampling ×128 onto a common grid, and an L2-error search that trims outlier bins before
 * choosing (scale, zero point). Replicated step by step, including PyTorch's float32
 * arithmetic and two 1.13 quirks: torch.histc is called with the range truncated to integers
 * (`int(min_val)`, so values outside the truncated range are not counted), and the search
 * compares float32 cumulative sums. Buffers: eps, histogram, min_val, max_val.
 * Called by calibrate (PTQ) and by QConfigs that use it for activations.
 */
import { ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { type QParamsTensors, UniformQuantizationObserverBase, aminmax, checkResizableEntry, qparamsTensors, replaceBuffer, scalarF32 } from "./observer.js";
import { chooseQParams, rint } from "./qparams.js";
import type { QuantSpecOptions } from "./quant-spec.js";

const f32 = Math.fround;

export interface HistogramObserverOptions extends QuantSpecOptions {
  /** Histogram bins (default 2048). */
  bins?: number;
  /** Upsampling factor used when merging histograms of different ranges (default 128). */
  upsampleRate?: number;
}

/**
 * torch.histc(x, bins, lo, hi) on float32 data: bin = trunc((x − lo)·bins / (hi − lo)) in
 * float32, x = hi goes in the last bin, values outside [lo, hi] are dropped; lo = hi means
 * the data's own range (then ±1 if still empty).
 */
export function histc(x: ArrayLike<number>, bins: number, lo: number, hi: number): Float32Array {
  if (lo === hi && x.length > 0) [lo, hi] = aminmax(x);
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new ValueError(`histc: range of [${lo}, ${hi}] is not finite`);
  if (!(lo < hi)) throw new ValueError("histc: max must be larger than min");
  const left = f32(lo);
  const right = f32(hi);
  const width = f32(right - left);
  const nb = f32(bins);
  const hist = new Float32Array(bins);
  for (let i = 0; i < x.length; i++) {
    const v = f32(x[i]);
    if (!(v >= left && v <= right)) continue;
    let pos = Math.trunc(f32(f32(f32(v - left) * nb) / width));
    if (pos === bins) pos -= 1;
    hist[pos] += 1;
  }
  return hist;
}

/** Python's int(t) for a float32 tensor value: truncation; NaN/inf are errors. */
function pyInt(v: number, what: string): number {
  if (!Number.isFinite(v)) throw new ValueError(`HistogramObserver: cannot convert ${what} = ${v} to an integer`);
  return Math.trunc(v);
}

/** torch.div(a, b, rounding_mode='floor') in float32 (c10::div_floor_floating). */
function floorDiv32(a: number, b: number): number {
  if (b === 0) return f32(a / b);
  const mod = a % b;
  let div = f32(f32(a - mod) / b);
  if (mod !== 0 && b < 0 !== mod < 0) div = f32(div - 1);
  if (div === 0) return (a / b < 0 || Object.is(a / b, -0)) ? -0 : 0;
  let fl = Math.floor(div);
  if (f32(div - fl) > 0.5) fl += 1;
  return fl;
}

/** PyTorch's _get_norm in float32: density · (end³ − begin³)/3. */
function l2Norm(begin: number, end: number, density: number): number {
  const cube = f32(f32(f32(end * end) * end) - f32(f32(begin * begin) * begin));
  return f32(density * f32(cube / 3));
}

export class HistogramObserver extends UniformQuantizationObserverBase {
  readonly bins: number;
  readonly upsampleRate: number;
  /** Number of destination bins, 2^8 for both uint8 and int8 (PyTorch: 2 ** iinfo(dtype).bits). */
  readonly dstNbins: number;
  declare histogram: Tensor;
  declare min_val: Tensor;
  declare max_val: Tensor;

  constructor(opts: HistogramObserverOptions = {}) {
    super(opts, "per_tensor_affine", "HistogramObserver");
    if (this.spec.qscheme !== "per_tensor_affine" && this.spec.qscheme !== "per_tensor_symmetric") {
      throw new ValueError(`HistogramObserver: qscheme must be per_tensor_affine or per_tensor_symmetric, got ${this.spec.qscheme}`);
    }
    this.bins = opts.bins ?? 2048;
    this.upsampleRate = opts.upsampleRate ?? 128;
    for (const [name, v] of [["bins", this.bins], ["upsampleRate", this.upsampleRate]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ValueError(`HistogramObserver: ${name} must be a positive integer, got ${v}`);
    }
    this.dstNbins = this.spec.dtype === "int32" ? 2 ** 32 : 256;
    this.registerBuffer("histogram", new Tensor(new Float32Array(this.bins), [this.bins]));
    this.registerBuffer("min_val", scalarF32(Infinity));
    this.registerBuffer("max_val", scalarF32(-Infinity));
  }

  forward(x: Tensor): Tensor {
    if (x.size === 0) return x;
    const data = x.dtype === "float32" ? (x.data as Float32Array) : Float32Array.from(x.data);
    const [mn, mx] = aminmax(data);
    if (this.skipNonFinite(x, [mn, mx])) return x;
    const minVal = this.min_val.data[0];
    const maxVal = this.max_val.data[0];
    if ((minVal === Infinity && maxVal === -Infinity) || minVal === maxVal) {
      this.min_val.data[0] = mn;
      this.max_val.data[0] = mx;
      this.histogram.data.set(histc(data, this.bins, pyInt(mn, "min_val"), pyInt(mx, "max_val")));
      return x;
    }
    const [newMin, newMax] = [mn, mx];
    const combinedMin0 = Math.min(newMin, minVal);
    const combinedMax0 = Math.max(newMax, maxVal);
    const { combinedMin, combinedMax, downsampleRate, startIdx } = this.adjustMinMax(combinedMin0, combinedMax0);
    let hist = histc(data, this.bins, pyInt(combinedMin, "min_val"), pyInt(combinedMax, "max_val"));
    if (combinedMin === minVal && combinedMax === maxVal) {
      const old = this.histogram.data;
      for (let i = 0; i < hist.length; i++) hist[i] += old[i];
    } else {
      hist = this.combineHistograms(hist, this.histogram.data as Float32Array, downsampleRate, startIdx);
    }
    this.histogram.data.set(hist);
    this.min_val.data[0] = combinedMin;
    this.max_val.data[0] = combinedMax;
    return x;
  }

  /**
   * Widens [min, max] so the old histogram's upsampled bins (width w = (max−min)/(bins·up))
   * tile it: downsample d = ⌈(max'−min')/(bins·w)⌉, max' += d·bins·w − (max'−min');
   * the old range starts at bin rint((min − min')/w) of the fine grid.
   */
  private adjustMinMax(combinedMin: number, combinedMax: number) {
    const width = f32(f32(this.max_val.data[0] - this.min_val.data[0]) / f32(this.bins * this.upsampleRate));
    const coarse = f32(this.bins * width);
    const span = f32(combinedMax - combinedMin);
    const downsampleRate = pyInt(Math.ceil(f32(span / coarse)), "downsample_rate");
    const e = f32(f32(downsampleRate * coarse) - span);
    const startIdx = pyInt(rint(f32(f32(this.min_val.data[0] - combinedMin) / width)), "start_idx");
    return { combinedMin, combinedMax: f32(combinedMax + e), downsampleRate, startIdx };
  }

  /**
   * Adds the old histogram, upsampled ×up (each bin repeated), placed at startIdx on a grid of
   * bins·d fine bins and summed back down d at a time (float64 running sum as torch.cumsum),
   * each coarse bin getting (integral difference)/up.
   */
  private combineHistograms(newHist: Float32Array, oldHist: Float32Array, downsampleRate: number, startIdx: number): Float32Array {
    const bins = this.bins;
    const up = this.upsampleRate;
    const fineEnd = Math.min(startIdx + bins * up, bins * downsampleRate);
    const out = new Float32Array(bins);
    let acc = 0;
    let j = Math.max(startIdx, 0);
    let prevRounded = 0;
    for (let k = 0; k < bins; k++) {
      const last = (k + 1) * downsampleRate - 1;
      const stop = Math.min(last + 1, fineEnd);
      for (; j < stop; j++) acc += oldHist[Math.floor((j - startIdx) / up)];
      out[k] = newHist[k] + f32((acc - prevRounded) / up);
      prevRounded = f32(acc);
    }
    return out;
  }

  /** L2 error of quantizing bins [startBin, endBin] onto dstNbins levels (float32 as PyTorch). */
  private quantizationError(startBin: number, endBin: number): number {
    const binWidth = (this.max_val.data[0] - this.min_val.data[0]) / this.bins;
    const dstBinWidth = (binWidth * (endBin - startBin + 1)) / this.dstNbins;
    if (dstBinWidth === 0) return 0;
    const bw = f32(binWidth);
    const dbw = f32(dstBinWidth);
    const halfDbw = f32(dstBinWidth / 2);
    const negHalfDbw = f32(-dstBinWidth / 2);
    const lastDst = this.dstNbins - 1;
    const middleCube = f32(f32(f32(f32(halfDbw * halfDbw) * halfDbw) - f32(f32(negHalfDbw * negHalfDbw) * negHalfDbw)) / 3);
    const hist = this.histogram.data;
    let total = 0;
    for (let i = 0; i < this.bins; i++) {
      const srcBegin = f32(f32(i - startBin) * bw);
      const srcEnd = f32(srcBegin + bw);
      const dBegin = Math.min(Math.max(floorDiv32(srcBegin, dbw), 0), lastDst);
      const dBeginCenter = f32(f32(dBegin + 0.5) * dbw);
      const dEnd = Math.min(Math.max(floorDiv32(srcEnd, dbw), 0), lastDst);
      const density = f32(hist[i] / bw);
      let norm = l2Norm(f32(srcBegin - dBeginCenter), halfDbw, density);
      norm = f32(norm + f32(f32(f32(dEnd - dBegin) - 1) * f32(density * middleCube)));
      const dEndCenter = f32(f32(dEnd * dbw) + halfDbw);
      norm = f32(norm + l2Norm(negHalfDbw, f32(srcEnd - dEndCenter), density));
      total += norm;
    }
    return f32(total);
  }

  /**
   * PyTorch's _non_linear_param_search: move the lower or upper quantile bound inward by
   * 1e-5 at a time (whichever frees more bins), stop when the L2 error grows; returns the
   * trimmed [min, max].
   */
  private nonLinearParamSearch(): [number, number] {
    const hist = this.histogram.data;
    const bins = this.bins;
    const binWidth = f32(f32(this.max_val.data[0] - this.min_val.data[0]) / bins);
    let totalAcc = 0;
    const cSum = new Float32Array(bins);
    for (let i = 0; i < bins; i++) {
      totalAcc += hist[i];
      cSum[i] = totalAcc;
    }
    const total = f32(totalAcc);
    const stepsize = 1e-5;
    let alpha = 0;
    let beta = 1;
    let startBin = 0;
    let endBin = bins - 1;
    let normMin = Infinity;
    while (alpha < beta) {
      const nextAlpha = alpha + stepsize;
      const nextBeta = beta - stepsize;
      const lowBound = f32(nextAlpha * total);
      const highBound = f32(nextBeta * total);
      let l = startBin;
      let r = endBin;
      while (l < endBin && cSum[l] < lowBound) l++;
      while (r > startBin && cSum[r] > highBound) r--;
      let nextStart = startBin;
      let nextEnd = endBin;
      if (l - startBin > endBin - r) {
        nextStart = l;
        alpha = nextAlpha;
      } else {
        nextEnd = r;
        beta = nextBeta;
      }
      if (nextStart === startBin && nextEnd === endBin) continue;
      const norm = this.quantizationError(nextStart, nextEnd);
      if (norm > normMin) break;
      normMin = norm;
      startBin = nextStart;
      endBin = nextEnd;
    }
    const minVal = this.min_val.data[0];
    return [f32(minVal + f32(binWidth * startBin)), f32(minVal + f32(binWidth * (endBin + 1)))];
  }

  calculateQParams(): QParamsTensors {
    const minVal = this.min_val.data[0];
    const maxVal = this.max_val.data[0];
    if (minVal === Infinity && maxVal === -Infinity) return qparamsTensors([1], [0]);
    if (this.histogram.size !== this.bins) {
      throw new ValueError(`HistogramObserver: histogram has ${this.histogram.size} bins, the observer was built with ${this.bins}`);
    }
    const [newMin, newMax] = this.nonLinearParamSearch();
    const q = chooseQParams(newMin, newMax, this.liveSpec());
    return qparamsTensors([q.scale], [q.zeroPoint]);
  }

  override validateStateEntry(key: string, name: string, current: Tensor, incoming: Tensor): void {
    if (name === "min_val" || name === "max_val") checkResizableEntry(key, current, incoming);
    else super.validateStateEntry(key, name, current, incoming);
  }

  override applyStateEntry(name: string, current: Tensor, incoming: Tensor): void {
    if ((name === "min_val" || name === "max_val") && incoming.size !== current.size) replaceBuffer(this, name, current, incoming);
    else super.applyStateEntry(name, current, incoming);
  }

  override extraRepr(): string {
    return `min_val=${this.min_val.data[0]}, max_val=${this.max_val.data[0]}`;
  }
}

/** torch default_histogram_observer: HistogramObserver, uint8 [0, 127]. */
export const defaultHistogramObserver = HistogramObserver.withArgs({ quantMin: 0, quantMax: 127 });
