/**
 * int8: the integer-only engine — fixed-point arithmetic, integer kernels, the Int8Model graph
 * executor and its file format. Exported from the root as `int8`.
 */
export * from "./index-kernels.js";
export type { Int8Graph, Int8Node, ValueInfo, QParams as Int8QParams } from "./graph.js";
export { Int8Model, type Int8Tensors, type LayerInfo } from "./model.js";
export { saveInt8Model, loadInt8Model } from "./fs.js";
