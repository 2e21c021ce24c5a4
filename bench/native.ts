/**
 * The native CPU backend (native/*.c behind Node-API) against the WebAssembly SIMD backend,
 * one thread each, interleaved rounds (median of the per-round figures): raw f32 GEMM
 * (GFLOP/s per core; issue 20 target ≥ 80), conv2d passes of SmallCNN and ResNet-20 layers,
 * raw int8 GEMM (GMAC/s per core; target ≥ 150) and the int8 engine's conv / linear with the
 * requantization. Registered as the `native` suite in bench/run.ts
 * (`npm run bench -- --only native`). Without the addon it reports nothing.
 */
import os from "node:os";
import { setBackend, getBackend, kernels, getNumThreads, setNumThreads } from "../src/backend/index.js";
import type { Conv2dGeom, MatmulGeom } from "../src/backend/kernels.js";
import { nativeAddon, nativeIsa } from "../src/backend/native/index.js";
import { gemmInt8, workersReadySync } from "../src/backend/wasm/index.js";
import { quantizeMultipliers } from "../src/int8/fixed-point.js";
import { prepareConvWeights, prepareLinearWeights, qconv2dGemm, qlinearGemm } from "../src/int8/kernels/gemm-path.js";
import { SGD } from "../src/optim/sgd.js";
import { smallCnn } from "../src/nn/models/small-cnn.js";
import { resnet20 } from "../src/nn/models/resnet.js";
import type { Module } from "../src/nn/module.js";
import { crossEntropy } from "../src/ops/loss.js";
import { randint, randn } from "../src/tensor/creation.js";
import { manualSeed } from "../src/tensor/random.js";
import { noGrad } from "../src/tensor/grad-mode.js";
import { prepareQat } from "../src/quant/prepare.js";
import { qconfigs } from "../src/quant/qconfig.js";
import { convert } from "../src/quant/convert.js";
import { median, timeit } from "./paired.js";
import "../src/index.js";

interface Case {
  key: string;
  /** Work per call: flops, MACs, or 1 for a time. */
  work: number;
  unit: "GFLOP/s" | "GMAC/s" | "ms";
  native: () => void;
  wasm: () => void;
}

const rand = (n: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453 % 1) * scale);
const randI8 = (n: number) => Int8Array.from({ length: n }, (_, i) => ((i * 2654435761) >>> 24) - 128);
const randU8 = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 40503) >>> 8 & 255);

function mm(m: number, n: number, k: number): MatmulGeom {
  return { batch: 1, m, n, k, aBatchStride: 0, bBatchStride: 0, cBatchStride: 0, transA: false, transB: false, accumulate: false };
}

function conv(n: number, c: number, hw: number, oc: number): Conv2dGeom {
  return { n, c, h: hw, w: hw, oc, kh: 3, kw: 3, oh: hw, ow: hw, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1 };
}

/** A float kernel timed on each backend's table. */
function onTable(name: string, f: (k: ReturnType<typeof kernels>) => void): () => void {
  setBackend(name);
  const k = kernels();
  return () => f(k);
}

