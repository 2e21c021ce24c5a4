/**
 * Observers (torch.ao.quantization.observer): modules that watch the tensors flowing through
 * them, keep running statistics in buffers named as PyTorch names them (`eps`, `min_val`,
 * `max_val`, so state dicts move between the two) and turn them into (scale, zero point).
 * `forward(x)` records and returns x unchanged; a batch holding NaN or ±Infinity is counted
 * (`nonFiniteValues`, `nonFiniteBatches`) and never updates the statistics. Every class has `withArgs(...)`, returning a
 * factory a QConfig can hold. HistogramObserver lives in observer-histogram.ts.
 * Called by FakeQuantize / LearnableFakeQuantize (as `activation_post_process`), prepare,
 * calibrate and convert.
 */
import { allocArray, isFloatDType } from "../tensor/dtype.js";
import { AxisError, DTypeError, NotSupportedError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { Module } from "../nn/module.js";
import { chooseQParams, chooseQParamsPerChannel } from "./qparams.js";
import {
  type Factory,
  type QScheme,
  type QuantDType,
  type QuantSpec,
  type QuantSpecOptions,
  isPerChannel,
  makeFactory,
  makeQuantSpec,
} from "./quant-spec.js";
import { aminmax, aminmaxPerChannel, allFinite, countNonFinite } from "./minmax.js";

export { aminmax, aminmaxPerChannel, allFinite, countNonFinite };

const f32 = Math.fround;

/** Scale (float32, [1] or [C]) and zero point (int32, same shape), as tensors. */
export interface QParamsTensors {
  scale: Tensor;
  zeroPoint: Tensor;
}

/** Options type of an observer class (its constructor's argument). */
type OptionsOf<C> = C extends new (opts: infer O) => unknown ? NonNullable<O> : never;

/** Base of every observer: a Module with a dtype and calculateQParams(). */
export abstract class ObserverBase extends Module {
  readonly dtype: QuantDType | "float32" | "float16";

  constructor(dtype: QuantDType | "float32" | "float16") {
    super();
    this.dtype = dtype;
  }

  abstract override forward(x: Tensor): Tensor;

  /** NaN / ±Infinity input values seen so far (never part of the statistics). */
  nonFiniteValues = 0;
  /** Batches skipped whole because they held such values: a non-finite batch never updates statistics. */
  nonFiniteBatches = 0;

  /**
   * Numerics policy: true when `stats` (the batch's min/max, per tensor or per channel) are
   * not all finite — the batch holds NaN or ±Infinity — after counting those values; the
   * caller then leaves its statistics untouched. Called by every observer's forward.
   */
  skipNonFinite(x: Tensor, ...stats: ArrayLike<number>[]): boolean {
    if (stats.every(allFinite)) return false;
    this.nonFiniteValues += countNonFinite(x.data);
    this.nonFiniteBatches++;
    return true;
  }

  /** The (scale, zero point) the statistics seen so far call for. */
  abstract calculateQParams(): QParamsTensors;

  /** A factory building this observer with preset options (PyTorch's with_args). */
  static withArgs<C extends new (opts?: any) => ObserverBase>(this: C, args: Partial<OptionsOf<C>>): Factory<InstanceType<C>, OptionsOf<C>> {
    return makeFactory(this as unknown as new (opts?: OptionsOf<C>) => InstanceType<C>, args);
  }
}

/** An observer class or a factory of observers (what FakeQuantize accepts as `observer`). */
export type ObserverLike = ((overrides?: any) => ObserverBase) | (new (opts?: any) => ObserverBase);

/** Turns an ObserverLike into a function building an observer from options. */
export function toObserverFactory(o: ObserverLike): (opts?: any) => ObserverBase {
  const proto = (o as { prototype?: unknown }).prototype;
  if (proto instanceof ObserverBase) return (opts?: any) => new (o as new (opts?: any) => ObserverBase)(opts);
  if (typeof o !== "function") throw new ValueError(`observer: expected an observer class or factory, got ${typeof o}`);
  return o as (opts?: any) => ObserverBase;
}

/** A float32 0-d tensor holding v. */
export function scalarF32(v: number): Tensor {
  return new Tensor(Float32Array.of(v), []);
}

/** Packs per-tensor or per-channel qparams as float32 / int32 tensors of shape [n]. */
export function qparamsTensors(scales: ArrayLike<number>, zeroPoints: ArrayLike<number>): QParamsTensors {
  return { scale: new Tensor(Float32Array.from(scales), [scales.length]), zeroPoint: new Tensor(Int32Array.from(zeroPoints), [zeroPoints.length]) };
}

/** Resolves a possibly negative channel axis against x's rank. */
export function channelAxis(axis: number, x: Tensor, where: string): number {
  const a = axis < 0 ? axis + x.ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= x.ndim) {
    throw new AxisError(`${where}: chAxis ${axis} is out of range for input of shape ${fmtShape(x.shape)}`);
  }
  return a;
}

