/**
 * Grouped (block-wise) weight fake quantization for Linear weights [O, I]: each row is cut
 * into groups of `groupSize` consecutive input features (groupSize = I: per channel; the last
 * group shorter when groupSize does not divide I, as MatMulNBits pads K — torchao requires a
 * divisor), each
 * group with its own scale (and zero point when asymmetric) — torchao's
 * `_fake_quantize_per_channel_group` and onnxruntime's MatMulNBits blocks. 2–8 bits.
 *
 *   symmetric  codes [−2^(b−1), 2^(b−1) − 1], Z = 0, S = max(|min|, |max|) / ((qmax − qmin)/2)
 *              (torchao get_group_qparams_symmetric: 4 bits → amax / 7.5), S ≥ float32 eps
 *   asymmetric codes [0, 2^b − 1], lo = min(min, 0), hi = max(max, 0), S = (hi − lo)/(2^b − 1),
 *              Z = roundHalfEven(clamp(−lo / S)) — an integer zero point, as MatMulNBits stores
 *              (torchao's int4 weight-only uses a float "zero point domain" instead: not storable
 *              in MatMulNBits, so not used here)
 *   q = clamp(roundHalfEven(w · fl(1/S)) + Z),  ŵ = S·(q − Z)     (torchao multiplies by 1/S)
 *
 * "minmax": S, Z from the current weight at every forward (torchao's weight fake-quantizers
 * are dynamic too), straight-through in w. "lsq": S (and Z) are Parameters `group_scale`,
 * `group_zero_point` [O, G], initialised from min/max on the first forward, with the LSQ
 * gradients of lsq.ts per group (gradient scale 1/√(groupSize·qmax)).
 * `quantizeCodes()` gives the integer codes convert stores, from the same arithmetic.
 * Called by the int4WeightOnly / int8DynActInt4Weight / dynamic presets (qconfig.ts) and convert-dynamic.ts.
 */
import { defineOp } from "../autograd/custom.js";
import type { FloatArray } from "../tensor/dtype.js";
import { allocArray } from "../tensor/dtype.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { Parameter, type Module } from "../nn/module.js";
import { FakeQuantizeBase } from "./fake-quantize.js";
import type { QParamsTensors } from "./observer.js";
import { FLOAT32_EPS } from "./quant-spec.js";

const f32 = Math.fround;

function rhe(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Integer codes and parameters of a grouped weight: codes [O, I], scales / zeroPoints [O, G]. */
export interface GroupedCodes {
  codes: Int32Array;
  scales: Float32Array;
  zeroPoints: Int32Array;
  groups: number;
  groupSize: number;
}

/** The code range for `bits` bits: signed when symmetric, unsigned when asymmetric. */
export function groupRange(bits: number, symmetric: boolean): [number, number] {
  return symmetric ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
}

/** Per-group min/max parameters (see the file header). */
export function groupQParams(w: ArrayLike<number>, rows: number, cols: number, groupSize: number, qmin: number, qmax: number, symmetric: boolean): { scales: Float32Array; zeroPoints: Int32Array } {
  const G = Math.ceil(cols / groupSize);
  const scales = new Float32Array(rows * G);
  const zeroPoints = new Int32Array(rows * G);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < G; g++) {
      let lo = 0;
      let hi = 0;
      const base = r * cols + g * groupSize;
      const len = Math.min(groupSize, cols - g * groupSize);
      for (let k = 0; k < len; k++) {
        const v = w[base + k];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      lo = f32(lo);
      hi = f32(hi);
      let s: number;
      let z = 0;
      if (symmetric) {
        s = f32(Math.max(-lo, hi) / ((qmax - qmin) / 2));
      } else {
        s = f32(f32(hi - lo) / (qmax - qmin));
      }
      s = Math.max(s, FLOAT32_EPS);
      if (!symmetric) z = Math.min(qmax, Math.max(qmin, rhe(f32(qmin - f32(lo / s)))));
      scales[r * G + g] = s;
      zeroPoints[r * G + g] = z;
    }
  }
  return { scales, zeroPoints };
}

