/**
 * Handlers of the quantized importer for QOperator graphs: QLinearConv, QLinearMatMul, and
 * the com.microsoft contrib ops QGemm, QLinearAdd, QLinearConcat, QLinearGlobalAveragePool
 * and QLinearAveragePool. Each reads quantized inputs (checking that the scale / zero point
 * given for an input are the ones it was quantized with), builds the int8 node with the
 * builders of quant-import-nodes.ts and defines its quantized output (an integer Clip right
 * after it folds into the node's clamp). MaxPool / Flatten / Reshape / Clip on quantized
 * tensors are in quant-import-ops.ts. Called by import-quantized.ts.
 */
import { NotSupportedError } from "../tensor/errors.js";
import type { ValueInfo } from "../int8/graph.js";
import type { IrNode } from "./graph.js";
import { type ActParams, actParams, vectorParams } from "./quant-import-consts.js";
import { addNode, avgPoolNode, broadcastShape, productNode, concatNode, convGeometry, convNode, gapNode, linearNode, poolGeometry, sigmoidNode, windowShape } from "./quant-import-nodes.js";
import { transposeWeight } from "./quant-import-ops.js";
import { type Bias, type Handler, type QuantImporter, type WConst, where } from "./quant-import-state.js";

/** The quantized input at position i, whose scale / zero point follow it. */
function operand(imp: QuantImporter, n: IrNode, i: number): ValueInfo {
  const v = imp.int(n.inputs[i], n);
  const p = actParams(imp.consts, n.inputs[i + 1], n.inputs[i + 2], where(n));
  if (Math.fround(p.scale) !== v.q.scale || p.zeroPoint !== v.q.zeroPoint || p.dtype !== v.q.dtype) {
    throw new NotSupportedError(`${where(n)}: input '${n.inputs[i]}' is given scale ${p.scale} / zero point ${p.zeroPoint}, but it was quantized with ${v.q.scale} / ${v.q.zeroPoint}`);
  }
  return v;
}

function outParams(imp: QuantImporter, n: IrNode, i: number): ActParams {
  if (!n.inputs[i]) throw new NotSupportedError(`${where(n)}: a float output (no y_scale) is not supported`);
  return actParams(imp.consts, n.inputs[i], n.inputs[i + 1], where(n));
}

/** An INT8 (or UINT8: quant-import-nodes.ts shifts it by −128) weight constant with its scales (axis: where a scale vector runs). */
function weight(imp: QuantImporter, n: IrNode, i: number, axis: number): WConst {
  const t = imp.consts.get(n.inputs[i]);
  if (!t || !(t.data instanceof Int8Array || t.data instanceof Uint8Array)) throw new NotSupportedError(`${where(n)}: the weight '${n.inputs[i]}' must be an INT8 or UINT8 constant`);
  const p = vectorParams(imp.consts, n.inputs[i + 1], n.inputs[i + 2], where(n));
  return { data: t.data, shape: [...t.shape], scales: p.scales, zeroPoints: p.zeroPoints, axis: p.scales.length > 1 ? axis : null };
}

/** An INT32 bias constant on the grid Sx·Sw[c] (QLinearConv / QGemm semantics). */
function bias(imp: QuantImporter, n: IrNode, name: string | undefined, x: ValueInfo, w: WConst): Bias | null {
  if (!name) return null;
  const t = imp.consts.get(name);
  if (!t || !(t.data instanceof Int32Array)) throw new NotSupportedError(`${where(n)}: the bias '${name}' must be an INT32 constant`);
  const oc = w.shape[0];
  const scales = Array.from({ length: t.size }, (_, c) => Math.fround(x.q.scale * Math.fround(w.scales[w.scales.length === 1 ? 0 : c])));
  if (t.size !== oc) throw new NotSupportedError(`${where(n)}: ${t.size} biases for ${oc} outputs`);
  return { kind: "int", w: { data: t.data, shape: [oc], scales, zeroPoints: new Array<number>(oc).fill(0), axis: 0 } };
}

const nameOf = (n: IrNode): string => n.name || `${n.opType}_${n.index}`;

const qlinearConv: Handler = (imp, n) => {
  const x = operand(imp, n, 0);
  const w = weight(imp, n, 3, 0);
  const geo = convGeometry(n, w.shape);
  const shape = windowShape(x.shape, w.shape[0], [w.shape[2], w.shape[3]], geo, n);
  const b = bias(imp, n, n.inputs[8], x, w);
  imp.produce(n.outputs[0], outParams(imp, n, 6), null, (q) => convNode(imp, { x, w, b, name: nameOf(n), shape, ...geo }, q, [q.qmin, q.qmax], where(n)));
};

const qgemm: Handler = (imp, n) => {
  const a = n.attrs;
  if (a.float("alpha", 1) !== 1 || a.int("transA", 0) !== 0) throw new NotSupportedError(`${where(n)}: only alpha = 1 and transA = 0 are supported`);
  const x = operand(imp, n, 0);
  const transB = a.int("transB", 0) === 1;
  let w = weight(imp, n, 3, transB ? 0 : 1);
  if (w.shape.length !== 2 || x.shape.length !== 2) throw new NotSupportedError(`${where(n)}: input and weight must be 2-D`);
  if (!transB) w = transposeWeight(w, n);
  const b = bias(imp, n, n.inputs[6], x, w);
  imp.produce(n.outputs[0], outParams(imp, n, 7), null, (q) => linearNode(imp, { x, w, b, name: nameOf(n), shape: [x.shape[0], w.shape[0]] }, q, [q.qmin, q.qmax], where(n)));
};

