/**
 * Validation rules of the nodes that move bytes or compare and average integers on a grid
 * (./graph.ts MaxMinNode, MeanNode, PadNode, ExpandNode, ResizeNode): attributes, tensor
 * references and the shape each produces. Entries of RULES in ./validate.ts.
 */
import type { MaxMinNode } from "./graph.js";
import { type Rule, type RuleContext, type Shape, broadcast, clampOf, dtypeRange, fmt, isInt, multiplierPair, sameDType } from "./validate-helpers.js";

const size = (s: Shape) => s.reduce((a, b) => a * b, 1);

function maxmin(c: RuleContext<MaxMinNode>): Shape {
  const n = c.node;
  if (!Array.isArray(n.multipliers) || n.multipliers.length !== c.inputs.length) c.fail("multipliers", `must have one entry per input (${c.inputs.length}), got ${fmt(n.multipliers)}`);
  n.multipliers.forEach((m, i) => m !== null && multiplierPair(c, `multipliers[${i}]`, m));
  clampOf(c, n.clamp);
  let shape = c.inputs.slice(1).reduce((s, v) => broadcast(c, s, v.shape), [...c.inputs[0].shape]);
  if (n.constant !== undefined) {
    const cs = n.constShape ?? [];
    if (!Array.isArray(n.constShape) || !cs.every((d) => isInt(d) && d >= 1)) c.fail("constShape", `must be the constant's dims, got ${fmt(n.constShape)}`);
    const t = c.tensor("constant", n.constant, "int32", size(cs));
    const [lo, hi] = dtypeRange(c.output.q.dtype);
    if (t.some((v) => v < lo || v > hi)) c.fail("constant", `holds values outside the ${c.output.q.dtype} range`);
    shape = broadcast(c, shape, cs);
  } else if (c.inputs.length < 2) c.fail("inputs", "needs two inputs, or one and a constant");
  return shape;
}

export const maximumRule: Rule<"maximum"> = (c) => maxmin(c);
export const minimumRule: Rule<"minimum"> = (c) => maxmin(c);

export const meanRule: Rule<"mean"> = (c) => {
  const n = c.node;
  const s = c.inputs[0].shape;
  const ok = Array.isArray(n.axes) && n.axes.length > 0 && n.axes.every((a, i) => isInt(a) && a >= 1 && a < s.length && (i === 0 || a > n.axes[i - 1]));
  if (!ok) c.fail("axes", `must be increasing non-batch axes in [1, ${s.length}), got ${fmt(n.axes)}`);
  if (n.axes.some((a) => s[a] < 1)) c.fail("axes", `reduce a dim of unknown size in [${s.join(", ")}]`);
  if (typeof n.keepdims !== "boolean") c.fail("keepdims", `must be a boolean, got ${fmt(n.keepdims)}`);
  multiplierPair(c, "multiplier", n.multiplier);
  clampOf(c, n.clamp);
  return n.keepdims ? s.map((d, i) => (n.axes.includes(i) ? 1 : d)) : s.filter((_, i) => !n.axes.includes(i));
};

export const padRule: Rule<"pad"> = (c) => {
  const n = c.node;
  const s = c.inputs[0].shape;
  const r = s.length;
  if (!Array.isArray(n.pads) || n.pads.length !== 2 * r || !n.pads.every((p) => isInt(p) && p >= 0)) c.fail("pads", `must be ${2 * r} non-negative integers, got ${fmt(n.pads)}`);
  if (n.pads[0] !== 0 || n.pads[r] !== 0) c.fail("pads", `must not pad the batch dim, got ${fmt(n.pads)}`);
  if (!["constant", "edge", "reflect"].includes(n.mode)) c.fail("mode", `must be constant, edge or reflect, got ${fmt(n.mode)}`);
  const [lo, hi] = dtypeRange(c.output.q.dtype);
  if (!isInt(n.value) || n.value < lo || n.value > hi) c.fail("value", `must be an integer in [${lo}, ${hi}], got ${fmt(n.value)}`);
  if (n.mode === "reflect" && s.some((d, i) => d >= 1 && (n.pads[i] > d - 1 || n.pads[i + r] > d - 1) && d > 1)) c.fail("pads", `reflect pads must be smaller than the dim, got ${fmt(n.pads)} for [${s.join(", ")}]`);
  sameDType(c);
  return s.map((d, i) => (d < 0 ? -1 : d + n.pads[i] + n.pads[i + r]));
};

export const expandRule: Rule<"expand"> = (c) => {
  const n = c.node;
  if (!Array.isArray(n.shape) || n.shape.length !== c.inputs[0].shape.length || n.shape[0] !== -1 || !n.shape.slice(1).every((d) => isInt(d) && d >= 1)) {
    c.fail("shape", `must be the output dims (batch −1) at the input's rank, got ${fmt(n.shape)}`);
  }
  const out = broadcast(c, c.inputs[0].shape, n.shape);
  if (out.some((d, i) => d >= 0 && n.shape[i] >= 0 && d !== n.shape[i])) c.fail("shape", `[${c.inputs[0].shape.join(", ")}] does not broadcast to ${fmt(n.shape)}`);
  sameDType(c);
  return out;
};

export const resizeRule: Rule<"resize"> = (c) => {
  const n = c.node;
  const s = c.inputs[0].shape;
  const out = c.output.shape;
  if (out.length !== s.length) c.fail("output", `has rank ${out.length}, the input ${s.length}`);
  if (!Array.isArray(n.scales) || n.scales.length !== s.length || !n.scales.every((x) => typeof x === "number" && x > 0 && Number.isFinite(x)) || n.scales[0] !== 1) {
    c.fail("scales", `must be ${s.length} positive numbers, 1 for the batch, got ${fmt(n.scales)}`);
  }
  if (n.sizes !== undefined && typeof n.sizes !== "boolean") c.fail("sizes", `must be a boolean, got ${fmt(n.sizes)}`);
  if (typeof n.coordinateMode !== "string" || typeof n.nearestMode !== "string") c.fail("coordinateMode", "and nearestMode must be strings");
  if (s.slice(1).some((d) => d < 1) || out.slice(1).some((d) => d < 1)) c.fail("inputs", "need static non-batch dims");
  const t = c.tensor("index", n.index, "int32", size(out.slice(1)));
  const inner = size(s.slice(1));
  if (t.some((v) => v < 0 || v >= inner)) c.fail("index", `holds offsets outside [0, ${inner})`);
  sameDType(c);
  return [s[0], ...out.slice(1)];
};
