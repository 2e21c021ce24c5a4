/**
 * Every op, re-exported. One file per family: elementwise (unary.ts, binary.ts), reductions
 * (reduce.ts), layout (layout.ts), linear algebra (matmul.ts), neural-network ops (conv.ts,
 * pool.ts, batchnorm.ts, softmax.ts, loss.ts, dropout.ts). Importing this installs the
 * Tensor methods (methods.ts). Ops reached from here are capturable (captured.ts).
 */
export * from "./unary.js";
export * from "./binary.js";
export * from "./reduce.js";
export * from "./layout.js";
export * from "./matmul.js";
export * from "./conv.js";
export * from "./pool.js";
export * from "./batchnorm.js";
export * from "./softmax.js";
export * from "./loss.js";
export * from "./dropout.js";
export * from "./channel-affine.js";
export * from "./nn-functional.js";
export { scaledDotProductAttention, causalMask, type ScaledDotProductAttentionOptions } from "./attention.js";
export type { TensorLike } from "./util.js";
// The capturable versions (captured.ts) shadow the family files' exports of the same names,
// so user code that calls ops through the package root is seen by graph capture.
export {
  neg, exp, log, sqrt, abs, relu, sigmoid, tanh, round, floor, ceil, sign, reciprocal, square, clamp, hardtanh, relu6, add, sub, mul, div, pow, maximum, minimum, gt, ge, lt, le, eq, ne, where, sum, mean, max, min, variance, argmax, argmin, sumToShape, reshape, flatten, squeeze, unsqueeze, permute, transpose, broadcastTo, concat, stack, pad, slice, cast, matmul, linear, conv2d, maxPool2d, avgPool2d, adaptiveAvgPool2d, batchNorm, softmax, logSoftmax, nllLoss, crossEntropy, mseLoss, dropout, channelAffine, erf, gelu, layerNorm, embedding,
} from "./captured.js";
import "./methods.js";
