/**
 * Fake quantization (torch.ao.quantization.fake_quantize, PyTorch 1.13): quantize and
 * dequantize in float so training sees the rounding, with a straight-through gradient.
 *
 *   x̂ = S · (clamp(q, qmin, qmax) − Z),   q = rint(fl(x · fl(1/S))) + Z
 *   ∂x̂/∂x = 1 if qmin ≤ q ≤ qmax (q before clamping), else 0
 *
 * As in ATen (1.13), q is converted to int64 before clamping, so NaN and |q| ≥ 2^63 (±inf
 * included) become INT64_MIN on x86 and map to qmin with a zero gradient (unless qmin = −2^63).
 *
 * The forward kernel is one pass writing the output and the mask (native/fakequant.c on the
 * native backend, assembly/fakequant.ts on wasm, bit-exact with the loops here, which define it);
 * the backward multiplies the incoming gradient by the mask (PyTorch's *_cachemask ops). Exposes the functional
 * forms and the FakeQuantize module (buffers fake_quant_enabled, observer_enabled, scale,
 * zero_point; observer child `activation_post_process`, as in PyTorch's state dicts).
 * Called by qconfigs, prepareQat (weights and activations), convert (reads scale/zero_point).
 */
import { defineOp } from "../autograd/custom.js";
import type { FloatArray } from "../tensor/dtype.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { Module } from "../nn/module.js";
import { FixedQParamsObserver } from "./observer-fixed.js";
import {
  MovingAverageMinMaxObserver,
  type MovingAveragePerChannelMinMaxObserverOptions,
  type ObserverBase,
  type ObserverLike,
  type QParamsTensors,
  checkResizableEntry,
  channelAxis,
  replaceBuffer,
  toObserverFactory,
} from "./observer.js";
import { type Factory, type QScheme, dtypeBounds, isPerChannel, makeFactory, normalizeDType } from "./quant-spec.js";
import { rint } from "./qparams.js";

import { allocArrayUninit } from "../tensor/dtype.js";
import { getBackend, wasmPathsActive, kernels } from "../backend/index.js";
import { nativeQat } from "../backend/native/qat.js";
import { fakeQuantizePerChannelF32, fakeQuantizePerTensorF32 } from "../backend/wasm/fakequant.js";

const f32 = Math.fround;
/** 2^63: float → int64 conversions at or beyond it give INT64_MIN on x86. */
export const INT64_LIMIT = 9223372036854775808;

/** Output and straight-through mask of a fake-quantize forward. */
export interface FakeQuantResult {
  out: FloatArray;
  mask: Uint8Array;
}

/** 1.5·2^52: for |p| < 2^51, (p + M) − M is p rounded to an integer, ties to even (rint). */
export const RINT_MAGIC = 6755399441055744;
const RINT_LIMIT = 2 ** 51;

/**
 * Code q = Z + rint(p) as ATen's kernel forms it (float32 sum for float32 data), already an
 * int64 value: NaN or |q| ≥ 2^63 give INT64_MIN = −2^63, below any qmin but −2^63 (where it is
 * in range, as in ATen). Beyond 2^51 a float32 p is an integer, a double one can still be a
 * half-integer (below 2^52): rint rounds it.
 */
function codeOf(p: number, zp: number, single: boolean): number {
  if (p > -RINT_LIMIT && p < RINT_LIMIT) {
    const q = zp + (p + RINT_MAGIC - RINT_MAGIC);
    return single ? f32(q) : q;
  }
  return p >= -INT64_LIMIT && p < INT64_LIMIT ? (single ? f32(zp + p) : zp + rint(p)) : -INT64_LIMIT;
}

/**
 * One pass over x[from, to) with one (S, Z): writes x̂ and the STE mask. Float32 data uses
 * float32 products as ATen's float kernel does; float64 data keeps the double product and a
 * double output.
 */
