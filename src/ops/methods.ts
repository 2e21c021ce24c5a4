/**
 * Installs the chainable Tensor methods (`x.add(y).relu().sum()`), each a thin call to the op
 * of the same name. Declaration merging gives them types.
 */
import type { DType } from "../tensor/dtype.js";
import type { Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
// The capturable ops (captured.ts), so that `x.add(y)` in a forward is seen by graph capture.
import * as c from "./captured.js";
import type { GeluApproximate } from "./nn-functional.js";
import type { ReduceOptions } from "./reduce.js";
import type { TensorLike } from "./util.js";

type Axes = number | readonly number[];

declare module "../tensor/tensor.js" {
  interface Tensor {
    add(o: TensorLike): Tensor;
    sub(o: TensorLike): Tensor;
    mul(o: TensorLike): Tensor;
    div(o: TensorLike): Tensor;
    pow(o: TensorLike): Tensor;
    maximum(o: TensorLike): Tensor;
    minimum(o: TensorLike): Tensor;
    gt(o: TensorLike): Tensor;
    ge(o: TensorLike): Tensor;
    lt(o: TensorLike): Tensor;
    le(o: TensorLike): Tensor;
    eq(o: TensorLike): Tensor;
    ne(o: TensorLike): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    round(): Tensor;
    floor(): Tensor;
    ceil(): Tensor;
    sign(): Tensor;
    square(): Tensor;
    clamp(min?: number, max?: number): Tensor;
    sum(axes?: Axes, opts?: ReduceOptions): Tensor;
    mean(axes?: Axes, opts?: ReduceOptions): Tensor;
    max(axes?: Axes, opts?: ReduceOptions): Tensor;
    min(axes?: Axes, opts?: ReduceOptions): Tensor;
    var(axes?: Axes, opts?: ReduceOptions & { correction?: number }): Tensor;
    argmax(axis?: number, opts?: ReduceOptions): Tensor;
    argmin(axis?: number, opts?: ReduceOptions): Tensor;
    reshape(shape: readonly number[]): Tensor;
    view(shape: readonly number[]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    squeeze(axis?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    permute(dims: readonly number[]): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    /** Transpose of a 2-D tensor. */
    t(): Tensor;
    broadcastTo(shape: Shape): Tensor;
    matmul(o: Tensor): Tensor;
    to(dtype: DType): Tensor;
    erf(): Tensor;
    gelu(approximate?: GeluApproximate): Tensor;
    softmax(axis?: number): Tensor;
  }
}

const P = Tensor.prototype;
const binaries = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "gt", "ge", "lt", "le", "eq", "ne"] as const;
for (const name of binaries) {
  const fn = c[name];
  P[name] = function (this: Tensor, o: TensorLike) {
    return fn(this, o);
  };
}
const unaries = ["neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "round", "floor", "ceil", "sign", "square"] as const;
for (const name of unaries) {
  const fn = c[name];
  P[name] = function (this: Tensor) {
    return fn(this);
  };
}
P.clamp = function (this: Tensor, lo?: number, hi?: number) {
  return c.clamp(this, lo, hi);
};
P.sum = function (this: Tensor, axes?: Axes, opts?: ReduceOptions) {
  return c.sum(this, axes, opts);
};
P.mean = function (this: Tensor, axes?: Axes, opts?: ReduceOptions) {
  return c.mean(this, axes, opts);
};
P.max = function (this: Tensor, axes?: Axes, opts?: ReduceOptions) {
  return c.max(this, axes, opts);
};
P.min = function (this: Tensor, axes?: Axes, opts?: ReduceOptions) {
  return c.min(this, axes, opts);
};
P.var = function (this: Tensor, axes?: Axes, opts?: ReduceOptions & { correction?: number }) {
  return c.variance(this, axes, opts);
};
P.argmax = function (this: Tensor, axis?: number, opts?: ReduceOptions) {
  return c.argmax(this, axis, opts);
};
P.argmin = function (this: Tensor, axis?: number, opts?: ReduceOptions) {
  return c.argmin(this, axis, opts);
};
P.reshape = function (this: Tensor, shape: readonly number[]) {
  return c.reshape(this, shape);
};
P.view = P.reshape;
P.flatten = function (this: Tensor, s?: number, e?: number) {
  return c.flatten(this, s, e);
};
P.squeeze = function (this: Tensor, axis?: number) {
  return c.squeeze(this, axis);
};
P.unsqueeze = function (this: Tensor, axis: number) {
  return c.unsqueeze(this, axis);
};
P.permute = function (this: Tensor, dims: readonly number[]) {
  return c.permute(this, dims);
};
P.transpose = function (this: Tensor, d0: number, d1: number) {
  return c.transpose(this, d0, d1);
};
P.t = function (this: Tensor) {
  return c.transpose(this, 0, 1);
};
P.broadcastTo = function (this: Tensor, shape: Shape) {
  return c.broadcastTo(this, shape);
};
P.matmul = function (this: Tensor, o: Tensor) {
  return c.matmul(this, o);
};
P.to = function (this: Tensor, dtype: DType) {
  return c.cast(this, dtype);
};
P.erf = function (this: Tensor) {
  return c.erf(this);
};
P.gelu = function (this: Tensor, approximate?: GeluApproximate) {
  return c.gelu(this, approximate);
};
P.softmax = function (this: Tensor, axis?: number) {
  return c.softmax(this, axis);
};
