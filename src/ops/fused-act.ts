/**
 * Activations fused into a conv/linear op's epilogue (the kernels' `Epilogue`, see
 * src/backend/kernels.ts): how an op turns its bias and activation into the epilogue, and
 * the activation's vjp, computed from the fused op's output by `maskGrad` (one kernel pass,
 * Kernels.maskMul) — the same values as the unfused relu / hardtanh vjps:
 *   relu       g·(y > 0)
 *   hardtanh   g·((y > lo)·(y < hi))   — equal to the mask on the pre-activation x, since
 *              y = clamp(x, lo, hi) lies strictly inside (lo, hi) exactly when x does
 * Used by ./conv.ts (conv2dAct), ./matmul.ts (linearAct) and ./unary.ts (relu, hardtanh).
 * Also `addRelu` (relu(a + b), a residual join and its ReLU as one op, for src/nn's ResNet
 * blocks) and `hasOwnKernel`, which fused ops ask before taking a fused kernel: where the
 * backend has none, they call the unfused kernels themselves (which it may accelerate) rather
 * than the reference definition of the fused one.
 */
import { kernels } from "../backend/index.js";
import type { Epilogue, KernelName } from "../backend/kernels.js";
import { refKernels } from "../backend/ref/index.js";
import type { FloatArray } from "../tensor/dtype.js";
import { ValueError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { record } from "../tensor/grad-mode.js";
import { add, gt, lt, mul } from "./binary.js";
import { relu } from "./unary.js";
import { uninit } from "./util.js";

/** ReLU, or hardtanh(min, max) (relu6 = hardtanh(0, 6)), with hardtanh's strict gradient mask. */
export type FusedAct = { kind: "relu" } | { kind: "hardtanh"; min: number; max: number };

/** The kernels' epilogue for a bias and an activation (null when there is neither). */
export function epilogueOf(bias: Tensor | null, act: FusedAct | null): Epilogue | null {
  if (!bias && !act) return null;
  if (act?.kind === "hardtanh" && (Number.isNaN(act.min) || Number.isNaN(act.max) || act.min > act.max)) {
    throw new ValueError(`hardtanh: need min ≤ max, got min=${act.min}, max=${act.max}`);
  }
  return {
    bias: bias ? (bias.data as FloatArray) : null,
    act: !act ? "none" : act.kind === "relu" ? "relu" : "clamp",
    lo: act?.kind === "hardtanh" ? act.min : 0,
    hi: act?.kind === "hardtanh" ? act.max : 0,
  };
}

/** dL/d(pre-activation) from dL/dy and the fused op's output y. */
export function fusedActGrad(g: Tensor, y: Tensor, act: FusedAct): Tensor {
  if (act.kind === "relu") return maskGrad(g, y, 0, Infinity);
  // hardtanh's strict mask excludes +∞ at hi = +∞, which maskGrad reads as "no bound"
  return act.max === Infinity ? mul(g, mul(gt(y, act.min), lt(y, act.max))) : maskGrad(g, y, act.min, act.max);
}

/**
 * g·(lo < m < hi ? 1 : 0) elementwise, hi = +∞ meaning no upper bound (relu's mask, which
 * passes +∞): the values of mul(g, gt(m, lo)) and mul(g, mul(gt(m, lo), lt(m, hi))), in one
 * kernel pass with no mask tensor when g and m share a float dtype and shape (else through
 * those ops). Differentiable in g (its vjp is the same mask), so higher-order gradients work.
 */
export function maskGrad(g: Tensor, m: Tensor, lo: number, hi: number): Tensor {
  const sameShape = g.ndim === m.ndim && g.shape.every((d, i) => d === m.shape[i]);
  if (g.dtype !== m.dtype || !sameShape || (g.dtype !== "float32" && g.dtype !== "float64")) {
    return hi === Infinity ? mul(g, gt(m, lo)) : mul(g, mul(gt(m, lo), lt(m, hi)));
  }
  const out = uninit(g.shape, g.dtype);
  // the bounds as the comparison ops see a scalar operand: rounded to the tensors' dtype
  const round = g.dtype === "float32" ? Math.fround : (v: number): number => v;
  kernels().maskMul(g.data as FloatArray, m.data as FloatArray, round(lo), round(hi), out.data as FloatArray);
  return record(out, "maskGrad", [g], (gg) => [maskGrad(gg, m, lo, hi)]);
}

/** True when the active backend has its own kernel `name` (not the reference definition). */
export function hasOwnKernel(name: KernelName): boolean {
  return kernels()[name] !== refKernels[name];
}

/**
 * relu(a + b) as one op: one pass instead of two and no intermediate tensor, with the values
 * and gradients of the two ops (the vjp masks g by the output once, dL/da = dL/db = that).
 * Operands of different shapes or dtypes, or not float, go through add and relu.
 */
export function addRelu(a: Tensor, b: Tensor): Tensor {
  const sameShape = a.ndim === b.ndim && a.shape.every((d, i) => d === b.shape[i]);
  if (!sameShape || a.dtype !== b.dtype || (a.dtype !== "float32" && a.dtype !== "float64")) return relu(add(a, b));
  const out = uninit(a.shape, a.dtype);
  const [ad, bd, od] = [a.data as FloatArray, b.data as FloatArray, out.data as FloatArray];
  if (hasOwnKernel("addRelu")) kernels().addRelu(ad, bd, od);
  else {
    kernels().binary("add", ad, a.shape, bd, b.shape, od, a.shape);
    kernels().unary("relu", od, od);
  }
  return record(out, "addRelu", [a, b], (g) => {
    const gm = maskGrad(g, out, 0, Infinity);
    return [a.requiresGrad ? gm : null, b.requiresGrad ? gm : null];
  });
}
