/**
 * Issue-18 peer row: PyTorch 1.13's quantize_dynamic on the identical ViT, against ours.
 * Reads the float checkpoint bench/experiments/vit.ts trained (same --out / --epochs / --seed;
 * run that first), then
 *   accuracy (Fashion-MNIST test set, 10 000 images):
 *     ours   Int8Model of the `dynamic` preset (prepareQat with the patch-embedding conv kept
 *            float → convert): every Linear module, MultiheadAttention's out_proj and its
 *            functional in-projection are dynamic_linear nodes; and quant.quantizeDynamic's
 *            module form (Linear modules only: the in-projection stays float)
 *     PyTorch quantize_dynamic({nn.Linear}) with default_dynamic_qconfig (per-tensor weights)
 *            and per_channel_dynamic_qconfig, onednn engine (bench/peers/vit_dynamic_torch.py;
 *            it swaps linear1 / linear2 / head only: out_proj and in_proj stay float there)
 *   speed: one forward at batch 1 and 64, one thread each (ours: setNumThreads(1); PyTorch:
 *     torch.set_num_threads(1)), --rounds interleaved rounds of ≥ --min-time s per side and
 *     case; median process-CPU and wall time per forward (on a loaded machine the wall time
 *     mostly measures the wait for a core), per-round ratios and the load average are printed.
 *   node --import tsx bench/experiments/vit-dynamic-peer.ts [--out /tmp/vit-exp] [--epochs 4] [--seed 0]
 *     [--rounds 3] [--min-time 2] [--skip-accuracy] [--data /usr/share/datasets/fashion-mnist]
 * Writes <out>/vit-dynamic-peer-seed<seed>.json and prints the rows for bench/RESULTS.md.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import "../../src/index.js";
import { arg } from "./rows.js";
import { fashionMnist } from "../../src/data/fs.js";
import { DataLoader } from "../../src/data/loader.js";
import { vitTiny } from "../../src/nn/models/vit.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { loadSafetensors, writeFileAtomic } from "../../src/nn/fs.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { evaluate, evaluatePredictor } from "../../src/train/evaluate.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { convert } from "../../src/quant/convert.js";
import { quantizeDynamic } from "../../src/quant/quantize-dynamic.js";
import { setNumThreads } from "../../src/backend/index.js";

const out = arg("out", "/tmp/vit-exp");
const epochs = Number(arg("epochs", "4"));
const seed = Number(arg("seed", "0"));
const rounds = Number(arg("rounds", "3"));
const minTime = Number(arg("min-time", "2"));
const data = arg("data", "/usr/share/datasets/fashion-mnist");
const ckpt = path.join(out, `vit-float-${epochs}ep-seed${seed}.safetensors`);
if (!existsSync(ckpt)) throw new Error(`${ckpt} is missing: train it first with node --import tsx bench/experiments/vit.ts --epochs ${epochs} --seed ${seed} --out ${out} --variants float`);
const peer = new URL("../peers/vit_dynamic_torch.py", import.meta.url).pathname;
setNumThreads(1);

const float = (() => {
  manualSeed(seed);
  const m = vitTiny();
  m.loadStateDict(loadSafetensors(ckpt));
  m.eval();
  return m;
})();
const example = randn([1, 1, 28, 28]);
const int8 = convert(prepareQat(float, { qconfig: qconfigs.dynamic, example, overrides: [{ type: Conv2d, qconfig: null }] }));
const result: Record<string, unknown> = { ckpt, load: loadavg()[0] };

if (!process.argv.includes("--skip-accuracy")) {
  const test = new DataLoader(fashionMnist(data).test, { batchSize: 500 });
  const torch = spawnSync("/usr/bin/python3", [peer, "accuracy", ckpt, data], { encoding: "utf8" });
  if (torch.status !== 0) throw new Error(`PyTorch peer failed: ${torch.stderr}`);
  const t = JSON.parse(torch.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
  const ours = {
    float: evaluate(float, test).accuracy,
    int8Model: evaluatePredictor((x) => int8.run(x), test).accuracy,
    quantizeDynamic: evaluate(quantizeDynamic(float), test).accuracy,
  };
  Object.assign(result, { accuracy: { ours, torch: t } });
  console.log(`[vit dynamic peer] accuracy: ours float ${ours.float}, Int8Model dynamic ${ours.int8Model}, quantizeDynamic ${ours.quantizeDynamic}; PyTorch float ${String(t.float)}, quantize_dynamic per-tensor ${String(t.per_tensor)}, per-channel ${String(t.per_channel)}`);
  writeFileAtomic(path.join(out, `vit-dynamic-peer-seed${seed}.json`), JSON.stringify(result, null, 2));
}

/** The PyTorch timing server (one process, requests by line). */
async function startPeer(): Promise<{ time(batch: number, qconfig: string): Promise<Sample>; close(): void }> {
  const p = spawn("/usr/bin/python3", [peer, "serve", ckpt], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: p.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => JSON.parse(((await lines.next()).value as string) ?? "{}") as Record<string, unknown>;
  await next(); // ready
  return {
    async time(batch, qconfig) {
      p.stdin.write(`${JSON.stringify({ batch, qconfig, min_time: minTime })}\n`);
      const r = await next();
      return { wall: r.seconds as number, cpu: r.cpu as number };
    },
    close: () => p.stdin.end(),
  };
}

/** Median wall and process-CPU seconds of one forward (the loaded machine's wall time is mostly waiting for a core). */
interface Sample {
  wall: number;
  cpu: number;
}

function ours(batch: number): Sample {
  const x = randn([batch, 1, 28, 28]);
  int8.run(x);
  const wall: number[] = [];
  const cpu: number[] = [];
  const start = performance.now();
  while (wall.length < 5 || performance.now() - start < minTime * 1000) {
    const t = performance.now();
    const c = process.cpuUsage();
    int8.run(x);
    const u = process.cpuUsage(c);
    wall.push((performance.now() - t) / 1000);
    cpu.push((u.user + u.system) / 1e6);
  }
  return { wall: median(wall), cpu: median(cpu) };
}
const median = (a: number[]): number => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

const torch = await startPeer();
const speed: Record<string, { ours: Sample[]; perTensor: Sample[]; perChannel: Sample[]; load: number[] }> = {};
const ms = (s: Sample) => `${(1e3 * s.cpu).toFixed(2)} ms CPU (${(1e3 * s.wall).toFixed(2)} wall)`;
for (let r = 0; r < rounds; r++) {
  for (const batch of [1, 64]) {
    const s = (speed[`batch ${batch}`] ??= { ours: [], perTensor: [], perChannel: [], load: [] });
    s.ours.push(ours(batch));
    s.perTensor.push(await torch.time(batch, "per_tensor"));
    s.perChannel.push(await torch.time(batch, "per_channel"));
    s.load.push(loadavg()[0]);
    console.log(`[vit dynamic peer] round ${r + 1} batch ${batch}: ours ${ms(s.ours[r])}, PyTorch per-tensor ${ms(s.perTensor[r])}, per-channel ${ms(s.perChannel[r])}; load ${s.load[r].toFixed(1)}`);
  }
}
torch.close();
result.speed = speed;
writeFileAtomic(path.join(out, `vit-dynamic-peer-seed${seed}.json`), JSON.stringify(result, null, 2));
const med = (a: Sample[], k: keyof Sample) => median(a.map((x) => x[k]));
console.log("\n| batch | Int8Model dynamic | PyTorch quantize_dynamic per-tensor | per-channel | ours / PyTorch per-tensor, CPU (per round) | same, wall | load |\n|---|---|---|---|---|---|---|");
for (const [k, s] of Object.entries(speed)) {
  const ratios = s.ours.map((o, i) => (o.cpu / s.perTensor[i].cpu).toFixed(2)).join(", ");
  const f = (a: Sample[]) => `${(1e3 * med(a, "cpu")).toFixed(2)} ms`;
  console.log(`| ${k} | ${f(s.ours)} | ${f(s.perTensor)} | ${f(s.perChannel)} | ${(med(s.ours, "cpu") / med(s.perTensor, "cpu")).toFixed(2)}× (${ratios}) | ${(med(s.ours, "wall") / med(s.perTensor, "wall")).toFixed(2)}× | ${median(s.load).toFixed(1)} |`);
}
