/**
 * The reference backend: every kernel in plain TypeScript — the living definition of each op
 * and the fallback of every faster backend. `satisfies Kernels` makes a missing kernel a
 * compile error.
 */
import type { Kernels } from "../kernels.js";
import { batchNormApply, batchNormBackward, batchNormStats } from "./batchnorm.js";
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from "./conv.js";
import { binary, cast, clamp, unary, where } from "./elementwise.js";
import { epilogue, maskMul } from "./epilogue.js";
import { addRelu, batchNormReluBackward, batchNormTrain } from "./fused.js";
import { copyStrided } from "./layout.js";
import { matmul } from "./matmul.js";
import { adaptiveAvgPool2d, adaptiveAvgPool2dBackward, avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from "./pool.js";
import { argReduce, reduce } from "./reduce.js";
import { softmax } from "./softmax.js";
import { softmaxBackward } from "./softmax-backward.js";
import { channelAffine, channelAffineBackward } from "./channel-affine.js";
import { gelu, geluBackward, layerNorm, layerNormBackward } from "./transformer.js";

export const refKernels = {
  unary,
  binary,
  clamp,
  where,
  reduce,
  argReduce,
  cast,
  copyStrided,
  matmul,
  conv2d,
  epilogue,
  maskMul,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  maxPool2d,
  maxPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  batchNormStats,
  batchNormApply,
  batchNormBackward,
  batchNormTrain,
  batchNormReluBackward,
  addRelu,
  softmax,
  softmaxBackward,
  channelAffine,
  channelAffineBackward,
  gelu,
  geluBackward,
  layerNorm,
  layerNormBackward,
} satisfies Kernels;
