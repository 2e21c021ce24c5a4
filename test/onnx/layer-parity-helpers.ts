/**
 * Layer-by-layer parity of a QDQ export with its Int8Model (used by test/onnx/qdq-layer-parity.test.ts
 * and test/onnx/torchvision.test.ts): onnxruntime runs the file with every integer tensor a
 * DequantizeLinear reads exposed as an output (no graph optimization: the ONNX semantics of the
 * file), Int8Model runs teacher-forced on those tensors so each node sees identical inputs, and
 * every differing element is checked to be off by exactly 1 where its exact value (integer
 * accumulator × Sx·Sw/Sy + Zy in float64) lies within 1e-4 of a rounding tie — there onnxruntime's
 * float32 arithmetic may round the other way. Variants: each node's part of the QDQ file alone,
 * fully optimized (ortFusedNodes: what onnxruntime deploys, QLinearConv …), and the QOperator
 * file (ortQOperatorValues). Also: how far one LSB moved in one value moves the output (why
 * end-to-end ±1 quantum can fail on sensitive models).
 */
import type { Tensor } from "../../src/tensor/tensor.js";
import type { Int8Model } from "../../src/int8/model.js";
import type { Int8Node } from "../../src/int8/graph.js";
import type { QuantArray, QuantResult } from "../../src/int8/kernels/common.js";
import { decodeModel, encodeModel } from "../../src/onnx/proto.js";
import type { ModelProto, NodeProto } from "../../src/onnx/proto.js";

type Ort = typeof import("onnxruntime-node");

export type Values = Map<string, QuantResult>;

/**
 * Runs a QDQ file in onnxruntime (optimizations off) and returns each Int8Model value as the
 * integer tensor its consumers dequantize: the input of every DequantizeLinear named
 * "<consumer>/<value id>_quantized|_clamped" by src/onnx/export-qdq.ts.
 */
export async function ortValues(ort: Ort, bytes: Uint8Array, x: Tensor, int8: Int8Model): Promise<Values> {
  const model = decodeModel(bytes);
  return runExposed(ort, model, dequantizedTensors(model), x, int8, "disabled");
}

/**
 * Runs a QOperator file (src/onnx/export-qoperator.ts) in onnxruntime with all optimizations
 * and returns each Int8Model value: node "<name>" writes "<name>_clamped" after an integer
 * Clip, else "<name>_output"; the input is "input_clamped" or "input_quantized".
 */
export async function ortQOperatorValues(ort: Ort, bytes: Uint8Array, x: Tensor, int8: Int8Model): Promise<Values> {
  const model = decodeModel(bytes);
  const produced = new Set(model.graph!.node!.flatMap((n) => n.output!));
  const pick = (base: string) => [`${base}_clamped`, `${base}_output`, `${base}_quantized`].find((t) => produced.has(t));
  const wanted = new Map<string, string>();
  for (const [id, base] of [[int8.graph.input.id, "input"], ...int8.graph.nodes.filter((n) => !int8.value(n.output).int).map((n) => [n.output, n.name])]) {
    const t = pick(base);
    if (t) wanted.set(id, t);
  }
  return runExposed(ort, model, wanted, x, int8, "all");
}

/** Runs `model` with the tensors of `wanted` (value id → tensor name) as extra outputs. */
async function runExposed(ort: Ort, model: ModelProto, wanted: Map<string, string>, x: Tensor, int8: Int8Model, level: "disabled" | "all"): Promise<Values> {
  const g = model.graph!;
  const elemType = (id: string) => (int8.value(id).q.dtype === "uint8" ? 2 : 3);
  const outputs = new Set(g.output!.map((o) => o.name));
  g.output!.push(...[...wanted].filter(([, name]) => !outputs.has(name)).map(([id, name]) => ({ name, type: { tensorType: { elemType: elemType(id) } } })));
  const session = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: level });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", x.toFloat32Array(), [...x.shape]) });
    const values: Values = new Map();
    for (const [id, name] of wanted) values.set(id, { data: out[name].data as QuantArray, shape: [...out[name].dims] });
    return values;
  } finally {
    await session.release();
  }
}

/** "<consumer>/<value id>_quantized|_clamped[_k]": the integer tensors export-qdq.ts dequantizes, one pair per consumer. */
const DQ_SOURCE = /^.*\/(.+?)_(?:quantized|clamped)(?:_\d+)?$/;

/** Value id → the first integer tensor a DequantizeLinear reads it from ("<consumer>/<id>_quantized|_clamped"). */
function dequantizedTensors(model: ModelProto): Map<string, string> {
  const wanted = new Map<string, string>();
  for (const n of model.graph!.node!) {
    const m = n.opType === "DequantizeLinear" ? DQ_SOURCE.exec(n.input![0]) : null;
    if (m && !wanted.has(m[1])) wanted.set(m[1], n.input![0]);
  }
  return wanted;
}

