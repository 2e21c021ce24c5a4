/**
 * Weight initialisers (torch.nn.init), in place on a tensor's data, drawing from the default
 * generator unless one is given (so manualSeed makes model construction reproducible; the
 * values differ from PyTorch's, whose generator is another algorithm). Called by layers.
 *
 *   fan_in = size(1)·receptive, fan_out = size(0)·receptive, receptive = Π size(2:)
 *   gain(relu) = √2, gain(leaky_relu, a) = √(2/(1+a²)), gain(tanh) = 5/3, gain(selu) = 3/4
 *   kaimingUniform: U(−b, b), b = gain·√(3/fan);  kaimingNormal: N(0, gain²/fan)
 *   xavierUniform:  U(−b, b), b = gain·√(6/(fan_in+fan_out))
 * PyTorch's default Linear/Conv init is kaimingUniform(w, {a: √5}) = U(−1/√fan_in, 1/√fan_in).
 */
import { ValueError, fmtShape } from "../tensor/errors.js";
import { type Generator, defaultGenerator } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";

export type Nonlinearity = "linear" | "conv2d" | "sigmoid" | "tanh" | "relu" | "leaky_relu" | "selu";
export type FanMode = "fan_in" | "fan_out";

export interface InitOptions {
  generator?: Generator;
}

export interface KaimingOptions extends InitOptions {
  /** Negative slope of the leaky ReLU after this layer (default 0). */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

/** Recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case "linear":
    case "conv2d":
    case "sigmoid":
      return 1;
    case "tanh":
      return 5 / 3;
    case "relu":
      return Math.SQRT2;
    case "leaky_relu": {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case "selu":
      return 3 / 4;
    default:
      throw new ValueError(`calculateGain: unsupported nonlinearity '${String(nonlinearity)}'`);
  }
}

/** [fan_in, fan_out] of a weight of rank ≥ 2 (torch _calculate_fan_in_and_fan_out). */
export function computeFans(t: Tensor): [number, number] {
  if (t.ndim < 2) throw new ValueError(`init: fan in and fan out need a tensor of rank ≥ 2, got ${fmtShape(t.shape)}`);
  let receptive = 1;
  for (let i = 2; i < t.ndim; i++) receptive *= t.shape[i];
  return [t.shape[1] * receptive, t.shape[0] * receptive];
}

/** Fills with U(low, high). */
export function uniform(t: Tensor, low = 0, high = 1, opts: InitOptions = {}): Tensor {
  const g = opts.generator ?? defaultGenerator;
  const d = t.data;
  const span = high - low;
  for (let i = 0; i < d.length; i++) d[i] = low + span * g.uniform();
  return t;
}

/** Fills with N(mean, std²). */
export function normal(t: Tensor, mean = 0, std = 1, opts: InitOptions = {}): Tensor {
  const g = opts.generator ?? defaultGenerator;
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = mean + std * g.normal();
  return t;
}

export function constant(t: Tensor, value: number): Tensor {
  t.data.fill(value);
  return t;
}

export function zeros(t: Tensor): Tensor {
  return constant(t, 0);
}

export function ones(t: Tensor): Tensor {
  return constant(t, 1);
}

function kaimingStd(t: Tensor, opts: KaimingOptions): number {
  const [fanIn, fanOut] = computeFans(t);
  const fan = (opts.mode ?? "fan_in") === "fan_in" ? fanIn : fanOut;
  if (fan === 0) throw new ValueError(`init: cannot initialise an empty tensor ${fmtShape(t.shape)}`);
  return calculateGain(opts.nonlinearity ?? "leaky_relu", opts.a ?? 0) / Math.sqrt(fan);
}

/** He uniform init (torch.nn.init.kaiming_uniform_). */
export function kaimingUniform(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, opts);
  return uniform(t, -bound, bound, opts);
}

/** He normal init (torch.nn.init.kaiming_normal_). */
export function kaimingNormal(t: Tensor, opts: KaimingOptions = {}): Tensor {
  return normal(t, 0, kaimingStd(t, opts), opts);
}

/** Glorot uniform init (torch.nn.init.xavier_uniform_). */
export function xavierUniform(t: Tensor, opts: InitOptions & { gain?: number } = {}): Tensor {
  const [fanIn, fanOut] = computeFans(t);
  const bound = (opts.gain ?? 1) * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -bound, bound, opts);
}

/** Glorot normal init (torch.nn.init.xavier_normal_). */
export function xavierNormal(t: Tensor, opts: InitOptions & { gain?: number } = {}): Tensor {
  const [fanIn, fanOut] = computeFans(t);
  return normal(t, 0, (opts.gain ?? 1) * Math.sqrt(2 / (fanIn + fanOut)), opts);
}

/**
 * PyTorch's default init of a Linear / Conv layer: weight kaimingUniform(a=√5), i.e.
 * U(−1/√fan_in, 1/√fan_in), and bias U(−1/√fan_in, 1/√fan_in).
 */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null, opts: InitOptions = {}): void {
  const [fanIn] = computeFans(weight);
  if (fanIn === 0) return; // zero-size layer: nothing to draw (PyTorch only warns)
  kaimingUniform(weight, { ...opts, a: Math.sqrt(5) });
  if (bias) uniform(bias, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn), opts);
}
