/**
 * Kernels of the dynamic nodes (../graph-dynamic.ts): float input [..., K] → float output
 * [..., N].
 *
 * dynamic_linear — onnxruntime's DynamicQuantizeLinear + MatMulInteger + Mul + Add, bit for bit:
 *   q_x = the input quantized with run-time parameters (quant/dynamic-fake-quant.ts rule),
 *   acc = Σ_k (q_x − Z_x)·(q_w − Z_w)   exact int32,
 *   y = fl(fl(fl(acc) · fl(S_x·S_w[n])) + b[n])   (float32 Cast, Mul, Add as the ONNX graph).
 * linear_nbits — MatMulNBits: unpack the codes, then either
 *   float input:  y = fl(Σ_k x_k · fl((q − z)·s)) + b   (float64 sum, one rounding), or
 *   quantized input: acc_g per block in int32, y = fl(Σ_g fl(S_x·s[n, g])·acc_g) + b.
 * Called by Int8Model.exec (../model.ts).
 */
import { FormatError, ShapeError, fmtShape } from "../../tensor/errors.js";
import { dynamicRange, quantizeDynamic } from "./dynamic-qparams.js";
import type { DynamicActivation, DynamicLinearNode, LinearNBitsNode } from "../graph-dynamic.js";
import { bitsF32, unpackCodes } from "../graph-dynamic.js";
import type { QuantArray, QuantResult } from "./common.js";

const f32 = Math.fround;

export type TensorTable = ReadonlyMap<string, Int8Array | Int32Array>;

function int32(t: TensorTable, key: string): Int32Array {
  const v = t.get(key);
  if (!(v instanceof Int32Array)) throw new FormatError(`Int8Model: tensor '${key}' must be int32`);
  return v;
}

function int8(t: TensorTable, key: string): Int8Array {
  const v = t.get(key);
  if (!(v instanceof Int8Array)) throw new FormatError(`Int8Model: tensor '${key}' must be int8`);
  return v;
}

/** Run-time quantization of rows [M, K]: codes and per-row scale / zero point. */
export function quantizeRows(x: Float32Array, m: number, k: number, act: DynamicActivation, where: string): { q: Int32Array; scales: Float32Array; zps: Int32Array } {
  const [qmin, qmax] = dynamicRange(act.dtype);
  const q = new Int32Array(m * k);
  const ps = quantizeDynamic(x, act.granularity === "per_tensor" ? m * k : k, qmin, qmax, q, where);
  const scales = new Float32Array(m);
  const zps = new Int32Array(m);
  for (let r = 0; r < m; r++) {
    const p = ps[act.granularity === "per_tensor" ? 0 : r] ?? { scale: 1, zeroPoint: qmin };
    scales[r] = p.scale;
    zps[r] = p.zeroPoint;
  }
  return { q, scales, zps };
}

function rowsOf(x: QuantResult, k: number, name: string): number {
  const s = x.shape;
  if (s.length < 1 || s[s.length - 1] !== k) throw new ShapeError(`Int8Model: '${name}' needs input [..., ${k}], got ${fmtShape(s)}`);
  return s.slice(0, -1).reduce((a, b) => a * b, 1);
}

function floatData(x: QuantResult): Float32Array {
  return x.data as unknown as Float32Array;
}

function result(y: Float32Array, x: QuantResult, n: number): QuantResult {
  return { data: y as unknown as QuantArray, shape: [...x.shape.slice(0, -1), n] };
}

/** dynamic_linear on a float input (see the file header). */
export function dynamicLinear(node: DynamicLinearNode, x: QuantResult, t: TensorTable): QuantResult {
  const [n, k] = node.wShape;
  const m = rowsOf(x, k, node.name);
  const w = int8(t, node.wInt8);
  const ws = bitsF32(int32(t, node.wScales));
  const wz = node.wZeroPoints ? int32(t, node.wZeroPoints) : null;
  const bias = node.bias ? bitsF32(int32(t, node.bias)) : null;
  const { q, scales, zps } = quantizeRows(floatData(x), m, k, node.act, `Int8Model '${node.name}'`);
  const y = new Float32Array(m * n);
  // centred weights once per call (exact small integers)
  const wc = new Int32Array(n * k);
  for (let c = 0; c < n; c++) for (let j = 0; j < k; j++) wc[c * k + j] = w[c * k + j] - (wz ? wz[c] : 0);
  const xc = new Int32Array(k);
  for (let r = 0; r < m; r++) {
    const zx = zps[r];
    for (let j = 0; j < k; j++) xc[j] = q[r * k + j] - zx;
    for (let c = 0; c < n; c++) {
      let acc = 0;
      const base = c * k;
      for (let j = 0; j < k; j++) acc += xc[j] * wc[base + j];
      const prod = f32(f32(acc) * f32(scales[r] * ws[ws.length === 1 ? 0 : c]));
      y[r * n + c] = bias ? f32(prod + bias[c]) : prod;
    }
  }
  return result(y, x, n);
}

/** linear_nbits on a float input (see the file header). */
export function linearNBits(node: LinearNBitsNode, x: QuantResult, t: TensorTable): QuantResult {
  const [n, k] = node.wShape;
  const m = rowsOf(x, k, node.name);
  const bs = node.blockSize;
  const blocks = Math.ceil(k / bs);
  const codes = unpackCodes(int8(t, node.wPacked), n, k, node.bits, bs);
  const s = bitsF32(int32(t, node.scales));
  const z = node.zeroPoints ? int32(t, node.zeroPoints) : null;
  const zDefault = 2 ** (node.bits - 1);
  const bias = node.bias ? bitsF32(int32(t, node.bias)) : null;
  const xf = floatData(x);
  const y = new Float32Array(m * n);
  if (node.act === null) {
    const wd = new Float32Array(n * k);
    for (let c = 0; c < n; c++) {
      for (let j = 0; j < k; j++) {
        const g = c * blocks + Math.floor(j / bs);
        wd[c * k + j] = f32((codes[c * k + j] - (z ? z[g] : zDefault)) * s[g]);
      }
    }
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < n; c++) {
        let acc = 0;
        for (let j = 0; j < k; j++) acc += xf[r * k + j] * wd[c * k + j];
        y[r * n + c] = bias ? f32(f32(acc) + bias[c]) : f32(acc);
      }
    }
    return result(y, x, n);
  }
  const { q, scales, zps } = quantizeRows(xf, m, k, node.act, `Int8Model '${node.name}'`);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let g = 0; g < blocks; g++) {
        const zw = z ? z[c * blocks + g] : zDefault;
        let acc = 0;
        const end = Math.min(k, (g + 1) * bs);
        for (let j = g * bs; j < end; j++) acc += (q[r * k + j] - zps[r]) * (codes[c * k + j] - zw);
        sum += f32(scales[r] * s[c * blocks + g]) * acc;
      }
      y[r * n + c] = bias ? f32(f32(sum) + bias[c]) : f32(sum);
    }
  }
  return result(y, x, n);
}
