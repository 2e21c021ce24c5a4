/**
 * Learned step-size quantization (LSQ, Esser et al. 2020; LSQ+ learnable zero point), as
 * PyTorch 1.13's _LearnableFakeQuantize with torch._fake_quantize_learnable_per_tensor_affine
 * and _per_channel_affine. Scale and zero point are Parameters (`scale`, `zero_point`). On the
 * native backend both passes run native/fakequant.c (float32 data; the same arithmetic bit for bit).
 * With v = x/S, q = rint(v) + Z (Z rounded), x̂ = S·(clamp(q) − Z):
 *
 *   ∂x̂/∂x = 1 inside [qmin, qmax], 0 outside                     (straight-through)
 *   ∂x̂/∂S = (x̂ − x)/S inside;  qmin − Z below;  qmax − Z above    (Esser eq. 3)
 *   ∂x̂/∂Z = 0 inside;  −S outside
 *
 * both parameter gradients multiplied by g = 1/√(N·qmax) when useGradScaling (N = numel(x),
 * PyTorch's choice of Qp = quant_max), else 1, and summed over x (per channel: over all
 * axes but the channel axis). One pass forward (output + mask), one pass backward.
 * ATen details kept: the backward forms q = rint(fma(x, fl(1/S), Z)) (its kernel is built
 * with FMA, so the mask can differ from the forward's at exact ties), and the per-tensor
 * backward reads Z as trunc(Z + 0.5) while the forward uses rint(Z).
 * Called by the w4a8 qconfig preset (through lsq-presets.ts) and by users building LSQ models.
 */
import { allocArray } from "../tensor/dtype.js";
import { defineOp } from "../autograd/custom.js";
import type { FloatArray } from "../tensor/dtype.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { Parameter } from "../nn/module.js";
import { FakeQuantizeBase, INT64_LIMIT, RINT_MAGIC, type ObserverKwargs, buildObserver, fakeQuantPerChannelKernel, fakeQuantPerTensorKernel, requireRangedObserver } from "./fake-quantize.js";
import { MovingAverageMinMaxObserver, type ObserverLike, type QParamsTensors, allFinite, channelAxis } from "./observer.js";
import { rint } from "./qparams.js";
import { getBackend } from "../backend/index.js";
import { nativeQat } from "../backend/native/qat.js";
import { FLOAT32_EPS, type QScheme, isPerChannel, isSymmetric } from "./quant-spec.js";

const f32 = Math.fround;
const RINT_LIMIT = 2 ** 51;

/** Where x[i] falls: its channel (0 for per tensor), for the parameter-gradient sums. */
interface ChannelLayout {
  C: number;
  inner: number;
}

/**
 * Backward kernel for one channel's elements x[from, to) with S, Z (Z already rounded as the
 * matching ATen kernel rounds it); accumulates Σ∂S and Σ∂Z in float64, writes dX.
 */
function lsqGradRange(x: FloatArray, dy: FloatArray, dx: FloatArray, from: number, to: number, s: number, zp: number, qmin: number, qmax: number, gf: number, acc: Float64Array, c: number): void {
  const inv = f32(1 / s);
  const small = f32(qmin - zp);
  const big = f32(qmax - zp);
  const negS = -s;
  let dS = 0;
  let dZ = 0;
  for (let i = from; i < to; i++) {
    const g = dy[i];
    const xi = x[i];
    // ATen's kernel is built with FMA: rint(fma(x, 1/S, Z)), one rounding (x·fl(1/S) is exact in float64).
    const p = f32(zp + xi * inv);
    // rint; NaN and |q| ≥ 2^63 become INT64_MIN (ATen's int64 conversion on x86): below any
    // qmin but −2^63, where it is in range.
    const q = p > -RINT_LIMIT && p < RINT_LIMIT ? p + RINT_MAGIC - RINT_MAGIC : p >= -INT64_LIMIT && p < INT64_LIMIT ? p : -INT64_LIMIT;
    if (q >= qmin && q <= qmax) {
      dx[i] = g;
      const xfq = f32((q - zp) * s);
      dS += f32(f32(f32(g * f32(xfq - xi)) * inv) * gf);
    } else {
      dx[i] = g * 0;
      dZ += f32(f32(g * negS) * gf);
      dS += f32(f32(g * (q < qmin ? small : big)) * gf);
    }
  }
  acc[2 * c] += dS;
  acc[2 * c + 1] += dZ;
}

/**
 * The backward of [outer, C, inner] on native/fakequant.c (the same arithmetic, bit for bit) when the native
 * backend is active and the data are float32; false otherwise (the caller runs lsqGradRange).
 */
