/**
 * Quantization specs: the quantized dtype, the scheme and the integer range [qmin, qmax] an
 * observer or fake-quantizer targets, built exactly as PyTorch 1.13 builds them
 * (`torch.ao.quantization.utils.calculate_qmin_qmax`), plus `withArgs` factories so that
 * QConfigs can hold "how to build an observer" rather than an observer.
 * Called by qparams.ts, observer.ts, fake-quantize.ts, lsq.ts and the qconfig presets.
 */
import { NotSupportedError, ValueError } from "../tensor/errors.js";

/** The integer type being simulated (PyTorch's torch.quint8 / torch.qint8 / torch.qint32). */
export type QuantDType = "uint8" | "int8" | "int32";
/** A QuantDType, also accepted under its PyTorch name. */
export type QuantDTypeName = QuantDType | "quint8" | "qint8" | "qint32";
/** PyTorch's qscheme, spelled as in `str(torch.per_tensor_affine)`. */
export type QScheme = "per_tensor_affine" | "per_tensor_symmetric" | "per_channel_affine" | "per_channel_symmetric";

const DTYPE_ALIASES: Record<string, QuantDType> = {
  uint8: "uint8",
  quint8: "uint8",
  int8: "int8",
  qint8: "int8",
  int32: "int32",
  qint32: "int32",
};
const QSCHEMES: readonly QScheme[] = ["per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric"];

/** float32 machine epsilon, torch.finfo(torch.float32).eps = 2^-23: the default smallest scale. */
export const FLOAT32_EPS = 1.1920928955078125e-7;

/** Everything the qparams math needs to know about the target integer grid. */
export interface QuantSpec {
  readonly dtype: QuantDType;
  readonly qscheme: QScheme;
  /** Smallest / largest integer code (after reduceRange). */
  readonly qmin: number;
  readonly qmax: number;
  readonly reduceRange: boolean;
  /** True when the user gave quantMin and quantMax (PyTorch's has_customized_qrange). */
  readonly customRange: boolean;
  /** Smallest scale, as a float32 value. */
  readonly eps: number;
}

/** Options shared by the uniform observers (PyTorch keyword names, camelCase). */
export interface QuantSpecOptions {
  dtype?: QuantDTypeName;
  qscheme?: QScheme;
  reduceRange?: boolean;
  quantMin?: number;
  quantMax?: number;
  eps?: number;
}

export function normalizeDType(d: string, where = "dtype"): QuantDType {
  const q = DTYPE_ALIASES[d];
  if (!q) throw new ValueError(`${where}: expected one of uint8|int8|int32 (or quint8|qint8|qint32), got '${d}'`);
  return q;
}

export function normalizeQScheme(s: string, where = "qscheme"): QScheme {
  if ((QSCHEMES as readonly string[]).includes(s)) return s as QScheme;
  if (s === "per_channel_affine_float_qparams") {
    throw new NotSupportedError(`${where}: per_channel_affine_float_qparams (float zero points, embeddings) is not supported`);
  }
  throw new ValueError(`${where}: expected one of ${QSCHEMES.join("|")}, got '${s}'`);
}

export function isPerChannel(q: QScheme): boolean {
  return q === "per_channel_affine" || q === "per_channel_symmetric";
}

export function isSymmetric(q: QScheme): boolean {
  return q === "per_tensor_symmetric" || q === "per_channel_symmetric";
}

/** Inclusive range of the storage type (torch.iinfo). */
export function dtypeBounds(d: QuantDType): [number, number] {
  if (d === "uint8") return [0, 255];
  if (d === "int8") return [-128, 127];
  return [-2147483648, 2147483647];
}

function requireInt(v: number, name: string, where: string): void {
  if (!Number.isSafeInteger(v)) throw new ValueError(`${where}: ${name} must be an integer, got ${v}`);
}

/**
 * PyTorch's calculate_qmin_qmax. With a user range [quantMin, quantMax] (which must contain 0,
 * quantMin < quantMax, at most 256 codes for int8), reduceRange floor-halves both ends
 * ([0,255] → [0,127], [-128,127] → [-64,63]); without one, the 8-bit defaults apply
 * (uint8 [0,255] or [0,127]; int8 [-128,127] or [-64,63]; int32 [-2^31, 2^31-1]).
 */