function fakeQuantRange(x: FloatArray, r: FakeQuantResult, from: number, to: number, scale: number, zp: number, qmin: number, qmax: number): void {
  const inv = f32(1 / scale);
  const { out, mask } = r;
  if (x instanceof Float32Array) {
    for (let i = from; i < to; i++) {
      const p = f32(x[i] * inv);
      // Fast path: rint by the magic constant, float32 sum (exact below 2^24).
      const q = p > -RINT_LIMIT && p < RINT_LIMIT ? f32(zp + (p + RINT_MAGIC - RINT_MAGIC)) : codeOf(p, zp, true);
      const inRange = q >= qmin && q <= qmax;
      out[i] = ((inRange ? q : q > qmax ? qmax : qmin) - zp) * scale;
      mask[i] = inRange ? 1 : 0;
    }
    return;
  }
  for (let i = from; i < to; i++) {
    const q = codeOf(x[i] * inv, zp, false);
    const inRange = q >= qmin && q <= qmax;
    out[i] = ((inRange ? q : q > qmax ? qmax : qmin) - zp) * scale; // double, as ATen's double kernel
    mask[i] = inRange ? 1 : 0;
  }
}

/**
 * Output and mask storage from the tensor allocator (inside wasm memory when wasm is active),
 * not zero-filled: both kernels (wasm and the loop) write every element.
 */
function allocLike(x: FloatArray): FakeQuantResult {
  const out = allocArrayUninit(x instanceof Float32Array ? "float32" : "float64", x.length);
  return { out, mask: allocArrayUninit("uint8", x.length) };
}

/** The native backend's fused kernels (native/fakequant.c, bit-exact) take over float32 data when it is active. */
const onNative = (x: FloatArray): x is Float32Array => x instanceof Float32Array && nativeQat !== null && getBackend() === "native";

/** Otherwise the wasm backend's fused kernels, when that backend is active. */
const onWasm = (x: FloatArray): x is Float32Array => x instanceof Float32Array && wasmPathsActive();

/** Runs a wasm kernel; false (so the caller uses the JS loop) when WebAssembly memory is exhausted. */
function tryWasm(run: () => void): boolean {
  try {
    run();
    return true;
  } catch (e) {
    if (e instanceof RangeError) return false;
    throw e;
  }
}

/** Forward kernel, per tensor: x̂ and mask in one pass. */
export function fakeQuantPerTensorKernel(x: FloatArray, scale: number, zeroPoint: number, qmin: number, qmax: number): FakeQuantResult {
  const r = allocLike(x);
  if (onNative(x)) {
    nativeQat!.fakeQuant(x, scale, zeroPoint, qmin, qmax, r.out as Float32Array, r.mask);
    return r;
  }
  if (onWasm(x) && tryWasm(() => fakeQuantizePerTensorF32(x, f32(scale), zeroPoint, qmin, qmax, r.out as Float32Array, r.mask))) return r;
  fakeQuantRange(x, r, 0, x.length, f32(scale), zeroPoint, qmin, qmax);
  return r;
}

/** Forward kernel, per channel along `axis` of a row-major tensor of `shape`. */
export function fakeQuantPerChannelKernel(
  x: FloatArray,
  shape: readonly number[],
  axis: number,
  scales: ArrayLike<number>,
  zeroPoints: ArrayLike<number>,
  qmin: number,
  qmax: number,
): FakeQuantResult {
  const C = shape[axis];
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d];
  const outer = C * inner === 0 ? 0 : x.length / (C * inner);
  const r = allocLike(x);
  if (onNative(x)) {
    nativeQat!.fakeQuantChannels(x, shape, axis, scales, zeroPoints, qmin, qmax, r.out as Float32Array, r.mask);
    return r;
  }
  if (onWasm(x) && tryWasm(() => fakeQuantizePerChannelF32(x, shape, axis, scales, zeroPoints, qmin, qmax, r.out as Float32Array, r.mask))) return r;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const base = (o * C + c) * inner;
      fakeQuantRange(x, r, base, base + inner, f32(scales[c]), zeroPoints[c], qmin, qmax);
    }
  }
  return r;
}

/** Backward kernel: dL/dx = dL/dx̂ · mask. */
export function steBackwardKernel(grad: FloatArray, mask: Uint8Array): FloatArray {
  const out = allocArrayUninit(grad instanceof Float32Array ? "float32" : "float64", grad.length);
  if (onWasm(grad)) {
    // The backend's float × uint8 product (SIMD on wasm; the same exact products).
    kernels().binary("mul", grad, [grad.length], mask, [mask.length], out, [out.length]);
    return out;
  }
  for (let i = 0; i < grad.length; i++) out[i] = grad[i] * mask[i];
  return out;
}