/**
 * State-dict support for buffers that change shape (per-channel min/max, scale, zero point):
 * any incoming shape is accepted as long as float goes into float and integer into integer;
 * the buffer is then replaced (PyTorch resizes it in place).
 */
export function checkResizableEntry(key: string, current: Tensor, incoming: Tensor): void {
  if (isFloatDType(current.dtype) !== isFloatDType(incoming.dtype)) {
    throw new DTypeError(`dtype mismatch for ${key}: checkpoint has ${incoming.dtype}, current model has ${current.dtype}`);
  }
}

/** Replaces buffer `name` of `owner` by a copy of `incoming` in the current buffer's dtype. */
export function replaceBuffer(owner: Module, name: string, current: Tensor, incoming: Tensor): void {
  const data = allocArray(current.dtype, incoming.size);
  for (let i = 0; i < data.length; i++) data[i] = incoming.data[i];
  owner.registerBuffer(name, new Tensor(data, incoming.shape));
}

/** Per-tensor observer state shared by the uniform observers: spec + `eps` buffer. */
export abstract class UniformQuantizationObserverBase extends ObserverBase {
  readonly spec: QuantSpec;
  declare eps: Tensor;

  constructor(opts: QuantSpecOptions, defaultQScheme: QScheme, where: string) {
    const spec = makeQuantSpec(opts, { qscheme: defaultQScheme }, where);
    super(spec.dtype);
    this.spec = spec;
    this.registerBuffer("eps", new Tensor(Float32Array.of(spec.eps), [1]));
  }

  get qscheme(): QScheme {
    return this.spec.qscheme;
  }
  get quantMin(): number {
    return this.spec.qmin;
  }
  get quantMax(): number {
    return this.spec.qmax;
  }
  get reduceRange(): boolean {
    return this.spec.reduceRange;
  }

  /** The spec with eps read from the buffer (a loaded state dict may have changed it). */
  protected liveSpec(): QuantSpec {
    return { ...this.spec, eps: this.eps.data[0] };
  }

  /** Per-tensor qparams from a (min, max) pair, as [1]-shaped tensors. */
  protected qparamsFromMinMax(minVal: number, maxVal: number): QParamsTensors {
    const q = chooseQParams(minVal, maxVal, this.liveSpec());
    return qparamsTensors([q.scale], [q.zeroPoint]);
  }
}

function requirePerTensor(q: QScheme, where: string): void {
  if (isPerChannel(q)) throw new ValueError(`${where}: qscheme must be per_tensor_affine or per_tensor_symmetric, got ${q}`);
}

function requirePerChannel(q: QScheme, where: string): void {
  if (!isPerChannel(q)) throw new ValueError(`${where}: qscheme must be per_channel_affine or per_channel_symmetric, got ${q}`);
}

function rejectSymmetricReducedUint8(spec: QuantSpec, where: string): void {
  if ((spec.qscheme === "per_tensor_symmetric" || spec.qscheme === "per_channel_symmetric") && spec.reduceRange && spec.dtype === "uint8") {
    throw new NotSupportedError(`${where}: cannot reduce range for symmetric quantization for uint8`);
  }
}

export type MinMaxObserverOptions = QuantSpecOptions;

/**
 * Running minimum and maximum (torch MinMaxObserver): min ← min(min, min(X)),
 * max ← max(max, max(X)). Buffers: eps, min_val, max_val (0-d, ±inf until observed).
 */
export class MinMaxObserver extends UniformQuantizationObserverBase {
  declare min_val: Tensor;
  declare max_val: Tensor;