function lsqGradNative(x: FloatArray, dy: FloatArray, dx: FloatArray, L: ChannelLayout & { outer: number }, scales: ArrayLike<number>,
  zps: ArrayLike<number>, qmin: number, qmax: number, gf: number, acc: Float64Array): boolean {
  if (!nativeQat || getBackend() !== "native" || !(x instanceof Float32Array && dy instanceof Float32Array && dx instanceof Float32Array)) return false;
  nativeQat.lsqGrad(x, dy, dx, L.outer, L.C, L.inner, scales, zps, qmin, qmax, gf, acc);
  return true;
}

function requireF32Param(t: Tensor, name: string, where: string): void {
  if (t.dtype !== "float32") throw new DTypeError(`${where}: ${name} must be float32, got ${t.dtype}`);
}

function checkRange(qmin: number, qmax: number, where: string): void {
  if (!(qmin < qmax)) throw new ValueError(`${where}: quantMin (${qmin}) must be less than quantMax (${qmax})`);
  if (qmin > 0 || qmax < 0) throw new ValueError(`${where}: [quantMin, quantMax] = [${qmin}, ${qmax}] must include 0`);
}

function gradsToTensors(acc: Float64Array, C: number): [Tensor, Tensor] {
  const ds = new Float32Array(C);
  const dz = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    ds[c] = acc[2 * c];
    dz[c] = acc[2 * c + 1];
  }
  return [new Tensor(ds, [C]), new Tensor(dz, [C])];
}

function allocGrad(x: FloatArray): FloatArray {
  return allocArray(x instanceof Float32Array ? "float32" : "float64", x.length);
}

/** Z as ATen's per-tensor learnable kernels read it: forward rint, backward trunc(Z + 0.5), clamped. */
function perTensorZeroPoint(zp: number, qmin: number, qmax: number, forward: boolean): number {
  const z = forward ? rint(f32(zp)) : f32(f32(zp) + 0.5);
  return Math.trunc(Math.min(Math.max(z, qmin), qmax));
}

/**
 * torch._fake_quantize_learnable_per_tensor_affine: differentiable in x, scale ([1]) and
 * zeroPoint ([1], a float parameter rounded for use).
 */
export function fakeQuantizeLearnablePerTensor(x: Tensor, scale: Tensor, zeroPoint: Tensor, qmin: number, qmax: number, gradFactor = 1): Tensor {
  const where = "fakeQuantizeLearnablePerTensor";
  if (x.dtype !== "float32" && x.dtype !== "float64") throw new DTypeError(`${where}: input must be float32 or float64, got ${x.dtype}`);
  requireF32Param(scale, "scale", where);
  requireF32Param(zeroPoint, "zeroPoint", where);
  checkRange(qmin, qmax, where);
  const s = scale.data[0];
  if (!(s > 0) || !Number.isFinite(s)) throw new ValueError(`${where}: scale must be a positive finite number, got ${s}`);
  const op = defineOp<null>({
    name: "fake_quantize_learnable_per_tensor_affine",
    forward: ([xt]) => {
      const fq = fakeQuantPerTensorKernel(xt.data as FloatArray, s, perTensorZeroPoint(zeroPoint.data[0], qmin, qmax, true), qmin, qmax);
      return { output: new Tensor(fq.out, xt.shape), saved: null };
    },
    // ATen runs the full backward even when scale and zero point need no gradient, so dx
    // always takes the backward's own mask (trunc(Z + 0.5), FMA), never the forward's.
    backward: (g, _saved, [xt, st, zt]) => {
      const dx = allocGrad(xt.data as FloatArray);
      const acc = new Float64Array(2);
      const zpB = perTensorZeroPoint(zt.data[0], qmin, qmax, false);
      const [xd, gd] = [xt.data as FloatArray, g.data as FloatArray];
      const L = { C: 1, inner: dx.length, outer: 1 };
      if (!lsqGradNative(xd, gd, dx, L, [st.data[0]], [zpB], qmin, qmax, gradFactor, acc)) {
        lsqGradRange(xd, gd, dx, 0, dx.length, f32(st.data[0]), zpB, qmin, qmax, f32(gradFactor), acc, 0);
      }
      return [new Tensor(dx, xt.shape), ...gradsToTensors(acc, 1)];
    },
  });
  return op(x, scale, zeroPoint);
}

/** Channel count, inner size and outer count of x along axis. */
function layoutOf(x: Tensor, axis: number): ChannelLayout & { outer: number } {
  const C = x.shape[axis];
  let inner = 1;
  for (let d = axis + 1; d < x.ndim; d++) inner *= x.shape[d];
  return { C, inner, outer: C * inner === 0 ? 0 : x.size / (C * inner) };
}

