/**
 * Loads the native CPU backend's Node-API module (native/*.c, built by
 * scripts/build-native.mjs into dist/native/qat-native-<platform>-<arch>.node) without a
 * static import of any Node module, so browser bundles stay valid. Outside Node, with
 * QAT_BACKEND=wasm (which forces the WebAssembly backend: no native code is loaded), or when
 * the file is absent or fails to load, the addon is null and `nativeStatus()` says why. Loaded once with top-level await; used by
 * ./index.ts and ./kernels.ts. QAT_NATIVE_ADDON=<path> loads that file instead (e.g. the AVX-512
 * emulation build, build/native/qat-native-emu512-<platform>-<arch>.node); `loadNativeAddonFile`
 * loads one beside the default (test/backend/native-avx512-emu.test.ts).
 */
import { NotSupportedError, ValueError } from "../../tensor/errors.js";
import type { NativeNormAddon } from "./norm.js";

/** The functions native/binding.c exports (typed arrays are used in place); the fused batch-norm ones are in ./norm.ts. */
export interface NativeAddon extends NativeNormAddon {
  info(): { isa: string; threads: number; maxThreads: number };
  setThreads(n: number): void;
  /** Lowers the instruction set (0 scalar, 1 AVX2+FMA, 2 AVX-512, 3 AVX-512 VNNI) for tests; returns the ISA in effect. */
  setIsa(isa: number): string;
  /** Names of the kernel variants that ran since the last call ("sgemm-avx512", "igemm-vnni", "conv8-avx2", …; tests). */
  kernelPaths(): string[];
  /** With the trailing epilogue arguments (act 0 none, 1 relu, 2 clamp), C = act(C + bias[column]) fused. */
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, batch: number, m: number, n: number, k: number,
    aStride: number, bStride: number, cStride: number, transA: number, transB: number, accumulate: number,
    bias?: Float32Array | null, act?: number, lo?: number, hi?: number): void;
  /** y = act(y + bias[c]) in place over y viewed as [outer, c, inner]. */
  epilogue(y: Float32Array, outer: number, c: number, inner: number, bias: Float32Array | null, act: number, lo: number, hi: number): void;
  /** One-thread C[cOff..] (+)= A·B with explicit strides (benchmarks). */
  sgemm(m: number, n: number, k: number, a: Float32Array, aOff: number, ars: number, acs: number,
    b: Float32Array, bOff: number, brs: number, bcs: number, c: Float32Array, cOff: number, ldc: number, accumulate: number): void;
  /** With the trailing epilogue arguments, y = act(y + bias[output channel]) fused into the GEMM's output tiles. */
  conv2d(x: Float32Array, w: Float32Array, y: Float32Array, geom: Int32Array, bias?: Float32Array | null, act?: number, lo?: number, hi?: number): void;
  conv2dBackwardInput(dy: Float32Array, w: Float32Array, dx: Float32Array, geom: Int32Array): void;
  conv2dBackwardWeight(x: Float32Array, dy: Float32Array, dw: Float32Array, geom: Int32Array): void;
  /** Which passes of a conv geometry run native/conv-direct.c's kernels: bits 1 forward, 2 backward input, 4 backward weight (tests). */
  convDirectPaths(geom: Int32Array): number;
  maxPool2d(x: Float32Array, y: Float32Array, argmax: Int32Array, geom: Int32Array): void;
  maxPool2dBackward(dy: Float32Array, argmax: Int32Array, dx: Float32Array, geom: Int32Array): void;
  avgPool2d(x: Float32Array, y: Float32Array, geom: Int32Array): void;
  avgPool2dBackward(dy: Float32Array, dx: Float32Array, geom: Int32Array): void;
  /** Batch norm's per-channel statistics are Float64Array (as src/ops/batchnorm.ts keeps them). */
  batchNormStats(x: Float32Array, n: number, c: number, hw: number, mean: Float64Array, variance: Float64Array): void;
  batchNormApply(x: Float32Array, mean: Float64Array, invStd: Float64Array, gamma: Float32Array | null, beta: Float32Array | null,
    y: Float32Array, n: number, c: number, hw: number): void;
  batchNormBackward(dy: Float32Array, x: Float32Array, mean: Float64Array, invStd: Float64Array, gamma: Float32Array | null,
    dx: Float32Array, dgamma: Float32Array | null, dbeta: Float32Array | null, n: number, c: number, hw: number, training: number): void;
  /** Channel affine y = x·scale[c] + bias[c] and its backward (native/affine.c; 4 float64 lanes on AVX2, bit-identical). */
  channelAffineF32(x: Float32Array, scale: Float32Array, bias: Float32Array | null, y: Float32Array, n: number, c: number, inner: number): void;
  channelAffineBackwardF32(g: Float32Array, x: Float32Array, scale: Float32Array, dx: Float32Array | null, dscale: Float32Array | null,
    dbias: Float32Array | null, n: number, c: number, inner: number): void;
  /** Fused fake quantization of x[0, n) with one (S, Z): x̂ and the STE mask (native/fakequant.c). */
  fakeQuant(x: Float32Array, out: Float32Array, mask: Uint8Array, n: number, scale: number, zp: number, qmin: number, qmax: number): void;
  /** The same over x viewed as [outer, channels, inner], channel c with scales[c], zps[c]. */
  fakeQuantChannels(x: Float32Array, out: Float32Array, mask: Uint8Array, outer: number, channels: number, inner: number,
    scales: Float32Array, zps: Float64Array, qmin: number, qmax: number): void;
  /** out = [min, max, 1 if x[0, n) holds a NaN]. */
  minmax(x: Float32Array, n: number, out: Float64Array): void;
  /** Per-channel min / max of [outer, channels, inner] (NaN for a channel holding a NaN). */
  minmaxChannels(x: Float32Array, outer: number, channels: number, inner: number, mins: Float32Array, maxs: Float32Array): void;
  /** LSQ's backward over [outer, channels, inner]: dx, and acc[2c], acc[2c + 1] = Σ∂S, Σ∂Z of channel c (native/fakequant.c). */
  lsqGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, outer: number, channels: number, inner: number, scales: Float32Array,
    zps: Float64Array, qmin: number, qmax: number, gf: number, acc: Float64Array): void;
  /** Int32 words of packed int8 weights [oc, k] (4-row panels of int16 pairs). */
  qpackWords(oc: number, k: number): number;
  qpackWeights(w: Int8Array, oc: number, k: number, wZp: Int32Array | null, out: Int32Array): void;
  /** ints = [perChannel, yZp, lo, hi, ySigned]. */
  qconv2d(x: Uint8Array | Int8Array, xZp: number, w: Int32Array, geom: Int32Array, bias: Int32Array | null, multiplier: Int32Array,
    shift: Int32Array, ints: Int32Array, y: Uint8Array | Int8Array): void;
  /** qconv2d, then a fused 2×2 stride-2 max pool: y is [n, oc, ⌊oh/2⌋, ⌊ow/2⌋]. */
  qconv2dPool2(x: Uint8Array | Int8Array, xZp: number, w: Int32Array, geom: Int32Array, bias: Int32Array | null, multiplier: Int32Array,
    shift: Int32Array, ints: Int32Array, y: Uint8Array | Int8Array): void;
  qlinear(x: Uint8Array | Int8Array, xZp: number, m: number, k: number, w: Int32Array, n: number, bias: Int32Array | null,
    multiplier: Int32Array, shift: Int32Array, ints: Int32Array, y: Uint8Array | Int8Array): void;
  /** geom: Float64Array [rank, srcOff, dstOff, shape…, srcStrides…, dstStrides…]; src and dst of one element type. */
  copyStrided(src: ArrayBufferView, dst: ArrayBufferView, geom: Float64Array): void;
  /** op 0 sum, 1 max, 2 min; geom: Int32Array [rank, shape…, reduced (0/1)…]. */
  reduce(op: number, x: Float32Array, geom: Int32Array, out: Float32Array, outLen: number): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number, log: number): void;
  /** out[i] = g[i]·(lo < y[i] < hi ? 1 : 0) for i < n; hi = +∞ unbounded. */
  maskMul(g: Float32Array, y: Float32Array, lo: number, hi: number, out: Float32Array, n: number): void;
  /** out[i] = gelu(x[i]) for i < n (tanh 1: the tanh approximation). */
  gelu(x: Float32Array, out: Float32Array, n: number, tanh: number): void;
  geluBackward(g: Float32Array, x: Float32Array, dx: Float32Array, n: number, tanh: number): void;
  /** LayerNorm of x viewed as [rows, n]; writes each row's mean and rstd. */
  layerNorm(x: Float32Array, weight: Float32Array | null, bias: Float32Array | null, y: Float32Array, mean: Float64Array, rstd: Float64Array,
    rows: number, n: number, eps: number): void;
  layerNormBackward(g: Float32Array, x: Float32Array, weight: Float32Array | null, mean: Float64Array, rstd: Float64Array,
    dx: Float32Array | null, dweight: Float32Array | null, dbias: Float32Array | null, rows: number, n: number): void;
  /** Int8 max pool: geom [planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow], dilation 1, padding ≤ kernel/2 (x and y of one dtype). */
  qmaxPool2d8(x: Uint8Array | Int8Array, y: Uint8Array | Int8Array, geom: Int32Array): void;
  /** Quantized add; out ints [m0, shift, yZp, lo, hi, ySigned], post the same + [xZp] (the next requantization) or null. */
  qadd(a: Uint8Array | Int8Array, aZp: number, b: Uint8Array | Int8Array, bZp: number, mults: Int32Array, leftShift: number,
    out: Int32Array, post: Int32Array | null, y: Uint8Array | Int8Array, n: number): void;
  /** A compiled Int8Model run (native/binding-int8-plan.c, spec in native/int8-plan.h); packed weights are referenced, `bytes` (int8 linear weights) copied. */
  int8PlanCreate(head: Int32Array, bufs: Int32Array, steps: Int32Array, params: Int32Array, scales: Float32Array, weights: Int32Array[], bytes: Int8Array[]): object;
  /** Runs a plan: float32 x → float32 y; −1, or the index of x's first NaN (nothing run). */
  int8PlanRun(plan: object, x: Float32Array, y: Float32Array, threads: number): number;
  /** out[i] = op(x[i]) for i < n; op: 0 neg, 1 abs, 2 relu, 3 square, 4 sqrt, 5 reciprocal, 6 floor, 7 ceil, 8 round, 9 sign. */
  unary(op: number, x: Float32Array, out: Float32Array, n: number): void;
  /**
   * out[i] = a[i] op b (op: 0 add, 1 sub, 2 mul, 3 div, 4 maximum, 5 minimum) for i < n: b has n values
   * (Float32Array or Uint8Array) when channels = 0, else out viewed as [n / (channels·inner), channels, inner] takes b[channel].
   */
  binary(op: number, a: Float32Array, b: Float32Array | Uint8Array, out: Float32Array, n: number, channels: number, inner: number): void;
  /**
   * The pool's counters since the last call, then mode 1 (regions run on the calling thread, timed), 2 (live counters of real
   * regions: the fields then hold regions, worker sleeps, late workers, ns in regions, ns waiting at their end) or 0 (bench/thread-profile.ts).
   */
  poolProfile(on: number): { regions: number; parallelRegions: number; regionNs: number; parallelNs: number; idealNs: number; threadNs: number };
  /** dx of softmax (log 0) or log-softmax (log 1) over rows of cols, from the output y and the gradient g. */
  softmaxBackward(y: Float32Array, g: Float32Array, dx: Float32Array, rows: number, cols: number, log: number): void;
  /** One-thread raw int16-pair GEMM c[m, n] = packed A · B panels (benchmarks). */
  igemmBench(m: number, n: number, k: number, a: Int32Array, bPanels: Int32Array, c: Int32Array): void;
}