const qlinearMatMul: Handler = (imp, n) => {
  const x = operand(imp, n, 0);
  if (imp.ints.has(n.inputs[3])) {
    // B is a quantized activation: an integer product (attention's Q·Kᵀ, P·V)
    const b = operand(imp, n, 3);
    if (x.shape.length < 2 || b.shape.length < 2) throw new NotSupportedError(`${where(n)}: a product of activations needs rank ≥ 2 on both sides`);
    const shape = [...broadcastShape(x.shape.slice(0, -2), b.shape.slice(0, -2)), x.shape[x.shape.length - 2], b.shape[b.shape.length - 1]];
    imp.produce(n.outputs[0], outParams(imp, n, 6), null, (q) => productNode(imp, "matmul", x, b, q, [q.qmin, q.qmax], nameOf(n), shape));
    return;
  }
  const w = transposeWeight(weight(imp, n, 3, 1), n);
  if (x.shape.length !== 2) throw new NotSupportedError(`${where(n)}: the input must be 2-D`);
  imp.produce(n.outputs[0], outParams(imp, n, 6), null, (q) => linearNode(imp, { x, w, b: null, name: nameOf(n), shape: [x.shape[0], w.shape[0]] }, q, [q.qmin, q.qmax], where(n)));
};

const qlinearAdd: Handler = (imp, n) => {
  const [a, b] = [operand(imp, n, 0), operand(imp, n, 3)];
  if (a.shape.join() !== b.shape.join()) throw new NotSupportedError(`${where(n)}: broadcasting QLinearAdd is not supported`);
  imp.produce(n.outputs[0], outParams(imp, n, 6), null, (q) => addNode(imp, a, b, q, [q.qmin, q.qmax], nameOf(n)));
};

/** com.microsoft QLinearMul: an elementwise product of two quantized activations (broadcasting). */
const qlinearMul: Handler = (imp, n) => {
  const [a, b] = [operand(imp, n, 0), operand(imp, n, 3)];
  imp.produce(n.outputs[0], outParams(imp, n, 6), null, (q) => productNode(imp, "mul", a, b, q, [q.qmin, q.qmax], nameOf(n), broadcastShape(a.shape, b.shape)));
};

const qlinearConcat: Handler = (imp, n) => {
  const count = (n.inputs.length - 2) / 3;
  if (!Number.isInteger(count) || count < 1) throw new NotSupportedError(`${where(n)}: expected Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples`);
  const inputs = Array.from({ length: count }, (_, i) => operand(imp, n, 2 + 3 * i));
  const rank = inputs[0].shape.length;
  const a = n.attrs.int("axis", 1);
  const axis = a < 0 ? a + rank : a;
  if (axis < 1 || axis >= rank) throw new NotSupportedError(`${where(n)}: concatenation along axis ${a} is not supported`);
  const shape = [...inputs[0].shape];
  shape[axis] = inputs.reduce((s, v) => s + v.shape[axis], 0);
  imp.produce(n.outputs[0], outParams(imp, n, 0), null, (q) => concatNode(imp, inputs, axis, q, [q.qmin, q.qmax], nameOf(n), shape));
};

function channelsFirst(n: IrNode): void {
  if (n.attrs.int("channels_last", 0) !== 0) throw new NotSupportedError(`${where(n)}: channels_last = 1 is not supported`);
}

const qlinearGap: Handler = (imp, n) => {
  channelsFirst(n);
  const x = operand(imp, n, 0);
  imp.produce(n.outputs[0], outParams(imp, n, 3), null, (q) => gapNode(imp, x, q, [q.qmin, q.qmax], nameOf(n)));
};

const qlinearAvgPool: Handler = (imp, n) => {
  channelsFirst(n);
  const x = operand(imp, n, 0);
  const g = poolGeometry(n);
  const shape = windowShape(x.shape, x.shape[1], g.kernel, g, n);
  imp.produce(n.outputs[0], outParams(imp, n, 3), null, (q) => avgPoolNode(imp, x, g, q, [q.qmin, q.qmax], nameOf(n), shape));
};

const qlinearSigmoid: Handler = (imp, n) => {
  const x = operand(imp, n, 0);
  imp.produce(n.outputs[0], outParams(imp, n, 3), null, (q) => sigmoidNode(imp, x, q, [q.qmin, q.qmax], nameOf(n)));
};

/** Default-domain QOperator handlers. */
export const QOP_HANDLERS: Record<string, Handler> = { QLinearConv: qlinearConv, QLinearMatMul: qlinearMatMul };

/** com.microsoft handlers. */
export const MS_HANDLERS: Record<string, Handler> = {
  QGemm: qgemm, QLinearAdd: qlinearAdd, QLinearMul: qlinearMul, QLinearConcat: qlinearConcat, QLinearGlobalAveragePool: qlinearGap, QLinearAveragePool: qlinearAvgPool,
  QLinearSigmoid: qlinearSigmoid,
};
