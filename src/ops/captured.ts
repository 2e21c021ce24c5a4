/**
 * The public ops as graph capture sees them: each is the op of the same name in its family
 * file, wrapped by `capturable` so that, while src/graph/capture.ts listens, a call from user
 * code (a forward method, a Tensor method) becomes one `call_function` graph node. `OPS` maps
 * each node target back to the unwrapped op, which is what a GraphModule calls on replay.
 * The package root and the Tensor methods export these; op files call each other directly
 * (not through here), so an op's internals never appear in a graph.
 * To add an op: write it in its family file, then add its name to the family list below.
 */
import { capturable } from "../tensor/capture-hook.js";
import * as u from "./unary.js";
import * as b from "./binary.js";
import * as r from "./reduce.js";
import * as l from "./layout.js";
import * as mm from "./matmul.js";
import * as cv from "./conv.js";
import * as pl from "./pool.js";
import * as bn from "./batchnorm.js";
import * as sm from "./softmax.js";
import * as ls from "./loss.js";
import * as dr from "./dropout.js";
import * as ca from "./channel-affine.js";
import * as nf from "./nn-functional.js";

/** Every capturable op by graph target name (the unwrapped function). */
export const OPS = {
  neg: u.neg, exp: u.exp, log: u.log, sqrt: u.sqrt, abs: u.abs, relu: u.relu, sigmoid: u.sigmoid, tanh: u.tanh, round: u.round, floor: u.floor, ceil: u.ceil, sign: u.sign, reciprocal: u.reciprocal, square: u.square, clamp: u.clamp, hardtanh: u.hardtanh, relu6: u.relu6,
  add: b.add, sub: b.sub, mul: b.mul, div: b.div, pow: b.pow, maximum: b.maximum, minimum: b.minimum, gt: b.gt, ge: b.ge, lt: b.lt, le: b.le, eq: b.eq, ne: b.ne, where: b.where,
  sum: r.sum, mean: r.mean, max: r.max, min: r.min, variance: r.variance, argmax: r.argmax, argmin: r.argmin, sumToShape: r.sumToShape,
  reshape: l.reshape, flatten: l.flatten, squeeze: l.squeeze, unsqueeze: l.unsqueeze, permute: l.permute, transpose: l.transpose, broadcastTo: l.broadcastTo, concat: l.concat, stack: l.stack, pad: l.pad, slice: l.slice, cast: l.cast,
  matmul: mm.matmul, linear: mm.linear,
  conv2d: cv.conv2d,
  maxPool2d: pl.maxPool2d, avgPool2d: pl.avgPool2d, adaptiveAvgPool2d: pl.adaptiveAvgPool2d,
  batchNorm: bn.batchNorm,
  softmax: sm.softmax, logSoftmax: sm.logSoftmax,
  nllLoss: ls.nllLoss, crossEntropy: ls.crossEntropy, mseLoss: ls.mseLoss,
  dropout: dr.dropout,
  channelAffine: ca.channelAffine,
  erf: nf.erf, gelu: nf.gelu, layerNorm: nf.layerNorm, embedding: nf.embedding,
} as const;

/** A graph node target: the name of a capturable op. */
export type OpTarget = keyof typeof OPS;

/** True if `name` is a capturable op. */
export function isOpTarget(name: string): name is OpTarget {
  return Object.prototype.hasOwnProperty.call(OPS, name);
}

export const neg = capturable("neg", u.neg);
export const exp = capturable("exp", u.exp);
export const log = capturable("log", u.log);
export const sqrt = capturable("sqrt", u.sqrt);
export const abs = capturable("abs", u.abs);
export const relu = capturable("relu", u.relu);
export const sigmoid = capturable("sigmoid", u.sigmoid);
export const tanh = capturable("tanh", u.tanh);
export const round = capturable("round", u.round);
export const floor = capturable("floor", u.floor);
export const ceil = capturable("ceil", u.ceil);
export const sign = capturable("sign", u.sign);
export const reciprocal = capturable("reciprocal", u.reciprocal);
export const square = capturable("square", u.square);
export const clamp = capturable("clamp", u.clamp);
export const hardtanh = capturable("hardtanh", u.hardtanh);
export const relu6 = capturable("relu6", u.relu6);
export const add = capturable("add", b.add);
export const sub = capturable("sub", b.sub);
export const mul = capturable("mul", b.mul);
export const div = capturable("div", b.div);
export const pow = capturable("pow", b.pow);
export const maximum = capturable("maximum", b.maximum);
export const minimum = capturable("minimum", b.minimum);
export const gt = capturable("gt", b.gt);
export const ge = capturable("ge", b.ge);
export const lt = capturable("lt", b.lt);
export const le = capturable("le", b.le);
export const eq = capturable("eq", b.eq);
export const ne = capturable("ne", b.ne);
export const where = capturable("where", b.where);
export const sum = capturable("sum", r.sum);
export const mean = capturable("mean", r.mean);
export const max = capturable("max", r.max);
export const min = capturable("min", r.min);
export const variance = capturable("variance", r.variance);
export const argmax = capturable("argmax", r.argmax);
export const argmin = capturable("argmin", r.argmin);
export const sumToShape = capturable("sumToShape", r.sumToShape);
export const reshape = capturable("reshape", l.reshape);
export const flatten = capturable("flatten", l.flatten);
export const squeeze = capturable("squeeze", l.squeeze);
export const unsqueeze = capturable("unsqueeze", l.unsqueeze);
export const permute = capturable("permute", l.permute);
export const transpose = capturable("transpose", l.transpose);
export const broadcastTo = capturable("broadcastTo", l.broadcastTo);
export const concat = capturable("concat", l.concat);
export const stack = capturable("stack", l.stack);
export const pad = capturable("pad", l.pad);
export const slice = capturable("slice", l.slice);
export const cast = capturable("cast", l.cast);
export const matmul = capturable("matmul", mm.matmul);
export const linear = capturable("linear", mm.linear);
export const conv2d = capturable("conv2d", cv.conv2d);
export const maxPool2d = capturable("maxPool2d", pl.maxPool2d);
export const avgPool2d = capturable("avgPool2d", pl.avgPool2d);
export const adaptiveAvgPool2d = capturable("adaptiveAvgPool2d", pl.adaptiveAvgPool2d);
export const batchNorm = capturable("batchNorm", bn.batchNorm);
export const softmax = capturable("softmax", sm.softmax);
export const logSoftmax = capturable("logSoftmax", sm.logSoftmax);
export const nllLoss = capturable("nllLoss", ls.nllLoss);
export const crossEntropy = capturable("crossEntropy", ls.crossEntropy);
export const mseLoss = capturable("mseLoss", ls.mseLoss);
export const dropout = capturable("dropout", dr.dropout);
export const channelAffine = capturable("channelAffine", ca.channelAffine);
export const erf = capturable("erf", nf.erf);
export const gelu = capturable("gelu", nf.gelu);
export const layerNorm = capturable("layerNorm", nf.layerNorm);
export const embedding = capturable("embedding", nf.embedding);
