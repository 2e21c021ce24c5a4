/**
 * Tensor factories: tensor() from typed arrays, numbers or nested arrays; zeros/ones/full;
 * arange; seeded randn/rand/randint. Called by users, nn initialisers and tests.
 */
import { type AnyArray, type DType, allocArray, assertDType, dtypeOfArray } from "./dtype.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "./errors.js";
import { type Generator, defaultGenerator } from "./random.js";
import { type Shape, checkShape, numel } from "./shape.js";
import { Tensor } from "./tensor.js";

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

export type NestedArray = number | readonly NestedArray[];

function finish(t: Tensor, opts: TensorOptions | undefined): Tensor {
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as NestedArray;
  }
  return shape;
}

function flatten(data: NestedArray, shape: readonly number[], dim: number, out: number[]): void {
  if (dim === shape.length) {
    if (typeof data !== "number") throw new ShapeError("tensor: ragged nested array");
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim]) {
    throw new ShapeError(`tensor: ragged nested array (expected length ${shape[dim]} at depth ${dim})`);
  }
  for (const d of data as readonly NestedArray[]) flatten(d, shape, dim + 1, out);
}

const TENSOR_OPTIONS = new Set(["dtype", "requiresGrad", "shape"]);

/**
 * tensor()'s second argument must be an options object: JavaScript callers writing
 * `tensor(data, [2, 3])` (PyTorch habit) or `{ requires_grad: true }` get a ValueError
 * saying what to write instead, never a silently ignored argument.
 */
function checkTensorOptions(opts: unknown): void {
  if (opts === undefined) return;
  if (Array.isArray(opts) || ArrayBuffer.isView(opts)) {
    const shape = Array.isArray(opts) ? JSON.stringify(opts) : `[${Array.from(opts as AnyArray).join(", ")}]`;
    throw new ValueError(`tensor: the second argument is an options object, got the array ${shape}; for a shape write tensor(data, { shape: ${shape} }) or tensor(data).reshape(${shape})`);
  }
  if (opts === null || typeof opts !== "object") {
    throw new ValueError(`tensor: the second argument must be an options object ({ dtype, requiresGrad, shape }), got ${opts === null ? "null" : typeof opts} ${String(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!TENSOR_OPTIONS.has(key)) {
      const hint = key === "requires_grad" ? " (did you mean requiresGrad?)" : "";
      throw new ValueError(`tensor: unknown option '${key}'${hint}; known options: dtype, requiresGrad, shape`);
    }
  }
}

/**
 * Creates a tensor. `data` may be a typed array (used as storage, not copied, unless a dtype
 * conversion is asked for), a plain number array, nested arrays or a single number.
 */
export function tensor(data: AnyArray | NestedArray, opts: TensorOptions & { shape?: Shape } = {}): Tensor {
  checkTensorOptions(opts);
  if (ArrayBuffer.isView(data)) {
    const arr = data as AnyArray;
    const shape = opts.shape ? checkShape(opts.shape, "tensor") : [arr.length];
    if (numel(shape) !== arr.length) {
      throw new ShapeError(`tensor: shape ${fmtShape(shape)} needs ${numel(shape)} elements, data has ${arr.length}`);
    }
    const dtype = opts.dtype ?? dtypeOfArray(arr);
    const store = dtype === dtypeOfArray(arr) ? arr : castArray(arr, dtype);
    return finish(new Tensor(store, shape), opts);
  }
  const inferred = inferShape(data as NestedArray);
  const flat: number[] = [];
  flatten(data as NestedArray, inferred, 0, flat);
  const shape = opts.shape ? checkShape(opts.shape, "tensor") : inferred;
  if (numel(shape) !== flat.length) {
    throw new ShapeError(`tensor: shape ${fmtShape(shape)} needs ${numel(shape)} elements, data has ${flat.length}`);
  }
  const dtype = assertDType(opts.dtype ?? "float32");
  const arr = allocArray(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) arr[i] = flat[i];
  return finish(new Tensor(arr, shape), opts);
}

function castArray(a: AnyArray, dtype: DType): AnyArray {
  const out = allocArray(dtype, a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}

export function full(shape: Shape, value: number, opts: TensorOptions = {}): Tensor {
  const s = checkShape(shape, "full");
  const arr = allocArray(assertDType(opts.dtype ?? "float32"), numel(s));
  if (value !== 0) arr.fill(value);
  return finish(new Tensor(arr, s), opts);
}

export function zeros(shape: Shape, opts: TensorOptions = {}): Tensor {
  return full(shape, 0, opts);
}

export function ones(shape: Shape, opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

export function zerosLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, ...opts });
}

export function onesLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, ...opts });
}

/** Values start, start+step, … below end (like torch.arange; end alone means [0, end)). */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step)) throw new ValueError(`arange: step must be finite and non-zero, got ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const allInt = Number.isInteger(start) && Number.isInteger(step);
  const dtype = opts.dtype ?? (allInt ? "int32" : "float32");
  const arr = allocArray(dtype, n);
  for (let i = 0; i < n; i++) arr[i] = start + i * step;
  return finish(new Tensor(arr, [n]), opts);
}

function floatDType(opts: TensorOptions, op: string): "float32" | "float64" {
  const d = opts.dtype ?? "float32";
  if (d !== "float32" && d !== "float64") throw new DTypeError(`${op}: dtype must be float32 or float64, got ${d}`);
  return d;
}

/** Standard normal samples from the (seedable) default generator. */
export function randn(shape: Shape, opts: RandomOptions = {}): Tensor {
  const s = checkShape(shape, "randn");
  const g = opts.generator ?? defaultGenerator;
  const arr = allocArray(floatDType(opts, "randn"), numel(s));
  for (let i = 0; i < arr.length; i++) arr[i] = g.normal();
  return finish(new Tensor(arr, s), opts);
}

/** Uniform samples in [low, high) (default [0, 1)). */
export function rand(shape: Shape, opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const s = checkShape(shape, "rand");
  const g = opts.generator ?? defaultGenerator;
  const lo = opts.low ?? 0;
  const span = (opts.high ?? 1) - lo;
  const arr = allocArray(floatDType(opts, "rand"), numel(s));
  for (let i = 0; i < arr.length; i++) arr[i] = lo + span * g.uniform();
  return finish(new Tensor(arr, s), opts);
}

/** Uniform integers in [low, high); dtype int32 unless asked otherwise. */
export function randint(low: number, high: number, shape: Shape, opts: RandomOptions = {}): Tensor {
  const s = checkShape(shape, "randint");
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new ValueError(`randint: need integers low < high, got [${low}, ${high})`);
  }
  const g = opts.generator ?? defaultGenerator;
  const arr = allocArray(opts.dtype ?? "int32", numel(s));
  for (let i = 0; i < arr.length; i++) arr[i] = g.int(low, high);
  return finish(new Tensor(arr, s), opts);
}