/**
 * torch._fake_quantize_learnable_per_channel_affine: scale and zeroPoint of shape [C] along
 * `axis`; zero points rounded half to even and clamped (forward and backward alike).
 */
export function fakeQuantizeLearnablePerChannel(x: Tensor, scale: Tensor, zeroPoint: Tensor, axis: number, qmin: number, qmax: number, gradFactor = 1): Tensor {
  const where = "fakeQuantizeLearnablePerChannel";
  if (x.dtype !== "float32" && x.dtype !== "float64") throw new DTypeError(`${where}: input must be float32 or float64, got ${x.dtype}`);
  requireF32Param(scale, "scale", where);
  requireF32Param(zeroPoint, "zeroPoint", where);
  checkRange(qmin, qmax, where);
  const ax = channelAxis(axis, x, where);
  const L = layoutOf(x, ax);
  if (scale.size !== L.C || zeroPoint.size !== L.C) {
    throw new ShapeError(`${where}: scale ${fmtShape(scale.shape)} and zeroPoint ${fmtShape(zeroPoint.shape)} must have ${L.C} elements (axis ${ax} of ${fmtShape(x.shape)})`);
  }
  const zpRounded = new Int32Array(L.C);
  for (let c = 0; c < L.C; c++) zpRounded[c] = Math.min(Math.max(rint(zeroPoint.data[c]), qmin), qmax);
  for (let c = 0; c < L.C; c++) {
    if (!(scale.data[c] > 0) || !Number.isFinite(scale.data[c])) throw new ValueError(`${where}: scale of channel ${c} must be positive and finite, got ${scale.data[c]}`);
  }
  const op = defineOp<null>({
    name: "fake_quantize_learnable_per_channel_affine",
    forward: ([xt]) => {
      const fq = fakeQuantPerChannelKernel(xt.data as FloatArray, xt.shape, ax, scale.data, zpRounded, qmin, qmax);
      return { output: new Tensor(fq.out, xt.shape), saved: null };
    },
    backward: (g, _saved, [xt, st]) => {
      const dx = allocGrad(xt.data as FloatArray);
      const acc = new Float64Array(2 * L.C);
      const gf = f32(gradFactor);
      if (lsqGradNative(xt.data as FloatArray, g.data as FloatArray, dx, L, st.data, zpRounded, qmin, qmax, gf, acc)) return [new Tensor(dx, xt.shape), ...gradsToTensors(acc, L.C)];
      for (let o = 0; o < L.outer; o++) {
        for (let c = 0; c < L.C; c++) {
          const base = (o * L.C + c) * L.inner;
          lsqGradRange(xt.data as FloatArray, g.data as FloatArray, dx, base, base + L.inner, f32(st.data[c]), zpRounded[c], qmin, qmax, gf, acc, c);
        }
      }
      return [new Tensor(dx, xt.shape), ...gradsToTensors(acc, L.C)];
    },
  });
  return op(x, scale, zeroPoint);
}

export type LearnableFakeQuantizeOptions = ObserverKwargs & {
  /** Observer class or factory for the static estimate (default MovingAverageMinMaxObserver). */
  observer?: ObserverLike;
  /** Integer range (default [0, 255]); also passed to the observer. */
  quantMin?: number;
  quantMax?: number;
  /** Initial scale / zero point (defaults 1 and 0). */
  scale?: number;
  zeroPoint?: number;
  /** Channels of a per-channel scale (-1: per tensor). */
  channelLen?: number;
  /** Multiply parameter gradients by 1/√(numel·quantMax) (LSQ's gradient scale). */
  useGradScaling?: boolean;
  /**
   * How the static estimate sets the scale: "minmax" (PyTorch: the observer's qparams) or
   * "lsq" (Esser: S = 2·mean|x|/√quantMax per tensor or channel, Z from the observer for
   * affine schemes, 0 for symmetric; also applied on the first batch if learning starts
   * before any static estimate).
   */
  initMode?: "minmax" | "lsq";
};

/**
 * torch _LearnableFakeQuantize. Parameters scale, zero_point; buffers fake_quant_enabled,
 * observer_enabled (unused, as in PyTorch), static_enabled, learning_enabled, eps; observer
 * child activation_post_process. Starts in static-estimate mode; enableParamLearning()
 * freezes the observer and makes scale / zero point trainable.
 */