interface NodeProcess {
  versions?: { node?: string };
  platform?: string;
  arch?: string;
  env?: Record<string, string | undefined>;
}

let status = "not loaded";

/** Every function of NativeAddon, checked on load. */
const REQUIRED: (keyof NativeAddon)[] = [
  "info", "setThreads", "setIsa", "kernelPaths", "matmul", "sgemm", "conv2d", "conv2dBackwardInput", "conv2dBackwardWeight", "convDirectPaths", "maxPool2d",
  "maxPool2dBackward", "avgPool2d", "avgPool2dBackward", "batchNormStats", "batchNormApply", "batchNormBackward",
  "qpackWords", "qpackWeights", "qconv2d", "qconv2dPool2", "qlinear", "qmaxPool2d8", "qadd", "int8PlanCreate", "int8PlanRun", "igemmBench", "copyStrided", "reduce", "softmax", "epilogue", "maskMul",
  "gelu", "geluBackward", "layerNorm", "layerNormBackward", "softmaxBackward",
  "unary", "binary", "poolProfile", "batchNormTrain", "batchNormReluBackward", "addRelu", "globalAvgPool", "globalAvgPoolBackward",
  "channelAffineF32", "channelAffineBackwardF32", "fakeQuant", "fakeQuantChannels", "minmax", "minmaxChannels", "lsqGrad",
];

