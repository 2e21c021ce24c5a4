/**
 * Transformer building blocks as fused differentiable ops (torch.nn.functional names):
 * erf (torch.erf), gelu (exact erf form and the tanh approximation), layerNorm and embedding.
 * gelu and layerNorm validate, allocate and call one kernel each way (Kernels gelu /
 * geluBackward, layerNorm / layerNormBackward: the math, in float64, is in
 * src/backend/ref/transformer.ts, with wasm and native versions); layerNorm keeps each row's
 * mean and 1/σ (float64) for its vjp. erf and embedding are TypeScript loops here; erf
 * evaluates the tabulated Hermite interpolant `erfFast` of the reference kernels. Called by the
 * layers in src/nn/layers (GELU, LayerNorm, Embedding), the ONNX importer (Erf) and users
 * (through the capturable versions in ./captured.ts).
 *
 *   gelu(x)      = x·Φ(x) = ½x(1 + erf(x/√2));            dy/dx = Φ(x) + x·φ(x)
 *   gelu_tanh(x) = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³)
 *   layerNorm:  x̂ = (x − μ)·r, r = 1/√(σ² + ε) (biased σ² over the normalized dims), y = x̂·w + b
 *               dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = g·w;  dw = Σ g·x̂;  db = Σ g
 *   embedding:  y[..., :] = W[i, :];  dW[i] += g (rows at paddingIdx get no gradient)
 */
import { kernels } from "../backend/index.js";
import type { GeluApproximate } from "../backend/kernels.js";
import { erfFast, erfScalar } from "../backend/ref/transformer.js";
import { type FloatArray, isFloatDType } from "../tensor/dtype.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import { numel } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { empty, requireFloat, uninit } from "./util.js";

export { erfFast, erfScalar };

/** Elementwise map with a pointwise derivative: y = f(x), dx = g·f'(x). */
function pointwise(x: Tensor, op: string, f: (v: number) => number, df: (v: number) => number): Tensor {
  requireFloat(x, op);
  const out = empty(x.shape, x.dtype);
  const xd = x.data;
  const y = out.data;
  for (let i = 0; i < y.length; i++) y[i] = f(xd[i]);
  return record(out, op, [x], (g) => {
    const dx = empty(x.shape, x.dtype);
    const gd = g.data;
    const d = dx.data;
    for (let i = 0; i < d.length; i++) d[i] = gd[i] * df(xd[i]);
    return [dx];
  });
}

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** The Gauss error function (torch.erf); gradient 2/√π·e^(−x²). */
export function erf(x: Tensor): Tensor {
  return pointwise(x, "erf", erfFast, (v) => TWO_OVER_SQRT_PI * Math.exp(-v * v));
}

export type { GeluApproximate };

/** Gaussian error linear unit (torch.nn.functional.gelu): exact (erf) or the tanh approximation (kernels gelu / geluBackward). */
export function gelu(x: Tensor, approximate: GeluApproximate = "none"): Tensor {
  if (approximate !== "none" && approximate !== "tanh") {
    throw new ValueError(`gelu: approximate must be "none" or "tanh", got ${JSON.stringify(approximate)}`);
  }
  requireFloat(x, "gelu");
  const out = uninit(x.shape, x.dtype);
  kernels().gelu(x.data as FloatArray, out.data as FloatArray, approximate);
  return record(out, "gelu", [x], (g) => {
    const dx = uninit(x.shape, x.dtype);
    kernels().geluBackward(g.data as FloatArray, x.data as FloatArray, dx.data as FloatArray, approximate);
    return [dx];
  });
}