/** Codes of w with the given per-group parameters, and the straight-through mask. */
export function groupCodes(w: ArrayLike<number>, rows: number, cols: number, groupSize: number, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, qmin: number, qmax: number): { codes: Int32Array; mask: Uint8Array } {
  const G = Math.ceil(cols / groupSize);
  const codes = new Int32Array(rows * cols);
  const mask = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < G; g++) {
      const inv = f32(1 / f32(scales[r * G + g]));
      const z = zeroPoints[r * G + g];
      const base = r * cols + g * groupSize;
      const len = Math.min(groupSize, cols - g * groupSize);
      for (let k = 0; k < len; k++) {
        const q = rhe(f32(w[base + k] * inv)) + z;
        const c = Math.min(qmax, Math.max(qmin, q));
        codes[base + k] = c;
        mask[base + k] = q === c ? 1 : 0;
      }
    }
  }
  return { codes, mask };
}

export interface GroupwiseFakeQuantizeOptions {
  /** 2–8 (default 4). */
  bits?: number;
  /** Input features per group (default 32; a row narrower than that is one group), or "row" for one group per output channel. */
  groupSize?: number | "row";
  /** Signed codes with Z = 0 (default true), or unsigned codes with an integer zero point. */
  symmetric?: boolean;
  /** "minmax" (default: from the weight at each forward) or "lsq" (learned per-group scales). */
  scales?: "minmax" | "lsq";
}

/**
 * Grouped weight fake-quantizer (see the file header). `inputQuantizer`, when set by a
 * qconfig, is what QatLinear builds its run-time input quantizer (`input_fake_quant`) with,
 * through bindLinear.
 */
export class GroupwiseFakeQuantize extends FakeQuantizeBase {
  readonly bits: number;
  readonly groupSizeOption: number | "row";
  readonly symmetric: boolean;
  readonly mode: "minmax" | "lsq";
  readonly quantMin: number;
  readonly quantMax: number;
  /** Learned parameters (lsq), created on the first forward. */
  declare group_scale: Tensor | null;
  declare group_zero_point: Tensor | null;
  inputQuantizer?: () => Module;

  constructor(opts: GroupwiseFakeQuantizeOptions = {}) {
    super();
    const bits = opts.bits ?? 4;
    if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new ValueError(`GroupwiseFakeQuantize: bits must be an integer from 2 to 8, got ${bits}`);
    const gs = opts.groupSize ?? 32;
    if (gs !== "row" && !(Number.isInteger(gs) && gs >= 1)) throw new ValueError(`GroupwiseFakeQuantize: groupSize must be a positive integer or "row", got ${String(gs)}`);
    const mode = opts.scales ?? "minmax";
    if (mode !== "minmax" && mode !== "lsq") throw new ValueError(`GroupwiseFakeQuantize: scales must be "minmax" or "lsq", got ${String(mode)}`);
    this.bits = bits;
    this.groupSizeOption = gs;
    this.symmetric = opts.symmetric ?? true;
    this.mode = mode;
    [this.quantMin, this.quantMax] = groupRange(bits, this.symmetric);
    this.registerParameter("group_scale", null);
    this.registerParameter("group_zero_point", null);
  }

  /** The group size for a weight with `cols` input features (checked to divide it). */
  groupSizeFor(cols: number): number {
    // a group wider than the row is the row (a narrow layer in a model quantized with groups of 32); a last
    // group shorter than the others when groupSize does not divide the row, as MatMulNBits pads K
    return this.groupSizeOption === "row" ? cols : Math.min(this.groupSizeOption, cols);
  }

  private dims(w: Tensor): [number, number, number] {
    if (w.dtype !== "float32" && w.dtype !== "float64") throw new DTypeError(`GroupwiseFakeQuantize: weight must be float32 or float64, got ${w.dtype}`);
    if (w.ndim !== 2) throw new ShapeError(`GroupwiseFakeQuantize: expects a Linear weight [out, in], got ${fmtShape(w.shape)}`);
    const [rows, cols] = w.shape;
    return [rows, cols, this.groupSizeFor(cols)];
  }

  /** Scales and zero points for `w`: learned (lsq, once initialised) or from its min/max. */
  paramsFor(w: Tensor): { scales: Float32Array; zeroPoints: Int32Array } {
    const [rows, cols, gs] = this.dims(w);
    if (this.mode === "lsq" && this.group_scale) {
      const s = Float32Array.from(this.group_scale.data, (v) => Math.max(Math.abs(v), FLOAT32_EPS));
      const z = new Int32Array(s.length);
      if (!this.symmetric && this.group_zero_point) for (let i = 0; i < z.length; i++) z[i] = Math.min(this.quantMax, Math.max(this.quantMin, rhe(this.group_zero_point.data[i])));
      return { scales: s, zeroPoints: z };
    }
    return groupQParams(w.data, rows, cols, gs, this.quantMin, this.quantMax, this.symmetric);
  }

