/**
 * The kernel interface: what a backend must compute. Kernels take typed arrays, shapes and
 * attributes — never Tensor objects — and write into caller-allocated outputs, so a backend
 * whose memory lives inside WebAssembly can run them in place. The reference backend
 * (`ref/`) implements every entry (`satisfies Kernels` makes a missing one a compile error);
 * a fast backend implements a subset and falls back to ref for the rest.
 * Called only by src/ops/* through `kernels()` in ./index.ts.
 */
import type { AnyArray, FloatArray } from "../tensor/dtype.js";
import type { Shape } from "../tensor/shape.js";

export type UnaryOp =
  | "neg" | "exp" | "log" | "sqrt" | "abs" | "relu" | "sigmoid" | "tanh"
  | "round" | "floor" | "ceil" | "sign" | "reciprocal" | "square";

export type BinaryOp =
  | "add" | "sub" | "mul" | "div" | "pow" | "maximum" | "minimum"
  | "gt" | "ge" | "lt" | "le" | "eq" | "ne";

export type ReduceOp = "sum" | "max" | "min";

/** GELU's two forms: exact (erf) or the tanh approximation (torch.nn.functional.gelu's `approximate`). */
export type GeluApproximate = "none" | "tanh";

/** Geometry of a 2-D convolution on NCHW input and OIHW weight (I = C / groups). */
export interface Conv2dGeom {
  n: number; c: number; h: number; w: number;
  oc: number; kh: number; kw: number;
  oh: number; ow: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  dilationH: number; dilationW: number;
  groups: number;
}

/** Geometry of a 2-D pooling window on NCHW input. */
export interface Pool2dGeom {
  n: number; c: number; h: number; w: number;
  oh: number; ow: number;
  kh: number; kw: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  dilationH: number; dilationW: number;
  /** avgPool only: count padded cells in the divisor (PyTorch count_include_pad). */
  countIncludePad: boolean;
}

/** A batched matrix product C[b] (+)= op(A[b]) · op(B[b]); op = transpose when trans* is set. */
export interface MatmulGeom {
  batch: number;
  m: number; n: number; k: number;
  /** Element offsets between consecutive batch entries; 0 broadcasts one matrix. */
  aBatchStride: number; bBatchStride: number; cBatchStride: number;
  transA: boolean; transB: boolean;
  /** Add into C instead of overwriting it. */
  accumulate: boolean;
}

/**
 * What a conv2d or matmul applies to each output value v before storing it (a fused
 * epilogue): v = v + bias[channel] (one float rounding), then the activation, with exactly
 * the expressions of the unary relu and clamp kernels — so a fused result is bitwise the
 * unfused ops' result (conv/matmul, then the bias add, then relu / hardtanh):
 *   "relu":  v > 0 ? v : 0                      (−0 → 0, NaN → 0)
 *   "clamp": v < lo ? lo : v > hi ? hi : v       (NaN stays NaN; hardtanh / relu6)
 * The channel is the conv's output channel, or the matmul's column j.
 */
export interface Epilogue {
  /** One value per channel, or null (no bias). */
  bias: FloatArray | null;
  act: "none" | "relu" | "clamp";
  /** Bounds of "clamp" (ignored otherwise). */
  lo: number;
  hi: number;
}

