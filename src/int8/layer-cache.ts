/**
 * Per-layer state an Int8Model keeps between runs: weights packed once for the direct
 * kernels and for the wasm/native integer GEMM path, the fast path's requantization objects,
 * and the tensor-table accessors with their type checks. `fastLayer` / `convPool` run conv,
 * linear and max pooling through ./kernels/gemm-path.ts (bit-identical to the direct kernels)
 * when a fast backend is active, or return null. Their output arrays are kept per value and reused
 * by the next plain run (no allocation, no page faults at batch 1). Owned and called by ./model.ts only.
 */
import { FormatError } from "../tensor/errors.js";
import type { Int8Node, ValueInfo } from "./graph.js";
import type { PackedWeights } from "./kernels/packed.js";
import type { QuantResult } from "./kernels/common.js";
import { packQConv2dWeights } from "./kernels/qconv2d.js";
import { packQLinearWeights } from "./kernels/qlinear.js";
import { type ConvShape, type FastWeights, type GemmRequant, prepareConvWeights, prepareDepthwiseWeights, prepareLinearWeights, qconv2dGemm, qdepthwiseGemm, qlinearGemm, qmaxPool2dFast } from "./kernels/gemm-path.js";
import { wasmPathsActive } from "../backend/index.js";
import { type Into, nativeAdd, nativeMaxPool } from "./native-layers.js";
import type { QuantArray } from "./kernels/common.js";
import { allocQuant } from "./kernels/common.js";

type WeightNode = Extract<Int8Node, { weight: string }>;

/** A max pool whose windows all lie inside the input: no padding, dilation 1, floor mode. */
function windowsInside(n: Extract<Int8Node, { op: "maxpool2d" }>): boolean {
  return n.padding[0] === 0 && n.padding[1] === 0 && n.dilation[0] === 1 && n.dilation[1] === 1 && !n.ceilMode;
}

/**
 * A padded max pool (ResNet's stem: 3×3, stride 2, padding 1) through the fast kernel: the
 * planes copied into a border of the dtype's minimum, which never wins a window that holds a
 * real element — every window does when padding ≤ kernel / 2 (PyTorch's and ONNX's rule for
 * the pools they export). Dilation 1, floor mode only; otherwise null (the direct kernel).
 */
function paddedMaxPool(n: Extract<Int8Node, { op: "maxpool2d" }>, x: QuantResult): QuantResult | null {
  const [kh, kw] = n.kernel;
  const [ph, pw] = n.padding;
  if (n.dilation[0] !== 1 || n.dilation[1] !== 1 || n.ceilMode || 2 * ph > kh || 2 * pw > kw) return null;
  const [b, c, h, w] = x.shape;
  const [H, W] = [h + 2 * ph, w + 2 * pw];
  if (H < kh || W < kw) return null;
  const padded = x.data instanceof Uint8Array ? new Uint8Array(b * c * H * W) : new Int8Array(b * c * H * W).fill(-128);
  for (let p = 0; p < b * c; p++) {
    for (let i = 0; i < h; i++) padded.set(x.data.subarray((p * h + i) * w, (p * h + i + 1) * w), (p * H + i + ph) * W + pw);
  }
  return qmaxPool2dFast(padded, [b, c, H, W], n.kernel, n.stride);
}

/** A depthwise convolution: one input channel per group and one filter per channel. */
function isDepthwise(node: Extract<Int8Node, { op: "conv2d" }>): boolean {
  return node.wShape[1] === 1 && node.wShape[0] === node.groups;
}

/** map.get(key), computed by make() and stored on first use. */
function cached<V>(map: Map<string, V>, key: string, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

/** Conv geometry for an NCHW input, or null when it is not one (or the output would be empty). */
function convShape(node: Extract<Int8Node, { op: "conv2d" }>, shape: readonly number[]): ConvShape | null {
  if (shape.length !== 4) return null;
  const [n, c, h, wd] = shape;
  const [oc, , kh, kw] = node.wShape;
  const [sh, sw] = node.stride;
  const [ph, pw] = node.padding;
  const [dh, dw] = node.dilation;
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (oh < 1 || ow < 1) return null;
  return { n, c, h, w: wd, oc, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw };
}

/** The values a caller of runQuantized sees: the output and what a reshape / flatten chain views of it. */
export function escapingValues(graph: { nodes: readonly Int8Node[]; output: string }): Set<string> {
  const escaping = new Set([graph.output]);
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i];
    if ((n.op === "reshape" || n.op === "flatten") && escaping.has(n.output)) escaping.add(n.inputs[0]);
  }
  return escaping;
}