interface NodeModules {
  require(id: string): unknown;
  fileURLToPath(url: URL): string;
  existsSync(p: string): boolean;
}

async function nodeModules(): Promise<NodeModules> {
  // A variable specifier keeps bundlers from resolving Node built-ins for browser builds.
  const load = (name: string): Promise<unknown> => import(/* @vite-ignore */ name);
  const [{ createRequire }, { fileURLToPath }, { existsSync }] = (await Promise.all(["node:module", "node:url", "node:fs"].map(load))) as [
    { createRequire(url: string): (id: string) => unknown },
    { fileURLToPath(url: URL): string },
    { existsSync(p: string): boolean },
  ];
  return { require: createRequire(import.meta.url), fileURLToPath, existsSync };
}

function missingEntries(addon: NativeAddon): string[] {
  return REQUIRED.filter((name) => typeof (addon as unknown as Record<string, unknown>)[name] !== "function");
}

/**
 * Loads the addon at `path` (another build of native/, e.g. the AVX-512 emulation build),
 * independently of the default one: its thread pool, scratch and ISA are its own. Throws
 * NotSupportedError outside Node, ValueError when the file is absent or lacks an entry point.
 */
export async function loadNativeAddonFile(path: string): Promise<NativeAddon> {
  const proc = (globalThis as { process?: NodeProcess }).process;
  if (!proc?.versions?.node) throw new NotSupportedError(`loadNativeAddonFile(${path}): native addons need Node.js`);
  const { require, existsSync } = await nodeModules();
  if (!existsSync(path)) throw new ValueError(`loadNativeAddonFile: ${path} does not exist`);
  const addon = require(path) as NativeAddon;
  const missing = missingEntries(addon);
  if (missing.length > 0) throw new ValueError(`loadNativeAddonFile: ${path} is stale (no ${missing.join(", ")})`);
  return addon;
}