function requireFloatInput(x: Tensor, where: string): FloatArray {
  if (x.dtype !== "float32" && x.dtype !== "float64") throw new DTypeError(`${where}: input must be float32 or float64, got ${x.dtype}`);
  return x.data as FloatArray;
}

/** Checks qmin ≤ qmax, a positive finite scale and qmin ≤ Z ≤ qmax. */
function checkQParams(where: string, scale: number, zp: number, qmin: number, qmax: number, checkZeroPoint: boolean): void {
  if (!(qmin <= qmax)) throw new ValueError(`${where}: quantMin (${qmin}) should be less than or equal to quantMax (${qmax})`);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new ValueError(`${where}: scale must be a positive finite number, got ${scale}`);
  if (checkZeroPoint && !(zp >= qmin && zp <= qmax)) {
    throw new ValueError(`${where}: zeroPoint (${zp}) must be between quantMin (${qmin}) and quantMax (${qmax})`);
  }
}

/** Wraps a precomputed forward (x̂, mask) as a differentiable op of x. */
function applySte(name: string, x: Tensor, r: FakeQuantResult): Tensor {
  const op = defineOp<Uint8Array>({
    name,
    forward: () => ({ output: new Tensor(r.out, x.shape), saved: r.mask }),
    backward: (g, mask) => [new Tensor(steBackwardKernel(g.data as FloatArray, mask), g.shape)],
  });
  return op(x);
}

/** torch.fake_quantize_per_tensor_affine(x, scale, zeroPoint, qmin, qmax), differentiable in x. */
export function fakeQuantizePerTensor(x: Tensor, scale: number, zeroPoint: number, qmin: number, qmax: number, checkZeroPoint = true): Tensor {
  const data = requireFloatInput(x, "fakeQuantizePerTensor");
  checkQParams("fakeQuantizePerTensor", scale, zeroPoint, qmin, qmax, checkZeroPoint);
  return applySte("fake_quantize_per_tensor_affine", x, fakeQuantPerTensorKernel(data, scale, zeroPoint, qmin, qmax));
}

/** torch.fake_quantize_per_channel_affine(x, scales, zeroPoints, axis, qmin, qmax), differentiable in x. */
export function fakeQuantizePerChannel(
  x: Tensor,
  scales: Tensor | ArrayLike<number>,
  zeroPoints: Tensor | ArrayLike<number>,
  axis: number,
  qmin: number,
  qmax: number,
): Tensor {
  const where = "fakeQuantizePerChannel";
  const data = requireFloatInput(x, where);
  const s = scales instanceof Tensor ? scales.data : scales;
  const z = zeroPoints instanceof Tensor ? zeroPoints.data : zeroPoints;
  const ax = channelAxis(axis, x, where);
  if (s.length !== z.length) throw new ShapeError(`${where}: ${s.length} scales but ${z.length} zero points`);
  if (s.length !== x.shape[ax]) {
    throw new ShapeError(`${where}: ${s.length} scales for ${x.shape[ax]} channels along axis ${ax} of input ${fmtShape(x.shape)}`);
  }
  for (let c = 0; c < s.length; c++) {
    if (!Number.isInteger(z[c])) throw new ValueError(`${where}: zero point ${z[c]} of channel ${c} is not an integer`);
    checkQParams(`${where} (channel ${c})`, s[c], z[c], qmin, qmax, true);
  }
  return applySte("fake_quantize_per_channel_affine", x, fakeQuantPerChannelKernel(data, x.shape, ax, s, z, qmin, qmax));
}

/** Options type of a fake-quantize class (its constructor's argument). */
type OptionsOf<C> = C extends new (opts: infer O) => unknown ? NonNullable<O> : never;

/**
 * Base of the fake-quantize modules (torch FakeQuantizeBase): the two uint8 switches as
 * buffers, so they travel with the state dict.
 */
export abstract class FakeQuantizeBase extends Module {
  declare fake_quant_enabled: Tensor;
  declare observer_enabled: Tensor;

  constructor() {
    super();
    this.registerBuffer("fake_quant_enabled", new Tensor(Uint8Array.of(1), [1]));
    this.registerBuffer("observer_enabled", new Tensor(Uint8Array.of(1), [1]));
  }

  abstract override forward(x: Tensor): Tensor;
  abstract calculateQParams(): QParamsTensors;