export class LearnableFakeQuantize extends FakeQuantizeBase {
  declare scale: Tensor;
  declare zero_point: Tensor;
  declare activation_post_process: ReturnType<typeof requireRangedObserver>;
  declare static_enabled: Tensor;
  declare learning_enabled: Tensor;
  declare eps: Tensor;
  readonly quantMin: number;
  readonly quantMax: number;
  readonly useGradScaling: boolean;
  readonly initMode: "minmax" | "lsq";
  readonly bitwidth: number;
  readonly channelLen: number;
  readonly dtype: string;
  readonly qscheme: QScheme;
  readonly chAxis: number;
  /** True once the scale holds an estimate (static, LSQ init or a loaded state dict). */
  initialized = false;

  constructor(opts: LearnableFakeQuantizeOptions = {}) {
    super();
    const where = "LearnableFakeQuantize";
    const { scale = 1, zeroPoint = 0, channelLen = -1, useGradScaling = false, initMode = "minmax", ...rest } = opts;
    this.quantMin = rest.quantMin ?? 0;
    this.quantMax = rest.quantMax ?? 255;
    if (!(this.quantMin < this.quantMax)) throw new ValueError(`${where}: quantMin (${this.quantMin}) must be strictly less than quantMax (${this.quantMax})`);
    if (channelLen !== -1 && !(Number.isInteger(channelLen) && channelLen > 0)) throw new ValueError(`${where}: channelLen must be a positive integer, got ${channelLen}`);
    if (initMode !== "minmax" && initMode !== "lsq") throw new ValueError(`${where}: initMode must be "minmax" or "lsq", got ${String(initMode)}`);
    this.useGradScaling = useGradScaling;
    this.initMode = initMode;
    this.channelLen = channelLen;
    const n = channelLen === -1 ? 1 : channelLen;
    this.registerParameter("scale", Parameter(new Tensor(new Float32Array(n).fill(scale), [n])));
    this.registerParameter("zero_point", Parameter(new Tensor(new Float32Array(n).fill(zeroPoint), [n])));
    const obs = requireRangedObserver(buildObserver({ observer: MovingAverageMinMaxObserver, ...rest, quantMin: this.quantMin, quantMax: this.quantMax }, MovingAverageMinMaxObserver, where), where);
    this.registerModule("activation_post_process", obs);
    this.dtype = obs.dtype;
    this.qscheme = obs.qscheme;
    this.chAxis = obs.chAxis ?? -1;
    this.registerBuffer("static_enabled", new Tensor(Uint8Array.of(1), [1]));
    this.registerBuffer("learning_enabled", new Tensor(Uint8Array.of(0), [1]));
    this.bitwidth = Math.trunc(Math.log2(this.quantMax - this.quantMin + 1));
    this.registerBuffer("eps", new Tensor(Float32Array.of(FLOAT32_EPS), [1]));
  }

  get activationPostProcess(): ReturnType<typeof requireRangedObserver> {
    return this.activation_post_process;
  }

  /** Learn scale / zero point; no static estimate; fake quantization on. */
  enableParamLearning(): this {
    return this.toggleQParamLearning(true).toggleFakeQuant(true).toggleObserverUpdate(false);
  }
  /** Observer estimates scale / zero point; no learning; fake quantization on. */
  enableStaticEstimate(): void {
    this.toggleQParamLearning(false).toggleFakeQuant(true).toggleObserverUpdate(true);
  }
  /** Observer accumulates; forward returns x unchanged. */
  enableStaticObservation(): void {
    this.toggleQParamLearning(false).toggleFakeQuant(false).toggleObserverUpdate(true);
  }
  toggleObserverUpdate(enabled = true): this {
    this.static_enabled.data[0] = enabled ? 1 : 0;
    return this;
  }
  /** As in PyTorch, enableObserver / disableObserver switch the static estimate. */
  override enableObserver(enabled = true): void {
    this.toggleObserverUpdate(enabled);
  }
  toggleQParamLearning(enabled = true): this {
    this.learning_enabled.data[0] = enabled ? 1 : 0;
    this.scale.requiresGrad = enabled;
    this.zero_point.requiresGrad = enabled;
    return this;
  }
  toggleFakeQuant(enabled = true): this {
    this.fake_quant_enabled.data[0] = enabled ? 1 : 0;
    return this;
  }

  /** Clamps the scale to eps; returns (scale, rint-and-clamped zero point as int32). */
  calculateQParams(): QParamsTensors {
    this.clampScale();
    const zp = new Int32Array(this.zero_point.size);
    for (let i = 0; i < zp.length; i++) zp[i] = Math.min(Math.max(rint(this.zero_point.data[i]), this.quantMin), this.quantMax);
    return { scale: new Tensor(Float32Array.from(this.scale.data), this.scale.shape), zeroPoint: new Tensor(zp, this.zero_point.shape) };
  }

