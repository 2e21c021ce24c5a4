/**
 * Batch statistics for the observers: [min, max] of a tensor, per tensor or per channel
 * (NaN-propagating like torch.aminmax; for large float32 inputs on native/fakequant.c when the
 * native backend is active — bit-exact with the loops here, signed zeros included — else on the
 * wasm backend's SIMD kernels), and the finiteness checks of the non-finite policy (observers skip a batch holding
 * NaN or ±Infinity). Called by ./observer.ts (which re-exports them) and the fake-quantizers.
 */
import type { Tensor } from "../tensor/tensor.js";
import { getBackend, wasmPathsActive } from "../backend/index.js";
import { nativeQat } from "../backend/native/qat.js";
import { minmaxF32, minmaxPerChannelF32 } from "../backend/wasm/affine.js";
import { WASM_MIN_ELEMENTS as WASM_MIN } from "../backend/wasm/runtime.js";

const f32 = Math.fround;

/** The native kernels for float32 data of at least WASM_MIN elements on the native backend. */
const onNative = (x: ArrayLike<number>): x is Float32Array =>
  x instanceof Float32Array && x.length >= WASM_MIN && nativeQat !== null && getBackend() === "native";

/** Whether every element is finite. */
export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** How many elements are NaN or ±Infinity. */
export function countNonFinite(a: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) n++;
  return n;
}

/** [min, max] of x (NaN if any element is NaN, like torch.aminmax), as float32. */
export function aminmax(x: ArrayLike<number>): [number, number] {
  if (onNative(x)) return nativeQat!.minmax(x);
  if (x instanceof Float32Array && x.length >= WASM_MIN && wasmPathsActive()) return minmaxF32(x);
  let mn = Infinity;
  let mx = -Infinity;
  let nan = false;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
    if (v !== v) nan = true;
  }
  return nan ? [NaN, NaN] : [f32(mn), f32(mx)];
}

/** Per-channel [mins, maxs] along `axis` of a row-major tensor (NaN-propagating), float32. */
export function aminmaxPerChannel(x: Tensor, axis: number): [Float32Array, Float32Array] {
  const C = x.shape[axis];
  let inner = 1;
  for (let d = axis + 1; d < x.ndim; d++) inner *= x.shape[d];
  const outer = C * inner === 0 ? 0 : x.size / (C * inner);
  if (onNative(x.data)) return nativeQat!.minmaxChannels(x.data, outer, C, inner);
  if (x.data instanceof Float32Array && x.size >= WASM_MIN && wasmPathsActive()) return minmaxPerChannelF32(x.data, outer, C, inner);
  const mins = new Float32Array(C).fill(Infinity);
  const maxs = new Float32Array(C).fill(-Infinity);
  const nan = new Uint8Array(C);
  const d = x.data;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      let mn = mins[c];
      let mx = maxs[c];
      const base = (o * C + c) * inner;
      for (let i = base; i < base + inner; i++) {
        const v = d[i];
        if (v < mn) mn = v;
        if (v > mx) mx = v;
        if (v !== v) nan[c] = 1;
      }
      mins[c] = mn;
      maxs[c] = mx;
    }
  }
  for (let c = 0; c < C; c++) if (nan[c]) mins[c] = maxs[c] = NaN;
  return [mins, maxs];
}
