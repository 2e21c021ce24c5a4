/**
 * Loads the embedded WebAssembly kernels (src/backend/wasm/generated/kernels-wasm.ts, built
 * from assembly/ by scripts/build-wasm.mjs): feature detection, memory creation and
 * instantiation. No file or network access, so it runs unchanged in Node and browsers.
 * Compilation is synchronous unless `precompileKernels()` ran first (a browser main thread
 * may refuse to compile modules synchronously: await `initWasmBackend()` there).
 * Each variant (shared / plain memory) also exists built with relaxed SIMD (fused
 * multiply-add in the GEMM micro-kernel); it is used where the host validates it, unless the
 * environment sets QAT_WASM_RELAXED=0 (then results are the SIMD128 build's, bit for bit).
 * Called by ./runtime.ts.
 */
import { KERNELS_PLAIN_BASE64, KERNELS_PLAIN_RELAXED_BASE64, KERNELS_SHARED_BASE64, KERNELS_SHARED_RELAXED_BASE64, MAX_PAGES } from "./generated/kernels-wasm.js";

/** The parts of the WebAssembly JS API used here (typed locally: the project's lib has no DOM types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
/** A compiled module (opaque; structured-clonable to workers). */
export type WasmModule = { readonly __wasmModule?: never };
interface WasmApi {
  Module: { new (bytes: Uint8Array): WasmModule; exports(m: WasmModule): { name: string; kind: string }[] };
  compile(bytes: Uint8Array): Promise<WasmModule>;
  Instance: new (m: WasmModule, imports: object) => { exports: object };
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  validate(bytes: Uint8Array): boolean;
}
const WA = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** The kernel exports (AssemblyScript signatures: pointers are byte addresses). */
export interface KernelExports {
  sgemm(m: number, n: number, k: number, a: number, ars: number, acs: number, b: number, brs: number, bcs: number, c: number, ldc: number, accumulate: number, scratch: number): void;
  sgemmBatch(
    first: number, count: number, m: number, n: number, k: number,
    a: number, aStride: number, ars: number, acs: number,
    b: number, bStride: number, brs: number, bcs: number,
    c: number, cStride: number, ldc: number, accumulate: number, scratch: number,
    bias: number, act: number, lo: number, hi: number,
  ): void;
  epilogueF32(y: number, rows: number, cols: number, ld: number, bias: number, perRow: number, act: number, lo: number, hi: number): void;
  epilogueChannelsF32(y: number, r0: number, r1: number, c: number, inner: number, bias: number, act: number, lo: number, hi: number): void;
  maskMulF32(g: number, y: number, lo: number, hi: number, out: number, n: number): void;
  sgemmScratchBytes(): number;
  conv2dForward(x: number, w: number, y: number, g: number, b0: number, b1: number, scratch: number, bias: number, act: number, lo: number, hi: number): void;
  conv2dBackwardInput(dy: number, w: number, dx: number, g: number, b0: number, b1: number, scratch: number): void;
  conv2dBackwardWeight(x: number, dy: number, dw: number, g: number, k0: number, k1: number, scratch: number): void;
  conv2dScratchBytes(g: number): number;
  conv2dWeightScratchBytes(g: number): number;
  maxPool2d(x: number, y: number, argmax: number, g: number, pl0: number, pl1: number): void;
  maxPool2dBackward(dy: number, argmax: number, dx: number, g: number, pl0: number, pl1: number): void;
  avgPool2d(x: number, y: number, g: number, pl0: number, pl1: number): void;
  avgPool2dBackward(dy: number, dx: number, g: number, pl0: number, pl1: number): void;
  batchNormStats(x: number, n: number, c: number, hw: number, mean: number, variance: number, c0: number, c1: number): void;
  batchNormApply(x: number, mean: number, invStd: number, gamma: number, beta: number, y: number, n: number, c: number, hw: number, c0: number, c1: number): void;
  batchNormBackward(
    dy: number, x: number, mean: number, invStd: number, gamma: number, dx: number, dgamma: number, dbeta: number,
    n: number, c: number, hw: number, training: number, c0: number, c1: number, sums: number,
  ): void;
  binaryF32(op: number, a: number, b: number, out: number, n: number): void;
  binaryScalarF32(op: number, a: number, s: number, out: number, n: number): void;
  binaryRowF32(op: number, a: number, b: number, out: number, rows: number, cols: number): void;
  binaryF32U8(op: number, a: number, b: number, out: number, n: number): void;
  compareF32(op: number, a: number, b: number, bScalar: number, out: number, n: number): void;
  unaryF32(op: number, x: number, out: number, n: number): void;
  clampF32(x: number, lo: number, hi: number, out: number, n: number): void;
  addInto(dst: number, src: number, n: number): void;
  zeroBytes(p: number, bytes: number): void;
  igemm(m: number, n: number, k: number, a: number, aUnsigned: number, za: number, b: number, zb: number, c: number, accumulate: number, scratch: number): void;
  igemmScratchBytes(m: number, n: number, k: number): number;
  igemmPackedBBytes(n: number, k: number): number;
  igemmPackedScratchBytes(k: number): number;
  igemmPackB(b: number, n: number, k: number, zb: number, dst: number): void;
  igemmPacked(m: number, n: number, k: number, a: number, aUnsigned: number, za: number, pB: number, c: number, accumulate: number, scratch: number): void;
  qconvPackedBytes(oc: number, k: number): number;
  sgdStepF32(p: number, g: number, buf: number, n: number, lr: number, mu: number, keep: number, wd: number, flags: number): void;
  channelAffineF32(x: number, scale: number, bias: number, y: number, c: number, inner: number, p0: number, p1: number): void;
  channelAffineBackwardF32(g: number, x: number, scale: number, dx: number, dscale: number, dbias: number, n: number, c: number, inner: number, c0: number, c1: number): void;
  minmaxF32(x: number, n: number, out: number): void;
  minmaxPerChannelF32(x: number, outer: number, c: number, inner: number, mins: number, maxs: number, nan: number): void;
  quantizeF32(x: number, q: number, n: number, scale: number, zp: number, qmin: number, qmax: number, signed: number): number;
  dequantizeF32(q: number, out: number, n: number, scale: number, zp: number, signed: number): void;
  qconvPackWeights(w: number, oc: number, k: number, dst: number, wZp: number): void;
  qconv2dScratchBytes(g: number): number;
  qdepthwiseScratchBytes(g: number): number;
  lut8(x: number, flip: number, table: number, y: number, n: number): void;
  qaddKernel(a: number, aSigned: number, aZp: number, b: number, bSigned: number, bZp: number, y: number, ySigned: number, n: number, p: number, tables: number): void;
  qdepthwise(x: number, w: number, bias: number, mult: number, shift: number, y: number, g: number, b0: number, b1: number, scratch: number): void;
  qconv2d(x: number, w: number, bias: number, mult: number, shift: number, y: number, g: number, b0: number, b1: number, scratch: number): void;
  requantRows(acc: number, m: number, n: number, bias: number, mult: number, shift: number, y: number, g: number): void;
  qmaxPool2d(x: number, xLen: number, y: number, signed: number, h: number, w: number, oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, pl0: number, pl1: number): void;
  geluF32(x: number, y: number, n: number, tanhForm: number, table: number): void;
  geluBackwardF32(g: number, x: number, dx: number, n: number, tanhForm: number, table: number): void;
  layerNormF32(x: number, w: number, b: number, y: number, mean: number, rstd: number, r0: number, r1: number, n: number, eps: number): void;
  layerNormDxF32(g: number, x: number, w: number, mean: number, rstd: number, dx: number, r0: number, r1: number, n: number): void;
  layerNormDwDbF32(g: number, x: number, mean: number, rstd: number, dw: number, db: number, rows: number, n: number, j0: number, j1: number): void;
  softmaxBackwardF32(y: number, g: number, dx: number, r0: number, r1: number, n: number, log: number): void;
  fakeQuantPerTensorF32(x: number, out: number, mask: number, n: number, scale: number, zp: number, qmin: number, qmax: number): void;
  fakeQuantPerChannelF32(
    x: number, out: number, mask: number, channels: number, inner: number, scales: number, zps: number,
    qmin: number, qmax: number, o0: number, o1: number,
  ): void;
}

