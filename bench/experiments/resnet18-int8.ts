/**
 * ResNet-18 Int8Model vs onnxruntime in process CPU time (issues 15 and 20): the `resnet18`
 * bench suite's model (bench/.models/resnet18.onnx imported, x86 QAT-prepared, calibrated on
 * random 224×224 images with seed 0, converted; its QDQ export in onnxruntime-node with all
 * optimizations and as many intra-op threads), batch 1. Interleaved rounds print each side's
 * median CPU ms per run and the ratio (onnxruntime / ours: > 1 = we are faster) — CPU time
 * is steadier than wall time on a loaded machine —, then a per-node breakdown of one side's
 * runs (CPU ms; fused pairs — add → requantize, conv → pool — count as their first node).
 *   node --import tsx bench/experiments/resnet18-int8.ts [--threads 1] [--rounds 5] [--reps 8] [--root <checkout>]
 * `--root` imports the library from another checkout (before/after comparisons). Not a test.
 */
import { existsSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(arg("root", path.join(here, "../..")));
const imp = (p: string) => import(path.join(root, p));
const FILE = path.join(here, "../.models/resnet18.onnx");
if (!existsSync(FILE)) throw new Error(`${FILE} missing: see bench/torchvision-full.ts`);
const threads = Number(arg("threads", "1")), rounds = Number(arg("rounds", "5")), reps = Number(arg("reps", "8"));

await imp("src/index.ts");
const { setBackend, setNumThreads } = await imp("src/backend/index.ts");
const { exportModel, importModel } = await imp("src/onnx/index.ts");
const { calibrate, convert, prepareQat, qconfigs } = await imp("src/quant/index.ts");
const { randn } = await imp("src/tensor/creation.ts");
const { manualSeed } = await imp("src/tensor/random.ts");
const ort = await import("onnxruntime-node");
setBackend("native");
setNumThreads(threads);
manualSeed(0);
const qm = prepareQat(importModel(new Uint8Array(readFileSync(FILE))), { qconfig: qconfigs.x86 });
calibrate(qm, [0, 1].map(() => ({ x: randn([2, 3, 224, 224]) })), { batches: 2 });
const x = randn([1, 3, 224, 224]);
const int8 = convert(qm, { example: x });
const session = await ort.InferenceSession.create(exportModel(qm, { example: x, format: "qdq" }), { graphOptimizationLevel: "all", intraOpNumThreads: threads, interOpNumThreads: 1 });
const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", Float32Array.from(x.toFloat32Array()), [1, 3, 224, 224]) };

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
async function cpuMs(fn: () => unknown): Promise<number> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    await fn();
    const c = process.cpuUsage(c0);
    t.push((c.user + c.system) / 1000);
  }
  return median(t);
}

const ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const ours = await cpuMs(() => int8.run(x));
  const peer = await cpuMs(() => session.run(feeds));
  ratios.push(peer / ours);
  console.log(`round ${r + 1}/${rounds} (load ${loadavg()[0].toFixed(1)}): Int8Model ${ours.toFixed(1)} CPU ms, onnxruntime ${peer.toFixed(1)} CPU ms, ratio ${(peer / ours).toFixed(2)}`);
}
console.log(`median ratio onnxruntime / Int8Model (CPU time, ${threads} thread(s)): ${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`);

// per node: wrap the model's node dispatch (exec, and the fused pairs of its layer cache)
type Node = { name: string; op: string };
type Dispatch = (n: Node, ...rest: unknown[]) => unknown;
const m = int8 as unknown as { exec: Dispatch; layers: { fused: Dispatch } };
const per = new Map<string, number[]>();
function timed(fn: Dispatch, self: unknown): Dispatch {
  return (n, ...rest) => {
    const c0 = process.cpuUsage();
    const r = fn.call(self, n, ...rest);
    const c = process.cpuUsage(c0);
    const key = `${n.op} ${n.name}`;
    if (r !== null) (per.get(key) ?? per.set(key, []).get(key)!).push((c.user + c.system) / 1000);
    return r;
  };
}
m.exec = timed(m.exec, int8);
m.layers.fused = timed(m.layers.fused, m.layers);
for (let i = 0; i < reps; i++) int8.run(x);
const rows = [...per].map(([k, v]) => [k, median(v)] as const);
const total = rows.reduce((a, [, v]) => a + v, 0);
for (const [k, v] of rows) console.log(`${v.toFixed(2).padStart(6)} ms ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
console.log(`sum of per-node medians: ${total.toFixed(1)} CPU ms`);
