/**
 * quant: quantization-aware training and conversion. Numerics (qparams, observers,
 * fake-quantize, LSQ) come from index-numerics.ts; the workflow (qconfig, fusion, prepare,
 * schedule, calibrate, convert, checkpoints) is below. Exported from the root as `quant`.
 */
export * from "./index-numerics.js";
export { qconfigs, qconfigFor, qconfigByName, type QConfigOptions, type QConfigPreset } from "./qconfig.js";
export { prepareQat, prepareQatPt2e, type QConfig, type QConfigOverride, type PrepareOptions, type WeightContext } from "./prepare.js";
export {
  QuantizationSpec, FixedQParamsQuantizationSpec, SharedQuantizationSpec, DerivedQuantizationSpec, annotate, annotationOf, edge, isEdge, sameSpec,
  type Quantizer, type QuantizationAnnotation, type QuantizationSpecBase, type QuantizationSpecOptions, type Edge, type EdgeOrNode, type ObserverOrFakeQuantCtr, type QuantizerCtorArgs,
} from "./quantizer.js";
export { DefaultQuantizer, annotateAddRelu, quantizationConfigOf, isWeightModule, type QuantizationConfig, type DefaultQuantizerOptions } from "./quantizer-default.js";
export { Fused, fuseModules, findFusionGroups, patternOf, type FusionPattern } from "./fuse.js";
export { QatConv2d, QatLinear, QatConvBn2d, QatLinearBn1d, QatWeightLayer, isBnFolded, simulatedBias, type ActClamp } from "./qat-modules.js";
export { QatModel, QuantStub, DeQuantStub, attachOutputQuantizer, outputQuantizerOf, quantizerOfTensor, type PrepareDescription } from "./stubs.js";
export {
  qatSchedule, quantizers, enableFakeQuant, disableFakeQuant, enableObserver, disableObserver, freezeBnStats, updateBnStats,
  type QatScheduleOptions,
} from "./schedule.js";
export { calibrate, type CalibrateOptions } from "./calibrate.js";
export { convertToReference, convertPt2e, ReferenceModel } from "./reference.js";
export { lower, lowerWithReport } from "./reference-lower.js";
export { QuantizeLinear, DequantizeLinear, ReferenceConv2d, ReferenceLinear } from "./reference-modules.js";
export { convert, convertWithReport, quantizerParams, type ConvertOptions, type ConvertReport } from "./convert.js";
export { loadPrepared, preparedConfig, type PreparedConfig } from "./checkpoint.js";
export { inspectModel, histogram, type LayerReport, type Histogram } from "./inspect.js";
export { dynamicQConfig, type DynamicQConfigOptions } from "./dynamic-qconfig.js";
export { DynamicFakeQuantize, FloatActivation, fakeQuantizeDynamic, dynamicQParams, type DynamicGranularity, type DynamicFakeQuantizeOptions } from "./dynamic-fake-quant.js";
export { GroupwiseFakeQuantize, fakeQuantizeGrouped, fakeQuantizeGroupedLsq, type GroupwiseFakeQuantizeOptions } from "./groupwise.js";
export { quantizeDynamic, quantizeDynamicQConfig, DynamicQuantizedLinear, type QuantizeDynamicOptions } from "./quantize-dynamic.js";
export { DynamicQuantizedLSTM, DynamicQuantizedGRU, type RnnWeightGranularity } from "./quantize-dynamic-rnn.js";