/**
 * Each node's share of the QDQ file as a model of its own — its integer inputs (as its
 * DequantizeLinear nodes read them) → DQ → op → Q [→ Clip] → its integer output — run with all
 * of onnxruntime's optimizations (DQ→Conv→Q becomes QLinearConv, Add QLinearAdd, …) on the
 * integer inputs `inputs` (e.g. ortValues'). Returns each node's output by value id.
 */
export async function ortFusedNodes(ort: Ort, bytes: Uint8Array, m: Int8Model, inputs: Values): Promise<Values> {
  const model = decodeModel(bytes);
  const g = model.graph!;
  const outTensor = dequantizedTensors(model);
  const producer = new Map(g.node!.map((n) => [n.output![0], n]));
  const inits = new Map(g.initializer!.map((t) => [t.name!, t]));
  const fused: Values = new Map();
  for (const node of m.graph.nodes) {
    const out = outTensor.get(node.output);
    if (!out) continue;
    // Walk back from the output to the tensors this node's own DequantizeLinear nodes read.
    const ins = new Map<string, string>();
    for (const n of g.node!) {
      const id = n.opType === "DequantizeLinear" && n.name!.startsWith(`${node.name}/`) ? DQ_SOURCE.exec(n.input![0])?.[1] : undefined;
      if (id && node.inputs.includes(id)) ins.set(n.input![0], id);
    }
    const nodes = new Set<NodeProto>();
    const used = new Set<string>();
    const stack = [out];
    while (stack.length) {
      const t = stack.pop()!;
      if (ins.has(t) || used.has(t)) continue;
      used.add(t);
      const p = producer.get(t);
      if (p && !nodes.has(p)) {
        nodes.add(p);
        stack.push(...p.input!.filter((i) => i));
      }
    }
    const sub: ModelProto = {
      ...model,
      graph: {
        name: node.name,
        node: g.node!.filter((n) => nodes.has(n)),
        initializer: [...used].filter((t) => inits.has(t)).map((t) => inits.get(t)!),
        input: [...ins].map(([t, id]) => ({ name: t, type: { tensorType: { elemType: m.value(id).q.dtype === "uint8" ? 2 : 3 } } })),
        output: [{ name: out, type: { tensorType: { elemType: m.value(node.output).q.dtype === "uint8" ? 2 : 3 } } }],
      },
    };
    const session = await ort.InferenceSession.create(encodeModel(sub), { graphOptimizationLevel: "all" });
    try {
      const feeds = Object.fromEntries([...ins].map(([t, id]) => {
        const v = inputs.get(id)!;
        return [t, new ort.Tensor(m.value(id).q.dtype, v.data, v.shape)];
      }));
      const y = (await session.run(feeds))[out];
      fused.set(node.output, { data: y.data as QuantArray, shape: [...y.dims] });
    } finally {
      await session.release();
    }
  }
  return fused;
}

/** The exact (float64) pre-rounding value of element `i` of a node's output, or null for ops without requantization. */
export function exactValue(m: Int8Model, n: Int8Node, env: Values, i: number): number | null {
  const yq = m.value(n.output).q;
  const qOf = (id: string) => m.value(id).q;
  if (n.op === "conv2d" || n.op === "linear") {
    const x = env.get(n.inputs[0])!;
    const xq = qOf(n.inputs[0]);
    const w = m.tensors.get(n.weight) as Int8Array;
    const wz = n.wZeroPoints ? (m.tensors.get(n.wZeroPoints) as Int32Array) : null;
    const bias = n.bias ? (m.tensors.get(n.bias) as Int32Array) : null;
    let acc = 0;
    let oc: number;
    if (n.op === "linear") {
      const [outF, inF] = n.wShape;
      oc = i % outF;
      const row = Math.floor(i / outF);
      for (let k = 0; k < inF; k++) acc += (x.data[row * inF + k] - xq.zeroPoint) * (w[oc * inF + k] - (wz?.[oc] ?? 0));
    } else {
      const [, C, H, W] = x.shape;
      const [OC, icg, kh, kw] = n.wShape;
      const outShape = env.get(n.output)?.shape ?? [];
      const [OH, OW] = [outShape[2], outShape[3]];
      const ow = i % OW, oh = Math.floor(i / OW) % OH, b = Math.floor(i / (OW * OH * OC));
      oc = Math.floor(i / (OW * OH)) % OC;
      const group = Math.floor(oc / (OC / n.groups));
      for (let ic = 0; ic < icg; ic++) {
        for (let r = 0; r < kh; r++) {
          for (let s = 0; s < kw; s++) {
            const ih = oh * n.stride[0] - n.padding[0] + r * n.dilation[0];
            const iw = ow * n.stride[1] - n.padding[1] + s * n.dilation[1];
            if (ih < 0 || iw < 0 || ih >= H || iw >= W) continue;
            const xv = x.data[((b * C + group * icg + ic) * H + ih) * W + iw] - xq.zeroPoint;
            acc += xv * (w[((oc * icg + ic) * kh + r) * kw + s] - (wz?.[oc] ?? 0));
          }
        }
      }
    }
    if (bias) acc += bias[oc];
    return (acc * xq.scale * (n.wScales[oc] ?? n.wScales[0])) / yq.scale + yq.zeroPoint;
  }
  if (n.op === "add") {
    const [a, b] = n.inputs.map((id) => env.get(id)!.data[i]);
    const [aq, bq] = n.inputs.map(qOf);
    return (aq.scale * (a - aq.zeroPoint) + bq.scale * (b - bq.zeroPoint)) / yq.scale + yq.zeroPoint;
  }
  if (n.op === "requantize") return (qOf(n.inputs[0]).scale * (env.get(n.inputs[0])!.data[i] - qOf(n.inputs[0]).zeroPoint)) / yq.scale + yq.zeroPoint;
  if (n.op === "globalavgpool") {
    const x = env.get(n.inputs[0])!;
    const hw = x.shape[2] * x.shape[3];
    let sum = 0;
    for (let k = 0; k < hw; k++) sum += x.data[i * hw + k] - qOf(n.inputs[0]).zeroPoint;
    return ((sum / hw) * qOf(n.inputs[0]).scale) / yq.scale + yq.zeroPoint;
  }
  return null;
}

