/**
 * Elementwise binary ops with NumPy broadcasting, defined by one rule table (kernel op +
 * vjp per operand, summed back to the operand's shape). Comparisons return uint8 0/1
 * masks and have no gradient. Also `where`.
 */
import { kernels } from "../backend/index.js";
import type { BinaryOp } from "../backend/kernels.js";
import { type DType, promoteTypes } from "../tensor/dtype.js";
import { record } from "../tensor/grad-mode.js";
import { broadcastShapes } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { sumToShape } from "./reduce.js";
import { log } from "./unary.js";
import { asTensor, type TensorLike, uninit } from "./util.js";

type Vjp = (a: Tensor, b: Tensor, y: Tensor, g: Tensor) => Tensor;

interface BinaryRule {
  /** dL/da and dL/db at the broadcast output shape. */
  vjp?: [Vjp, Vjp];
  /** Result dtype from the promoted input dtype. */
  dtype?: (promoted: DType) => DType;
}

const toFloat = (d: DType): DType => (d === "float64" ? "float64" : "float32");
const toMask = (): DType => "uint8";

const RULES: Record<BinaryOp, BinaryRule> = {
  add: { vjp: [(_a, _b, _y, g) => g, (_a, _b, _y, g) => g] },
  sub: { vjp: [(_a, _b, _y, g) => g, (_a, _b, _y, g) => mul(g, -1)] },
  mul: { vjp: [(_a, b, _y, g) => mul(g, b), (a, _b, _y, g) => mul(g, a)] },
  div: {
    dtype: toFloat,
    vjp: [(_a, b, _y, g) => div(g, b), (_a, b, y, g) => div(mul(mul(g, y), -1), b)],
  },
  pow: {
    vjp: [
      (a, b, _y, g) => mul(g, mul(b, pow(a, sub(b, 1)))),
      // d/db a^b = a^b·ln a; zero where a = 0 and b ≥ 0 (PyTorch's convention).
      (a, b, y, g) => where(mul(eq(a, 0), ge(b, 0)), 0, mul(g, mul(y, log(a)))),
    ],
  },
  maximum: {
    vjp: [
      (a, b, _y, g) => mul(g, add(gt(a, b), mul(eq(a, b), 0.5))),
      (a, b, _y, g) => mul(g, add(lt(a, b), mul(eq(a, b), 0.5))),
    ],
  },
  minimum: {
    vjp: [
      (a, b, _y, g) => mul(g, add(lt(a, b), mul(eq(a, b), 0.5))),
      (a, b, _y, g) => mul(g, add(gt(a, b), mul(eq(a, b), 0.5))),
    ],
  },
  gt: { dtype: toMask },
  ge: { dtype: toMask },
  lt: { dtype: toMask },
  le: { dtype: toMask },
  eq: { dtype: toMask },
  ne: { dtype: toMask },
};

function binaryOp(op: BinaryOp, x: TensorLike, y: TensorLike): Tensor {
  const [a, b] = operands(x, y);
  const shape = broadcastShapes(a.shape, b.shape, op);
  const rule = RULES[op];
  const promoted = promoteTypes(a.dtype, b.dtype);
  const out = uninit(shape, rule.dtype ? rule.dtype(promoted) : promoted);
  kernels().binary(op, a.data, a.shape, b.data, b.shape, out.data, shape);
  const vjp = rule.vjp;
  if (!vjp) return out;
  return record(out, op, [a, b], (g) => [
    a.requiresGrad ? sumToShape(vjp[0](a, b, out, g), a.shape) : null,
    b.requiresGrad ? sumToShape(vjp[1](a, b, out, g), b.shape) : null,
  ]);
}

function operands(x: TensorLike, y: TensorLike): [Tensor, Tensor] {
  if (typeof x === "number" && typeof y === "number") {
    throw new TypeError("binary op: at least one operand must be a Tensor");
  }
  const a = typeof x === "number" ? asTensor(x, y as Tensor) : x;
  const b = typeof y === "number" ? asTensor(y, a) : y;
  return [a, b];
}

export const add = (a: TensorLike, b: TensorLike): Tensor => binaryOp("add", a, b);
export const sub = (a: TensorLike, b: TensorLike): Tensor => binaryOp("sub", a, b);
export const mul = (a: TensorLike, b: TensorLike): Tensor => binaryOp("mul", a, b);
/** True division (integer inputs give float32). */
export const div = (a: TensorLike, b: TensorLike): Tensor => binaryOp("div", a, b);
export const pow = (a: TensorLike, b: TensorLike): Tensor => binaryOp("pow", a, b);
/** Elementwise max; on ties the gradient is split evenly (torch.maximum). */
export const maximum = (a: TensorLike, b: TensorLike): Tensor => binaryOp("maximum", a, b);
export const minimum = (a: TensorLike, b: TensorLike): Tensor => binaryOp("minimum", a, b);
export const gt = (a: TensorLike, b: TensorLike): Tensor => binaryOp("gt", a, b);
export const ge = (a: TensorLike, b: TensorLike): Tensor => binaryOp("ge", a, b);
export const lt = (a: TensorLike, b: TensorLike): Tensor => binaryOp("lt", a, b);
export const le = (a: TensorLike, b: TensorLike): Tensor => binaryOp("le", a, b);
export const eq = (a: TensorLike, b: TensorLike): Tensor => binaryOp("eq", a, b);
export const ne = (a: TensorLike, b: TensorLike): Tensor => binaryOp("ne", a, b);

/** cond ≠ 0 ? a : b, all broadcast together; gradients flow to the chosen side. */
export function where(cond: Tensor, x: TensorLike, y: TensorLike): Tensor {
  const [a, b] = operands(x, y);
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, "where"), b.shape, "where");
  const out = uninit(shape, promoteTypes(a.dtype, b.dtype));
  kernels().where(cond.data, cond.shape, a.data, a.shape, b.data, b.shape, out.data, shape);
  return record(out, "where", [a, b], (g) => [
    a.requiresGrad ? sumToShape(where(cond, g, 0), a.shape) : null,
    b.requiresGrad ? sumToShape(where(cond, 0, g), b.shape) : null,
  ]);
}