async function loadAddon(): Promise<NativeAddon | null> {
  const proc = (globalThis as { process?: NodeProcess }).process;
  if (!proc?.versions?.node) {
    status = "not Node.js";
    return null;
  }
  const forced = proc.env?.QAT_BACKEND;
  if (forced === "wasm") {
    status = `QAT_BACKEND=${forced}`;
    return null;
  }
  try {
    const { require, fileURLToPath, existsSync } = await nodeModules();
    const override = proc.env?.QAT_NATIVE_ADDON;
    let file = `qat-native-${proc.platform}-${proc.arch}.node`, found: string | undefined;
    if (override) {
      file = found = override;
      if (!existsSync(found)) {
        status = `QAT_NATIVE_ADDON=${override}: no such file`;
        return null;
      }
    } else {
      // From src/backend/native/ (tsx, vitest) and from dist/backend/native/ (the package).
      const candidates = [new URL(`../../../dist/native/${file}`, import.meta.url), new URL(`../../native/${file}`, import.meta.url)]
        .map((u) => fileURLToPath(u));
      found = candidates.find((p) => existsSync(p));
    }
    if (!found) {
      status = `${file} not built (npm run build compiles it when a C compiler exists)`;
      return null;
    }
    const addon = require(found) as NativeAddon;
    // A binary built from older sources may lack entry points: use wasm rather than fail later.
    const missing = missingEntries(addon);
    if (missing.length > 0) {
      status = `${file} is stale (no ${missing.join(", ")}): run npm run build:native`;
      return null;
    }
    status = `loaded ${file} (${addon.info().isa})`;
    return addon;
  } catch (e) {
    status = `failed to load: ${(e as Error).message.split("\n")[0]}`;
    return null;
  }
}

/** The loaded addon, or null. */
export const addon: NativeAddon | null = await loadAddon();

/** Why the native backend is or is not available (one line). */
export function nativeStatus(): string {
  return status;
}
