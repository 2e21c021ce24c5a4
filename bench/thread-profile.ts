/**
 * What limits two-thread scaling of a training step on the native backend (issue 15 item 4,
 * Amdahl): for each Kernels entry a step calls, its one-thread time and the part of it that
 * runs in a parallel region at 2 threads, the serial remainder (JavaScript between kernels,
 * GC, the wasm-only paths: SGD, fake-quant, observers) and the ceiling 1/(s + (1−s)/2).
 * Times are the main thread's CPU time (other jobs' load does not inflate them as it does wall
 * time). Two passes over the same steps: at 1 thread, every kernel call timed; at 2 threads with the
 * native pool in profile mode (regions run on the calling thread and those that would be
 * parallel are timed, native/threads.c) and the wasm pool's runs counted. A call's parallel
 * part is its one-thread time × (parallel region time / call time) of the profile pass; a wasm
 * call that used the wasm pool counts as parallel whole. Then a third pass at 2 threads for real
 * with the pool's live counters (mode 2): regions, worker sleeps, workers that arrived after
 * their region closed, main's time in regions and waiting for workers at their end; and the
 * step's wall time at 1 and 2 threads, interleaved (meaningful on a quiet machine only).
 * Called by hand:
 *   node --import tsx bench/thread-profile.ts [smallcnn|resnet20] [--qat] [--steps N] [--top K] [--rounds R]
 */
import { kernels, setBackend, setNumThreads } from "../src/backend/index.js";
import { nativeAddon } from "../src/backend/native/index.js";
import { WorkerPool } from "../src/backend/wasm/threads.js";
import { workersReadySync } from "../src/backend/wasm/index.js";
import { SGD } from "../src/optim/sgd.js";
import { smallCnn } from "../src/nn/models/small-cnn.js";
import { resnet20 } from "../src/nn/models/resnet.js";
import type { Module } from "../src/nn/module.js";
import { crossEntropy } from "../src/ops/loss.js";
import { manualSeed } from "../src/tensor/random.js";
import { noGrad } from "../src/tensor/grad-mode.js";
import { randint, randn } from "../src/tensor/creation.js";
import { prepareQat } from "../src/quant/prepare.js";
import { qconfigs } from "../src/quant/qconfig.js";
import "../src/index.js";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
const model = argv.find((a) => a === "resnet20" || a === "smallcnn") ?? "smallcnn";
const qat = argv.includes("--qat");
const STEPS = opt("--steps", 10), TOP = opt("--top", 25), ROUNDS = opt("--rounds", 3), DETAIL = argv.includes("--detail");

interface PoolProfile { regions: number; parallelRegions: number; regionNs: number; parallelNs: number; idealNs: number; threadNs: number }
const addon = nativeAddon as unknown as { poolProfile?(on: number): PoolProfile } | null;
if (!addon?.poolProfile) throw new Error(`native addon without poolProfile: ${addon ? "rebuild it (npm run build:native)" : "not loaded"}`);
const poolProfile = addon.poolProfile.bind(addon);

setBackend("native");
setNumThreads(2);
workersReadySync();
manualSeed(0);
const [make, batch, shape] = model === "smallcnn"
  ? [() => smallCnn(), 64, [64, 1, 28, 28]] as const
  : [() => resnet20({ inChannels: 3 }), 32, [32, 3, 32, 32]] as const;
const x = randn([...shape]), y = randint(0, 10, [batch], { dtype: "int32" });
let m: Module = make();
if (qat) {
  m = prepareQat(m, { qconfig: qconfigs.onednn });
  noGrad(() => m.forward(x));
}
const sgd = new SGD(m.parameters(), { lr: 0.005, momentum: 0.9 });
m.train();
const step = (): void => {
  sgd.zeroGrad();
  crossEntropy(m.forward(x), y).backward();
  sgd.step();
};

