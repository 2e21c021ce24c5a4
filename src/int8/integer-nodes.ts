/**
 * Int8Model's execution and validation of the integer-only softmax and LayerNorm nodes
 * (./graph-integer.ts): reads the node's tensors and calls its kernel
 * (kernels/softmax-int.ts, kernels/layernorm-int.ts); the validation rules are entries of
 * RULES in ./validate.ts. Called by ./model.ts exec and ./validate.ts.
 */
import type { QParams } from "./graph.js";
import type { IntegerNode, LayerNormIntNode, SoftmaxIntNode } from "./graph-integer.js";
import type { QuantResult } from "./kernels/common.js";
import { SOFTMAX_TABLE_SIZE, qsoftmaxInt } from "./kernels/softmax-int.js";
import { LAYERNORM_MAX_N, qlayerNormInt } from "./kernels/layernorm-int.js";
import type { RuleContext as Ctx } from "./validate-helpers.js";

export function runIntegerNode(node: IntegerNode, x: QuantResult, yq: QParams, tensors: ReadonlyMap<string, Int8Array | Int32Array>): QuantResult {
  const t = (k: string) => tensors.get(k) as Int32Array;
  const out = { yZp: yq.zeroPoint, outDType: yq.dtype, clampMin: node.clamp[0], clampMax: node.clamp[1] };
  if (node.op === "softmax_int") return qsoftmaxInt({ x: x.data, shape: x.shape, table: t(node.table), outMultiplier: node.outMultiplier, mask: node.mask ? t(node.mask.tensor) : undefined, ...out });
  return qlayerNormInt({ x: x.data, shape: x.shape, p: node.p, epsTerm: node.epsTerm, g: node.g, gamma: t(node.gamma), beta: t(node.beta), ...out });
}


const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
const fmt = (v: unknown): string => JSON.stringify(v) ?? String(v);

function common(c: Ctx<IntegerNode>): number {
  const s = c.inputs[0].shape;
  const n = s[s.length - 1];
  if (s.length < 2 || !(n >= 1)) c.fail("inputs[0]", `value '${c.inputs[0].id}' has shape [${s.join(", ")}]; the row (last) dim must be known`);
  const [lo, hi] = c.output.q.dtype === "uint8" ? [0, 255] : [-128, 127];
  const cl = c.node.clamp;
  if (!Array.isArray(cl) || cl.length !== 2 || !isInt(cl[0]) || !isInt(cl[1]) || cl[0] < lo || cl[0] > cl[1] || cl[1] > hi) c.fail("clamp", `must be [lo, hi] inside the ${c.output.q.dtype} range, got ${fmt(cl)}`);
  return n;
}

export function softmaxIntRule(c: Ctx<SoftmaxIntNode>): number[] {
  const n = c.node;
  const rowLen = common(c);
  const table = c.tensor("table", n.table, "int32", SOFTMAX_TABLE_SIZE);
  if (!isInt(n.frac) || n.frac < 0 || n.frac > 30) c.fail("frac", `must be an integer in [0, 30], got ${fmt(n.frac)}`);
  if (table[SOFTMAX_TABLE_SIZE - 1] !== 0 || table.some((v, i) => v < 0 || v > 2 ** n.frac || (i > 0 && v > table[i - 1]))) c.fail("table", `must fall from at most 2^frac to 0 (its last entry)`);
  const m = n.outMultiplier;
  if (!Array.isArray(m) || m.length !== 2 || !isInt(m[0]) || !isInt(m[1]) || m[0] < 1 || m[1] < 0 || m[1] > 52) c.fail("outMultiplier", `must be [R ≥ 1, r ∈ [0, 52]], got ${fmt(m)}`);
  // every intermediate below 2^53 (kernels/softmax-int.ts)
  if (!(2 * rowLen * 2 ** (n.frac + m[1]) < 2 ** 53 && 2 * 2 ** n.frac * m[0] + rowLen * 2 ** (n.frac + m[1]) < 2 ** 53)) c.fail("outMultiplier", `${fmt(m)} with frac ${n.frac} and rows of ${rowLen} passes 2^53`);
  if (n.mask !== undefined) {
    const s = c.inputs[0].shape;
    const ms = n.mask?.shape;
    if (!Array.isArray(ms) || ms.length === 0 || ms.length >= s.length || ms.join() !== s.slice(s.length - ms.length).join()) c.fail("mask.shape", `must be the input's trailing dims, got ${fmt(ms)}`);
    const t = c.tensor("mask.tensor", n.mask.tensor, "int32", ms.reduce((a, b) => a * b, 1));
    if (t.some((v) => v !== 0 && v !== 1)) c.fail("mask.tensor", "must hold 0 / 1");
  }
  return [...c.inputs[0].shape];
}

export function layerNormIntRule(c: Ctx<LayerNormIntNode>): number[] {
  const n = c.node;
  const rowLen = common(c);
  if (rowLen > LAYERNORM_MAX_N) c.fail("inputs[0]", `rows of ${rowLen} exceed ${LAYERNORM_MAX_N}`);
  if (!isInt(n.p) || n.p < 0 || n.p > 16) c.fail("p", `must be an integer in [0, 16], got ${fmt(n.p)}`);
  if (!isInt(n.g) || n.g < 0 || n.g > 30) c.fail("g", `must be an integer in [0, 30], got ${fmt(n.g)}`);
  if (!isInt(n.epsTerm) || n.epsTerm < 0) c.fail("epsTerm", `must be a non-negative integer below 2^53, got ${fmt(n.epsTerm)}`);
  const gamma = c.tensor("gamma", n.gamma, "int32", rowLen);
  const beta = c.tensor("beta", n.beta, "int32", rowLen);
  // the bounds layerNormIntParams chose by: W < 2^52 (exact √), n·W < 2^62, |2·num| + den < 2^53
  const wMax = rowLen * rowLen * 4 ** n.p * 16257 + n.epsTerm / rowLen + 1;
  if (!(wMax < 2 ** 52 && rowLen * wMax < 2 ** 62)) c.fail("p", `${n.p} with eps term ${n.epsTerm} lets W pass 2^52`);
  let big = 0;
  for (let i = 0; i < rowLen; i++) big = Math.max(big, Math.abs(gamma[i]) * rowLen * 255 * 2 ** n.p + Math.abs(beta[i]) * Math.sqrt(wMax));
  if (!(2 * big + Math.sqrt(wMax) * 2 ** n.g < 2 ** 53)) c.fail("gamma", `with p ${n.p} and g ${n.g} lets the numerator pass 2^53`);
  return [...c.inputs[0].shape];
}
