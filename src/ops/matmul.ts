/**
 * matmul (2-D, batched, and broadcast batch dims, NumPy/torch.matmul rules for rank ≥ 2;
 * 1-D operands are promoted as in torch) and linear (x·Wᵀ + b, as torch.nn.functional.linear).
 * Both run on the backend's matmul kernel; vjps are matmuls with transposed operands.
 */
import { kernels } from "../backend/index.js";
import type { Epilogue, MatmulGeom } from "../backend/kernels.js";
import type { FloatArray } from "../tensor/dtype.js";
import { DTypeError, ShapeError, fmtShape } from "../tensor/errors.js";
import { record } from "../tensor/grad-mode.js";
import { broadcastShapes, numel } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { type FusedAct, epilogueOf, fusedActGrad } from "./fused-act.js";
import { broadcastTo, reshape, squeeze, unsqueeze } from "./layout.js";
import { sum, sumToShape } from "./reduce.js";
import { requireFloat, uninit } from "./util.js";

function geom(batch: number, m: number, n: number, k: number, transA: boolean, transB: boolean, aBatched: boolean, bBatched: boolean): MatmulGeom {
  return {
    batch, m, n, k, transA, transB, accumulate: false,
    aBatchStride: aBatched ? m * k : 0,
    bBatchStride: bBatched ? k * n : 0,
    cBatchStride: m * n,
  };
}

/** Raw batched product without autograd: a [B?, m, k] · b [B?, k, n] (transposes applied to storage), then the epilogue if any. */
function mm(a: Tensor, b: Tensor, outShape: number[], g: MatmulGeom, epi: Epilogue | null = null): Tensor {
  const out = uninit(outShape, a.dtype);
  kernels().matmul(a.data as FloatArray, b.data as FloatArray, out.data as FloatArray, g, epi);
  return out;
}

/** Matrix product following torch.matmul's shape rules. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  requireFloat(a, "matmul", "a");
  requireFloat(b, "matmul", "b");
  if (a.dtype !== b.dtype) throw new DTypeError(`matmul: dtypes differ (${a.dtype} vs ${b.dtype})`);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: operands must be at least 1-D, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.ndim === 1 && b.ndim === 1) return reshape(matmul(unsqueeze(a, 0), unsqueeze(b, 1)), []);
  if (a.ndim === 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.ndim === 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  const m = a.shape[a.ndim - 2];
  const k = a.shape[a.ndim - 1];
  const n = b.shape[b.ndim - 1];
  if (b.shape[b.ndim - 2] !== k) {
    throw new ShapeError(`matmul: inner dimensions differ: ${fmtShape(a.shape)} · ${fmtShape(b.shape)} (${k} vs ${b.shape[b.ndim - 2]})`);
  }
  const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), "matmul");
  const batch = numel(batchShape);
  // Operands whose batch dims differ from the broadcast ones are expanded (a 2-D one is shared).
  const aFull = a.ndim === 2 ? a : broadcastTo(a, [...batchShape, m, k]);
  const bFull = b.ndim === 2 ? b : broadcastTo(b, [...batchShape, k, n]);
  const outShape = [...batchShape, m, n];
  const out = mm(aFull, bFull, outShape, geom(batch, m, n, k, false, false, aFull.ndim > 2, bFull.ndim > 2));
  return record(out, "matmul", [aFull, bFull], (g) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (aFull.requiresGrad) {
      // dA = g·Bᵀ
      da = mm(g, bFull, [...batchShape, m, k], geom(batch, m, k, n, false, true, true, bFull.ndim > 2));
      if (aFull.ndim === 2 && batch > 1) da = sum(reshape(da, [batch, m, k]), 0);
      else da = reshape(da, aFull.shape);
    }
    if (bFull.requiresGrad) {
      // dB = Aᵀ·g
      db = mm(aFull, g, [...batchShape, k, n], geom(batch, k, n, m, true, false, aFull.ndim > 2, true));
      if (bFull.ndim === 2 && batch > 1) db = sum(reshape(db, [batch, k, n]), 0);
      else db = reshape(db, bFull.shape);
    }
    return [da, db];
  });
}

/** y = x·Wᵀ + b for x [..., in], W [out, in], b [out] (torch.nn.functional.linear). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return linearAct(x, weight, bias, null);
}

/**
 * linear followed by an activation, as one kernel call (bias and activation in the matmul's
 * fused epilogue): the same values and gradients as `relu(linear(…))` or
 * `hardtanh(linear(…), min, max)`, bit for bit. Not a public op: used by QAT's fused
 * linear(-bn)-relu modules.
 */
export function linearAct(x: Tensor, weight: Tensor, bias: Tensor | null | undefined, act: FusedAct | null): Tensor {
  requireFloat(x, "linear", "input");
  requireFloat(weight, "linear", "weight");
  if (weight.ndim !== 2) throw new ShapeError(`linear: weight must be 2-D [out, in], got ${fmtShape(weight.shape)}`);
  if (x.ndim < 1) throw new ShapeError(`linear: input must be at least 1-D, got ${fmtShape(x.shape)}`);
  const [outF, inF] = weight.shape;
  const k = x.shape[x.ndim - 1];
  if (k !== inF) throw new ShapeError(`linear: input ${fmtShape(x.shape)} has ${k} features, weight ${fmtShape(weight.shape)} expects ${inF}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outF)) {
    throw new ShapeError(`linear: bias must be [${outF}], got ${fmtShape(bias.shape)}`);
  }
  if (x.dtype !== weight.dtype) throw new DTypeError(`linear: input is ${x.dtype} but weight is ${weight.dtype}`);
  const rows = x.size / k;
  const outShape = [...x.shape.slice(0, -1), outF];
  // bias (and activation) in the matmul's epilogue: the same float rounding as adding it after
  const out = mm(x, weight, outShape, geom(1, rows, outF, k, false, true, false, false), epilogueOf(bias ?? null, act));
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(out, act ? `linear+${act.kind}` : "linear", inputs, (gOut) => {
    const g = act ? fusedActGrad(gOut, out, act) : gOut;
    // dx = g·W ; dW = gᵀ·x ; db = Σ_rows g
    const dx = x.requiresGrad ? mm(g, weight, [...x.shape], geom(1, rows, inF, outF, false, false, false, false)) : null;
    const dw = weight.requiresGrad ? mm(g, x, [outF, inF], geom(1, outF, inF, rows, true, false, false, false)) : null;
    const db = bias && bias.requiresGrad ? sumToShape(reshape(g, [rows, outF]), [outF]) : null;
    return [dx, dw, db];
  });
}