/** The main thread's CPU time in ms (other jobs' load does not inflate it; at one thread it is the step's critical path). */
function cpuMs(): number {
  return poolProfile(profiling ? 1 : 0).threadNs / 1e6;
}

const shapeOf = (s: unknown): string => ((s as number[]).length ? (s as number[]).join("x") : "scalar");

/** One record per kernel call, in call order. */
interface Call { name: string; size: number; ms: number; parNs: number; idealNs: number; callNs: number; wasmPool: boolean }
let calls: Call[] = [];
let recording = false;
let profiling = false;
let wasmRuns = 0;
const P = WorkerPool.prototype as unknown as { run(jobs: unknown[]): void };
const origRun = P.run;
P.run = function (jobs) {
  wasmRuns++;
  return origRun.call(this, jobs);
};

const table = kernels() as unknown as Record<string, unknown>;
for (const [name, fn] of Object.entries(table)) {
  if (typeof fn !== "function") continue;
  table[name] = function (this: unknown, ...args: unknown[]) {
    if (!recording) return (fn as (...a: unknown[]) => unknown).apply(this, args);
    let size = 0;
    for (const a of args) if (ArrayBuffer.isView(a)) size = Math.max(size, (a as unknown as { length: number }).length);
    const detail = DETAIL && name === "binary" ? ` ${String(args[0])} ${shapeOf(args[2])} ${shapeOf(args[4])} ${(args[3] as object).constructor.name}` : "";
    const runs = wasmRuns;
    const t0 = poolProfile(profiling ? 1 : 0).threadNs;
    try {
      return (fn as (...a: unknown[]) => unknown).apply(this, args);
    } finally {
      const p = poolProfile(profiling ? 1 : 0);
      const ms = (p.threadNs - t0) / 1e6;
      calls.push({ name: name + detail, size, ms, parNs: p.parallelNs, idealNs: p.idealNs, callNs: p.threadNs - t0, wasmPool: wasmRuns > runs });
    }
  };
}

function pass(threads: number, profile: boolean): { calls: Call[]; stepMs: number } {
  setNumThreads(threads);
  for (let i = 0; i < 3; i++) step();
  calls = [];
  profiling = profile;
  if (profile) poolProfile(1);
  recording = true;
  const t0 = cpuMs();
  for (let i = 0; i < STEPS; i++) step();
  const stepMs = (cpuMs() - t0) / STEPS;
  recording = false;
  if (profile) poolProfile(0);
  profiling = false;
  return { calls, stepMs };
}

const one = pass(1, false);
const two = pass(2, true);
if (one.calls.length !== two.calls.length || one.calls.some((c, i) => c.name !== two.calls[i].name)) {
  const i = one.calls.findIndex((c, j) => c.name !== two.calls[j]?.name);
  throw new Error(`the two passes called different kernels (call ${i}: ${one.calls[i]?.name} vs ${two.calls[i]?.name}) (${one.calls.length} vs ${two.calls.length} calls)`);
}

