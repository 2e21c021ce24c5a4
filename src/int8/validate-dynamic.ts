/**
 * Validation rules of the dynamic nodes (dynamic_linear, linear_nbits; ./graph-dynamic.ts;
 * dynamic_lstm / dynamic_gru, ./graph-rnn.ts):
 * shapes, float32-bits tensors finite (scales positive), codes and zero points in range, the
 * run-time activation spec, float input and output values. Entries of RULES in ./validate.ts.
 */
import type { DynamicLinearNode, LinearNBitsNode } from "./graph-dynamic.js";
import { type DynamicRnnNode, rnnGates } from "./graph-rnn.js";
import type { RuleContext as Ctx } from "./validate-helpers.js";


const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const fmt = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

/** A float32 tensor stored as bits in an int32 tensor: every value finite (and > 0 when `positive`). */
function floatBits(c: Ctx<unknown>, field: string, key: unknown, length: number | [number, number], positive: boolean): void {
  const t = c.tensor(field, key, "int32") as Int32Array;
  const ok = Array.isArray(length) ? length.includes(t.length) : t.length === length;
  if (!ok) c.fail(field, `tensor '${String(key)}' has ${t.length} elements, expected ${Array.isArray(length) ? length.join(" or ") : length}`);
  const f = new Float32Array(t.buffer, t.byteOffset, t.length);
  const bad = f.findIndex((v) => !Number.isFinite(v) || (positive && !(v > 0)));
  if (bad >= 0) c.fail(field, `element ${bad} = ${f[bad]} must be ${positive ? "positive and " : ""}finite`);
}

/** The shared checks of dynamic_linear / linear_nbits; returns [N, K] and the output shape. */
function dynamicCommon(c: Ctx<DynamicLinearNode | LinearNBitsNode>): { n: number; k: number; out: number[] } {
  const node = c.node;
  if (!Array.isArray(node.wShape) || node.wShape.length !== 2 || !node.wShape.every((d) => isInt(d) && d >= 1)) c.fail("wShape", `must be two positive integers [N, K], got ${fmt(node.wShape)}`);
  const [n, k] = node.wShape;
  const act = node.act;
  const actOk = (a: unknown) => a !== null && typeof a === "object" && ["per_tensor", "per_token"].includes((a as { granularity?: string }).granularity ?? "") && ["uint8", "int8"].includes((a as { dtype?: string }).dtype ?? "");
  if (!(act === null && node.op === "linear_nbits") && !actOk(act)) c.fail("act", `must be { granularity: "per_tensor" | "per_token", dtype: "uint8" | "int8" }${node.op === "linear_nbits" ? " or null" : ""}, got ${fmt(act)}`);
  if (node.bias !== null) floatBits(c, "bias", node.bias, n, false);
  if (!c.inputs[0].float) c.fail("inputs[0]", `value '${c.inputs[0].id}' must be a float value (this node quantizes its input at run time)`);
  if (!c.output.float) c.fail("output", `value '${c.output.id}' must be a float value`);
  const s = c.inputs[0].shape;
  if (s.length < 1 || (s[s.length - 1] >= 0 && s[s.length - 1] !== k)) c.fail("wShape", `[${n}, ${k}] needs ${k} input features, the input is [${s.join(", ")}]`);
  return { n, k, out: [...s.slice(0, -1), n] };
}

export const dynamicLinear = (c: Ctx<DynamicLinearNode>): number[] => {
  const node = c.node;
  const { n, k, out } = dynamicCommon(c);
  c.tensor("wInt8", node.wInt8, "int8", n * k);
  floatBits(c, "wScales", node.wScales, [n, 1], true);
  if (node.wZeroPoints !== undefined) {
    const z = c.tensor("wZeroPoints", node.wZeroPoints, "int32", n);
    if (z.some((v) => v < -128 || v > 127)) c.fail("wZeroPoints", "must lie in the int8 range [−128, 127]");
  }
  if (!isInt(node.weightBits) || node.weightBits < 2 || node.weightBits > 8) c.fail("weightBits", `must be an integer in [2, 8], got ${fmt(node.weightBits)}`);
  return out;
};