/**
 * Layer normalization over the trailing `normalizedShape` dims (torch.nn.functional.layer_norm):
 * biased variance, optional elementwise weight and bias of shape `normalizedShape`.
 */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const op = "layerNorm";
  requireFloat(x, op);
  const ns = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
  if (ns.length === 0 || ns.some((d) => !Number.isInteger(d) || d < 1)) throw new ValueError(`layerNorm: normalizedShape must be positive integers, got ${JSON.stringify(normalizedShape)}`);
  const tail = x.shape.slice(x.ndim - ns.length);
  if (x.ndim < ns.length || tail.some((d, i) => d !== ns[i])) {
    throw new ShapeError(`layerNorm: input ${fmtShape(x.shape)} does not end with normalizedShape ${fmtShape(ns)}`);
  }
  for (const [name, t] of [["weight", weight], ["bias", bias]] as const) {
    if (!t) continue;
    requireFloat(t, op, name);
    if (t.dtype !== x.dtype) throw new DTypeError(`layerNorm: input is ${x.dtype} but ${name} is ${t.dtype}`);
    if (t.ndim !== ns.length || t.shape.some((d, i) => d !== ns[i])) throw new ShapeError(`layerNorm: ${name} must have shape ${fmtShape(ns)}, got ${fmtShape(t.shape)}`);
  }
  if (!(eps >= 0)) throw new ValueError(`layerNorm: eps must be ≥ 0, got ${eps}`);
  const n = numel(ns);
  const rows = x.size / n;
  const xd = x.data as FloatArray;
  const w = weight ? (weight.data as FloatArray) : null;
  const b = bias ? (bias.data as FloatArray) : null;
  const out = uninit(x.shape, x.dtype);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  kernels().layerNorm(xd, w, b, out.data as FloatArray, mean, rstd, rows, n, eps);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(out, op, inputs, (gy) => {
    const dx = x.requiresGrad ? uninit(x.shape, x.dtype) : null;
    const dw = weight && weight.requiresGrad ? uninit(weight.shape, weight.dtype) : null;
    const db = bias && bias.requiresGrad ? uninit(bias.shape, bias.dtype) : null;
    kernels().layerNormBackward(gy.data as FloatArray, xd, w, mean, rstd, dx ? (dx.data as FloatArray) : null,
      dw ? (dw.data as FloatArray) : null, db ? (db.data as FloatArray) : null, rows, n);
    return [dx, ...(weight ? [dw] : []), ...(bias ? [db] : [])];
  });
}

/**
 * Looks up rows of `weight` [num, dim] (torch.nn.functional.embedding): the output has shape
 * [...indices.shape, dim]. Indices are integer tensors in [0, num); the row at `paddingIdx`
 * (negative counts from the end, as PyTorch) gets no gradient.
 */
export function embedding(indices: Tensor, weight: Tensor, paddingIdx?: number | null): Tensor {
  const op = "embedding";
  if (isFloatDType(indices.dtype)) throw new DTypeError(`embedding: indices must be an integer tensor, got ${indices.dtype} ${fmtShape(indices.shape)}`);
  requireFloat(weight, op, "weight");
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be 2-D [num, dim], got ${fmtShape(weight.shape)}`);
  const [num, dim] = weight.shape;
  let pad = -1;
  if (paddingIdx !== undefined && paddingIdx !== null) {
    if (!Number.isInteger(paddingIdx) || paddingIdx < -num || paddingIdx >= num) throw new ValueError(`embedding: paddingIdx must be an integer in [-${num}, ${num}), got ${paddingIdx}`);
    pad = paddingIdx < 0 ? paddingIdx + num : paddingIdx;
  }
  const idx = indices.data;
  for (let i = 0; i < idx.length; i++) {
    if (idx[i] < 0 || idx[i] >= num) throw new ValueError(`embedding: index ${idx[i]} at flat position ${i} is out of range for ${num} embeddings`);
  }
  const out = empty([...indices.shape, dim], weight.dtype);
  const wd = weight.data;
  const y = out.data;
  for (let i = 0; i < idx.length; i++) y.set(wd.subarray(idx[i] * dim, idx[i] * dim + dim), i * dim);
  return record(out, op, [weight], (g) => {
    const dw = empty(weight.shape, weight.dtype);
    const d = dw.data;
    const gd = g.data;
    for (let i = 0; i < idx.length; i++) {
      const row = idx[i];
      if (row === pad) continue;
      for (let j = 0; j < dim; j++) d[row * dim + j] += gd[i * dim + j];
    }
    return [dw];
  });
}
