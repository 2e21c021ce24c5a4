/**
 * The native backend's entry points for the integer engine (not part of the float `Kernels`
 * interface): int8 weight packing, convolution (groups = 1) and linear with the
 * single-rounding requantization fused, bit-identical to src/int8/kernels/ (native/int8.c,
 * int8-conv.c); max pooling and the residual add (+ the next node's requantization) of
 * native/int8-elem.c. Called by src/int8/kernels/gemm-path.ts and src/int8/layer-cache.ts when
 * the native backend is active; they run every validity check (shapes, zero points,
 * accumulator bound, multipliers) before calling here, and
 * these wrappers re-check the array lengths so C never reads or writes out of bounds.
 */
import { threadCount } from "../wasm/runtime.js";
import { addon } from "./addon.js";

type Q = Uint8Array | Int8Array;

/** The requantization of one layer (the fields of the wasm path's FastRequant these kernels use). */
export interface NativeRequant {
  bias: Int32Array | null;
  multiplier: Int32Array;
  shift: Int32Array;
  yZp: number;
  lo: number;
  hi: number;
  ySigned: boolean;
}

export interface NativeConvGeometry {
  n: number; c: number; h: number; w: number;
  oc: number; kh: number; kw: number; oh: number; ow: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

/** True when the addon is loaded (the int8 kernels exist). */
export function nativeInt8Available(): boolean {
  return addon !== null;
}

/**
 * True when the int8 kernels run their AVX2 path. The portable C path is exact too but, with
 * int16 pairs unpacked lane by lane, ~7× slower than the wasm integer kernels (measured on the
 * AMD EPYC: ResNet-like 64→64 conv 42 vs 5.3 CPU ms), so the integer engine takes native only here.
 */
export function nativeInt8Preferred(): boolean {
  return vectorIsa;
}

let vectorIsa = addon !== null && addon.info().isa !== "scalar";

/** Re-reads the addon's ISA (called by setNativeIsa). */
export function refreshNativeIsa(): void {
  vectorIsa = addon !== null && addon.info().isa !== "scalar";
}

let threads = -1;
function sync(): void {
  const t = threadCount();
  if (t !== threads) addon!.setThreads((threads = t));
}

function need(kernel: string, what: string, a: { length: number } | null, n: number): void {
  if (a !== null && a.length < n) throw new RangeError(`native ${kernel}: ${what} has ${a.length} elements, needs ${n}`);
}

/** Weights [oc, k] int8 minus per-channel (or one) zero points, packed for qconv2dNative / qlinearNative. */
export function packNativeWeights(w: Int8Array, oc: number, k: number, wZp: Int32Array | null = null): Int32Array {
  need("qpackWeights", "weights", w, oc * k);
  if (wZp && wZp.length !== 1 && wZp.length !== oc) throw new RangeError(`native qpackWeights: ${wZp.length} zero points for ${oc} channels`);
  const out = new Int32Array(addon!.qpackWords(oc, k));
  addon!.qpackWeights(w, oc, k, wZp, out);
  return out;
}

const ints = new Int32Array(5);
const geom = new Int32Array(16);

function requantArgs(kernel: string, rq: NativeRequant, channels: number): Int32Array {
  const per = rq.multiplier.length > 1;
  need(kernel, "multiplier", rq.multiplier, per ? channels : 1);
  need(kernel, "shift", rq.shift, per ? channels : 1);
  need(kernel, "bias", rq.bias, channels);
  ints.set([per ? 1 : 0, rq.yZp, rq.lo, rq.hi, rq.ySigned ? 1 : 0]);
  return ints;
}

/**
 * y (NCHW, preallocated) = requant(conv(x − xZp, w) + bias), groups = 1; w from packNativeWeights.
 * With `pool2`, y is the 2×2 stride-2 max pool of that ([n, oc, ⌊oh/2⌋, ⌊ow/2⌋]), fused.
 */
export function qconv2dNative(x: Q, xZp: number, packed: Int32Array, g: NativeConvGeometry, rq: NativeRequant, y: Q, pool2 = false): void {
  need("qconv2d", "input", x, g.n * g.c * g.h * g.w);
  need("qconv2d", "output", y, pool2 ? g.n * g.oc * (g.oh >> 1) * (g.ow >> 1) : g.n * g.oc * g.oh * g.ow);
  need("qconv2d", "packed weights", packed, addon!.qpackWords(g.oc, g.c * g.kh * g.kw));
  const r = requantArgs("qconv2d", rq, g.oc);
  geom.set([g.n, g.c, g.h, g.w, g.oc, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, 1]);
  sync();
  (pool2 ? addon!.qconv2dPool2 : addon!.qconv2d)(x, xZp, packed, geom, rq.bias, rq.multiplier, rq.shift, r, y);
}

/** y [m, n] (preallocated) = requant((x − xZp) · wᵀ + bias); w [n, k] from packNativeWeights. */
export function qlinearNative(x: Q, xZp: number, m: number, k: number, packed: Int32Array, n: number, rq: NativeRequant, y: Q): void {
  need("qlinear", "input", x, m * k);
  need("qlinear", "output", y, m * n);
  need("qlinear", "packed weights", packed, addon!.qpackWords(n, k));
  const r = requantArgs("qlinear", rq, n);
  sync();
  addon!.qlinear(x, xZp, m, k, packed, n, rq.bias, rq.multiplier, rq.shift, r, y);
}

const poolGeom = new Int32Array(11);

/**
 * y = max pool of `planes` h×w planes (NCHW, uint8 or int8) with a kh×kw window at stride
 * sh×sw from −ph, −pw, dilation 1, floor mode; padding ≤ kernel/2, so every window holds an
 * input element. The caller checks the geometry; oh, ow are the floor-mode output sizes.
 */
export function qmaxPool2dNative(x: Q, planes: number, h: number, w: number, k: [number, number], s: [number, number], p: [number, number], oh: number, ow: number, y: Q): void {
  need("qmaxPool2d", "input", x, planes * h * w);
  need("qmaxPool2d", "output", y, planes * oh * ow);
  if (2 * p[0] > k[0] || 2 * p[1] > k[1] || (oh - 1) * s[0] + k[0] > h + 2 * p[0] || (ow - 1) * s[1] + k[1] > w + 2 * p[1]) {
    throw new RangeError(`native qmaxPool2d: window ${k[0]}×${k[1]} stride ${s[0]}×${s[1]} padding ${p[0]}×${p[1]} does not give ${oh}×${ow} from ${h}×${w}`);
  }
  if ((x instanceof Uint8Array) !== (y instanceof Uint8Array)) throw new RangeError("native qmaxPool2d: input and output dtypes differ");
  poolGeom.set([planes, h, w, k[0], k[1], s[0], s[1], p[0], p[1], oh, ow]);
  sync();
  addon!.qmaxPool2d8(x, y, poolGeom);
}

/** A per-tensor requantization step: M = m0·2^(shift − 31), then yZp and the clamp [lo, hi]. */
export interface NativeStep {
  m0: number; shift: number; yZp: number; lo: number; hi: number;
}

const addMults = new Int32Array(4);
const addOut = new Int32Array(6);
const addPost = new Int32Array(7);

/**
 * y = TFLite's quantized add of a and b (equal lengths): â = MBQM((a − aZp)·2^leftShift, Ma),
 * b̂ likewise, y = clamp(out.yZp + SR(â + b̂, out)) in `outSigned`'s dtype; with `post`, y is that
 * value requantized once more (input zero point `post.xZp`, output in y's dtype). The caller
 * checks the parameters (multipliers, shifts, zero points, clamps) as src/int8/kernels/elementwise.ts does.
 */
export function qaddNative(a: Q, aZp: number, b: Q, bZp: number, ma: [number, number], mb: [number, number], leftShift: number,
  out: NativeStep, outSigned: boolean, post: (NativeStep & { xZp: number }) | null, y: Q): void {
  const n = a.length;
  need("qadd", "b", b, n);
  need("qadd", "output", y, n);
  if (!post && (y instanceof Int8Array) !== outSigned) throw new RangeError("native qadd: the output array's dtype is not the add's");
  addMults.set([ma[0], ma[1], mb[0], mb[1]]);
  addOut.set([out.m0, out.shift, out.yZp, out.lo, out.hi, outSigned ? 1 : 0]);
  if (post) addPost.set([post.m0, post.shift, post.yZp, post.lo, post.hi, y instanceof Int8Array ? 1 : 0, post.xZp]);
  sync();
  addon!.qadd(a, aZp, b, bZp, addMults, leftShift, addOut, post ? addPost : null, y, n);
}