export interface Kernels {
  /** out[i] = op(x[i]); round is half-to-even. */
  unary(op: UnaryOp, x: AnyArray, out: AnyArray): void;
  /** Elementwise with NumPy broadcasting of a and b to outShape. Comparisons write 0/1. */
  binary(op: BinaryOp, a: AnyArray, aShape: Shape, b: AnyArray, bShape: Shape, out: AnyArray, outShape: Shape): void;
  /** out[i] = min(max(x[i], lo), hi). */
  clamp(x: AnyArray, lo: number, hi: number, out: AnyArray): void;
  /** out = cond != 0 ? a : b, all three broadcast to outShape. */
  where(cond: AnyArray, condShape: Shape, a: AnyArray, aShape: Shape, b: AnyArray, bShape: Shape, out: AnyArray, outShape: Shape): void;
  /** Reduces the sorted `axes` of x (shape) into out (shape without those axes, row-major). */
  reduce(op: ReduceOp, x: AnyArray, shape: Shape, axes: readonly number[], out: AnyArray): void;
  /** Index of the max/min along `axis` (first occurrence); out has shape without axis. */
  argReduce(op: "argmax" | "argmin", x: AnyArray, shape: Shape, axis: number, out: Int32Array): void;
  /** Element conversion into out's dtype (float → int truncates toward zero, then wraps). */
  cast(x: AnyArray, out: AnyArray): void;
  /** dst[dstOffset + Σ i_d·dstStrides_d] = src[srcOffset + Σ i_d·srcStrides_d] over `shape`. */
  copyStrided(src: AnyArray, srcOffset: number, srcStrides: readonly number[], dst: AnyArray, dstOffset: number, dstStrides: readonly number[], shape: Shape): void;
  /**
   * Float matrix product (see MatmulGeom). A, B, C are row-major. With `epi`, each final C
   * value goes through the epilogue (bias per column j) — the same values as matmul then
   * epilogue(c, batch·m, n, 1, epi).
   */
  matmul(a: FloatArray, b: FloatArray, c: FloatArray, g: MatmulGeom, epi?: Epilogue | null): void;
  /**
   * y[n, oc, oh, ow] = Σ x·w (y overwritten). With `epi`, each output goes through the
   * epilogue (bias per output channel) — the same values as conv2d then
   * epilogue(y, n, oc, oh·ow, epi).
   */
  conv2d(x: FloatArray, w: FloatArray, y: FloatArray, g: Conv2dGeom, epi?: Epilogue | null): void;
  /** In place over y viewed as [outer, c, inner]: y = act(y + bias[c]) (see Epilogue). */
  epilogue(y: FloatArray, outer: number, c: number, inner: number, epi: Epilogue): void;
  /**
   * out[i] = g[i] · (lo < y[i] < hi ? 1 : 0), where hi = +∞ means no upper bound (+∞ passes):
   * the vjp of relu (lo = 0, hi = +∞, y its output) and of hardtanh's strict mask (finite hi),
   * in one pass — the same values as g·(y > lo) and g·(y > lo)·(y < hi) with the comparison
   * and multiply ops (g·0 keeps g's sign; NaN in y masks to 0). lo and hi are compared as the
   * float64 numbers given; the ops pass them rounded to y's dtype, as the comparison ops round
   * a scalar operand.
   */
  maskMul(g: FloatArray, y: FloatArray, lo: number, hi: number, out: FloatArray): void;
  /** dx = conv2d transposed of dy with w (dx is overwritten). */
  conv2dBackwardInput(dy: FloatArray, w: FloatArray, dx: FloatArray, g: Conv2dGeom): void;
  /** dw = correlation of x with dy (dw is overwritten). */
  conv2dBackwardWeight(x: FloatArray, dy: FloatArray, dw: FloatArray, g: Conv2dGeom): void;
  /** Max over each window (padding never wins); argmax holds the flat input index per output (-1 if empty). */
  maxPool2d(x: FloatArray, y: FloatArray, argmax: Int32Array, g: Pool2dGeom): void;
  /** dx (overwritten) scatters dy to the recorded argmax positions. */
  maxPool2dBackward(dy: FloatArray, argmax: Int32Array, dx: FloatArray, g: Pool2dGeom): void;
  avgPool2d(x: FloatArray, y: FloatArray, g: Pool2dGeom): void;
  avgPool2dBackward(dy: FloatArray, dx: FloatArray, g: Pool2dGeom): void;
  /** PyTorch adaptive windows: start = floor(i·H/OH), end = ceil((i+1)·H/OH). */
  adaptiveAvgPool2d(x: FloatArray, y: FloatArray, n: number, c: number, h: number, w: number, oh: number, ow: number): void;
  adaptiveAvgPool2dBackward(dy: FloatArray, dx: FloatArray, n: number, c: number, h: number, w: number, oh: number, ow: number): void;
  /** Per-channel mean and biased variance of x viewed as [n, c, hw]. */
  batchNormStats(x: FloatArray, n: number, c: number, hw: number, mean: FloatArray, variance: FloatArray): void;
  /** y = (x − mean[c])·invStd[c]·gamma[c] + beta[c]; gamma/beta may be null (affine off). */
  batchNormApply(x: FloatArray, mean: FloatArray, invStd: FloatArray, gamma: FloatArray | null, beta: FloatArray | null, y: FloatArray, n: number, c: number, hw: number): void;
  /**
   * Gradients of batchNormApply. With `training`, mean/invStd are batch statistics and dx
   * includes their dependence on x; otherwise they are constants. dgamma/dbeta may be null.
   */
  batchNormBackward(dy: FloatArray, x: FloatArray, mean: FloatArray, invStd: FloatArray, gamma: FloatArray | null, dx: FloatArray, dgamma: FloatArray | null, dbeta: FloatArray | null, n: number, c: number, hw: number, training: boolean): void;
  /**
   * Training-mode batch norm forward in one call (a fast backend runs a channel's passes while
   * it is in cache): batchNormStats into mean / variance, invStd[c] = 1/√(variance[c] + eps),
   * then batchNormApply into y and, with `relu`, relu's expression (y > 0 ? y : 0) — the values
   * of those kernels called in turn (then unary relu). Statistics arrays are float64.
   */
  batchNormTrain(x: FloatArray, n: number, c: number, hw: number, eps: number, gamma: FloatArray | null, beta: FloatArray | null, y: FloatArray,
    mean: Float64Array, variance: Float64Array, invStd: Float64Array, relu: boolean): void;
  /**
   * batchNormBackward of relu(batchNormApply(x, mean, invStd, gamma, beta)): dy masked by the
   * output's sign first — the output recomputed from x with batchNormApply's expression, so
   * neither it nor the mask is read — the values of maskMul(dy, relu output, 0, +∞) then
   * batchNormBackward.
   */
  batchNormReluBackward(dy: FloatArray, x: FloatArray, mean: FloatArray, invStd: FloatArray, gamma: FloatArray | null, beta: FloatArray | null,
    dx: FloatArray, dgamma: FloatArray | null, dbeta: FloatArray | null, n: number, c: number, hw: number, training: boolean): void;
  /** out[i] = relu(a[i] + b[i]) over out's length: the add rounded to out's dtype, then relu's expression (a residual join + ReLU). */
  addRelu(a: FloatArray, b: FloatArray, out: FloatArray): void;
  /** y[n, c, i] = x[n, c, i]·scale[c] + bias[c] (bias may be null), x viewed as [n, c, inner]. */
  channelAffine(x: FloatArray, scale: FloatArray, bias: FloatArray | null, y: FloatArray, n: number, c: number, inner: number): void;
  /** dx = g·scale[c] (overwritten); dscale[c] = Σ g·x and dbias[c] = Σ g (overwritten; either may be null). */
  channelAffineBackward(g: FloatArray, x: FloatArray, scale: FloatArray, dx: FloatArray | null, dscale: FloatArray | null, dbias: FloatArray | null, n: number, c: number, inner: number): void;
  /** Numerically stable (log-)softmax over the last axis of x viewed as [rows, cols]. */
  softmax(x: FloatArray, out: FloatArray, rows: number, cols: number, log: boolean): void;
  /**
   * The vjp of softmax over rows, from its output y and the gradient g (dx overwritten):
   * y·(g − Σ g·y), or for log-softmax g − exp(y)·Σ g (row sums in float64).
   */
  softmaxBackward(y: FloatArray, g: FloatArray, dx: FloatArray, rows: number, cols: number, log: boolean): void;
  /** out[i] = gelu(x[i]): ½x(1 + erf(x/√2)), or ½x(1 + tanh(√(2/π)(x + 0.044715x³))) for "tanh". */
  gelu(x: FloatArray, out: FloatArray, approximate: GeluApproximate): void;
  /** dx[i] = g[i]·gelu'(x[i]) (dx overwritten). */
  geluBackward(g: FloatArray, x: FloatArray, dx: FloatArray, approximate: GeluApproximate): void;
  /**
   * Layer normalization of x viewed as [rows, n]: y = (x − μ)·rstd·weight + bias (weight, bias:
   * n values or null; biased variance); writes each row's μ and rstd = 1/√(σ² + eps) (float64).
   */
  layerNorm(x: FloatArray, weight: FloatArray | null, bias: FloatArray | null, y: FloatArray,
    mean: Float64Array, rstd: Float64Array, rows: number, n: number, eps: number): void;
  /**
   * Gradients of layerNorm from g and the saved mean / rstd: dx, dweight = Σ_rows g·x̂,
   * dbias = Σ_rows g (each overwritten; null = not wanted).
   */
  layerNormBackward(g: FloatArray, x: FloatArray, weight: FloatArray | null, mean: Float64Array, rstd: Float64Array,
    dx: FloatArray | null, dweight: FloatArray | null, dbias: FloatArray | null, rows: number, n: number): void;
}

export type KernelName = keyof Kernels;

/** A backend: where tensor memory comes from, plus the kernels it accelerates. */
export interface Backend {
  readonly name: string;
  /** Kernels this backend provides; missing ones fall back to the reference backend. */
  readonly kernels: Partial<Kernels>;
  /** Called by setBackend when this backend becomes active (e.g. to install its storage allocator). */
  activate?(): void;
  /** Called by setBackend when another backend replaces this one. */
  deactivate?(): void;
}
