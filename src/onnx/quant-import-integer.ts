/**
 * Quantized import of the integer-only softmax and LayerNorm subgraphs that
 * export-integer-ops.ts writes (Cast of a quantized tensor to int64, integer ops, Cast back to
 * uint8 / int8): the nodes between the two Casts are collected, their constants read back into
 * a `softmax_int` / `layernorm_int` node (int8/graph-integer.ts) and checked against the
 * structure the exporter writes, so an export imports back bit-exact. The output's scale comes
 * from the DequantizeLinear or QLinear operator that reads it. Called by the Cast handler of
 * quant-import-ops.ts; returns false when the Cast does not start such a subgraph.
 */
import { FormatError, NotSupportedError } from "../tensor/errors.js";
import type { Int8Node } from "../int8/graph.js";
import { SOFTMAX_TABLE_SIZE } from "../int8/kernels/softmax-int.js";
import type { IrNode } from "./graph.js";
import { actParams } from "./quant-import-consts.js";
import { type QuantImporter, where } from "./quant-import-state.js";
import { DataType } from "./proto.js";

/** The nodes after `start` up to the Cast back to 8 bits: every node whose non-constant inputs come from the subgraph. */
function collect(imp: QuantImporter, start: IrNode): { nodes: IrNode[]; exit: IrNode } | null {
  const inside = new Set<string>([start.outputs[0]]);
  const nodes: IrNode[] = [];
  let exit: IrNode | null = null;
  const queue = [...(imp.g.consumers.get(start.outputs[0]) ?? [])];
  const seen = new Set<number>();
  while (queue.length) {
    const i = queue.shift()!;
    if (seen.has(i)) continue;
    const n = imp.g.nodes[i];
    if (!n.inputs.every((x) => x === "" || inside.has(x) || imp.consts.has(x))) continue; // waits for its other inputs
    seen.add(i);
    nodes.push(n);
    const to = n.opType === "Cast" ? n.attrs.int("to", 0) : -1;
    if (to === DataType.UINT8 || to === DataType.INT8) {
      if (exit) return null;
      exit = n;
      continue;
    }
    for (const o of n.outputs) inside.add(o);
    for (const o of n.outputs) queue.push(...(imp.g.consumers.get(o) ?? []));
    if (nodes.length > 64) return null;
  }
  return exit ? { nodes, exit } : null;
}

/** Ops that move a quantized tensor's bytes and keep its parameters. */
const PASS = new Set(["Reshape", "Transpose", "Slice", "Flatten", "Squeeze", "Unsqueeze", "Identity", "MaxPool", "Split", "Expand", "Pad"]);

/** The first DequantizeLinear / QLinear operator reading `y` (through byte-moving ops), with the input index it reads it at. */
function readerOf(imp: QuantImporter, y: string): { reader: IrNode; k: number } | null {
  const queue = [y];
  for (let steps = 0; queue.length && steps < 64; steps++) {
    const t = queue.shift()!;
    for (const i of imp.g.consumers.get(t) ?? []) {
      const m = imp.g.nodes[i];
      if (m.opType === "DequantizeLinear" || m.opType.startsWith("QLinear") || m.opType === "QGemm") return { reader: m, k: m.inputs.indexOf(t) };
      if (PASS.has(m.opType) && m.inputs[0] === t) queue.push(...m.outputs);
    }
  }
  return null;
}

/** The values of an INT64 initializer read in full (the general reader keeps to the int32 range); null for any other constant. */
function int64Values(imp: QuantImporter, name: string): number[] | null {
  const proto = imp.g.initializers.get(name);
  if (!proto || proto.dataType !== DataType.INT64 || !proto.rawData) return null;
  const raw = proto.rawData;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(8 * i, true)));
}

