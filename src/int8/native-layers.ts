/**
 * Int8Model's max pooling and residual add (with the requantization of a following node — the
 * ReLU after a ResNet block's add — fused) on the native kernels (native/int8-elem.c through
 * src/backend/native/int8.ts), bit-identical to src/int8/kernels/pool.ts and elementwise.ts.
 * Each function returns null when the native backend is not active or the node's parameters are
 * not ones these kernels take — the caller then runs the TypeScript (or wasm) kernel, which also
 * reports invalid parameters with its typed errors. `into` lends the output array. Called by
 * ./layer-cache.ts only.
 */
import type { Int8Node, ValueInfo } from "./graph.js";
import type { QuantArray, QuantResult } from "./kernels/common.js";
import { allocQuant } from "./kernels/common.js";
import { getBackend } from "../backend/index.js";
import { type NativeStep, nativeInt8Available, qaddNative, qmaxPool2dNative } from "../backend/native/int8.js";

type Q = ValueInfo["q"];
/** The caller's output array of that dtype and length (reused across runs), or undefined: allocate one. */
export type Into = (dtype: "uint8" | "int8", n: number) => QuantArray | undefined;

/** True when Int8Model's pools and adds take the native kernels. */
export function nativeElementwise(): boolean {
  return nativeInt8Available() && getBackend() === "native";
}

const isInt = (v: unknown, lo: number, hi: number): v is number => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
const dtypeOf = (a: QuantArray): "uint8" | "int8" | null => (a instanceof Uint8Array ? "uint8" : a instanceof Int8Array ? "int8" : null);
const rangeOf = (d: "uint8" | "int8"): [number, number] => (d === "uint8" ? [0, 255] : [-128, 127]);

/** A [M0, shift] pair the kernels accept (elementwise.ts's checkMultiplier). */
const okMultiplier = (m: readonly number[]): boolean => isInt(m[0], 0, 2147483647) && isInt(m[1], -31, 30);

/** The clamp [lo, hi] inside the dtype's range, or null where clampRange would throw. */
function clampOf(clamp: readonly number[], d: "uint8" | "int8"): [number, number] | null {
  const [qlo, qhi] = rangeOf(d);
  const lo = clamp[0] ?? qlo, hi = clamp[1] ?? qhi;
  return isInt(lo, qlo, qhi) && isInt(hi, qlo, qhi) && lo <= hi ? [lo, hi] : null;
}

/** Max pooling with dilation 1, floor mode and padding ≤ kernel/2 (every window holds an input element). */
export function nativeMaxPool(n: Extract<Int8Node, { op: "maxpool2d" }>, x: QuantResult, into?: Into): QuantResult | null {
  const d = dtypeOf(x.data);
  if (!d || !nativeElementwise() || x.shape.length !== 4 || n.ceilMode || n.dilation[0] !== 1 || n.dilation[1] !== 1) return null;
  const [kh, kw] = n.kernel, [sh, sw] = n.stride, [ph, pw] = n.padding;
  if (![kh, kw, sh, sw].every((v) => isInt(v, 1, 65535)) || !isInt(ph, 0, kh >> 1) || !isInt(pw, 0, kw >> 1)) return null;
  const [b, c, h, w] = x.shape;
  if (b * c * h * w !== x.data.length || h + 2 * ph < kh || w + 2 * pw < kw || w + kw + 2 * pw > 60000) return null;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1, ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const y = into?.(d, b * c * oh * ow) ?? allocQuant(d, b * c * oh * ow);
  qmaxPool2dNative(x.data, b * c, h, w, [kh, kw], [sh, sw], [ph, pw], oh, ow, y);
  return { data: y, shape: [b, c, oh, ow] };
}

/**
 * The add node on a and b (equal sizes), with `post` — a requantize node reading only the add's
 * output — applied to its result in the same pass (then the output has post's dtype).
 */
export function nativeAdd(
  n: Extract<Int8Node, { op: "add" }>, a: QuantResult, b: QuantResult, q: { a: Q; b: Q; y: Q },
  post: { node: Extract<Int8Node, { op: "requantize" }>; q: Q } | null, into?: Into,
): QuantResult | null {
  const ad = dtypeOf(a.data), bd = dtypeOf(b.data), yd = q.y.dtype;
  if (!ad || !bd || !nativeElementwise() || a.data.length !== b.data.length || ad !== q.a.dtype || bd !== q.b.dtype) return null;
  if (![n.aMultiplier, n.bMultiplier, n.outMultiplier].every(okMultiplier) || !isInt(n.leftShift ?? 20, 0, 22)) return null;
  if (!isInt(q.a.zeroPoint, ...rangeOf(ad)) || !isInt(q.b.zeroPoint, ...rangeOf(bd)) || (yd !== "uint8" && yd !== "int8") || !isInt(q.y.zeroPoint, ...rangeOf(yd))) return null;
  const clamp = clampOf(n.clamp, yd);
  if (!clamp) return null;
  const out: NativeStep = { m0: n.outMultiplier[0], shift: n.outMultiplier[1], yZp: q.y.zeroPoint, lo: clamp[0], hi: clamp[1] };
  let step: (NativeStep & { xZp: number }) | null = null;
  let outD = yd;
  if (post) {
    const pd = post.q.dtype;
    const pc = pd === "uint8" || pd === "int8" ? clampOf(post.node.clamp, pd) : null;
    if (!pc || !okMultiplier(post.node.multiplier) || !isInt(post.q.zeroPoint, ...rangeOf(pd))) return null;
    step = { m0: post.node.multiplier[0], shift: post.node.multiplier[1], yZp: post.q.zeroPoint, lo: pc[0], hi: pc[1], xZp: q.y.zeroPoint };
    outD = pd;
  }
  const y = into?.(outD, a.data.length) ?? allocQuant(outD, a.data.length);
  qaddNative(a.data, q.a.zeroPoint, b.data, q.b.zeroPoint, n.aMultiplier, n.bMultiplier, n.leftShift ?? 20, out, yd === "int8", step, y);
  return { data: y, shape: [...a.shape] };
}
