/**
 * Ready-made LSQ quantizers (textbook LSQ for weights, LSQ+ for activations) and their
 * registration with the qconfig builder (qconfig.ts keeps a registry so that presets load
 * without LSQ). Called by qconfigFor({ lsqWeights / lsqActivations }) and users.
 */
import { LearnableFakeQuantize } from "./lsq.js";
import { MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver } from "./observer.js";

export interface LsqQuantizerOptions {
  quantMin: number;
  quantMax: number;
  /** Per-channel scales along axis 0 (weights); default false. */
  perChannel?: boolean;
  /** Channel count when known (keeps parameter identity from construction on). */
  channelLen?: number;
  /** Storage dtype (default int8 for signed ranges, uint8 otherwise). */
  dtype?: "uint8" | "int8";
}

/**
 * Textbook LSQ: symmetric per-tensor / per-channel step sizes learned from the start,
 * initialised on the first batch to 2·mean|x|/√quantMax, gradient scale 1/√(N·quantMax).
 */
export function lsqWeightFakeQuant(o: LsqQuantizerOptions): LearnableFakeQuantize {
  const perChannel = o.perChannel ?? false;
  return new LearnableFakeQuantize({
    observer: perChannel ? MovingAveragePerChannelMinMaxObserver : MovingAverageMinMaxObserver,
    quantMin: o.quantMin,
    quantMax: o.quantMax,
    dtype: o.dtype ?? (o.quantMin < 0 ? "int8" : "uint8"),
    qscheme: perChannel ? "per_channel_symmetric" : "per_tensor_symmetric",
    chAxis: 0,
    channelLen: perChannel && o.channelLen !== undefined ? o.channelLen : -1,
    useGradScaling: true,
    initMode: "lsq",
  }).enableParamLearning();
}

/** LSQ+ for activations: affine per-tensor, learnable scale and zero point, LSQ initialisation. */
export function lsqActivationFakeQuant(o: LsqQuantizerOptions): LearnableFakeQuantize {
  return new LearnableFakeQuantize({
    observer: MovingAverageMinMaxObserver,
    quantMin: o.quantMin,
    quantMax: o.quantMax,
    dtype: o.dtype ?? (o.quantMin < 0 ? "int8" : "uint8"),
    qscheme: "per_tensor_affine",
    useGradScaling: true,
    initMode: "lsq",
  }).enableParamLearning();
}