  private clampScale(): void {
    const eps = this.eps.data[0];
    const s = this.scale.data;
    for (let i = 0; i < s.length; i++) if (s[i] < eps) s[i] = eps;
  }

  /** Copies src into dst, broadcasting a single value (torch copy_). */
  private static copyInto(dst: Tensor, src: ArrayLike<number>, what: string): void {
    if (src.length !== dst.size && src.length !== 1) throw new ShapeError(`LearnableFakeQuantize: cannot copy ${src.length} ${what} values into ${fmtShape(dst.shape)}`);
    for (let i = 0; i < dst.size; i++) dst.data[i] = src.length === 1 ? src[0] : src[i];
  }

  /** S = max(2·mean|x|/√quantMax, eps) per tensor or per channel (LSQ initialisation). */
  private lsqScale(x: Tensor): Float32Array {
    const n = this.scale.size;
    const sums = new Float64Array(n);
    const counts = new Float64Array(n);
    const perChannel = isPerChannel(this.qscheme) && n > 1;
    const L = perChannel ? layoutOf(x, channelAxis(this.chAxis, x, "LearnableFakeQuantize")) : { C: 1, inner: x.size, outer: 1 };
    for (let i = 0; i < x.size; i++) {
      const c = perChannel ? Math.floor(i / L.inner) % L.C : 0;
      sums[c] += Math.abs(x.data[i]);
      counts[c] += 1;
    }
    const out = new Float32Array(n);
    for (let c = 0; c < n; c++) out[c] = Math.max((2 * (sums[perChannel ? c : 0] / Math.max(counts[perChannel ? c : 0], 1))) / Math.sqrt(this.quantMax), this.eps.data[0]);
    return out;
  }

  private staticEstimate(x: Tensor): void {
    const obs = this.activation_post_process;
    if (!allFinite(x.data)) {
      obs.skipNonFinite(x, [NaN]); // counted; a non-finite batch never moves the step size
      return;
    }
    obs.forward(x);
    const q = this.activation_post_process.calculateQParams();
    if (this.initMode === "lsq") LearnableFakeQuantize.copyInto(this.scale, this.lsqScale(x), "scale");
    else LearnableFakeQuantize.copyInto(this.scale, q.scale.data, "scale");
    LearnableFakeQuantize.copyInto(this.zero_point, q.zeroPoint.data, "zero point");
    this.initialized = true;
  }

  /**
   * Per-channel without channelLen: sizes scale / zero point to the input's channel count on
   * the first forward (new Parameter tensors, so build optimizers after it or pass channelLen).
   */
  private ensureChannels(x: Tensor): void {
    if (!isPerChannel(this.qscheme)) return;
    const C = x.shape[channelAxis(this.chAxis, x, "LearnableFakeQuantize")];
    if (this.scale.size === C || this.scale.size !== 1 || this.channelLen !== -1) return;
    for (const name of ["scale", "zero_point"] as const) {
      const old = this[name];
      this.registerParameter(name, Parameter(new Tensor(new Float32Array(C).fill(old.data[0]), [C]), old.requiresGrad));
    }
  }

  forward(x: Tensor): Tensor {
    this.ensureChannels(x);
    if (this.static_enabled.data[0] === 1) this.staticEstimate(x);
    else {
      if (this.initMode === "lsq" && !this.initialized && allFinite(x.data)) {
        LearnableFakeQuantize.copyInto(this.scale, this.lsqScale(x), "scale");
        this.initialized = true;
      }
      this.clampScale();
    }
    if (this.fake_quant_enabled.data[0] !== 1) return x;
    if (isSymmetric(this.qscheme)) this.zero_point.data.fill(0);
    const gradFactor = this.useGradScaling ? 1 / Math.sqrt(x.size * this.quantMax) : 1;
    if (isPerChannel(this.qscheme)) {
      return fakeQuantizeLearnablePerChannel(x, this.scale, this.zero_point, this.chAxis, this.quantMin, this.quantMax, gradFactor);
    }
    return fakeQuantizeLearnablePerTensor(x, this.scale, this.zero_point, this.quantMin, this.quantMax, gradFactor);
  }

  override applyStateEntry(name: string, current: Tensor, incoming: Tensor): void {
    if (name === "scale") this.initialized = true;
    super.applyStateEntry(name, current, incoming);
  }

  override extraRepr(): string {
    return `fake_quant_enabled=${this.fake_quant_enabled.data[0]}, static_enabled=${this.static_enabled.data[0]}, learning_enabled=${this.learning_enabled.data[0]}, quant_min=${this.quantMin}, quant_max=${this.quantMax}, qscheme=${this.qscheme}`;
  }
}