export class LayerCache {
  private readonly packed = new Map<string, PackedWeights>();
  private readonly fast = new Map<string, FastWeights>();
  private readonly requants = new Map<string, GemmRequant>();
  /** Output arrays of the fast paths by value id, reused from run to run (see beginRun). */
  private readonly outs = new Map<string, QuantArray>();
  private reuse = false;

  /**
   * `readers` counts the nodes reading each value (+1 for the model output); `escaping` holds
   * the values a run's caller can see (the output, and what a reshape/flatten of it views), whose
   * arrays are never reused.
   */
  constructor(
    private readonly tensors: ReadonlyMap<string, Int8Array | Int32Array>,
    private readonly value: (id: string) => ValueInfo,
    private readonly readers: ReadonlyMap<string, number>,
    private readonly escaping: ReadonlySet<string> = new Set(),
  ) {}

  /**
   * Starts a run: with `reuse`, the fast paths write into arrays kept from the previous run
   * (a plain run, whose intermediate values nobody keeps); without (collect, teacher), fresh ones.
   */
  beginRun(reuse: boolean): void {
    this.reuse = reuse;
  }

  /** Forgets the kept output arrays (a compiled plan, ./plan.ts, now runs that shape with buffers of its own). */
  dropOutputs(): void {
    this.outs.clear();
  }

  /** The output array lent for value `id`: the kept one when it has this dtype and length. */
  private into(id: string): Into {
    return (dtype, n) => {
      // (a size from invalid geometry — NaN, ∞ — lends nothing: the kernel then reports the geometry)
      if (!this.reuse || this.escaping.has(id) || !Number.isSafeInteger(n) || n < 0) return undefined;
      let b = this.outs.get(id);
      // (a view whose wasm memory was detached has length 0, so it is replaced too)
      if (!b || b.length !== n || (dtype === "uint8") !== (b instanceof Uint8Array)) this.outs.set(id, (b = allocQuant(dtype, n)));
      return b;
    };
  }

  /** An int32 tensor of the table (null key → null); a FormatError if it is not int32. */
  int32(key: string | null): Int32Array | null {
    if (key === null) return null;
    const t = this.tensors.get(key);
    if (!(t instanceof Int32Array)) throw new FormatError(`Int8Model: tensor '${key}' must be int32`);
    return t;
  }

  private int8Weight(node: WeightNode): Int8Array {
    const w = this.tensors.get(node.weight);
    if (!(w instanceof Int8Array)) throw new FormatError(`Int8Model: weight '${node.weight}' must be int8`);
    return w;
  }

  /** Weights packed for the direct (reference) kernels, once per layer. */
  packedWeights(node: WeightNode): PackedWeights {
    return cached(this.packed, node.weight, () => {
      const w = this.int8Weight(node);
      const zp = node.wZeroPoints ? this.int32(node.wZeroPoints)! : 0;
      return node.op === "conv2d" ? packQConv2dWeights(w, node.wShape, node.groups, zp) : packQLinearWeights(w, node.wShape, zp);
    });
  }

  /**
   * Conv (groups = 1, or depthwise) and linear with symmetric weights, and max pooling
   * without padding, through the fast integer kernels when a fast backend is active, or null.
   */
  fastLayer(node: Int8Node, x: QuantResult, xZp: number, yq: ValueInfo["q"]): QuantResult | null {
    if (!wasmPathsActive()) return null;
    if (node.op === "maxpool2d") {
      if (x.shape.length !== 4) return null;
      const into = this.into(node.output);
      const viaNative = nativeMaxPool(node, x, into);
      if (viaNative) return viaNative;
      const [n, c, h, w] = x.shape, [kh, kw] = node.kernel, [sh, sw] = node.stride;
      if (windowsInside(node)) return h >= kh && w >= kw ? qmaxPool2dFast(x.data, x.shape, node.kernel, node.stride, into(x.data instanceof Uint8Array ? "uint8" : "int8", n * c * (Math.floor((h - kh) / sh) + 1) * (Math.floor((w - kw) / sw) + 1))) : null;
      return paddedMaxPool(node, x);
    }
    if (node.op !== "conv2d" && node.op !== "linear") return null;
    if (node.op === "linear" ? Boolean(node.wZeroPoints) : node.groups !== 1 && !isDepthwise(node)) return null;
    const r = this.fastRequant(node, yq);
    const fw = this.fastWeights(node);
    const into = this.into(node.output);
    if (node.op === "linear") {
      const [n, k] = x.shape;
      return { data: qlinearGemm(x.data, xZp, n, k, fw, r, into(r.outDType, n * node.wShape[0])), shape: [n, node.wShape[0]] };
    }
    const s = convShape(node, x.shape);
    if (!s || s.c !== node.groups * node.wShape[1]) return null; // the direct kernel reports the bad geometry
    const out = into(r.outDType, s.n * s.oc * s.oh * s.ow);
    const data = node.groups === 1 ? qconv2dGemm(x.data, xZp, s, fw, r, false, out) : qdepthwiseGemm(x.data, xZp, s, fw, r, out);
    return { data, shape: [s.n, s.oc, s.oh, s.ow] };
  }