export type KernelName = keyof KernelExports;

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let plainBytes: Uint8Array | null = null;

/** True when this host validates our SIMD module (WebAssembly SIMD128 is available). */
export function wasmSimdSupported(): boolean {
  if (!WA) return false;
  plainBytes ??= decodeBase64(KERNELS_PLAIN_BASE64);
  try {
    return WA.validate(plainBytes);
  } catch {
    return false;
  }
}

/** True when shared WebAssembly memory can be created (SharedArrayBuffer available). */
export function sharedMemorySupported(): boolean {
  try {
    const m = new WA!.Memory({ initial: 1, maximum: 1, shared: true });
    return typeof SharedArrayBuffer !== "undefined" && m.buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

const compiled = new Map<boolean, WasmModule>();
let relaxed: boolean | null = null;

/**
 * True when the relaxed-SIMD build is in use: the host validates it (Node ≥ 22, Chrome ≥ 114,
 * Node 20 with --experimental-wasm-relaxed-simd) and QAT_WASM_RELAXED is not "0".
 */
export function wasmRelaxedSimd(): boolean {
  if (relaxed === null) {
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.QAT_WASM_RELAXED;
    try {
      relaxed = env !== "0" && Boolean(WA?.validate(decodeBase64(KERNELS_PLAIN_RELAXED_BASE64)));
    } catch {
      relaxed = false;
    }
  }
  return relaxed;
}

function variantBytes(shared: boolean): Uint8Array {
  if (wasmRelaxedSimd()) return decodeBase64(shared ? KERNELS_SHARED_RELAXED_BASE64 : KERNELS_PLAIN_RELAXED_BASE64);
  return shared ? decodeBase64(KERNELS_SHARED_BASE64) : (plainBytes ??= decodeBase64(KERNELS_PLAIN_BASE64));
}

/** Compiles the variant loadKernels(preferShared) will pick, asynchronously, and caches it. */
export async function precompileKernels(preferShared: boolean): Promise<void> {
  const shared = preferShared && sharedMemorySupported();
  if (!WA || compiled.has(shared)) return;
  compiled.set(shared, await WA.compile(variantBytes(shared)));
}

export interface LoadedKernels {
  module: WasmModule;
  memory: WasmMemory;
  exports: KernelExports;
  shared: boolean;
  /** Maximum size of the memory in bytes. */
  maxBytes: number;
}

/**
 * Creates the memory (shared when possible and asked for; the largest maximum the host
 * grants, up to 4 GiB) and instantiates the matching module variant on it.
 */
export function loadKernels(preferShared: boolean): LoadedKernels {
  const shared = preferShared && sharedMemorySupported();
  if (!WA) throw new Error("wasm backend: this host has no WebAssembly");
  const module = compiled.get(shared) ?? new WA.Module(variantBytes(shared));
  let maxPages = MAX_PAGES;
  let memory: WasmMemory | null = null;
  while (!memory) {
    try {
      memory = new WA.Memory({ initial: 16, maximum: maxPages, shared });
    } catch (e) {
      if (maxPages <= 1024) throw new Error(`wasm backend: cannot create WebAssembly memory (${String(e)})`);
      maxPages >>= 1;
    }
  }
  const instance = new WA.Instance(module, { env: { memory } });
  return { module, memory, exports: instance.exports as unknown as KernelExports, shared, maxBytes: maxPages * 65536 };
}

/** Names of the functions a compiled module exports. */
export function exportedFunctions(module: WasmModule): string[] {
  return WA!.Module.exports(module).filter((e) => e.kind === "function").map((e) => e.name);
}