/** Per kernel (name and size): one-thread ms per step, parallel ms per step, ideal 2-thread ms of that part. */
interface Row { key: string; n: number; ms: number; par: number; ideal: number }
const rows = new Map<string, Row>();
let par = 0, ideal = 0, kernelMs = 0;
for (const [i, c] of one.calls.entries()) {
  const p = two.calls[i];
  const frac = p.wasmPool ? 1 : p.callNs > 0 ? Math.min(1, p.parNs / p.callNs) : 0;
  const idealFrac = p.wasmPool ? 0.5 : p.callNs > 0 ? Math.min(1, p.idealNs / p.callNs) : 0;
  const key = `${c.name.replace(/ /g, "_")} ${c.size}${p.wasmPool ? " (wasm pool)" : ""}`;
  const r = rows.get(key) ?? { key, n: 0, ms: 0, par: 0, ideal: 0 };
  r.n++;
  r.ms += c.ms / STEPS;
  r.par += (c.ms * frac) / STEPS;
  r.ideal += (c.ms * idealFrac) / STEPS;
  rows.set(key, r);
  kernelMs += c.ms / STEPS;
  par += (c.ms * frac) / STEPS;
  ideal += (c.ms * idealFrac) / STEPS;
}
const T = one.stepMs, serial = T - par;
const f = (v: number, d = 2): string => v.toFixed(d);
console.log(`${model} ${qat ? "QAT" : "FP32"} batch ${batch}, native, ${STEPS} steps; one-thread step ${f(T)} ms (profile pass ${f(two.stepMs)} ms)`);
console.log(`serial kernels ranked by one-thread ms per step (size = largest array argument):`);
const sorted = [...rows.values()].sort((a, b) => b.ms - b.par - (a.ms - a.par));
for (const r of sorted.slice(0, TOP)) {
  console.log(`  ${r.key.padEnd(44)} ${String(r.n / STEPS).padStart(5)} calls ${f(r.ms).padStart(7)} ms ${f(r.ms - r.par).padStart(7)} serial ${f((100 * (r.ms - r.par)) / T, 1).padStart(5)} %, 2-thread ideal ${f(r.ms - r.par + r.ideal).padStart(7)}`);
}
const byName = new Map<string, [number, number]>();
for (const r of rows.values()) {
  const k = r.key.split(" ")[0], v = byName.get(k) ?? [0, 0];
  byName.set(k, [v[0] + r.ms, v[1] + r.ms - r.par]);
}
console.log(`per kernel: ${[...byName].sort((a, b) => b[1][1] - a[1][1]).map(([k, [ms, s]]) => `${k} ${f(ms)}/${f(s)}`).join(", ")} (ms total/serial)`);
console.log(`kernels ${f(kernelMs)} ms, of which parallel ${f(par)} ms; outside kernels (JS, GC, wasm-only paths) ${f(T - kernelMs)} ms`);
const s = serial / T;
console.log(`serial fraction s = ${f(100 * s, 1)} %; Amdahl ceiling 1/(s + (1−s)/2) = ${f(1 / (s + (1 - s) / 2))}×; with the parallel regions' task balance ${f(T / (serial + ideal))}×`);

// Live pool counters at 2 threads, then 1- vs 2-thread wall time, interleaved rounds.
setNumThreads(2);
for (let i = 0; i < 3; i++) step();
poolProfile(2);
const w0 = performance.now();
for (let i = 0; i < STEPS; i++) step();
const wall2 = (performance.now() - w0) / STEPS;
const live = poolProfile(0);
const per = (v: number): string => f(v / STEPS, 1);
console.log(`live at 2 threads: ${per(live.regions)} regions/step, worker slept ${per(live.parallelRegions)}×/step, arrived after the region closed ${per(live.regionNs)}×/step; main in regions ${f(live.parallelNs / 1e6 / STEPS)} ms/step, waiting for the worker at their end ${f(live.idealNs / 1e6 / STEPS)} ms/step (step ${f(wall2)} ms wall)`);
const walls: [number, number][] = [];
for (let r = 0; r < ROUNDS; r++) {
  const pair: number[] = [];
  for (const t of [1, 2]) {
    setNumThreads(t);
    step();
    const t0 = performance.now();
    for (let i = 0; i < STEPS; i++) step();
    pair.push((performance.now() - t0) / STEPS);
  }
  walls.push([pair[0], pair[1]]);
}
const ratios = walls.map(([a, b]) => a / b).sort((a, b) => a - b);
console.log(`wall ms/step 1 vs 2 threads per round: ${walls.map(([a, b]) => `${f(a, 1)}/${f(b, 1)}`).join(", ")}; 2-thread speed-up median ${f(ratios[ratios.length >> 1])}× (${f(ratios[0])}–${f(ratios[ratios.length - 1])}); load ${(await import("node:os")).loadavg().map((v) => v.toFixed(1)).join(" ")}`);