/** Imports the subgraph starting at Cast `n` (of a quantized tensor to int64); false if it is not one. */
export function importIntegerSubgraph(imp: QuantImporter, n: IrNode): boolean {
  if (n.attrs.int("to", 0) !== DataType.INT64) return false;
  const x = imp.int(n.inputs[0], n);
  const found = collect(imp, n);
  if (!found) return false;
  const { nodes, exit } = found;
  const types = nodes.map((m) => m.opType);
  const kind = types.includes("Gather") ? "softmax_int" : types.includes("Sqrt") ? "layernorm_int" : null;
  if (!kind) return false;
  const bad = (why: string): never => {
    throw new FormatError(`${where(n)}: the integer ${kind === "softmax_int" ? "softmax" : "LayerNorm"} subgraph ${why}`);
  };
  const producer = new Map(nodes.flatMap((m) => m.outputs.map((o) => [o, m] as const)));
  const constOf = (m: IrNode, what: string): number[] => {
    const c = m.inputs.find((i) => imp.consts.has(i));
    if (c === undefined) return bad(`has no constant in its ${m.opType} (${what})`);
    return int64Values(imp, c) ?? Array.from(imp.consts.get(c)!.data as ArrayLike<number>, Number);
  };
  const scalar = (m: IrNode, what: string): number => {
    const v = constOf(m, what);
    if (v.length !== 1) bad(`${what} is not a scalar`);
    return v[0];
  };
  /** The op reading `from` (inside the subgraph) with a constant other input. */
  const next = (from: string, op: string): IrNode => nodes.find((m) => m.opType === op && m.inputs.includes(from) && m.inputs.some((i) => imp.consts.has(i))) ?? bad(`lacks ${op}(${from}, constant)`);
  const log2 = (v: number, what: string): number => {
    const k = Math.log2(v);
    if (!Number.isInteger(k)) bad(`${what} ${v} is not a power of two`);
    return k;
  };
  // the output: Min(Max(Add(q, Z_y), lo), hi) → Cast; its scale from the reader of the 8-bit result
  const minNode = producer.get(exit.inputs[0]);
  const maxNode = minNode?.opType === "Min" ? producer.get(minNode.inputs[0]) : undefined;
  const addZp = maxNode?.opType === "Max" ? producer.get(maxNode.inputs[0]) : undefined;
  if (!minNode || !maxNode || addZp?.opType !== "Add") return bad("does not end in Add(zero point) → Max → Min → Cast");
  const clamp: [number, number] = [scalar(maxNode, "clamp min"), scalar(minNode, "clamp max")];
  const zp = scalar(addZp, "zero point");
  const y = exit.outputs[0];
  const found2 = readerOf(imp, y);
  if (!found2) throw new NotSupportedError(`${where(exit)}: the integer result is read by no DequantizeLinear or QLinear operator, so its scale is unknown`);
  const { reader, k } = found2;
  const p = actParams(imp.consts, reader.inputs[k + 1], reader.inputs[k + 2], where(reader));
  const dtype = exit.attrs.int("to", 0) === DataType.UINT8 ? "uint8" : "int8";
  if (p.dtype !== dtype || p.zeroPoint !== zp) bad(`writes ${dtype} with zero point ${zp}, but '${reader.name}' reads ${p.dtype} with ${p.zeroPoint}`);
  const name = imp.nodeName(exit.name.replace(/\/Cast_out$/, "") || `IntegerOp_${n.index}`);
  const out = imp.newValue(x.shape, { scale: Math.fround(p.scale), zeroPoint: zp, dtype, qmin: clamp[0], qmax: clamp[1] }, name);
  let node: Int8Node;
  if (kind === "softmax_int") {
    const gather = nodes.find((m) => m.opType === "Gather")!;
    const table = Int32Array.from(constOf(gather, "exp table"));
    if (table.length !== SOFTMAX_TABLE_SIZE) bad(`has an exp table of ${table.length} entries, expected ${SOFTMAX_TABLE_SIZE}`);
    const twoR = scalar(next(gather.outputs[0], "Mul"), "2·R");
    const sum = nodes.find((m) => m.opType === "ReduceSum" && m.inputs[0] === gather.outputs[0]) ?? bad("lacks the ReduceSum of the table entries");
    const twoPowR = scalar(next(next(sum.outputs[0], "Max").outputs[0], "Mul"), "2^r");
    node = { op: "softmax_int", name, inputs: [x.id], output: out.id, table: imp.tensor(`${name}.table`, table), frac: log2(table[0], "table[0]"), outMultiplier: [twoR / 2, log2(twoPowR, "2^r")], clamp };
    const offset = nodes.find((m) => m.opType === "Sub" && m.inputs[0] === n.outputs[0] && imp.consts.has(m.inputs[1]));
    if (offset) {
      const dims = imp.g.initializers.get(offset.inputs[1])?.dims ?? imp.consts.get(offset.inputs[1])!.shape;
      node.mask = { tensor: imp.tensor(`${name}.mask`, Int32Array.from(constOf(offset, "mask"), (v) => (v ? 1 : 0))), shape: dims.map(Number) };
    }
  } else {
    const rowLen = scalar(next(n.outputs[0], "Mul"), "n");
    const d = nodes.find((m) => m.opType === "Sub" && producer.get(m.inputs[0])?.opType === "Mul" && producer.get(m.inputs[0])!.inputs[0] === n.outputs[0]) ?? bad("lacks d = n·q − Σq");
    // W = (V·4^p + c) / n: the Div whose numerator is an Add
    const epsAdd = nodes.map((m) => (m.opType === "Div" ? producer.get(m.inputs[0]) : undefined)).find((m) => m?.opType === "Add") ?? bad("lacks W = (V·4^p + c) / n");
    const fourP = producer.get(epsAdd.inputs[0]) ?? bad("lacks V·4^p");
    const twoP = next(d.outputs[0], "Mul");
    const gammaMul = next(twoP.outputs[0], "Mul");
    const sigma = nodes.find((m) => m.opType === "Max" && producer.get(m.inputs[0])?.opType === "Cast") ?? bad("lacks σ = max(1, ⌊√W⌋)");
    const betaMul = nodes.find((m) => m.opType === "Mul" && m.inputs.includes(sigma.outputs[0]) && imp.consts.get(m.inputs.find((i) => imp.consts.has(i)) ?? "")?.size === rowLen) ?? bad("lacks B·σ");
    const twoG = nodes.find((m) => m.opType === "Mul" && m !== betaMul && m.inputs.includes(sigma.outputs[0])) ?? bad("lacks σ·2^g");
    const p4 = log2(scalar(fourP, "4^p"), "4^p");
    if (p4 % 2 !== 0 || p4 / 2 !== log2(scalar(twoP, "2^p"), "2^p")) bad("has 4^p and 2^p that disagree");
    const gamma = Int32Array.from(constOf(gammaMul, "γ"));
    const beta = Int32Array.from(constOf(betaMul, "β"));
    node = {
      op: "layernorm_int", name, inputs: [x.id], output: out.id, p: p4 / 2, epsTerm: scalar(epsAdd, "eps term"), g: log2(scalar(twoG, "2^g"), "2^g"),
      gamma: imp.tensor(`${name}.gamma`, gamma), beta: imp.tensor(`${name}.beta`, beta), clamp,
    };
  }
  imp.nodes.push(node);
  imp.ints.set(y, out);
  for (const m of nodes) imp.done.add(imp.g.nodes.indexOf(m)); // the walk's index (nodes are sorted), not the file position
  return true;
}