  /** The integer codes convert stores (the same arithmetic as forward). */
  quantizeCodes(w: Tensor): GroupedCodes {
    const [rows, cols, gs] = this.dims(w);
    const p = this.paramsFor(w);
    const { codes } = groupCodes(w.data, rows, cols, gs, p.scales, p.zeroPoints, this.quantMin, this.quantMax);
    return { codes, scales: p.scales, zeroPoints: p.zeroPoints, groups: Math.ceil(cols / gs), groupSize: gs };
  }

  /**
   * Called by QatLinear with its weight: creates the LSQ parameters now (so a checkpoint loads
   * before any forward) and returns the run-time input quantizer the qconfig names, if any.
   */
  bindLinear(weight: Tensor): Module | null {
    if (this.mode === "lsq" && !this.group_scale) {
      const [rows, cols, gs] = this.dims(weight);
      this.initLsq(weight, rows, cols, gs);
    }
    return this.inputQuantizer ? this.inputQuantizer() : null;
  }

  private initLsq(w: Tensor, rows: number, cols: number, gs: number): void {
    const p = groupQParams(w.data, rows, cols, gs, this.quantMin, this.quantMax, this.symmetric);
    const G = Math.ceil(cols / gs);
    this.registerParameter("group_scale", Parameter(new Tensor(Float32Array.from(p.scales), [rows, G])));
    if (!this.symmetric) this.registerParameter("group_zero_point", Parameter(new Tensor(Float32Array.from(p.zeroPoints), [rows, G])));
  }

  forward(w: Tensor): Tensor {
    if (this.fake_quant_enabled.data[0] !== 1) return w;
    const [rows, cols, gs] = this.dims(w);
    if (this.mode === "lsq") {
      if (!this.group_scale) this.initLsq(w, rows, cols, gs);
      const zero = this.group_zero_point ?? new Tensor(new Float32Array(this.group_scale!.size), this.group_scale!.shape);
      return fakeQuantizeGroupedLsq(w, this.group_scale!, zero, gs, this.quantMin, this.quantMax, 1 / Math.sqrt(gs * this.quantMax));
    }
    const p = this.paramsFor(w);
    return fakeQuantizeGrouped(w, gs, p.scales, p.zeroPoints, this.quantMin, this.quantMax);
  }

  /** Parameters for the current weight are not stored (minmax); lsq returns the learned ones. */
  calculateQParams(): QParamsTensors {
    if (!this.group_scale) throw new ValueError("GroupwiseFakeQuantize: min/max parameters are computed from the weight; call paramsFor(weight)");
    const s = Float32Array.from(this.group_scale.data, (v) => Math.max(Math.abs(v), FLOAT32_EPS));
    const z = new Int32Array(s.length);
    if (this.group_zero_point) for (let i = 0; i < z.length; i++) z[i] = Math.min(this.quantMax, Math.max(this.quantMin, rhe(this.group_zero_point.data[i])));
    return { scale: new Tensor(s, this.group_scale.shape), zeroPoint: new Tensor(z, this.group_scale.shape) };
  }

  override extraRepr(): string {
    return `bits=${this.bits}, group_size=${this.groupSizeOption}, symmetric=${this.symmetric}, scales=${this.mode}, quant_min=${this.quantMin}, quant_max=${this.quantMax}`;
  }
}

