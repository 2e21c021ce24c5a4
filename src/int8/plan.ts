/**
 * Compiled runs of an Int8Model on the native backend (issue #20): for an input shape whose
 * every node takes a native int8 kernel on the layer-by-layer path (conv with groups = 1 and
 * its fused 2×2 pool, linear, max pool, add with the following requantize fused, and the
 * flatten / reshape views), the layer sequence is compiled once into a native plan
 * (native/int8-plan.c): buffers allocated, geometry and parameters resolved and checked, and
 * `run` is then one N-API call from the float input (quantized in C) to the float output
 * (dequantized in C). The plan makes the decisions ./layer-cache.ts and ./native-layers.ts make
 * and calls the same C kernels with the same arguments — except that a linear layer at ≤ 4 rows
 * on uint8 input whose values fit 7 bits (the x86 preset) takes a u8 × s8 matrix-vector kernel
 * on its int8 rows (native/int8-plan-gemv.c: the same exact sums, half the weight bytes of the
 * int16 panels) —, so results are bit-identical
 * (test/int8/plan.test.ts). A shape gets its plan after a successful layer-by-layer run, so
 * every misuse still meets that path's typed errors; a NaN input falls back to it too (which
 * throws). Anything else (another op, a depthwise conv, float64 input, the wasm backend) runs
 * layer by layer. A plan keeps copies of the biases, multipliers, shifts and int8 linear weights
 * it was built with (the packed weights are snapshots of the tensor table already). Called by
 * ./model.ts only.
 */
import { getBackend } from "../backend/index.js";
import { addon } from "../backend/native/addon.js";
import { nativeInt8Preferred } from "../backend/native/int8.js";
import { threadCount } from "../backend/wasm/runtime.js";
import { allocArrayUninit } from "../tensor/dtype.js";
import { Tensor } from "../tensor/tensor.js";
import type { Int8Graph, Int8Node, ValueInfo } from "./graph.js";
import type { LayerCache } from "./layer-cache.js";

const native = addon;
const STEP = 40; // ints per step (QP_STEP_INTS)
const CONV = 1, LINEAR = 2, MAXPOOL = 3, ADD = 4;
/** Linear layers of at most this many rows take the u8 × s8 path when their input allows (QGEMV_MAX_ROWS). */
const GEMV_ROWS = 4;
/** Plans kept per model (one per input shape, the oldest dropped first). */
const MAX_PLANS = 4;

/** What a plan is compiled from: the model's graph, values, reader counts, layer cache and tensor table. */
export interface PlanHost {
  graph: Int8Graph;
  tensors: ReadonlyMap<string, Int8Array | Int32Array>;
  value(id: string): ValueInfo;
  readers: ReadonlyMap<string, number>;
  layers: LayerCache;
}

type Dt = "uint8" | "int8";
const isInt = (v: unknown, lo: number, hi: number): v is number => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
const rangeOf = (d: Dt): [number, number] => (d === "uint8" ? [0, 255] : [-128, 127]);
const okMultiplier = (m: readonly number[]): boolean => isInt(m[0], 0, 2147483647) && isInt(m[1], -31, 30);
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** The clamp [lo, hi] inside the dtype's range (./native-layers.ts's clampOf), or null. */
function clampOf(clamp: readonly number[], d: Dt): [number, number] | null {
  const [qlo, qhi] = rangeOf(d);
  const lo = clamp[0] ?? qlo, hi = clamp[1] ?? qhi;
  return isInt(lo, qlo, qhi) && isInt(hi, qlo, qhi) && lo <= hi ? [lo, hi] : null;
}

/** True when plain runs take compiled plans: the native backend with its vector int8 kernels. */
export function plansActive(): boolean {
  return native !== null && getBackend() === "native" && nativeInt8Preferred();
}

/** One compiled input shape. */
class CompiledRun {
  constructor(private readonly handle: object, private readonly outLen: number, private readonly outShape: number[]) {}

  /** The float output, or null when x holds a NaN (nothing was run). */
  run(x: Float32Array): Tensor | null {
    const y = allocArrayUninit("float32", this.outLen); // (the tensors' usual storage; C writes every element)
    if (native!.int8PlanRun(this.handle, x, y, threadCount()) >= 0) return null;
    return new Tensor(y, [...this.outShape]);
  }
}