export function cases(): Case[] {
  const addon = nativeAddon!;
  const out: Case[] = [];
  for (const s of [256, 512, 1024]) {
    const a = rand(s * s), b = rand(s * s), c = new Float32Array(s * s);
    out.push({
      key: `sgemm_${s}`, work: 2 * s ** 3, unit: "GFLOP/s",
      native: () => addon.sgemm(s, s, s, a, 0, s, 1, b, 0, s, 1, c, 0, s, 0),
      wasm: onTable("wasm", (k) => k.matmul(a, b, c, mm(s, s, s))),
    });
  }
  const layers: [string, Conv2dGeom][] = [["smallcnn_conv2_b64", conv(64, 16, 14, 32)], ["resnet20_16x16_b32", conv(32, 16, 32, 16)], ["resnet20_64x64_b32", conv(32, 64, 8, 64)]];
  for (const [name, g] of layers) {
    const x = rand(g.n * g.c * g.h * g.w), w = rand(g.oc * g.c * 9, 0.1), y = new Float32Array(g.n * g.oc * g.oh * g.ow), dw = new Float32Array(w.length), dx = new Float32Array(x.length);
    const pass = (k: ReturnType<typeof kernels>) => {
      k.conv2d(x, w, y, g);
      k.conv2dBackwardInput(y, w, dx, g);
      k.conv2dBackwardWeight(x, y, dw, g);
    };
    out.push({ key: `conv_${name}_fwd_bwd`, work: 1, unit: "ms", native: onTable("native", pass), wasm: onTable("wasm", pass) });
  }
  // int8: the raw GEMM (native: pre-packed int16 pairs; wasm: gemmInt8, which packs inside)
  for (const s of [256, 512, 1024]) {
    const kp = s / 2;
    const wp = new Int32Array(addon.qpackWords(s, s));
    addon.qpackWeights(randI8(s * s), s, s, null, wp);
    const bp = Int32Array.from({ length: s * kp }, (_, i) => ((i * 2654435761) & 0x007f007f));
    const c = new Int32Array(s * s);
    const a8 = randU8(s * s), b8 = randI8(s * s);
    out.push({
      key: `igemm_${s}`, work: s ** 3, unit: "GMAC/s",
      native: () => addon.igemmBench(s, s, s, wp, bp, c),
      wasm: () => gemmInt8(s, s, s, a8, 3, b8, 0, c),
    });
  }
  // int8 engine layers end to end (packing of activations, GEMM, requantization)
  const { multiplier, shift } = quantizeMultipliers(Array.from({ length: 512 }, () => 1e-3));
  const rq = (oc: number) => ({ bias: new Int32Array(oc), multiplier: multiplier.slice(0, oc), shift: shift.slice(0, oc), yZp: 3, lo: 3, hi: 255, outDType: "uint8" as const });
  {
    const [m, k, n] = [256, 1024, 512];
    const x = randU8(m * k), fw = prepareLinearWeights(randI8(n * k), n, k), r = rq(n);
    out.push({
      key: "qlinear_256x1024x512", work: m * n * k, unit: "GMAC/s",
      native: () => { setBackend("native"); qlinearGemm(x, 3, m, k, fw, r); },
      wasm: () => { setBackend("wasm"); qlinearGemm(x, 3, m, k, fw, r); },
    });
  }
  for (const [name, c, hw, oc, n] of [["resnet_64x16x16_b8", 64, 16, 64, 8], ["smallcnn_conv2_b256", 16, 14, 32, 256]] as const) {
    const s = { n, c, h: hw, w: hw, oc, kh: 3, kw: 3, oh: hw, ow: hw, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1 };
    const x = randU8(n * c * hw * hw), fw = prepareConvWeights(randI8(oc * c * 9), oc, c * 9), r = rq(oc);
    out.push({
      key: `qconv_${name}`, work: n * oc * c * 9 * hw * hw, unit: "GMAC/s",
      native: () => { setBackend("native"); qconv2dGemm(x, 3, s, fw, r); },
      wasm: () => { setBackend("wasm"); qconv2dGemm(x, 3, s, fw, r); },
    });
  }
  // whole models: one SGD step (forward, backward, update) and Int8Model inference
  const step = (model: Module, shape: number[]) => {
    const opt = new SGD(model.parameters(), { lr: 0.005, momentum: 0.9 });
    const x = randn(shape), y = randint(0, 10, [shape[0]]);
    return () => {
      model.train();
      opt.zeroGrad();
      crossEntropy(model.forward(x), y).backward();
      opt.step();
    };
  };
  const on = (name: string, f: () => void) => () => { setBackend(name); f(); };
  manualSeed(0);
  const models: [string, () => Module, number[]][] = [["smallcnn", () => smallCnn(), [64, 1, 28, 28]], ["resnet20", () => resnet20({ inChannels: 3 }), [32, 3, 32, 32]]];
  for (const [name, make, shape] of models) {
    const f = step(make(), shape);
    out.push({ key: `${name}_fp32_step`, work: 1, unit: "ms", native: on("native", f), wasm: on("wasm", f) });
    const qm = prepareQat(make(), { qconfig: qconfigs.onednn });
    noGrad(() => qm.forward(randn(shape)));
    const q = step(qm, shape);
    out.push({ key: `${name}_qat_step`, work: 1, unit: "ms", native: on("native", q), wasm: on("wasm", q) });
  }
  const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
  noGrad(() => { for (let i = 0; i < 3; i++) qm.forward(randn([32, 1, 28, 28])); });
  qm.eval();
  const int8 = convert(qm);
  for (const b of [1, 256]) {
    const x = randn([b, 1, 28, 28]);
    out.push({ key: `smallcnn_int8_b${b}`, work: 1, unit: "ms", native: on("native", () => int8.run(x)), wasm: on("wasm", () => int8.run(x)) });
  }
  return out;
}

const value = (c: Case, seconds: number) => (c.unit === "ms" ? seconds * 1e3 : c.work / seconds / 1e9);

/**
 * Seconds of process CPU time per call (user + system, all threads; the kernels run on one):
 * on a loaded machine, wall time includes the time other jobs held the core, CPU time does not.
 */
function cpuSeconds(fn: () => void, minTime = 0.2): number {
  fn();
  const u0 = process.cpuUsage(), t0 = performance.now();
  let n = 0;
  while (n < 3 || performance.now() - t0 < minTime * 1e3) {
    fn();
    n++;
  }
  const u = process.cpuUsage(u0);
  return (u.user + u.system) / 1e6 / n;
}