/** Grouped fake quantization with fixed parameters, straight-through in w. */
export function fakeQuantizeGrouped(w: Tensor, groupSize: number, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, qmin: number, qmax: number): Tensor {
  const [rows, cols] = w.shape;
  const { codes, mask } = groupCodes(w.data, rows, cols, groupSize, scales, zeroPoints, qmin, qmax);
  const G = Math.ceil(cols / groupSize);
  const out = allocArray(w.dtype === "float64" ? "float64" : "float32", w.size) as FloatArray;
  for (let i = 0; i < out.length; i++) {
    const j = Math.floor(i / cols) * G + Math.floor((i % cols) / groupSize);
    out[i] = f32((codes[i] - zeroPoints[j]) * f32(scales[j]));
  }
  const op = defineOp<null>({
    name: "fake_quantize_per_channel_group",
    forward: () => ({ output: new Tensor(out, w.shape), saved: null }),
    backward: (g) => {
      const gd = g.data as FloatArray;
      const dx = allocArray(g.dtype === "float64" ? "float64" : "float32", gd.length) as FloatArray;
      for (let i = 0; i < gd.length; i++) dx[i] = gd[i] * mask[i];
      return [new Tensor(dx, g.shape)];
    },
  });
  return op(w);
}

/**
 * LSQ over groups: scale / zeroPoint [O, G] (zero point a float rounded for use), gradients
 * as lsq.ts (Esser eq. 3; LSQ+ for the zero point) per group, times gradFactor:
 *   ∂ŵ/∂w = 1 inside, 0 outside;  ∂ŵ/∂S = (ŵ − w)/S inside, qmin − Z below, qmax − Z above;
 *   ∂ŵ/∂Z = 0 inside, −S outside.
 */
export function fakeQuantizeGroupedLsq(w: Tensor, scale: Tensor, zeroPoint: Tensor, groupSize: number, qmin: number, qmax: number, gradFactor: number): Tensor {
  const [rows, cols] = w.shape;
  const G = Math.ceil(cols / groupSize);
  if (scale.size !== rows * G || zeroPoint.size !== rows * G) throw new ShapeError(`fakeQuantizeGroupedLsq: scale ${fmtShape(scale.shape)} and zero point ${fmtShape(zeroPoint.shape)} must have ${rows}×${G} elements`);
  const f64 = w.dtype === "float64";
  const rnd = (v: number) => (f64 ? v : f32(v));
  const op = defineOp<Uint8Array>({
    name: "fake_quantize_grouped_lsq",
    forward: ([wt, st, zt]) => {
      const out = allocArray(f64 ? "float64" : "float32", wt.size) as FloatArray;
      const mask = new Uint8Array(wt.size);
      for (let i = 0; i < out.length; i++) {
        const j = Math.floor(i / cols) * G + Math.floor((i % cols) / groupSize);
        const s = Math.max(Math.abs(st.data[j]), FLOAT32_EPS);
        const z = Math.min(qmax, Math.max(qmin, rhe(zt.data[j])));
        const q = rhe(rnd(wt.data[i] / s)) + z;
        const c = Math.min(qmax, Math.max(qmin, q));
        mask[i] = q < qmin ? 0 : q > qmax ? 2 : 1;
        out[i] = rnd((c - z) * s);
      }
      return { output: new Tensor(out, wt.shape), saved: mask };
    },
    backward: (g, mask, [wt, st, zt]) => {
      const gd = g.data;
      const dx = allocArray(f64 ? "float64" : "float32", gd.length) as FloatArray;
      const ds = new Float64Array(rows * G);
      const dz = new Float64Array(rows * G);
      for (let i = 0; i < gd.length; i++) {
        const j = Math.floor(i / cols) * G + Math.floor((i % cols) / groupSize);
        const s = Math.max(Math.abs(st.data[j]), FLOAT32_EPS);
        const z = Math.min(qmax, Math.max(qmin, rhe(zt.data[j])));
        if (mask[i] === 1) {
          dx[i] = gd[i];
          const xi = wt.data[i];
          const wh = (rhe(rnd(xi / s)) + z - z) * s;
          ds[j] += gd[i] * ((wh - xi) / s);
        } else {
          dx[i] = 0;
          ds[j] += gd[i] * ((mask[i] === 0 ? qmin : qmax) - z);
          dz[j] += gd[i] * -s;
        }
      }
      const mk = (a: Float64Array, t: Tensor) => new Tensor(t.dtype === "float64" ? a.map((v) => v * gradFactor) : Float32Array.from(a, (v) => v * gradFactor), t.shape);
      return [new Tensor(dx, wt.shape), mk(ds, st), mk(dz, zt)];
    },
  });
  return op(w, scale, zeroPoint);
}

/** Is `m` a grouped weight fake-quantizer? */
export function isGroupwise(m: unknown): m is GroupwiseFakeQuantize {
  return m instanceof GroupwiseFakeQuantize;
}
