/**
 * Entry point of the WebAssembly kernels (AssemblyScript, compiled by scripts/build-wasm.mjs
 * into src/backend/wasm/generated/kernels-wasm.ts). Every export takes byte addresses into
 * the imported memory plus sizes and attributes; nothing here allocates, so one compiled
 * module runs on the main thread and on every worker of the pool over the same memory.
 */
export { sgemm, sgemmScratchBytes, sgemmBatch } from "./sgemm";
export { epilogueF32, epilogueChannelsF32, maskMulF32 } from "./epilogue";
export { conv2dForward, conv2dBackwardInput, conv2dBackwardWeight, conv2dScratchBytes, conv2dWeightScratchBytes } from "./conv";
export { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward } from "./pool";
export { batchNormStats, batchNormApply, batchNormBackward } from "./batchnorm";
export { binaryF32, binaryScalarF32, binaryRowF32, binaryF32U8, compareF32, unaryF32, clampF32, addInto, zeroBytes } from "./elementwise";
export { igemm, igemmScratchBytes, igemmPackedBBytes, igemmPackedScratchBytes, igemmPackB, igemmPacked } from "./igemm";
export { qconvPackedBytes, qconvPackWeights, qconv2dScratchBytes, qconv2d } from "./qconv";
export { requantRows } from "./qepilogue";
export { qmaxPool2d } from "./qpool";
export { fakeQuantPerTensorF32, fakeQuantPerChannelF32 } from "./fakequant";
export { quantizeF32, dequantizeF32 } from "./quantize";
export { channelAffineF32, channelAffineBackwardF32, minmaxF32, minmaxPerChannelF32 } from "./affine";
export { qdepthwise, qdepthwiseScratchBytes } from "./qdepthwise";
export { qaddKernel, lut8 } from "./qadd";
export { sgdStepF32 } from "./optim";
export { geluF32, geluBackwardF32, layerNormF32, layerNormDxF32, layerNormDwDbF32, softmaxBackwardF32 } from "./transformer";
