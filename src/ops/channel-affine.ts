/**
 * channelAffine(x, scale, bias?): y[n, c, …] = x[n, c, …]·scale[c] + bias[c] — a per-channel
 * scale and shift along axis 1 in one pass, with its vjp (dx = g·scale, dscale = Σ g·x,
 * dbias = Σ g). Used by the BN-folding QAT modules; also handy for frozen-BN layers.
 */
import { kernels } from "../backend/index.js";
import { DTypeError, ShapeError, fmtShape } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import type { Tensor } from "../tensor/tensor.js";
import { empty, requireFloat, uninit } from "./util.js";

export function channelAffine(x: Tensor, scale: Tensor, bias: Tensor | null = null): Tensor {
  requireFloat(x, "channelAffine");
  if (x.ndim < 2) throw new ShapeError(`channelAffine: input must be [N, C, …], got ${fmtShape(x.shape)}`);
  const [n, c] = x.shape;
  const inner = x.size / (n * c || 1);
  for (const [name, t] of [["scale", scale], ["bias", bias]] as const) {
    if (!t) continue;
    if (t.size !== c || t.ndim !== 1) throw new ShapeError(`channelAffine: ${name} must have shape [${c}], got ${fmtShape(t.shape)}`);
    if (t.dtype !== x.dtype) throw new DTypeError(`channelAffine: ${name} is ${t.dtype}, input is ${x.dtype}`);
  }
  const out = uninit(x.shape, x.dtype);
  const k = kernels();
  k.channelAffine(x.data as Float32Array, scale.data as Float32Array, bias ? (bias.data as Float32Array) : null, out.data as Float32Array, n, c, inner);
  const inputs = bias ? [x, scale, bias] : [x, scale];
  return record(out, "channelAffine", inputs, (g) => {
    const dx = x.requiresGrad ? uninit(x.shape, x.dtype) : null;
    const ds = scale.requiresGrad ? empty(scale.shape, x.dtype) : null;
    const db = bias && bias.requiresGrad ? empty(bias.shape, x.dtype) : null;
    k.channelAffineBackward(g.data as Float32Array, x.data as Float32Array, scale.data as Float32Array, dx ? (dx.data as Float32Array) : null,
      ds ? (ds.data as Float32Array) : null, db ? (db.data as Float32Array) : null, n, c, inner);
    return bias ? [dx, ds, db] : [dx, ds];
  });
}
