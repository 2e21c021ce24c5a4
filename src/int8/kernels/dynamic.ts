/**
 * Kernels of the dynamic nodes (../graph-dynamic.ts): float input [..., K] → float output
 * [..., N].
 *
 * dynamic_linear — onnxruntime's DynamicQuantizeLinear + MatMulInteger + Mul + Add, bit for bit:
 *   q_x = the input quantized with run-time parameters (quant/dynamic-fake-quant.ts rule),
 *   acc = Σ_k (q_x − Z_x)·(q_w − Z_w)   exact int32 (the static path's int8 GEMM kernel,
 *         ./dynamic-gemm.ts, or exact float32 GEMM chunks: the same integers),
 *   y = fl(fl(fl(acc) · fl(S_x·S_w[n])) + b[n])   (float32 Cast, Mul, Add as the ONNX graph).
 * linear_nbits — MatMulNBits: the dequantized weight ŵ = fl((q − z)·s) (cached), then either
 *   float input:      y = fl(Σ_k x_k · ŵ_k) + b, or
 *   quantized input:  y = fl(S_x · Σ_k (q_x − Z_x)_k · ŵ_k) + b   (S_x, Z_x per row or tensor),
 *   each Σ one float32 GEMM on the backend's matmul (float summation order; MatMulNBits' own
 *   float path sums fl((q_x − Z_x)·S_x)·ŵ, the same up to rounding).
 * Derived weight arrays (centred, unpacked, dequantized) are cached per weight tensor.
 * Called by Int8Model.exec (../model.ts) and quant.quantizeDynamic's layers.
 */
import { FormatError, ShapeError, fmtShape } from "../../tensor/errors.js";
import { dynamicQParams, dynamicRange, quantizeDynamic } from "./dynamic-qparams.js";
import type { DynamicActivation, DynamicLinearNode, LinearNBitsNode } from "../graph-dynamic.js";
import { bitsF32, unpackCodes } from "../graph-dynamic.js";
import type { QuantArray, QuantResult } from "./common.js";
import { Tensor } from "../../tensor/tensor.js";
import { noGrad } from "../../tensor/grad-mode.js";
import { linear } from "../../ops/matmul.js";
import { dynamicIgemm, dynamicIgemmAvailable, igemmWeights } from "./dynamic-gemm.js";

const f32 = Math.fround;
/** 1.5·2^52: adding and subtracting it rounds a double of magnitude < 2^51 to an integer, half to even. */
const RINT = 6755399441055744;

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

/**
 * Run-time quantization of rows [M, K] into 8-bit codes (the igemm's input) and per-row scale /
 * zero point: quantizeDynamic's rule and results (./dynamic-qparams.ts), in a loop specialised to
 * float32 input and byte output (int8 codes written as their two's-complement bytes).
 */
export function quantizeRows8(x: Float32Array, m: number, k: number, act: DynamicActivation, where: string): { q: Uint8Array | Int8Array; scales: Float32Array; zps: Int32Array } {
  const [qmin, qmax] = dynamicRange(act.dtype);
  const bytes = new Uint8Array(m * k);
  const scales = new Float32Array(m);
  const zps = new Int32Array(m);
  const rowLen = act.granularity === "per_tensor" ? m * k : k;
  const rows = rowLen === 0 ? 0 : (m * k) / rowLen;
  for (let r = 0; r < rows; r++) {
    const base = r * rowLen;
    const end = base + rowLen;
    let lo = Infinity;
    let hi = -Infinity;
    let nan = false;
    for (let i = base; i < end; i++) {
      const v = x[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v !== v) nan = true;
    }
    if (nan || lo === -Infinity || hi === Infinity) quantizeDynamic(x.subarray(base, end), rowLen, qmin, qmax, new Int32Array(rowLen), where); // throws, naming the value
    const p = dynamicQParams(lo, hi, qmin, qmax);
    const s = p.scale;
    const z = p.zeroPoint;
    for (let i = base; i < end; i++) {
      // (v + 1.5·2^52) − 1.5·2^52 rounds v to an integer half to even (|v| ≤ 255 ≪ 2^51)
      const q = f32(x[i] / s) + RINT - RINT + z;
      bytes[i] = q < qmin ? qmin : q > qmax ? qmax : q; // int8 codes wrap to their byte
    }
    if (act.granularity === "per_tensor") {
      scales.fill(s);
      zps.fill(z);
    } else {
      scales[r] = s;
      zps[r] = z;
    }
  }
  if (rows === 0) {
    scales.fill(1);
    zps.fill(qmin);
  }
  return { q: act.dtype === "uint8" ? bytes : new Int8Array(bytes.buffer), scales, zps };
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

/** Per-weight derived arrays (centred, unpacked, dequantized), computed once per weight tensor. */
const cache = new WeakMap<object, Map<string, unknown>>();
function prepared<T>(key: object, make: () => T, tag = ""): T {
  let m = cache.get(key);
  if (!m) cache.set(key, (m = new Map()));
  if (!m.has(tag)) m.set(tag, make());
  return m.get(tag) as T;
}

/** a [m, k] · b[n, k]ᵀ on the backend's float32 matmul kernel (the wasm SIMD GEMM when active). */
function gemmNT(a: Float32Array, m: number, k: number, b: Float32Array, n: number): Float32Array {
  return noGrad(() => linear(new Tensor(a, [m, k]), new Tensor(b, [n, k]))).data as Float32Array;
}

/** Columns [from, from + len) of a row-major [rows, k] matrix. */
function columns(a: Float32Array, rows: number, k: number, from: number, len: number): Float32Array {
  if (from === 0 && len === k) return a;
  const out = new Float32Array(rows * len);
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * k + from, r * k + from + len), r * len);
  return out;
}

