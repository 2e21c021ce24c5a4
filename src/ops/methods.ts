/**
 * Installs the chainable Tensor methods (`x.add(y).relu().sum()`), each a thin call to the op
 * of the same name. Declaration merging gives them types.
 */
import type { DType } from "../tensor/dtype.js";
import type { Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import * as b from "./binary.js";
import * as l from "./layout.js";
import * as m from "./matmul.js";
import * as r from "./reduce.js";
import * as u from "./unary.js";
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
    sum(axes?: Axes, opts?: r.ReduceOptions): Tensor;
    mean(axes?: Axes, opts?: r.ReduceOptions): Tensor;
    max(axes?: Axes, opts?: r.ReduceOptions): Tensor;
    min(axes?: Axes, opts?: r.ReduceOptions): Tensor;
    var(axes?: Axes, opts?: r.ReduceOptions & { correction?: number }): Tensor;
    argmax(axis?: number, opts?: r.ReduceOptions): Tensor;
    argmin(axis?: number, opts?: r.ReduceOptions): Tensor;
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
  }
}

const P = Tensor.prototype;
const binaries = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "gt", "ge", "lt", "le", "eq", "ne"] as const;
for (const name of binaries) {
  const fn = b[name];
  P[name] = function (this: Tensor, o: TensorLike) {
    return fn(this, o);
  };
}
const unaries = ["neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "round", "floor", "ceil", "sign", "square"] as const;
for (const name of unaries) {
  const fn = u[name];
  P[name] = function (this: Tensor) {
    return fn(this);
  };
}
P.clamp = function (this: Tensor, lo?: number, hi?: number) {
  return u.clamp(this, lo, hi);
};
P.sum = function (this: Tensor, axes?: Axes, opts?: r.ReduceOptions) {
  return r.sum(this, axes, opts);
};
P.mean = function (this: Tensor, axes?: Axes, opts?: r.ReduceOptions) {
  return r.mean(this, axes, opts);
};
P.max = function (this: Tensor, axes?: Axes, opts?: r.ReduceOptions) {
  return r.max(this, axes, opts);
};
P.min = function (this: Tensor, axes?: Axes, opts?: r.ReduceOptions) {
  return r.min(this, axes, opts);
};
P.var = function (this: Tensor, axes?: Axes, opts?: r.ReduceOptions & { correction?: number }) {
  return r.variance(this, axes, opts);
};
P.argmax = function (this: Tensor, axis?: number, opts?: r.ReduceOptions) {
  return r.argmax(this, axis, opts);
};
P.argmin = function (this: Tensor, axis?: number, opts?: r.ReduceOptions) {
  return r.argmin(this, axis, opts);
};
P.reshape = function (this: Tensor, shape: readonly number[]) {
  return l.reshape(this, shape);
};
P.view = P.reshape;
P.flatten = function (this: Tensor, s?: number, e?: number) {
  return l.flatten(this, s, e);
};
P.squeeze = function (this: Tensor, axis?: number) {
  return l.squeeze(this, axis);
};
P.unsqueeze = function (this: Tensor, axis: number) {
  return l.unsqueeze(this, axis);
};
P.permute = function (this: Tensor, dims: readonly number[]) {
  return l.permute(this, dims);
};
P.transpose = function (this: Tensor, d0: number, d1: number) {
  return l.transpose(this, d0, d1);
};
P.t = function (this: Tensor) {
  return l.transpose(this, 0, 1);
};
P.broadcastTo = function (this: Tensor, shape: Shape) {
  return l.broadcastTo(this, shape);
};
P.matmul = function (this: Tensor, o: Tensor) {
  return m.matmul(this, o);
};
P.to = function (this: Tensor, dtype: DType) {
  return l.cast(this, dtype);
};
