/**
 * The numerics half of `quant`: specs, qparams math, observers, fake quantization and LSQ.
 * Re-exports only; src/quant/index.ts re-exports this file.
 */
export {
  type QuantDType,
  type QuantDTypeName,
  type QScheme,
  type QuantSpec,
  type QuantSpecOptions,
  type QuantRangeOptions,
  type Factory,
  FLOAT32_EPS,
  normalizeDType,
  normalizeQScheme,
  isPerChannel,
  isSymmetric,
  dtypeBounds,
  calculateQminQmax,
  quantRange,
  makeQuantSpec,
  makeFactory,
} from "./quant-spec.js";
export {
  type QParams,
  type PerChannelQParams,
  type QParamsSpec,
  rint,
  chooseQParams,
  chooseQParamsPerChannel,
  chooseQParamsFused,
  inverseScale,
  quantize,
  dequantize,
  fakeQuantizeValue,
  quantizeArray,
  dequantizeArray,
} from "./qparams.js";
export {
  type QParamsTensors,
  type ObserverLike,
  type MinMaxObserverOptions,
  type MovingAverageMinMaxObserverOptions,
  type PerChannelMinMaxObserverOptions,
  type MovingAveragePerChannelMinMaxObserverOptions,
  ObserverBase,
  UniformQuantizationObserverBase,
  MinMaxObserver,
  MovingAverageMinMaxObserver,
  PerChannelMinMaxObserver,
  MovingAveragePerChannelMinMaxObserver,
  toObserverFactory,
  defaultObserver,
  defaultWeightObserver,
  weightObserverRangeNeg127To127,
  defaultPerChannelWeightObserver,
  perChannelWeightObserverRangeNeg127To127,
} from "./observer.js";
export {
  type FixedQParamsObserverOptions,
  FixedQParamsObserver,
  PlaceholderObserver,
  NoopObserver,
  defaultFixedQParamsRangeNeg1to1Observer,
  defaultFixedQParamsRange0to1Observer,
} from "./observer-fixed.js";
export { type HistogramObserverOptions, HistogramObserver, histc, defaultHistogramObserver } from "./observer-histogram.js";
export {
  type FakeQuantResult,
  type FakeQuantizeOptions,
  type ObserverKwargs,
  fakeQuantPerTensorKernel,
  fakeQuantPerChannelKernel,
  steBackwardKernel,
  fakeQuantizePerTensor,
  fakeQuantizePerChannel,
  FakeQuantizeBase,
  FakeQuantize,
  FixedQParamsFakeQuantize,
  disableFakeQuant,
  enableFakeQuant,
  disableObserver,
  enableObserver,
} from "./fake-quantize.js";
export { FusedMovingAvgObsFakeQuantize } from "./fake-quantize-fused.js";
export {
  defaultFakeQuant,
  defaultWeightFakeQuant,
  defaultPerChannelWeightFakeQuant,
  defaultHistogramFakeQuant,
  defaultFixedQParamsRangeNeg1to1FakeQuant,
  defaultFixedQParamsRange0to1FakeQuant,
  defaultFusedActFakeQuant,
  defaultFusedWtFakeQuant,
  defaultFusedPerChannelWtFakeQuant,
} from "./fake-quantize-defaults.js";
export {
  type LearnableFakeQuantizeOptions,
  LearnableFakeQuantize,
  fakeQuantizeLearnablePerTensor,
  fakeQuantizeLearnablePerChannel,
} from "./lsq.js";
export { type LsqQuantizerOptions, lsqWeightFakeQuant, lsqActivationFakeQuant } from "./lsq-presets.js";