/** Columns per float32 GEMM: 256 · 255 · 255 < 2^24, so every partial sum of integer products is exact. */
const EXACT_CHUNK = 256;

/**
 * Σ_j a[r, j]·b[c, j] over columns [from, from + len) for integer-valued a, b with |a|, |b| ≤ 255,
 * exactly: float32 GEMMs over chunks of 256 columns (any summation order stays below 2^24),
 * the chunks summed in float64. `key` caches b's column chunks.
 */
function intGemm(a: Float32Array, m: number, k: number, from: number, len: number, b: Float32Array, n: number, key: object): Float64Array {
  const acc = new Float64Array(m * n);
  for (let c0 = from; c0 < from + len; c0 += EXACT_CHUNK) {
    const cl = Math.min(EXACT_CHUNK, from + len - c0);
    const bc = prepared(key, () => columns(b, n, k, c0, cl), `cols:${c0}:${cl}`);
    const part = gemmNT(columns(a, m, k, c0, cl), m, cl, bc, n);
    for (let i = 0; i < acc.length; i++) acc[i] += part[i];
  }
  return acc;
}

function floatData(x: QuantResult): Float32Array {
  return x.data as unknown as Float32Array;
}

function result(y: Float32Array, x: QuantResult, n: number): QuantResult {
  return { data: y as unknown as QuantArray, shape: [...x.shape.slice(0, -1), n] };
}

/**
 * The integer GEMM's route: "auto" takes the static path's int8 kernel (./dynamic-gemm.ts) when
 * it is available and the weights are symmetric, "float-gemm" the backend's float32 matmul in
 * exact chunks (intGemm). Both give the same integers, so the outputs are bit-identical.
 */
export type DynamicGemmRoute = "auto" | "float-gemm";
let defaultRoute: DynamicGemmRoute = "auto";
/** The route dynamic_linear takes when none is given (benchmarks and tests compare the two); returns the previous one. */
export function setDynamicGemmRoute(route: DynamicGemmRoute): DynamicGemmRoute {
  const prev = defaultRoute;
  defaultRoute = route;
  return prev;
}

/** dynamic_linear on a float input (see the file header). */
export function dynamicLinear(node: DynamicLinearNode, x: QuantResult, t: TensorTable, route: DynamicGemmRoute = defaultRoute): QuantResult {
  const [n, k] = node.wShape;
  const m = rowsOf(x, k, node.name);
  const w = int8(t, node.wInt8);
  const ws = bitsF32(int32(t, node.wScales));
  const wz = node.wZeroPoints ? int32(t, node.wZeroPoints) : null;
  const bias = node.bias ? bitsF32(int32(t, node.bias)) : null;
  const where = `Int8Model '${node.name}'`;
  const y = new Float32Array(m * n);
  let acc: ArrayLike<number>;
  let scales: Float32Array;
  if (route === "auto" && (!wz || wz.every((z) => z === 0)) && dynamicIgemmAvailable()) {
    const r = quantizeRows8(floatData(x), m, k, node.act, where);
    scales = r.scales;
    acc = dynamicIgemm(r.q, r.zps, m, k, igemmWeights(w, n, k));
  } else {
    const r = quantizeRows(floatData(x), m, k, node.act, where);
    scales = r.scales;
    // centred weights (integers in [−255, 255]) once per weight tensor; the integer GEMM runs exactly on the
    // backend's float32 matmul in chunks of 256 along K (intGemm)
    const wc = prepared(w, () => {
      const out = new Float32Array(n * k);
      for (let c = 0; c < n; c++) for (let j = 0; j < k; j++) out[c * k + j] = w[c * k + j] - (wz ? wz[c] : 0);
      return out;
    });
    const xc = new Float32Array(m * k);
    for (let row = 0; row < m; row++) for (let j = 0; j < k; j++) xc[row * k + j] = r.q[row * k + j] - r.zps[row];
    acc = intGemm(xc, m, k, 0, k, wc, n, w);
  }
  scaleAccumulators(acc, scales, ws, m, n, bias, y);
  return result(y, x, n);
}

