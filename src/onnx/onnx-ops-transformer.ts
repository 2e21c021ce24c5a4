/**
 * Generic ONNX kernels for transformer graphs, built from the differentiable ops of src/ops so
 * an imported model fine-tunes through them: LayerNormalization (opset 17; output Y, and the
 * optional Mean / InvStdDev, each its own step) over the axes [axis, rank), Scale and B
 * broadcast to those dims; Gelu (opset 20; approximate "none" or "tanh"); Trilu (opset 14, the
 * causal mask of torch.triu/tril); `gatherFloat`, the
 * differentiable Gather of float data that onnx-ops.ts's Gather calls. A PyTorch
 * TransformerEncoderLayer exported at opset 13 arrives decomposed (ReduceMean, Pow, Sqrt, Erf)
 * and needs none of these. Registered in onnx-ops.ts (GENERIC_OPS).
 */
import { NotSupportedError, ShapeError, fmtShape } from "../tensor/errors.js";
import { normalizeAxis, numel, shapesEqual } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { add, div, mul, sub, where } from "../ops/binary.js";
import { mean } from "../ops/reduce.js";
import { sqrt } from "../ops/unary.js";
import { broadcastTo, permute, reshape } from "../ops/layout.js";
import { embedding, gelu, layerNorm } from "../ops/nn-functional.js";
import { type Compiler, floatInput, get, intValues, need, opt } from "./onnx-ops-util.js";

const layerNormalization: Compiler = (c) => {
  need(c, 2, 3);
  const axis = c.attrs.int("axis", -1);
  const eps = c.attrs.float("epsilon", 1e-5);
  const output = c.outputIndex ?? 0;
  return (i) => {
    const x = floatInput(c, get(i, 0));
    const a = normalizeAxis(axis, x.ndim, c.where);
    if (output > 0) return layerNormStat(x, a, eps, output);
    const ns = x.shape.slice(a);
    const fit = (t: Tensor | null): Tensor | null => (t === null || shapesEqual(t.shape, ns) ? t : broadcastTo(t, ns));
    return layerNorm(x, ns, fit(get(i, 1)), fit(opt(i, 2)), eps);
  };
};

/** LayerNormalization's optional outputs: Mean (1) and InvStdDev = 1 / √(var + ε) (2), reduced over [a, rank) with kept dims. */
function layerNormStat(x: Tensor, a: number, eps: number, output: number): Tensor {
  const axes = Array.from({ length: x.ndim - a }, (_, k) => a + k);
  const mu = mean(x, axes, { keepdim: true });
  if (output === 1) return mu;
  const centred = sub(x, mu);
  return div(1, sqrt(add(mean(mul(centred, centred), axes, { keepdim: true }), eps)));
}

const geluOp: Compiler = (c) => {
  need(c, 1);
  const approximate = c.attrs.string("approximate", "none");
  if (approximate !== "none" && approximate !== "tanh") throw new NotSupportedError(`${c.where}: Gelu approximate '${approximate}' is not supported ("none" or "tanh")`);
  return (i) => gelu(floatInput(c, get(i, 0)), approximate);
};

/** Trilu (opset 14): keeps the upper (j − i ≥ k) or lower (j − i ≤ k) triangle of the last two dims, zeroes the rest. */
const trilu: Compiler = (c) => {
  need(c, 1, 2);
  const upper = c.attrs.int("upper", 1) !== 0;
  return (i) => {
    const x = get(i, 0);
    const kt = opt(i, 1);
    const k = kt ? intValues(kt, c.where)[0] ?? 0 : 0;
    if (x.ndim < 2) throw new ShapeError(`${c.where}: Trilu needs a tensor of rank ≥ 2, got ${fmtShape(x.shape)}`);
    const [r, col] = x.shape.slice(-2);
    const keep = new Uint8Array(r * col);
    for (let a = 0; a < r; a++) for (let b = 0; b < col; b++) keep[a * col + b] = (upper ? b - a >= k : b - a <= k) ? 1 : 0;
    return where(new Tensor(keep, [r, col]), x, 0);
  };
};

export const TRANSFORMER_OPS: Readonly<Record<string, Compiler>> = {
  LayerNormalization: layerNormalization,
  Gelu: geluOp,
  Trilu: trilu,
};

/**
 * Differentiable Gather of float data along axis `a` with normalized indices (ONNX Gather,
 * e.g. PyTorch's `x[:, 0]` or a token embedding): the axis is moved first, the rest flattened
 * into rows, and the rows looked up with `embedding` (whose vjp scatter-adds), then the result
 * is put back in ONNX's order [...data.shape[:a], ...indices.shape, ...data.shape[a+1:]].
 * Called by onnx-ops.ts's Gather kernel.
 */
export function gatherFloat(data: Tensor, a: number, idx: readonly number[], indicesShape: readonly number[]): Tensor {
  const n = data.shape[a];
  const others = [...data.shape.keys()].filter((d) => d !== a);
  const moved = a === 0 ? data : permute(data, [a, ...others]);
  const rest = moved.shape.slice(1);
  const rows = embedding(new Tensor(Int32Array.from(idx), [...indicesShape]), reshape(moved, [n, numel(rest)]));
  const out = reshape(rows, [...indicesShape, ...rest]);
  if (a === 0) return out;
  const q = indicesShape.length;
  const perm = [...Array.from({ length: a }, (_, k) => q + k), ...Array.from({ length: q }, (_, k) => k), ...Array.from({ length: rest.length - a }, (_, k) => q + a + k)];
  return permute(out, perm);
}