  /**
   * `node` — with `next` when `pairs` allows and `next` is fused into it — on a fast path that
   * needs more than its first input: conv + 2×2 max pool (see convPool), add (+ the requantize
   * node that alone reads its output) on the native kernels. `pair` says whether `next` was
   * consumed; null when neither applies.
   */
  fused(node: Int8Node, next: Int8Node | undefined, env: Map<string, QuantResult>, pairs: boolean): { result: QuantResult; pair: boolean } | null {
    if (node.op === "add") {
      const [a, b] = node.inputs.map((id) => env.get(id)!);
      const q = { a: this.value(node.inputs[0]).q, b: this.value(node.inputs[1]).q, y: this.value(node.output).q };
      const post = pairs && next?.op === "requantize" && next.inputs[0] === node.output && this.readers.get(node.output) === 1 ? next : null;
      const withPost = post ? nativeAdd(node, a, b, q, { node: post, q: this.value(post.output).q }, this.into(post.output)) : null;
      if (withPost) return { result: withPost, pair: true };
      const alone = nativeAdd(node, a, b, q, null, this.into(node.output));
      return alone ? { result: alone, pair: false } : null;
    }
    const pooled = pairs ? this.convPool(node, next, env) : null;
    return pooled ? { result: pooled, pair: true } : null;
  }

  /**
   * The fused conv + 2×2 stride-2 max pool of the fast path, or null when `node`/`next` are
   * not that pair, the conv output has another reader, or the conv does not take the fast path.
   */
  private convPool(node: Int8Node, next: Int8Node | undefined, env: Map<string, QuantResult>): QuantResult | null {
    if (!next || node.op !== "conv2d" || next.op !== "maxpool2d" || next.inputs[0] !== node.output) return null;
    if (!wasmPathsActive() || node.groups !== 1) return null;
    const poolOk = windowsInside(next) && next.kernel[0] === 2 && next.kernel[1] === 2 && next.stride[0] === 2 && next.stride[1] === 2;
    if (!poolOk || this.readers.get(node.output) !== 1) return null;
    const x = env.get(node.inputs[0])!;
    const s = convShape(node, x.shape);
    if (!s || s.oh < 2 || s.ow < 2) return null;
    const yq = this.value(node.output).q;
    const r = this.fastRequant(node, yq);
    const data = qconv2dGemm(x.data, this.value(node.inputs[0]).q.zeroPoint, s, this.fastWeights(node), r, true, this.into(next.output)(r.outDType, s.n * s.oc * (s.oh >> 1) * (s.ow >> 1)));
    return { data, shape: [s.n, s.oc, s.oh >> 1, s.ow >> 1] };
  }

  /** The layer's requantization in the fast kernels' form (one object per layer, reused; also ./plan.ts's). */
  fastRequant(node: WeightNode, yq: ValueInfo["q"]): GemmRequant {
    return cached(this.requants, node.output, () => {
      const [qmin, qmax] = yq.dtype === "uint8" ? [0, 255] : [-128, 127];
      return {
        bias: this.int32(node.bias), multiplier: this.int32(node.requant.multiplier)!, shift: this.int32(node.requant.shift)!,
        yZp: yq.zeroPoint, lo: Math.max(qmin, node.clamp[0]), hi: Math.min(qmax, node.clamp[1]), outDType: yq.dtype,
      };
    });
  }

  /** Weights packed for the fast integer kernels, once per layer (also ./plan.ts's). */
  fastWeights(node: WeightNode): FastWeights {
    return cached(this.fast, node.weight, () => {
      const w = this.int8Weight(node);
      const oc = node.wShape[0];
      if (node.op === "linear") return prepareLinearWeights(w, oc, w.length / oc);
      const zp = node.wZeroPoints ? this.int32(node.wZeroPoints) : null;
      return node.groups === 1 ? prepareConvWeights(w, oc, w.length / oc, zp) : prepareDepthwiseWeights(w, oc, w.length / oc, zp);
    });
  }
}