  enableFakeQuant(enabled = true): void {
    this.fake_quant_enabled.data[0] = enabled ? 1 : 0;
  }
  disableFakeQuant(): void {
    this.enableFakeQuant(false);
  }
  enableObserver(enabled = true): void {
    this.observer_enabled.data[0] = enabled ? 1 : 0;
  }
  disableObserver(): void {
    this.enableObserver(false);
  }

  /** A factory building this module with preset options (PyTorch's with_args). */
  static withArgs<C extends new (opts?: any) => FakeQuantizeBase>(this: C, args: Partial<OptionsOf<C>>): Factory<InstanceType<C>, OptionsOf<C>> {
    return makeFactory(this as unknown as new (opts?: OptionsOf<C>) => InstanceType<C>, args);
  }
}

/** Keyword options forwarded to the observer (everything but observer/quantMin/quantMax). */
export type ObserverKwargs = MovingAveragePerChannelMinMaxObserverOptions & { bins?: number; upsampleRate?: number; [option: string]: unknown };

export type FakeQuantizeOptions = ObserverKwargs & {
  /** Observer class or factory (default MovingAverageMinMaxObserver). */
  observer?: ObserverLike;
  quantMin?: number;
  quantMax?: number;
};

/** Builds the observer as PyTorch's FakeQuantize.__init__ does (range checked against the dtype). */
export function buildObserver(opts: FakeQuantizeOptions, defaultObserver: ObserverLike, where: string): ObserverBase {
  const { observer = defaultObserver, quantMin, quantMax, ...kw } = opts;
  if (quantMin !== undefined && quantMax !== undefined) {
    if (!(quantMin <= quantMax)) throw new ValueError(`${where}: quantMin (${quantMin}) must be less than or equal to quantMax (${quantMax})`);
    const preset = (observer as { args?: { dtype?: string } }).args?.dtype;
    const [lo, hi] = dtypeBounds(normalizeDType(String(preset ?? kw.dtype ?? "uint8"), `${where}: dtype`));
    if (quantMin < lo) throw new ValueError(`${where}: quantMin (${quantMin}) is out of bounds for the dtype (min ${lo})`);
    if (quantMax > hi) throw new ValueError(`${where}: quantMax (${quantMax}) is out of bounds for the dtype (max ${hi})`);
    Object.assign(kw, { quantMin, quantMax });
  }
  return toObserverFactory(observer)(kw);
}

/** What the fake-quantize modules need from their observer. */
export interface RangedObserver extends ObserverBase {
  readonly quantMin: number;
  readonly quantMax: number;
  readonly qscheme: QScheme;
  readonly chAxis?: number;
}

export function requireRangedObserver(o: ObserverBase, where: string): RangedObserver {
  const r = o as unknown as Partial<RangedObserver>;
  if (typeof r.quantMin !== "number" || typeof r.quantMax !== "number" || typeof r.qscheme !== "string") {
    throw new ValueError(`${where}: observer ${o.typeName} has no quantization range (quantMin/quantMax/qscheme)`);
  }
  return o as RangedObserver;
}

/**
 * torch FakeQuantize: observe (when observer_enabled), copy the observer's qparams into the
 * scale / zero_point buffers, then fake-quantize (when fake_quant_enabled) per tensor or per
 * channel along the observer's chAxis.
 */
export class FakeQuantize extends FakeQuantizeBase {
  declare activation_post_process: RangedObserver;
  declare scale: Tensor;
  declare zero_point: Tensor;
  readonly dtype: ObserverBase["dtype"];
  readonly qscheme: QScheme;
  readonly chAxis: number;
  readonly isPerChannel: boolean;

  constructor(opts: FakeQuantizeOptions = {}, where = "FakeQuantize") {
    super();
    const obs = requireRangedObserver(buildObserver(opts, MovingAverageMinMaxObserver, where), where);
    this.registerModule("activation_post_process", obs);
    this.registerBuffer("scale", new Tensor(Float32Array.of(1), [1]));
    this.registerBuffer("zero_point", new Tensor(Int32Array.of(0), [1]));
    this.dtype = obs.dtype;
    this.qscheme = obs.qscheme;
    this.chAxis = obs.chAxis ?? -1;
    this.isPerChannel = isPerChannel(obs.qscheme);
  }

  get activationPostProcess(): RangedObserver {
    return this.activation_post_process;
  }
  get quantMin(): number {
    return this.activation_post_process.quantMin;
  }
  get quantMax(): number {
    return this.activation_post_process.quantMax;
  }

