/**
 * Observers that do not observe (torch.ao.quantization.observer): FixedQParamsObserver for
 * ops with a known output range (sigmoid, tanh), and PlaceholderObserver / NoopObserver that
 * only carry a dtype. Buffers named as in PyTorch (`scale`, `zero_point`).
 * Called by FixedQParamsFakeQuantize, qconfigs and prepare.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { ObserverBase, type QParamsTensors } from "./observer.js";
import { type QScheme, type QuantDType, makeQuantSpec } from "./quant-spec.js";

export interface FixedQParamsObserverOptions {
  scale: number;
  zeroPoint: number;
  dtype?: QuantDType | "quint8" | "qint8" | "qint32";
  qscheme?: QScheme;
  quantMin?: number;
  quantMax?: number;
}

/** Fixed (scale, zero point) for ops with a known output range (sigmoid, tanh). Buffers: scale, zero_point. */
export class FixedQParamsObserver extends ObserverBase {
  readonly qscheme: QScheme;
  readonly quantMin: number;
  readonly quantMax: number;
  declare scale: Tensor;
  declare zero_point: Tensor;

  constructor(opts: FixedQParamsObserverOptions) {
    const spec = makeQuantSpec({ dtype: opts?.dtype, qscheme: opts?.qscheme ?? "per_tensor_affine" }, { qscheme: "per_tensor_affine" }, "FixedQParamsObserver");
    super(spec.dtype);
    if (!opts || !(opts.scale > 0)) throw new ValueError(`FixedQParamsObserver: scale must be a positive number, got ${opts?.scale}`);
    if (!Number.isInteger(opts.zeroPoint)) throw new ValueError(`FixedQParamsObserver: zeroPoint must be an integer, got ${opts.zeroPoint}`);
    this.qscheme = spec.qscheme;
    this.quantMin = opts.quantMin ?? 0;
    this.quantMax = opts.quantMax ?? 255;
    this.registerBuffer("scale", new Tensor(Float32Array.of(opts.scale), [1]));
    this.registerBuffer("zero_point", new Tensor(Int32Array.of(opts.zeroPoint), [1]));
  }

  forward(x: Tensor): Tensor {
    return x;
  }

  /** The live buffers themselves (as PyTorch returns them). */
  calculateQParams(): QParamsTensors {
    return { scale: this.scale, zeroPoint: this.zero_point };
  }
}

/** Passes through; carries a dtype only (e.g. float16 "quantization"). calculateQParams throws. */
export class PlaceholderObserver extends ObserverBase {
  readonly customOpName: string;

  constructor(opts: { dtype?: QuantDType | "float32" | "float16"; customOpName?: string } = {}) {
    super(opts.dtype ?? "float32");
    this.customOpName = opts.customOpName ?? "";
  }

  forward(x: Tensor): Tensor {
    return x;
  }

  calculateQParams(): QParamsTensors {
    throw new NotSupportedError(`calculateQParams should not be called for ${this.typeName}`);
  }
}

/** Like PlaceholderObserver with dtype float16 by default (torch NoopObserver). */
export class NoopObserver extends PlaceholderObserver {
  constructor(opts: { dtype?: QuantDType | "float32" | "float16"; customOpName?: string } = {}) {
    super({ dtype: opts.dtype ?? "float16", customOpName: opts.customOpName });
  }
}

/** torch default_fixed_qparams_range_neg1to1_observer (tanh): S = 2/256, Z = 128. */
export const defaultFixedQParamsRangeNeg1to1Observer = FixedQParamsObserver.withArgs({ scale: 2 / 256, zeroPoint: 128, dtype: "uint8", quantMin: 0, quantMax: 255 });
/** torch default_fixed_qparams_range_0to1_observer (sigmoid): S = 1/256, Z = 0. */
export const defaultFixedQParamsRange0to1Observer = FixedQParamsObserver.withArgs({ scale: 1 / 256, zeroPoint: 0, dtype: "uint8", quantMin: 0, quantMax: 255 });