  constructor(opts: MinMaxObserverOptions = {}, where = "MinMaxObserver") {
    super(opts, "per_tensor_affine", where);
    requirePerTensor(this.spec.qscheme, where);
    this.registerBuffer("min_val", scalarF32(Infinity));
    this.registerBuffer("max_val", scalarF32(-Infinity));
    rejectSymmetricReducedUint8(this.spec, where);
  }

  forward(x: Tensor): Tensor {
    if (x.size === 0) return x;
    const [mn, mx] = aminmax(x.data);
    if (this.skipNonFinite(x, [mn, mx])) return x;
    this.min_val.data[0] = Math.min(mn, this.min_val.data[0]);
    this.max_val.data[0] = Math.max(mx, this.max_val.data[0]);
    return x;
  }

  calculateQParams(): QParamsTensors {
    return this.qparamsFromMinMax(this.min_val.data[0], this.max_val.data[0]);
  }

  /** Forgets the statistics (min = +inf, max = −inf). */
  resetMinMaxVals(): void {
    this.min_val.data[0] = Infinity;
    this.max_val.data[0] = -Infinity;
  }

  override extraRepr(): string {
    return `min_val=${this.min_val.data[0]}, max_val=${this.max_val.data[0]}`;
  }
}

export interface MovingAverageMinMaxObserverOptions extends QuantSpecOptions {
  /** c in min ← min + c·(min(X) − min) (default 0.01). */
  averagingConstant?: number;
}

/**
 * Exponential moving average of batch minima and maxima (torch MovingAverageMinMaxObserver):
 * the first batch sets min/max, later ones do min ← min + c·(min(X) − min) in float32.
 */
export class MovingAverageMinMaxObserver extends MinMaxObserver {
  readonly averagingConstant: number;

  constructor(opts: MovingAverageMinMaxObserverOptions = {}) {
    super(opts, "MovingAverageMinMaxObserver");
    this.averagingConstant = opts.averagingConstant ?? 0.01;
  }

  override forward(x: Tensor): Tensor {
    if (x.size === 0) return x;
    const [curMin, curMax] = aminmax(x.data);
    if (this.skipNonFinite(x, [curMin, curMax])) return x;
    const mn = this.min_val.data;
    const mx = this.max_val.data;
    if (mn[0] === Infinity && mx[0] === -Infinity) {
      mn[0] = curMin;
      mx[0] = curMax;
    } else {
      const c = f32(this.averagingConstant);
      mn[0] = mn[0] + f32(c * f32(curMin - mn[0]));
      mx[0] = mx[0] + f32(c * f32(curMax - mx[0]));
    }
    return x;
  }
}

export interface PerChannelMinMaxObserverOptions extends QuantSpecOptions {
  /** The channel axis (default 0; negative counts from the end). */
  chAxis?: number;
}

/**
 * Running per-channel minimum and maximum along chAxis (torch PerChannelMinMaxObserver).
 * Buffers: eps, min_val, max_val (shape [0] until observed, then [C]).
 */
export class PerChannelMinMaxObserver extends UniformQuantizationObserverBase {
  readonly chAxis: number;
  declare min_val: Tensor;
  declare max_val: Tensor;

  constructor(opts: PerChannelMinMaxObserverOptions = {}, where = "PerChannelMinMaxObserver") {
    super(opts, "per_channel_affine", where);
    requirePerChannel(this.spec.qscheme, where);
    this.chAxis = opts.chAxis ?? 0;
    if (!Number.isInteger(this.chAxis)) throw new ValueError(`${where}: chAxis must be an integer, got ${opts.chAxis}`);
    this.registerBuffer("min_val", new Tensor(new Float32Array(0), [0]));
    this.registerBuffer("max_val", new Tensor(new Float32Array(0), [0]));
    rejectSymmetricReducedUint8(this.spec, where);
  }

  /** Per-channel batch statistics, checked against the running ones. */
  protected batchMinMax(x: Tensor): [Float32Array, Float32Array] {
    const stats = aminmaxPerChannel(x, channelAxis(this.chAxis, x, this.typeName));
    const have = this.min_val.size;
    if (have !== 0 && have !== stats[0].length) {
      throw new ShapeError(`${this.typeName}: input has ${stats[0].length} channels along axis ${this.chAxis}, the running statistics ${have}`);
    }
    return stats;
  }

