/**
 * Dynamic (run-time) activation quantization: the scale and zero point come from the batch
 * being quantized, per tensor (onnxruntime's DynamicQuantizeLinear, PyTorch's quantize_dynamic)
 * or per token = per row of the last dimension (torchao's 8da4w). One parameter rule for both,
 * onnxruntime's GetQuantizationParameter in float32 arithmetic:
 *
 *   lo = min(min(x), 0), hi = max(max(x), 0)
 *   S  = hi == lo ? 1 : (hi − lo) / (qmax − qmin)
 *   Z  = roundHalfEven(clamp(qmin − lo / S, qmin, qmax))
 *   q  = clamp(roundHalfEven(x / S) + Z, qmin, qmax)          (x / S a float32 division)
 *
 * torchao picks Z from qmin − lo/S or qmax − hi/S (whichever has the smaller error) and
 * clamps S to float32 eps instead of using 1 for an all-zero row; both differ from the rule
 * above only by float rounding, and an all-zero row quantizes to 0 either way.
 * `DynamicFakeQuantize` simulates it in QAT (straight-through: dL/dx = dL/dx̂ inside the
 * range — every element is, by construction, unless a rounding pushes the extreme over);
 * `FloatActivation` is the output "quantizer" of dynamic qconfigs: values stay float.
 * Called by the dynamic qconfig presets (qconfig.ts), QatLinear's input quantizer,
 * convert-dynamic.ts; the parameter rule itself lives with the integer kernels
 * (src/int8/kernels/dynamic-qparams.ts).
 */
