/**
 * Elementwise unary ops, defined by one rule table: the kernel op and the vjp, written with
 * other ops. round is half-to-even; round/floor/ceil/sign have zero gradient (as PyTorch).
 * Also clamp (inclusive gradient mask, like torch.clamp) and hardtanh/relu6 (strict mask,
 * like torch.nn.functional.hardtanh), whose difference at the boundaries matters for QAT.
 */
import { kernels } from "../backend/index.js";
import type { UnaryOp } from "../backend/kernels.js";
import { ValueError } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import { Tensor } from "../tensor/tensor.js";
import { add, div, gt, lt, mul, sub } from "./binary.js";
import { maskGrad } from "./fused-act.js";
import { requireFloat, uninit } from "./util.js";

interface UnaryRule {
  /** Needs a float input (transcendental functions). */
  float: boolean;
  /** dL/dx given x, y = f(x) and g = dL/dy; omitted = zero gradient. */
  vjp?: (x: Tensor, y: Tensor, g: Tensor) => Tensor;
}

const RULES: Record<UnaryOp, UnaryRule> = {
  neg: { float: false, vjp: (_x, _y, g) => neg(g) },
  exp: { float: true, vjp: (_x, y, g) => mul(g, y) },
  log: { float: true, vjp: (x, _y, g) => div(g, x) },
  sqrt: { float: true, vjp: (_x, y, g) => div(g, mul(y, 2)) },
  abs: { float: false, vjp: (x, _y, g) => mul(g, sign(x)) },
  relu: { float: false, vjp: (_x, y, g) => maskGrad(g, y, 0, Infinity) },
  sigmoid: { float: true, vjp: (_x, y, g) => mul(g, mul(y, sub(1, y))) },
  tanh: { float: true, vjp: (_x, y, g) => mul(g, sub(1, mul(y, y))) },
  round: { float: false },
  floor: { float: false },
  ceil: { float: false },
  sign: { float: false },
  reciprocal: { float: true, vjp: (_x, y, g) => neg(mul(g, mul(y, y))) },
  square: { float: false, vjp: (x, _y, g) => mul(g, mul(x, 2)) },
};

function unaryOp(op: UnaryOp, x: Tensor): Tensor {
  const rule = RULES[op];
  if (rule.float) requireFloat(x, op);
  const out = uninit(x.shape, x.dtype);
  kernels().unary(op, x.data, out.data);
  const vjp = rule.vjp;
  if (!vjp) return out;
  return record(out, op, [x], (g) => [vjp(x, out, g)]);
}

export const neg = (x: Tensor): Tensor => unaryOp("neg", x);
export const exp = (x: Tensor): Tensor => unaryOp("exp", x);
export const log = (x: Tensor): Tensor => unaryOp("log", x);
export const sqrt = (x: Tensor): Tensor => unaryOp("sqrt", x);
export const abs = (x: Tensor): Tensor => unaryOp("abs", x);
export const relu = (x: Tensor): Tensor => unaryOp("relu", x);
export const sigmoid = (x: Tensor): Tensor => unaryOp("sigmoid", x);
export const tanh = (x: Tensor): Tensor => unaryOp("tanh", x);
/** Round half to even (0.5 → 0, 1.5 → 2, -2.5 → -2), as torch.round. */
export const round = (x: Tensor): Tensor => unaryOp("round", x);
export const floor = (x: Tensor): Tensor => unaryOp("floor", x);
export const ceil = (x: Tensor): Tensor => unaryOp("ceil", x);
export const sign = (x: Tensor): Tensor => unaryOp("sign", x);
export const reciprocal = (x: Tensor): Tensor => unaryOp("reciprocal", x);
export const square = (x: Tensor): Tensor => unaryOp("square", x);

function checkBounds(lo: number, hi: number, op: string): void {
  if (Number.isNaN(lo) || Number.isNaN(hi) || lo > hi) throw new ValueError(`${op}: need min ≤ max, got min=${lo}, max=${hi}`);
}

/** min(max(x, lo), hi); gradient passes where lo ≤ x ≤ hi (torch.clamp). */
export function clamp(x: Tensor, lo = -Infinity, hi = Infinity): Tensor {
  checkBounds(lo, hi, "clamp");
  const out = uninit(x.shape, x.dtype);
  kernels().clamp(x.data, lo, hi, out.data);
  return record(out, "clamp", [x], (g) => [mul(g, sub(1, add(lt(x, lo), gt(x, hi))))]);
}

/** clamp with a strict gradient mask lo < x < hi (torch.nn.functional.hardtanh). */
export function hardtanh(x: Tensor, lo = -1, hi = 1): Tensor {
  checkBounds(lo, hi, "hardtanh");
  const out = uninit(x.shape, x.dtype);
  kernels().clamp(x.data, lo, hi, out.data);
  // (maskGrad reads hi = +∞ as "no bound"; hardtanh's strict mask excludes x = +∞ there)
  return record(out, "hardtanh", [x], (g) => [hi === Infinity ? mul(g, mul(gt(x, lo), lt(x, hi))) : maskGrad(g, x, lo, hi)]);
}

/** hardtanh(x, 0, 6). */
export function relu6(x: Tensor): Tensor {
  return hardtanh(x, 0, 6);
}