/** A value during compilation: its buffer and shape (views share their source's buffer). */
interface Slot { buf: number; shape: number[]; dtype: Dt }

/** Compiles the graph for input shape `shape`, or null when some node would not run natively. */
function compile(host: PlanHost, shape: readonly number[]): CompiledRun | null {
  const { graph } = host;
  const inQ = graph.input.q;
  if (graph.input.int || graph.input.float || (graph.extraInputs?.length ?? 0) > 0 || host.value(graph.output).float || host.value(graph.output).int) return null;
  const bufs: number[] = [prod(shape), inQ.dtype === "uint8" ? 1 : 0];
  const slots = new Map<string, Slot>([[graph.input.id, { buf: 0, shape: [...shape], dtype: inQ.dtype }]]);
  const newBuf = (n: number, d: Dt) => (bufs.push(n, d === "uint8" ? 1 : 0), bufs.length / 2 - 1);
  const steps: number[] = [];
  const params: number[] = [];
  const weights: Int32Array[] = [];
  const bytes: Int8Array[] = []; // int8 linear weights for the u8 × s8 batch-1 path (native/int8-plan-gemv.c)
  const weightIndex = new Map<Int32Array, number>();
  const addParams = (a: Int32Array) => {
    const at = params.length;
    for (let j = 0; j < a.length; j++) params.push(a[j]); // (no spread: a vocabulary-sized bias would overflow the stack)
    return at;
  };
  const step = (vals: Record<number, number | undefined>) => {
    const s = new Array<number>(STEP).fill(0);
    for (const [i, v] of Object.entries(vals)) s[Number(i)] = v ?? 0;
    steps.push(...s);
  };
  const nodes = graph.nodes;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i], next = nodes[i + 1];
    const x = slots.get(node.inputs[0]);
    if (!x) return null;
    const put = (id: string, s: Slot) => slots.set(id, s);
    if (node.op === "flatten") {
      put(node.output, { ...x, shape: [...x.shape.slice(0, node.startDim), prod(x.shape.slice(node.startDim))] });
      continue;
    }
    if (node.op === "reshape") {
      const sh = node.shape.map((d) => (d === -1 ? x.shape[0] : d));
      const known = sh.reduce((a, d) => (d === -2 ? a : a * d), 1);
      const out = sh.map((d) => (d === -2 ? prod(x.shape) / known : d));
      if (!out.every((d) => Number.isSafeInteger(d) && d >= 0) || prod(out) !== prod(x.shape)) return null;
      put(node.output, { ...x, shape: out });
      continue;
    }
    const xq = host.value(node.inputs[0]).q;
    if (xq.dtype !== x.dtype) return null;
    if (node.op === "conv2d" || node.op === "linear") {
      if (node.op === "linear" ? Boolean(node.wZeroPoints) : node.groups !== 1) return null;
      const yq = host.value(node.output).q;
      const r = host.layers.fastRequant(node, yq);
      const fw = host.layers.fastWeights(node);
      if (!fw.native) return null;
      let w = weightIndex.get(fw.native);
      if (w === undefined) weightIndex.set(fw.native, (w = weights.push(fw.native) - 1));
      const oc = node.wShape[0];
      if ((r.multiplier.length !== 1 && r.multiplier.length !== oc) || r.shift.length !== r.multiplier.length || (r.bias && r.bias.length !== oc)) return null;
      const rq = {
        24: r.multiplier.length > 1 ? 1 : 0, 25: r.yZp, 26: r.lo, 27: r.hi, 28: r.bias ? addParams(r.bias) : -1,
        29: addParams(r.multiplier), 30: addParams(r.shift), 31: oc,
      };
      if (node.op === "linear") {
        const k = x.shape[x.shape.length - 1];
        if (x.shape.length < 2 || k !== fw.K) return null;
        const m = prod(x.shape) / k;
        const out = newBuf(m * oc, r.outDType);
        const w8 = host.tensors.get(node.weight);
        const u8s8 = m <= GEMV_ROWS && x.dtype === "uint8" && w8 instanceof Int8Array && w8.length === oc * k ? bytes.push(w8) - 1 : -1;
        step({ 0: LINEAR, 1: x.buf, 3: out, 4: w, 5: xq.zeroPoint, 6: m, 7: k, 8: oc, 9: u8s8, ...rq });
        put(node.output, { buf: out, shape: [...x.shape.slice(0, -1), oc], dtype: r.outDType });
        continue;
      }
      if (x.shape.length !== 4) return null;
      const [n, c, h, wd] = x.shape, [, , kh, kw] = node.wShape;
      const [sh, sw] = node.stride, [ph, pw] = node.padding, [dh, dw] = node.dilation;
      const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1, ow = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
      if (!(oh >= 1 && ow >= 1) || c !== node.wShape[1] || fw.K !== c * kh * kw) return null;
      // LayerCache.convPool's fusion: a 2×2 stride-2 pool without padding, the conv's only reader
      const pool = next?.op === "maxpool2d" && next.inputs[0] === node.output && host.readers.get(node.output) === 1 && oh >= 2 && ow >= 2 &&
        next.kernel[0] === 2 && next.kernel[1] === 2 && next.stride[0] === 2 && next.stride[1] === 2 &&
        next.padding[0] === 0 && next.padding[1] === 0 && next.dilation[0] === 1 && next.dilation[1] === 1 && !next.ceilMode;
      const [ph2, pw2] = pool ? [oh >> 1, ow >> 1] : [oh, ow];
      const out = newBuf(n * oc * ph2 * pw2, r.outDType);
      const geom = [n, c, h, wd, oc, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, 1];
      step({ 0: CONV, 1: x.buf, 3: out, 4: w, 5: xq.zeroPoint, ...Object.fromEntries(geom.map((v, j) => [6 + j, v])), 22: pool ? 1 : 0, ...rq });
      if (pool) i++;
      put(nodes[i].output, { buf: out, shape: [n, oc, ph2, pw2], dtype: r.outDType });
      continue;
    }
    if (node.op === "maxpool2d") {
      // ./native-layers.ts's nativeMaxPool conditions
      if (x.shape.length !== 4 || node.ceilMode || node.dilation[0] !== 1 || node.dilation[1] !== 1) return null;
      const [kh, kw] = node.kernel, [sh, sw] = node.stride, [ph, pw] = node.padding;
      if (![kh, kw, sh, sw].every((v) => isInt(v, 1, 65535)) || !isInt(ph, 0, kh >> 1) || !isInt(pw, 0, kw >> 1)) return null;
      const [b, c, h, w] = x.shape;
      if (h + 2 * ph < kh || w + 2 * pw < kw || w + kw + 2 * pw > 60000) return null;
      const oh = Math.floor((h + 2 * ph - kh) / sh) + 1, ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
      const out = newBuf(b * c * oh * ow, x.dtype);
      step({ 0: MAXPOOL, 1: x.buf, 3: out, 6: b * c, 7: h, 8: w, 9: kh, 10: kw, 11: sh, 12: sw, 13: ph, 14: pw, 15: oh, 16: ow });
      put(node.output, { buf: out, shape: [b, c, oh, ow], dtype: x.dtype });
      continue;
    }
    if (node.op === "add") {
      // ./native-layers.ts's nativeAdd conditions, with LayerCache.fused's requantize pairing
      const bSlot = slots.get(node.inputs[1]);
      const bq = host.value(node.inputs[1]).q, yq = host.value(node.output).q;
      if (!bSlot || bSlot.dtype !== bq.dtype || prod(x.shape) !== prod(bSlot.shape)) return null;
      if (![node.aMultiplier, node.bMultiplier, node.outMultiplier].every(okMultiplier) || !isInt(node.leftShift ?? 20, 0, 22)) return null;
      if (!isInt(xq.zeroPoint, ...rangeOf(x.dtype)) || !isInt(bq.zeroPoint, ...rangeOf(bSlot.dtype)) || (yq.dtype !== "uint8" && yq.dtype !== "int8") || !isInt(yq.zeroPoint, ...rangeOf(yq.dtype))) return null;
      const clamp = clampOf(node.clamp, yq.dtype);
      if (!clamp) return null;
      const post = next?.op === "requantize" && next.inputs[0] === node.output && host.readers.get(node.output) === 1 ? next : null;
      const pq = post ? host.value(post.output).q : null;
      const pc = post && pq && (pq.dtype === "uint8" || pq.dtype === "int8") ? clampOf(post.clamp, pq.dtype) : null;
      const withPost = post !== null && pq !== null && pc !== null && okMultiplier(post.multiplier) && isInt(pq.zeroPoint, ...rangeOf(pq.dtype));
      const outD: Dt = withPost ? pq!.dtype : yq.dtype;
      const n = prod(x.shape);
      const out = newBuf(n, outD);
      step({
        0: ADD, 1: x.buf, 2: bSlot.buf, 3: out, 5: xq.zeroPoint, 6: bq.zeroPoint, 7: node.aMultiplier[0], 8: node.aMultiplier[1],
        9: node.bMultiplier[0], 10: node.bMultiplier[1], 11: node.leftShift ?? 20, 12: n, 13: withPost ? 1 : 0, 14: yq.zeroPoint,
        15: yq.dtype === "int8" ? 1 : 0, 24: node.outMultiplier[0], 25: node.outMultiplier[1], 26: yq.zeroPoint, 27: clamp[0], 28: clamp[1],
        ...(withPost ? { 29: post!.multiplier[0], 30: post!.multiplier[1], 31: pq!.zeroPoint, 32: pc![0], 33: pc![1] } : {}),
      });
      if (withPost) i++;
      put(nodes[i].output, { buf: out, shape: [...x.shape], dtype: outD });
      continue;
    }
    return null;
  }
  const out = slots.get(graph.output);
  const outQ = host.value(graph.output).q;
  if (!out || out.dtype !== outQ.dtype) return null;
  // every size and step value must be an int32 (a batch too large for one is run layer by layer)
  if (![...bufs, ...steps].every((v) => Number.isSafeInteger(v) && v >= -2147483648 && v <= 2147483647)) return null;
  const head = Int32Array.of(bufs.length / 2, steps.length / STEP, weights.length, inQ.zeroPoint, inQ.qmin, inQ.qmax, out.buf, outQ.zeroPoint);
  const scales = Float32Array.of(inQ.scale, outQ.scale);
  let handle: object;
  try {
    handle = native!.int8PlanCreate(head, Int32Array.from(bufs), Int32Array.from(steps), Int32Array.from(params), scales, weights, bytes);
  } catch (e) {
    if (e instanceof RangeError && /out of memory/.test(e.message)) return null; // the layer path allocates per layer instead
    throw e;
  }
  return new CompiledRun(handle, bufs[2 * out.buf], out.shape);
}

