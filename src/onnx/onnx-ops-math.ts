/**
 * Generic ONNX kernels for elementwise math, built from the differentiable ops in src/ops (so
 * an imported model fine-tunes through them): activations (LeakyRelu, PRelu, Elu, Selu,
 * Softplus, Softsign, ThresholdedRelu, Tanh), transcendental and rounding ops (Exp, Log, Sqrt,
 * Reciprocal, Erf, Pow, Abs, Neg, Sign, Floor, Ceil, Round), n-ary Max / Min / Sum / Mean,
 * comparisons and logic on 0/1 uint8 masks (ONNX bool), and Where. Piecewise functions pick
 * their branch with `where` and feed the other branch a clamped input, so no inf·0 reaches a
 * gradient; their derivative at the kink follows PyTorch (LeakyRelu/PRelu: slope for x ≤ 0,
 * Elu: α·eˣ at 0, Softplus: σ(x)). Erf is the op of src/ops/nn-functional.ts (float64 forward,
 * ≤ 1e-12 absolute error, backward 2/√π·e^(−x²)). Called by onnx-ops.ts (GENERIC_OPS).
 */
import { isFloatDType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { add, div, eq, ge, gt, le, lt, maximum, minimum, mul, ne, pow, sub, where } from "../ops/binary.js";
import { cast } from "../ops/layout.js";
import { erf } from "../ops/nn-functional.js";
import { abs, ceil, exp, floor, log, neg, reciprocal, round, sign, sqrt, tanh } from "../ops/unary.js";
import { type Compiler, type OpContext, binary, floatInput, floatUnary, get, nary, need, unary } from "./onnx-ops-util.js";

/** x where x > 0, else 0 (gradient 1 where x > 0) — the input of a branch that must stay finite. */
const positivePart = (x: Tensor): Tensor => where(gt(x, 0), x, 0);
/** x where x ≤ 0, else 0 (gradient 1 where x ≤ 0). */
const nonPositivePart = (x: Tensor): Tensor => where(gt(x, 0), 0, x);

/** x for x > 0, slope·x otherwise (slope a number or a broadcastable tensor). */
function leaky(x: Tensor, slope: number | Tensor): Tensor {
  return where(gt(x, 0), x, mul(x, slope));
}

/** α·(eˣ − 1) for x ≤ 0, x above. */
function elu(x: Tensor, alpha: number): Tensor {
  return where(gt(x, 0), x, mul(sub(exp(nonPositivePart(x)), 1), alpha));
}

/** log(1 + eˣ) = x + log(1 + e⁻ˣ) for x > 0, log(1 + eˣ) for x ≤ 0: never exponentiates a positive number. */
function softplus(x: Tensor): Tensor {
  const upper = add(x, log(add(exp(neg(positivePart(x))), 1)));
  return where(gt(x, 0), upper, log(add(exp(nonPositivePart(x)), 1)));
}

const withFloatAttrs = (names: [string, number][], f: (x: Tensor, ...v: number[]) => Tensor): Compiler => (c) => {
  need(c, 1);
  const values = names.map(([n, d]) => c.attrs.float(n, d));
  return (i) => f(floatInput(c, get(i, 0)), ...values);
};

// erf lives in src/ops (a fused differentiable op shared with gelu); re-exported for the importer tests.
export { erfScalar } from "../ops/nn-functional.js";

/** Nonzero → 1, zero → 0 (ONNX bool inputs arrive as uint8 0/1, but any dtype is accepted). */
const truth = (x: Tensor): Tensor => ne(x, 0);

function logicBinary(c: OpContext, f: (a: Tensor, b: Tensor) => Tensor) {
  need(c, 2);
  return (i: readonly (Tensor | null)[]) => f(truth(get(i, 0)), truth(get(i, 1)));
}

/** Integer inputs to float-only ops are refused by floatInput; Abs/Neg/Sign/rounding accept any dtype. */
const anyUnary = unary;

export const MATH_OPS: Readonly<Record<string, Compiler>> = {
  LeakyRelu: withFloatAttrs([["alpha", 0.01]], (x, a) => leaky(x, a)),
  PRelu: (c) => {
    need(c, 2);
    return (i) => leaky(floatInput(c, get(i, 0)), get(i, 1));
  },
  Elu: withFloatAttrs([["alpha", 1]], (x, a) => elu(x, a)),
  Selu: withFloatAttrs([["alpha", 1.67326319217681884765625], ["gamma", 1.05070102214813232421875]], (x, a, g) => mul(elu(x, a), g)),
  Softplus: floatUnary(softplus),
  Softsign: floatUnary((x) => div(x, add(abs(x), 1))),
  ThresholdedRelu: withFloatAttrs([["alpha", 1]], (x, a) => where(gt(x, a), x, 0)),
  Tanh: floatUnary(tanh),
  Exp: floatUnary(exp),
  Log: floatUnary(log),
  Sqrt: floatUnary(sqrt),
  Reciprocal: floatUnary(reciprocal),
  Erf: floatUnary(erf),
  Pow: (c) => {
    need(c, 2);
    return (i) => {
      const [x, y] = [get(i, 0), get(i, 1)];
      // Integer bases (opset 12+): computed in float64, truncated back to the base's type as onnxruntime's std::pow cast does.
      if (!isFloatDType(x.dtype)) return cast(pow(cast(x, "float64"), cast(y, "float64")), x.dtype);
      return pow(x, isFloatDType(y.dtype) ? y : cast(y, "float32"));
    };
  },
  Abs: anyUnary(abs), Neg: anyUnary(neg), Sign: anyUnary(sign),
  Floor: anyUnary(floor), Ceil: anyUnary(ceil), Round: anyUnary(round),
  Max: nary(maximum), Min: nary(minimum), Sum: nary(add),
  Mean: nary(add, (acc, n) => div(acc, n)),
  Equal: binary(eq), Greater: binary(gt), Less: binary(lt), GreaterOrEqual: binary(ge), LessOrEqual: binary(le),
  Not: unary((x) => eq(x, 0)),
  And: (c) => logicBinary(c, (a, b) => mul(a, b)),
  Or: (c) => logicBinary(c, (a, b) => maximum(a, b)),
  Xor: (c) => logicBinary(c, (a, b) => ne(a, b)),
  Where: (c) => {
    need(c, 3);
    return (i) => where(get(i, 0), get(i, 1), get(i, 2));
  },
};
