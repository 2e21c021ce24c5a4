/**
 * Reference definitions of the fused batch-norm / ReLU kernels (Kernels.batchNormTrain,
 * batchNormReluBackward, addRelu): literally the unfused reference kernels called in turn,
 * so a fast backend's fused kernel is checked against the composition it replaces. Called
 * through the kernel table (src/ops/batchnorm.ts, src/ops/fused-act.ts use them only where a
 * fast backend has its own; elsewhere the ops call the unfused kernels themselves).
 */
import type { FloatArray } from "../../tensor/dtype.js";
import { batchNormApply, batchNormBackward, batchNormStats } from "./batchnorm.js";
import { binary, unary } from "./elementwise.js";
import { maskMul } from "./epilogue.js";

const like = (a: FloatArray, n: number): FloatArray => (a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));

export function batchNormTrain(x: FloatArray, n: number, c: number, hw: number, eps: number, gamma: FloatArray | null, beta: FloatArray | null,
  y: FloatArray, mean: Float64Array, variance: Float64Array, invStd: Float64Array, relu: boolean): void {
  batchNormStats(x, n, c, hw, mean, variance);
  for (let ch = 0; ch < c; ch++) invStd[ch] = 1 / Math.sqrt(variance[ch] + eps);
  batchNormApply(x, mean, invStd, gamma, beta, y, n, c, hw);
  if (relu) unary("relu", y, y);
}

export function batchNormReluBackward(dy: FloatArray, x: FloatArray, mean: FloatArray, invStd: FloatArray, gamma: FloatArray | null,
  beta: FloatArray | null, dx: FloatArray, dgamma: FloatArray | null, dbeta: FloatArray | null, n: number, c: number, hw: number,
  training: boolean): void {
  const size = n * c * hw;
  const out = like(dy, size);
  batchNormApply(x, mean, invStd, gamma, beta, out, n, c, hw);
  unary("relu", out, out);
  const masked = like(dy, size);
  maskMul(dy, out, 0, Infinity, masked);
  batchNormBackward(masked, x, mean, invStd, gamma, dx, dgamma, dbeta, n, c, hw, training);
}

export function addRelu(a: FloatArray, b: FloatArray, out: FloatArray): void {
  const n = out.length;
  if (a.length < n || b.length < n) throw new RangeError(`addRelu: operands have ${a.length} and ${b.length} values, need ${n}`);
  const shape = [n];
  binary("add", a.subarray(0, n), shape, b.subarray(0, n), shape, out, shape);
  unary("relu", out, out);
}
