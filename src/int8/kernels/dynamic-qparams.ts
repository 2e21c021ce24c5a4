/**
 * Run-time (dynamic) quantization parameters and codes, onnxruntime's GetQuantizationParameter
 * + QuantizeLinear in float32 arithmetic (see quant/dynamic-fake-quant.ts for the rule and how
 * it relates to torchao's). Called by ./dynamic.ts (Int8Model) and the dynamic fake-quantizer.
 */
import { ValueError } from "../../tensor/errors.js";

const f32 = Math.fround;
/** 1.5·2^52: adding and subtracting it rounds a double of magnitude < 2^51 to an integer, half to even. */
const RINT = 6755399441055744;

/** Round to nearest, ties to even (float32 values are exact in double). */
export function roundHalfEvenF(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** onnxruntime's GetQuantizationParameter for a range [min, max] (float32 arithmetic). */
export function dynamicQParams(min: number, max: number, qmin: number, qmax: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(f32(min), 0);
  const hi = Math.max(f32(max), 0);
  const scale = hi === lo ? 1 : f32(f32(hi - lo) / (qmax - qmin));
  const init = f32(qmin - f32(lo / scale));
  return { scale, zeroPoint: roundHalfEvenF(Math.max(qmin, Math.min(qmax, init))) };
}

/** The integer range of a dynamic dtype: uint8 [0, 255] (onnxruntime) or int8 [−128, 127] (torchao). */
export function dynamicRange(dtype: "uint8" | "int8"): [number, number] {
  return dtype === "uint8" ? [0, 255] : [-128, 127];
}

/** One row's (or the whole tensor's) codes, scale and zero point. */
export interface DynamicRow {
  scale: number;
  zeroPoint: number;
}

/**
 * Quantizes `x` (rows of length `rowLen`, or one row for per tensor) into `out`; returns each
 * row's parameters. Throws a ValueError naming the index of a NaN or infinite value.
 */
export function quantizeDynamic(x: ArrayLike<number>, rowLen: number, qmin: number, qmax: number, out: Int32Array | Uint8Array | Int8Array, where: string): DynamicRow[] {
  const rows = rowLen === 0 ? 0 : x.length / rowLen;
  const params: DynamicRow[] = [];
  for (let r = 0; r < rows; r++) {
    const base = r * rowLen;
    const end = base + rowLen;
    let lo = Infinity;
    let hi = -Infinity;
    let nan = false;
    for (let k = base; k < end; k++) {
      const v = x[k];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v !== v) nan = true;
    }
    if (nan || lo === -Infinity || hi === Infinity) {
      for (let k = base; k < end; k++) if (!Number.isFinite(x[k])) throw new ValueError(`${where}: cannot quantize the non-finite value ${x[k]} at index ${k} dynamically`);
    }
    const p = dynamicQParams(lo, hi, qmin, qmax);
    const s = p.scale;
    const z = p.zeroPoint;
    for (let k = base; k < end; k++) {
      // round half to even of fl(x / s) (|x / s| ≤ 255 here, so the parity test is exact), then + Z and clamp
      // (v + 1.5·2^52) − 1.5·2^52 is v rounded half to even (|v| ≤ 255 ≪ 2^51), as roundHalfEvenF
      const q = f32(x[k] / s) + RINT - RINT + z;
      out[k] = q < qmin ? qmin : q > qmax ? qmax : q;
    }
    params.push(p);
  }
  return params;
}