/** An Int8Model's compiled runs by input shape. */
export class RunPlans {
  private readonly plans = new Map<string, CompiledRun | null>();

  constructor(private readonly host: PlanHost) {}

  /** The output of a plain run on x through its shape's plan, or null: run layer by layer (then `learn`). */
  run(x: Tensor): Tensor | null {
    if (!(x instanceof Tensor) || x.dtype !== "float32" || !plansActive()) return null;
    const p = this.plans.get(x.shape.join(","));
    const data = x.data as Float32Array;
    if (!p || data.length !== prod(x.shape)) return null;
    return p.run(data);
  }

  /** After a successful layer-by-layer run on x: compiles x's shape, once (null: it has no plan). */
  learn(x: Tensor): void {
    if (!(x instanceof Tensor) || x.dtype !== "float32" || !plansActive()) return;
    const key = x.shape.join(",");
    if (this.plans.has(key)) return;
    if (this.plans.size >= MAX_PLANS) this.plans.delete(this.plans.keys().next().value as string);
    const plan = compile(this.host, x.shape);
    this.plans.set(key, plan);
    if (plan) this.host.layers.dropOutputs(); // the layer path's arrays of this run are not needed for it any more
  }

  /** Whether the next plain run on this shape takes a compiled plan (tests, benchmarks). */
  has(shape: readonly number[]): boolean {
    return plansActive() && Boolean(this.plans.get(shape.join(",")));
  }
}

export type { Int8Node };