export interface LayerReport {
  /** Elements compared, and those that differ (all at near-ties when `offTie` is empty). */
  elements: number;
  differ: number;
  /** Differences not explained by a rounding tie: "node[i]: ours vs theirs (exact v)". */
  offTie: string[];
  missing: string[];
}

/**
 * Teacher-forced comparison of every node of `m` with onnxruntime's values (see the header):
 * Int8Model reads `theirs` as its inputs and is compared with `reference` (default `theirs`).
 */
export function compareLayers(m: Int8Model, theirs: Values, x: Tensor, reference: Values = theirs): LayerReport {
  const teacher: Values = new Map();
  for (const [id, v] of theirs) teacher.set(id, { data: m.value(id).q.dtype === "uint8" ? Uint8Array.from(v.data) : Int8Array.from(v.data), shape: v.shape });
  const ours = m.runQuantized(m.quantizeInput(x), { collect: true, teacher }).values!;
  const report: LayerReport = { elements: 0, differ: 0, offTie: [], missing: [] };
  for (const n of m.graph.nodes) {
    if (m.value(n.output).int) continue; // int64 shape arithmetic: no quantized tensor to compare; its readers check it
    const t = reference.get(n.output);
    if (!t) {
      report.missing.push(n.output);
      continue;
    }
    const o = ours.get(n.output)!;
    const env = new Map(teacher);
    env.set(n.output, o);
    report.elements += o.data.length;
    for (let i = 0; i < o.data.length; i++) {
      if (o.data[i] === t.data[i]) continue;
      report.differ++;
      const exact = exactValue(m, n, env, i);
      const nearTie = exact !== null && Math.abs(exact - Math.floor(exact) - 0.5) < 1e-4;
      if (Math.abs(o.data[i] - t.data[i]) !== 1 || !nearTie) report.offTie.push(`${n.name}[${i}]: ${o.data[i]} vs ${t.data[i]} (exact ${exact})`);
    }
  }
  return report;
}

/** Largest change of the integer output (in output quanta) when one element of `valueId` moves by one LSB. */
export function oneLsbSensitivity(m: Int8Model, x: Tensor, valueId: string, element: number): number {
  const q = m.quantizeInput(x);
  const base = m.runQuantized(q).output.data;
  const v = m.runQuantized(q, { collect: true }).values!.get(valueId)!;
  const bumped = { data: v.data.slice() as QuantArray, shape: v.shape };
  const { qmax } = m.value(valueId).q;
  bumped.data[element] += bumped.data[element] < qmax ? 1 : -1;
  const moved = m.runQuantized(q, { teacher: new Map([[valueId, bumped]]) }).output.data;
  let most = 0;
  for (let i = 0; i < base.length; i++) most = Math.max(most, Math.abs(base[i] - moved[i]));
  return most;
}

/** Exports `m` as QDQ, runs it in onnxruntime on `x` and compares every layer (see compareLayers). */
export async function qdqLayerParity(ort: Ort, m: Int8Model, x: Tensor, exportQdq: (m: Int8Model) => Uint8Array): Promise<LayerReport> {
  return compareLayers(m, await ortValues(ort, exportQdq(m), x, m), x);
}

/** "3 of 686240 elements differ (all by 1 at a rounding tie)". */
export function fmtLayerReport(r: LayerReport): string {
  return `${r.differ} of ${r.elements} elements differ${r.offTie.length ? `, ${r.offTie.length} NOT at a rounding tie` : r.differ ? " (all by 1 at a rounding tie)" : ""}`;
}