  calculateQParams(): QParamsTensors {
    return this.activation_post_process.calculateQParams();
  }

  /** Copies observer qparams into the buffers (replacing them when the shape changes). */
  protected storeQParams(q: QParamsTensors): void {
    if (this.scale.size !== q.scale.size) {
      replaceBuffer(this, "scale", this.scale, q.scale);
      replaceBuffer(this, "zero_point", this.zero_point, q.zeroPoint);
      return;
    }
    this.scale.data.set(q.scale.data as Float32Array);
    const zp = this.zero_point.data;
    for (let i = 0; i < zp.length; i++) zp[i] = q.zeroPoint.data[i];
  }

  /** Fake-quantizes with the current buffers (no observation). */
  protected fakeQuantize(x: Tensor): Tensor {
    const { quantMin, quantMax } = this;
    if (this.isPerChannel) return fakeQuantizePerChannel(x, this.scale, this.zero_point, this.chAxis, quantMin, quantMax);
    return fakeQuantizePerTensor(x, this.scale.data[0], this.zero_point.data[0], quantMin, quantMax, false);
  }

  forward(x: Tensor): Tensor {
    if (this.observer_enabled.data[0] === 1) {
      this.activation_post_process.forward(x);
      this.storeQParams(this.calculateQParams());
    }
    return this.fake_quant_enabled.data[0] === 1 ? this.fakeQuantize(x) : x;
  }

  override validateStateEntry(key: string, name: string, current: Tensor, incoming: Tensor): void {
    if (name === "scale" || name === "zero_point") checkResizableEntry(key, current, incoming);
    else super.validateStateEntry(key, name, current, incoming);
  }

  override applyStateEntry(name: string, current: Tensor, incoming: Tensor): void {
    if ((name === "scale" || name === "zero_point") && incoming.size !== current.size) replaceBuffer(this, name, current, incoming);
    else super.applyStateEntry(name, current, incoming);
  }

  override extraRepr(): string {
    return (
      `fake_quant_enabled=${this.fake_quant_enabled.data[0]}, observer_enabled=${this.observer_enabled.data[0]}, ` +
      `quant_min=${this.quantMin}, quant_max=${this.quantMax}, dtype=${this.dtype}, qscheme=${this.qscheme}, ch_axis=${this.chAxis}, ` +
      `scale=[${Array.from(this.scale.data).join(", ")}], zero_point=[${Array.from(this.zero_point.data).join(", ")}]`
    );
  }
}

/**
 * Fake quantization with fixed qparams from a FixedQParamsObserver (sigmoid, tanh outputs);
 * its scale / zero_point buffers are the observer's own tensors, as in PyTorch.
 */
export class FixedQParamsFakeQuantize extends FakeQuantize {
  constructor(opts: { observer: ObserverLike }) {
    super({ observer: opts?.observer }, "FixedQParamsFakeQuantize");
    const obs = this.activation_post_process;
    if (!(obs instanceof FixedQParamsObserver)) throw new ValueError(`FixedQParamsFakeQuantize: observer must be a FixedQParamsObserver, got ${obs.typeName}`);
    if (this.isPerChannel) throw new ValueError("FixedQParamsFakeQuantize: only per-tensor quantization is supported");
    this.scale = obs.scale;
    this.zero_point = obs.zero_point;
  }

  override calculateQParams(): QParamsTensors {
    return { scale: this.scale, zeroPoint: this.zero_point };
  }
}

function forEachFakeQuant(m: Module, fn: (fq: FakeQuantizeBase) => void): void {
  for (const sub of m.modules()) if (sub instanceof FakeQuantizeBase) fn(sub);
}

/** Turns fake quantization off in every FakeQuantize under m (torch disable_fake_quant via apply). */
export function disableFakeQuant(m: Module): void {
  forEachFakeQuant(m, (fq) => fq.disableFakeQuant());
}
export function enableFakeQuant(m: Module): void {
  forEachFakeQuant(m, (fq) => fq.enableFakeQuant());
}
/** Freezes every observer under m (fake quantization keeps the last qparams). */
export function disableObserver(m: Module): void {
  forEachFakeQuant(m, (fq) => fq.disableObserver());
}
export function enableObserver(m: Module): void {
  forEachFakeQuant(m, (fq) => fq.enableObserver());
}