export const linearNBits = (c: Ctx<LinearNBitsNode>): number[] => {
  const node = c.node;
  const { n, k, out } = dynamicCommon(c);
  if (![2, 4, 8].includes(node.bits)) c.fail("bits", `must be 2, 4 or 8, got ${fmt(node.bits)}`);
  if (!isInt(node.blockSize) || node.blockSize < 1 || (node.blockSize * node.bits) % 8 !== 0) c.fail("blockSize", `must be a positive integer whose blocks fill whole bytes at ${node.bits} bits, got ${fmt(node.blockSize)}`);
  const blocks = Math.ceil(k / node.blockSize);
  c.tensor("wPacked", node.wPacked, "int8", (n * blocks * node.blockSize * node.bits) / 8);
  floatBits(c, "scales", node.scales, n * blocks, true);
  if (node.zeroPoints !== null) {
    const z = c.tensor("zeroPoints", node.zeroPoints, "int32", n * blocks);
    if (z.some((v) => v < 0 || v >= 2 ** node.bits)) c.fail("zeroPoints", `must lie in [0, ${2 ** node.bits - 1}]`);
  }
  return out;
};

/**
 * dynamic_lstm / dynamic_gru (./graph-rnn.ts): sizes, one cell per layer and direction with
 * int8 weights of the right lengths, positive finite scales (per row or per tensor), finite
 * biases, the run-time activation spec, a float [T, B, I] input; the output is [T, B, D·H].
 */
export const dynamicRnn = (c: Ctx<DynamicRnnNode>): number[] => {
  const node = c.node;
  for (const f of ["inputSize", "hiddenSize", "numLayers"] as const) if (!isInt(node[f]) || node[f] < 1) c.fail(f, `must be a positive integer, got ${fmt(node[f])}`);
  for (const f of ["bidirectional", "batchFirst"] as const) if (typeof node[f] !== "boolean") c.fail(f, `must be a boolean, got ${fmt(node[f])}`);
  const act = node.act as unknown;
  if (act === null || typeof act !== "object" || !["per_tensor", "per_token"].includes((act as { granularity?: string }).granularity ?? "") || !["uint8", "int8"].includes((act as { dtype?: string }).dtype ?? "")) {
    c.fail("act", `must be { granularity: "per_tensor" | "per_token", dtype: "uint8" | "int8" }, got ${fmt(act)}`);
  }
  if (node.weightBits !== 8) c.fail("weightBits", `must be 8, got ${fmt(node.weightBits)}`);
  const D = node.bidirectional ? 2 : 1;
  const G = rnnGates(node);
  const H = node.hiddenSize;
  if (!Array.isArray(node.cells) || node.cells.length !== node.numLayers * D) c.fail("cells", `must list ${node.numLayers * D} cells (layers × directions), got ${fmt(Array.isArray(node.cells) ? node.cells.length : node.cells)}`);
  node.cells.forEach((cell, k) => {
    const at = `cells[${k}]`;
    if (cell === null || typeof cell !== "object") c.fail(at, `must be an object, got ${fmt(cell)}`);
    const inF = k < D ? node.inputSize : D * H;
    c.tensor(`${at}.wIh`, cell.wIh, "int8", G * H * inF);
    c.tensor(`${at}.wHh`, cell.wHh, "int8", G * H * H);
    floatBits(c, `${at}.wIhScales`, cell.wIhScales, [G * H, 1], true);
    floatBits(c, `${at}.wHhScales`, cell.wHhScales, [G * H, 1], true);
    if (cell.bIh !== null) floatBits(c, `${at}.bIh`, cell.bIh, G * H, false);
    if (cell.bHh !== null) floatBits(c, `${at}.bHh`, cell.bHh, G * H, false);
  });
  if (!c.inputs[0].float) c.fail("inputs[0]", `value '${c.inputs[0].id}' must be a float value (this node quantizes its input at run time)`);
  if (!c.output.float) c.fail("output", `value '${c.output.id}' must be a float value`);
  const s = c.inputs[0].shape;
  if (s.length !== 3 || (s[2] >= 0 && s[2] !== node.inputSize)) c.fail("inputSize", `${node.inputSize} needs input [${node.batchFirst ? "B, T" : "T, B"}, ${node.inputSize}], the input is [${s.join(", ")}]`);
  return [s[0], s[1], D * H];
};