/**
 * The dynamic GEMM's output: y[r, c] = fl(fl(fl(acc) · fl(S_x[r]·S_w[c])) + b[c]) (no bias: one
 * rounding less; the last rounding is the Float32Array store), the combined scales recomputed
 * only when S_x changes (per tensor: once). Used by dynamic_linear and the dynamic RNN projections.
 */
export function scaleAccumulators(acc: ArrayLike<number>, scales: Float32Array, ws: Float32Array, m: number, n: number, bias: Float32Array | null, y: Float32Array): void {
  const perRow = ws.length > 1;
  const sc = new Float32Array(n);
  let last = NaN;
  for (let r = 0; r < m; r++) {
    const sx = scales[r];
    if (sx !== last) {
      for (let c = 0; c < n; c++) sc[c] = sx * ws[perRow ? c : 0];
      last = sx;
    }
    const o = r * n;
    if (bias) for (let c = 0; c < n; c++) y[o + c] = f32(f32(acc[o + c]) * sc[c]) + bias[c];
    else for (let c = 0; c < n; c++) y[o + c] = f32(acc[o + c]) * sc[c];
  }
}

/** linear_nbits on a float input (see the file header). */
export function linearNBits(node: LinearNBitsNode, x: QuantResult, t: TensorTable): QuantResult {
  const [n, k] = node.wShape;
  const m = rowsOf(x, k, node.name);
  const bs = node.blockSize;
  const blocks = Math.ceil(k / bs);
  const packed = int8(t, node.wPacked);
  const codes = prepared(packed, () => unpackCodes(packed, n, k, node.bits, bs)) as Uint8Array;
  const sBits = int32(t, node.scales);
  const s = bitsF32(sBits);
  const z = node.zeroPoints ? int32(t, node.zeroPoints) : null;
  const zDefault = 2 ** (node.bits - 1);
  const bias = node.bias ? bitsF32(int32(t, node.bias)) : null;
  const xf = floatData(x);
  // the dequantized weight fl((q − z)·s), once per weight tensor
  const wd = prepared(sBits, () => {
    const out = new Float32Array(n * k);
    for (let c = 0; c < n; c++) {
      for (let j = 0; j < k; j++) {
        const g = c * blocks + Math.floor(j / bs);
        out[c * k + j] = f32((codes[c * k + j] - (z ? z[g] : zDefault)) * s[g]);
      }
    }
    return out;
  }) as Float32Array;
  // the epilogues write a fresh array (the GEMM's output may live in backend storage that is reclaimed with
  // its tensor); each store rounds: fl(acc + b), fl(fl(acc·S_x) + b)
  const y = new Float32Array(m * n);
  if (node.act === null) {
    const acc = gemmNT(xf, m, k, wd, n);
    if (!bias) y.set(acc);
    else for (let r = 0; r < m; r++) for (let c = 0, o = r * n; c < n; c++) y[o + c] = acc[o + c] + bias[c];
    return result(y, x, n);
  }
  // run-time quantized input: the centred integer codes times the dequantized weight, scaled by S_x per row
  const { q, scales, zps } = quantizeRows8(xf, m, k, node.act, `Int8Model '${node.name}'`);
  const xc = new Float32Array(m * k);
  for (let r = 0; r < m; r++) {
    const z0 = zps[r];
    for (let j = 0, o = r * k; j < k; j++) xc[o + j] = q[o + j] - z0;
  }
  const acc = gemmNT(xc, m, k, wd, n);
  for (let r = 0; r < m; r++) {
    const sx = scales[r];
    const o = r * n;
    if (bias) for (let c = 0; c < n; c++) y[o + c] = f32(acc[o + c] * sx) + bias[c];
    else for (let c = 0; c < n; c++) y[o + c] = acc[o + c] * sx;
  }
  return result(y, x, n);
}
