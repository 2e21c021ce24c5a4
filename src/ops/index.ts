/**
 * Every op, re-exported. One file per family: elementwise (unary.ts, binary.ts), reductions
 * (reduce.ts), layout (layout.ts), linear algebra (matmul.ts), neural-network ops (conv.ts,
 * pool.ts, batchnorm.ts, softmax.ts, loss.ts, dropout.ts). Importing this installs the
 * Tensor methods (methods.ts).
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
export type { TensorLike } from "./util.js";
import "./methods.js";