  forward(x: Tensor): Tensor {
    if (x.size === 0) return x;
    const [mins, maxs] = this.batchMinMax(x);
    if (this.skipNonFinite(x, mins, maxs)) return x;
    if (this.min_val.size !== 0) {
      const rmin = this.min_val.data;
      const rmax = this.max_val.data;
      for (let c = 0; c < mins.length; c++) {
        mins[c] = Math.min(mins[c], rmin[c]);
        maxs[c] = Math.max(maxs[c], rmax[c]);
      }
    }
    this.min_val = new Tensor(mins, [mins.length]);
    this.max_val = new Tensor(maxs, [maxs.length]);
    return x;
  }

  calculateQParams(): QParamsTensors {
    const q = chooseQParamsPerChannel(this.min_val.data, this.max_val.data, this.liveSpec());
    return qparamsTensors(q.scales, q.zeroPoints);
  }

  resetMinMaxVals(): void {
    this.min_val = new Tensor(new Float32Array(0), [0]);
    this.max_val = new Tensor(new Float32Array(0), [0]);
  }

  override validateStateEntry(key: string, name: string, current: Tensor, incoming: Tensor): void {
    if (name === "min_val" || name === "max_val") checkResizableEntry(key, current, incoming);
    else super.validateStateEntry(key, name, current, incoming);
  }

  override applyStateEntry(name: string, current: Tensor, incoming: Tensor): void {
    if (name === "min_val" || name === "max_val") replaceBuffer(this, name, current, incoming);
    else super.applyStateEntry(name, current, incoming);
  }

  override extraRepr(): string {
    return `min_val=[${Array.from(this.min_val.data).join(", ")}], max_val=[${Array.from(this.max_val.data).join(", ")}]`;
  }
}

export interface MovingAveragePerChannelMinMaxObserverOptions extends PerChannelMinMaxObserverOptions {
  averagingConstant?: number;
}

/** Per-channel moving averages of minima and maxima (torch MovingAveragePerChannelMinMaxObserver). */
export class MovingAveragePerChannelMinMaxObserver extends PerChannelMinMaxObserver {
  readonly averagingConstant: number;

  constructor(opts: MovingAveragePerChannelMinMaxObserverOptions = {}) {
    super(opts, "MovingAveragePerChannelMinMaxObserver");
    this.averagingConstant = opts.averagingConstant ?? 0.01;
  }

  override forward(x: Tensor): Tensor {
    if (x.size === 0) return x;
    const [mins, maxs] = this.batchMinMax(x);
    if (this.skipNonFinite(x, mins, maxs)) return x;
    if (this.min_val.size !== 0) {
      const c = f32(this.averagingConstant);
      const rmin = this.min_val.data;
      const rmax = this.max_val.data;
      for (let k = 0; k < mins.length; k++) {
        mins[k] = rmin[k] + f32(c * f32(mins[k] - rmin[k]));
        maxs[k] = rmax[k] + f32(c * f32(maxs[k] - rmax[k]));
      }
    }
    this.min_val = new Tensor(mins, [mins.length]);
    this.max_val = new Tensor(maxs, [maxs.length]);
    return x;
  }
}

/** torch default_observer: MinMaxObserver, uint8 [0, 127]. */
export const defaultObserver = MinMaxObserver.withArgs({ quantMin: 0, quantMax: 127 });
/** torch default_weight_observer: MinMaxObserver, int8 per-tensor symmetric. */
export const defaultWeightObserver = MinMaxObserver.withArgs({ dtype: "int8", qscheme: "per_tensor_symmetric" });
/** torch weight_observer_range_neg_127_to_127. */
export const weightObserverRangeNeg127To127 = MinMaxObserver.withArgs({
  dtype: "int8",
  qscheme: "per_tensor_symmetric",
  quantMin: -127,
  quantMax: 127,
  eps: 2 ** -12,
});
/** torch default_per_channel_weight_observer: int8 per-channel symmetric, axis 0. */
export const defaultPerChannelWeightObserver = PerChannelMinMaxObserver.withArgs({ dtype: "int8", qscheme: "per_channel_symmetric" });
/** torch per_channel_weight_observer_range_neg_127_to_127. */
export const perChannelWeightObserverRangeNeg127To127 = PerChannelMinMaxObserver.withArgs({
  dtype: "int8",
  qscheme: "per_channel_symmetric",
  quantMin: -127,
  quantMax: 127,
  eps: 2 ** -12,
});