/** Cases of the table: key, label, unit of the throughput or time. */
const ROW_CASES: [string, string, string][] = [
  ...[256, 512, 1024].map((n): [string, string, string] => [`sgemm_${n}`, `f32 GEMM ${n}³ (target ≥ 80)`, "GFLOP/s"]),
  ...[256, 512, 1024].map((n): [string, string, string] => [`igemm_${n}`, `int8 GEMM ${n}³ (native: int16-pair kernel, pre-packed; wasm: gemmInt8, packs inside; target ≥ 150)`, "GMAC/s"]),
  ...["smallcnn_conv2_b64", "resnet20_16x16_b32", "resnet20_64x64_b32"].map((n): [string, string, string] => [`conv_${n}_fwd_bwd`, `conv2d forward + both backward, ${n}`, "ms"]),
  ...["qlinear_256x1024x512", "qconv_resnet_64x16x16_b8", "qconv_smallcnn_conv2_b256"].map((n): [string, string, string] => [n, `int8 engine ${n} (requantized)`, "GMAC/s"]),
  ["smallcnn_fp32_step", "SmallCNN FP32 SGD step, batch 64", "ms"], ["smallcnn_qat_step", "SmallCNN QAT (onednn) SGD step, batch 64", "ms"],
  ["resnet20_fp32_step", "ResNet-20 FP32 SGD step, batch 32", "ms"], ["resnet20_qat_step", "ResNet-20 QAT (onednn) SGD step, batch 32", "ms"],
  ["smallcnn_int8_b1", "SmallCNN Int8Model.run, batch 1", "ms"], ["smallcnn_int8_b256", "SmallCNN Int8Model.run, batch 256", "ms"],
];

/**
 * Rows for bench/run.ts: per case, native and wasm by process CPU time (robust to other jobs
 * holding the cores; it also counts V8's helper threads), the per-round ratio (throughput
 * native ÷ wasm, time wasm ÷ native: > 1 = native faster) of the CPU-time figures, and for the
 * GEMMs (whose targets are per core) the wall-time figures as well.
 */
export const NATIVE_ROWS: { key: string; label: string; unit: string }[] = ROW_CASES.flatMap(([k, label, unit]) => [
  { key: `${k}_native_cpu`, label: `${label} — native, by CPU time`, unit: unit === "ms" ? "CPU ms" : unit },
  { key: `${k}_wasm_cpu`, label: `${label} — wasm, by CPU time`, unit: unit === "ms" ? "CPU ms" : unit },
  { key: `${k}_ratio`, label: `${label} — native speed-up over wasm (CPU time, median of per-round ratios)`, unit: "×" },
  ...(k.includes("gemm_") ? [
    { key: `${k}_native`, label: `${label} — native, by wall time`, unit },
    { key: `${k}_wasm`, label: `${label} — wasm, by wall time`, unit },
  ] : []),
]);

export function benchNative(rounds = 5): Record<string, number> {
  const out: Record<string, number> = {};
  if (!nativeAddon) return out;
  const before = getBackend(), threads = getNumThreads();
  try {
    setNumThreads(1);
    workersReadySync();
    const list = cases();
    const per: Record<string, Record<"native" | "wasm" | "native_cpu" | "wasm_cpu", number[]>> = {};
    for (let r = 0; r < rounds; r++) {
      for (const c of list) {
        const p = (per[c.key] ??= { native: [], wasm: [], native_cpu: [], wasm_cpu: [] });
        const sides: ["native" | "wasm", () => void][] = r % 2 ? [["wasm", c.wasm], ["native", c.native]] : [["native", c.native], ["wasm", c.wasm]];
        for (const [side, fn] of sides) {
          p[side].push(value(c, timeit(fn, 0.2, 3)));
          p[`${side}_cpu`].push(value(c, cpuSeconds(fn)));
        }
      }
    }
    for (const c of list) {
      out[`${c.key}_native`] = median(per[c.key].native);
      out[`${c.key}_wasm`] = median(per[c.key].wasm);
      const p = per[c.key];
      out[`${c.key}_native_cpu`] = median(p.native_cpu);
      out[`${c.key}_wasm_cpu`] = median(p.wasm_cpu);
      out[`${c.key}_ratio`] = median(p.native_cpu.map((v, i) => (c.unit === "ms" ? p.wasm_cpu[i] / v : v / p.wasm_cpu[i])));
    }
    out.isa_avx2 = nativeIsa() === "avx2-fma" ? 1 : 0;
    out.load = os.loadavg()[0];
    return out;
  } finally {
    setBackend(before);
    setNumThreads(threads);
  }
}