export function calculateQminQmax(
  quantMin: number | undefined,
  quantMax: number | undefined,
  dtype: QuantDType,
  reduceRange: boolean,
  where = "observer",
): { qmin: number; qmax: number; customRange: boolean } {
  if ((quantMin === undefined) !== (quantMax === undefined)) {
    throw new ValueError(`${where}: quantMin and quantMax must be given together (got quantMin=${quantMin}, quantMax=${quantMax})`);
  }
  if (quantMin !== undefined && quantMax !== undefined) {
    requireInt(quantMin, "quantMin", where);
    requireInt(quantMax, "quantMax", where);
    if (quantMin >= quantMax) throw new ValueError(`${where}: quantMin (${quantMin}) must be less than quantMax (${quantMax})`);
    if (quantMin > 0 || quantMax < 0) {
      throw new ValueError(`${where}: the range [quantMin, quantMax] = [${quantMin}, ${quantMax}] must include 0`);
    }
    const len = quantMax - quantMin + 1;
    if (dtype === "int8" && len > 256) throw new ValueError(`${where}: [quantMin, quantMax] holds ${len} codes, more than int8's 256`);
    if (dtype === "int32" && len > 2 ** 31) throw new ValueError(`${where}: [quantMin, quantMax] holds ${len} codes, more than 2^31`);
    if (!reduceRange) return { qmin: quantMin, qmax: quantMax, customRange: true };
    return { qmin: Math.floor(quantMin / 2), qmax: Math.floor(quantMax / 2), customRange: true };
  }
  if (dtype === "int8") return reduceRange ? { qmin: -64, qmax: 63, customRange: false } : { qmin: -128, qmax: 127, customRange: false };
  if (dtype === "uint8") return reduceRange ? { qmin: 0, qmax: 127, customRange: false } : { qmin: 0, qmax: 255, customRange: false };
  return { qmin: -(2 ** 31), qmax: 2 ** 31 - 1, customRange: false };
}

export interface QuantRangeOptions {
  /** Bit width, 2..8. */
  bits: number;
  /** Signed codes [-2^(b-1), 2^(b-1)-1] (default true) or unsigned [0, 2^b-1]. */
  signed?: boolean;
  /** Drop the lowest code (TFLite/ONNX narrow range: int8 [-127, 127]). */
  narrow?: boolean;
  /** Floor-halve both ends afterwards, as PyTorch's reduce_range does. */
  reduceRange?: boolean;
}

/** The integer range for `bits` bits: what to pass as quantMin/quantMax. */
export function quantRange(opts: QuantRangeOptions): { quantMin: number; quantMax: number } {
  const { bits } = opts;
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new ValueError(`quantRange: bits must be an integer in 2..8, got ${bits}`);
  const signed = opts.signed ?? true;
  let lo = signed ? -(2 ** (bits - 1)) : 0;
  let hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (opts.narrow) lo += 1;
  if (opts.reduceRange) {
    lo = Math.floor(lo / 2);
    hi = Math.floor(hi / 2);
  }
  return { quantMin: lo, quantMax: hi };
}

/** Builds and validates a QuantSpec from observer options (defaults: uint8, per_tensor_affine). */
export function makeQuantSpec(opts: QuantSpecOptions, defaults: { qscheme: QScheme }, where: string): QuantSpec {
  const dtype = normalizeDType(opts.dtype ?? "uint8", `${where}: dtype`);
  const qscheme = normalizeQScheme(opts.qscheme ?? defaults.qscheme, `${where}: qscheme`);
  const reduceRange = opts.reduceRange ?? false;
  const { qmin, qmax, customRange } = calculateQminQmax(opts.quantMin, opts.quantMax, dtype, reduceRange, where);
  const eps = opts.eps ?? FLOAT32_EPS;
  if (!(eps > 0) || !Number.isFinite(eps)) throw new ValueError(`${where}: eps must be a positive finite number, got ${eps}`);
  return { dtype, qscheme, qmin, qmax, reduceRange, customRange, eps: Math.fround(eps) };
}

/**
 * A reusable constructor call with preset options (PyTorch's `Cls.with_args(**kw)`): calling
 * it builds a fresh instance; options given at call time override the preset ones.
 */
export interface Factory<T, O extends object> {
  (overrides?: Partial<O>): T;
  /** The preset options (read-only). */
  readonly args: Readonly<Partial<O>>;
  /** The class it instantiates. */
  readonly target: new (opts?: O) => T;
  /** A new factory with more preset options. */
  withArgs(more: Partial<O>): Factory<T, O>;
}

export function makeFactory<T, O extends object>(target: new (opts?: O) => T, args: Partial<O>): Factory<T, O> {
  const preset = Object.freeze({ ...args });
  const f = ((overrides?: Partial<O>) => new target({ ...preset, ...(overrides ?? {}) } as O)) as Factory<T, O>;
  Object.defineProperties(f, {
    args: { value: preset, enumerable: true },
    target: { value: target, enumerable: true },
    withArgs: { value: (more: Partial<O>) => makeFactory(target, { ...preset, ...more }) },
  });
  return f;
}
