/**
 * PyTorch 1.13's predefined fake-quantize factories (torch.ao.quantization.fake_quantize:
 * default_fake_quant, default_per_channel_weight_fake_quant, default_fused_*, …), as
 * `withArgs` factories with the same options. Called by qconfigs and users.
 */
import { FakeQuantize, FixedQParamsFakeQuantize } from "./fake-quantize.js";
import { FusedMovingAvgObsFakeQuantize } from "./fake-quantize-fused.js";
import { MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver } from "./observer.js";
import { defaultFixedQParamsRange0to1Observer, defaultFixedQParamsRangeNeg1to1Observer } from "./observer-fixed.js";
import { HistogramObserver } from "./observer-histogram.js";

/** torch default_fake_quant: activations, uint8 [0, 255] with reduce_range → [0, 127], moving average. */
export const defaultFakeQuant = FakeQuantize.withArgs({
  observer: MovingAverageMinMaxObserver,
  quantMin: 0,
  quantMax: 255,
  dtype: "uint8",
  qscheme: "per_tensor_affine",
  reduceRange: true,
});
/** torch default_weight_fake_quant: int8 per-tensor symmetric. */
export const defaultWeightFakeQuant = FakeQuantize.withArgs({
  observer: MovingAverageMinMaxObserver,
  quantMin: -128,
  quantMax: 127,
  dtype: "int8",
  qscheme: "per_tensor_symmetric",
  reduceRange: false,
});
/** torch default_per_channel_weight_fake_quant: int8 per-channel symmetric, axis 0. */
export const defaultPerChannelWeightFakeQuant = FakeQuantize.withArgs({
  observer: MovingAveragePerChannelMinMaxObserver,
  quantMin: -128,
  quantMax: 127,
  dtype: "int8",
  qscheme: "per_channel_symmetric",
  reduceRange: false,
  chAxis: 0,
});
/** torch default_histogram_fake_quant. */
export const defaultHistogramFakeQuant = FakeQuantize.withArgs({
  observer: HistogramObserver,
  quantMin: 0,
  quantMax: 255,
  dtype: "uint8",
  qscheme: "per_tensor_affine",
  reduceRange: true,
});
/** torch default_fixed_qparams_range_neg1to1_fake_quant (tanh). */
export const defaultFixedQParamsRangeNeg1to1FakeQuant = FixedQParamsFakeQuantize.withArgs({ observer: defaultFixedQParamsRangeNeg1to1Observer });
/** torch default_fixed_qparams_range_0to1_fake_quant (sigmoid). */
export const defaultFixedQParamsRange0to1FakeQuant = FixedQParamsFakeQuantize.withArgs({ observer: defaultFixedQParamsRange0to1Observer });

/** torch default_fused_act_fake_quant: uint8 [0, 255], moving average 0.01. */
export const defaultFusedActFakeQuant = FusedMovingAvgObsFakeQuantize.withArgs({ observer: MovingAverageMinMaxObserver, quantMin: 0, quantMax: 255, dtype: "uint8" });
/** torch default_fused_wt_fake_quant: int8 per-tensor symmetric. */
export const defaultFusedWtFakeQuant = FusedMovingAvgObsFakeQuantize.withArgs({
  observer: MovingAverageMinMaxObserver,
  quantMin: -128,
  quantMax: 127,
  dtype: "int8",
  qscheme: "per_tensor_symmetric",
});
/** torch default_fused_per_channel_wt_fake_quant: int8 per-channel symmetric (axis 0). */
export const defaultFusedPerChannelWtFakeQuant = FusedMovingAvgObsFakeQuantize.withArgs({
  observer: MovingAveragePerChannelMinMaxObserver,
  quantMin: -128,
  quantMax: 127,
  dtype: "int8",
  qscheme: "per_channel_symmetric",
});