import { defineOp } from "../autograd/custom.js";
import type { FloatArray } from "../tensor/dtype.js";
import { allocArray } from "../tensor/dtype.js";
import { DTypeError, NotSupportedError, ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { FakeQuantizeBase } from "./fake-quantize.js";
import type { QParamsTensors } from "./observer.js";
import { type DynamicRow, dynamicQParams, dynamicRange, roundHalfEvenF } from "../int8/kernels/dynamic-qparams.js";

const f32 = Math.fround;

/** Per tensor (one scale for the batch) or per token (one per row of the last dim). */
export type DynamicGranularity = "per_tensor" | "per_token";

export { dynamicQParams, dynamicRange, quantizeDynamic, type DynamicRow } from "../int8/kernels/dynamic-qparams.js";

/** Fake-quantized values and the straight-through mask (1 where the code was not clamped). */
function fakeQuantDynamicKernel(x: FloatArray, rowLen: number, qmin: number, qmax: number): { out: FloatArray; mask: Uint8Array; params: DynamicRow[] } {
  const out = allocArray(x instanceof Float32Array ? "float32" : "float64", x.length) as FloatArray;
  const mask = new Uint8Array(x.length);
  const rows = rowLen === 0 ? 0 : x.length / rowLen;
  const params: DynamicRow[] = [];
  for (let r = 0; r < rows; r++) {
    const base = r * rowLen;
    let lo = Infinity;
    let hi = -Infinity;
    let finite = true;
    for (let k = 0; k < rowLen; k++) {
      const v = x[base + k];
      if (!Number.isFinite(v)) finite = false;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!finite) {
      // a non-finite row passes through unquantized (the loss shows it; training is not stopped here)
      for (let k = 0; k < rowLen; k++) {
        out[base + k] = x[base + k];
        mask[base + k] = 1;
      }
      params.push({ scale: NaN, zeroPoint: 0 });
      continue;
    }
    const p = dynamicQParams(lo, hi, qmin, qmax);
    for (let k = 0; k < rowLen; k++) {
      const q = roundHalfEvenF(f32(x[base + k] / p.scale)) + p.zeroPoint;
      const c = Math.min(qmax, Math.max(qmin, q));
      mask[base + k] = q === c ? 1 : 0;
      out[base + k] = f32((c - p.zeroPoint) * p.scale);
    }
    params.push(p);
  }
  return { out, mask, params };
}

/**
 * Dynamic fake quantization of x, straight-through in x. Per token: rows are the last dim;
 * per tensor: one range for all of x. Returns the output and the parameters used.
 */
export function fakeQuantizeDynamic(x: Tensor, granularity: DynamicGranularity, qmin: number, qmax: number): { output: Tensor; params: DynamicRow[] } {
  if (x.dtype !== "float32" && x.dtype !== "float64") throw new DTypeError(`fakeQuantizeDynamic: input must be float32 or float64, got ${x.dtype}`);
  const rowLen = granularity === "per_tensor" ? x.size : x.ndim === 0 ? 1 : x.shape[x.ndim - 1];
  const r = fakeQuantDynamicKernel(x.data as FloatArray, rowLen, qmin, qmax);
  const op = defineOp<Uint8Array>({
    name: `fake_quantize_dynamic_${granularity}`,
    forward: () => ({ output: new Tensor(r.out, x.shape), saved: r.mask }),
    backward: (g, mask) => {
      const gd = g.data as FloatArray;
      const dx = allocArray(gd instanceof Float32Array ? "float32" : "float64", gd.length) as FloatArray;
      for (let i = 0; i < gd.length; i++) dx[i] = gd[i] * mask[i];
      return [new Tensor(dx, g.shape)];
    },
  });
  return { output: op(x), params: r.params };
}

export interface DynamicFakeQuantizeOptions {
  /** "per_tensor" (default; onnxruntime DynamicQuantizeLinear) or "per_token" (torchao 8da4w). */
  granularity?: DynamicGranularity;
  /** "uint8" [0, 255] (default) or "int8" [−128, 127]. */
  dtype?: "uint8" | "int8";
}

/**
 * Fake-quantizes its input with parameters computed from that input (no state to learn or
 * observe). Buffers fake_quant_enabled / observer_enabled as the other fake-quantizers, so
 * the QAT schedule switches it; the last batch's parameters are kept for inspection.
 */
export class DynamicFakeQuantize extends FakeQuantizeBase {
  readonly granularity: DynamicGranularity;
  readonly dtype: "uint8" | "int8";
  readonly quantMin: number;
  readonly quantMax: number;
  /** Marks run-time quantization for convert and the ONNX writers. */
  readonly isDynamic = true;
  private last: DynamicRow[] = [];

  constructor(opts: DynamicFakeQuantizeOptions = {}) {
    super();
    const g = opts.granularity ?? "per_tensor";
    if (g !== "per_tensor" && g !== "per_token") throw new ValueError(`DynamicFakeQuantize: granularity must be "per_tensor" or "per_token", got ${String(g)}`);
    const d = opts.dtype ?? "uint8";
    if (d !== "uint8" && d !== "int8") throw new ValueError(`DynamicFakeQuantize: dtype must be "uint8" or "int8", got ${String(d)}`);
    this.granularity = g;
    this.dtype = d;
    [this.quantMin, this.quantMax] = dynamicRange(d);
  }

  forward(x: Tensor): Tensor {
    if (this.fake_quant_enabled.data[0] !== 1) return x;
    const r = fakeQuantizeDynamic(x, this.granularity, this.quantMin, this.quantMax);
    this.last = r.params;
    return r.output;
  }

  /** The parameters of the last batch (one per row for per token). */
  calculateQParams(): QParamsTensors {
    return {
      scale: new Tensor(Float32Array.from(this.last, (p) => p.scale), [this.last.length]),
      zeroPoint: new Tensor(Int32Array.from(this.last, (p) => p.zeroPoint), [this.last.length]),
    };
  }

  override extraRepr(): string {
    return `granularity=${this.granularity}, dtype=${this.dtype}, quant_min=${this.quantMin}, quant_max=${this.quantMax}, fake_quant_enabled=${this.fake_quant_enabled.data[0]}`;
  }
}

/**
 * The output "quantizer" of dynamic qconfigs: the value stays float (dynamic models are float
 * graphs whose Linear layers quantize their input at run time). Its fake_quant_enabled stays
 * 0, so no QAT layer reads it as an input grid.
 */
export class FloatActivation extends FakeQuantizeBase {
  /** Marks a float value for convert. */
  readonly keepsFloat = true;

  constructor() {
    super();
    this.fake_quant_enabled.data[0] = 0;
    this.observer_enabled.data[0] = 0;
  }

  forward(x: Tensor): Tensor {
    return x;
  }

  override enableFakeQuant(): void {}
  override enableObserver(): void {}

  calculateQParams(): QParamsTensors {
    throw new NotSupportedError("FloatActivation: this value stays float (dynamic quantization); it has no quantization parameters");
  }
}

/** Is `m` the float output marker of a dynamic qconfig? */
export function isFloatActivation(m: unknown): m is FloatActivation {
  return m instanceof FloatActivation;
}

/** Is `m` a run-time (dynamic) activation quantizer? */
export function isDynamicFakeQuantize(m: unknown): m is DynamicFakeQuantize {
  return m instanceof DynamicFakeQuantize;
}
