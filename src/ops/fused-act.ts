/**
 * Activations fused into a conv/linear op's epilogue (the kernels' `Epilogue`, see
 * src/backend/kernels.ts): how an op turns its bias and activation into the epilogue, and
 * the activation's vjp, computed from the fused op's output with the same ops (and so the
 * same values) as the unfused relu / hardtanh vjps in ./unary.ts:
 *   relu       g·(y > 0)
 *   hardtanh   g·((y > lo)·(y < hi))   — equal to the mask on the pre-activation x, since
 *              y = clamp(x, lo, hi) lies strictly inside (lo, hi) exactly when x does
 * Used by ./conv.ts (conv2dAct) and ./matmul.ts (linearAct).
 */
import type { Epilogue } from "../backend/kernels.js";
import type { FloatArray } from "../tensor/dtype.js";
import { ValueError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { gt, lt, mul } from "./binary.js";

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
  if (act.kind === "relu") return mul(g, gt(y, 0));
  return mul(g, mul(gt(y, act.min), lt(y, act.max)));
}
