/**
 * Re-exports of the integer engine's fixed-point primitives and kernels (src/int8/index.ts,
 * owned by the Int8Model work, re-exports this). Import from here rather than the files.
 */
export * from "./fixed-point.js";
export * from "./kernels/common.js";
export { type PackedWeights, packWeights, isPacked } from "./kernels/packed.js";
export * from "./kernels/qconv2d.js";
export * from "./kernels/qlinear.js";
export * from "./kernels/elementwise.js";
export * from "./kernels/pool.js";
export * from "./kernels/quantize.js";
export * from "./kernels/params.js";
