/**
 * Scale-out measurement for bench/RESULTS.md ("Scale-out on PyTorch"): SmallCNN prepared with
 * the x86 preset in qat-ts, exported with exportTorch, then QAT-trained by train_ddp.py for
 * --steps global steps at the same global batch (64) and learning rate, once in 1 process
 * (2 threads, OMP_WAIT_POLICY=PASSIVE) and once under torchrun with 2 processes (1 thread each, gloo), interleaved for
 * --rounds rounds; each run starts from the same exported weights. Prints accuracy (10k test
 * images), wall time, the per-round time ratio and the load. Needs /usr/bin/python3 with torch.
 *   node --import tsx scripts/bench-torch-ddp.mts [--steps 300] [--rounds 2] [--data /usr/share/datasets/fashion-mnist]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import "../src/index.js";
import { buildModel } from "../src/nn/models/registry.js";
import { manualSeed } from "../src/tensor/random.js";
import { prepareQat, qconfigs } from "../src/quant/index.js";
import { exportTorch } from "../src/interop/torch/index.js";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const steps = Number(arg("steps", "300"));
const rounds = Number(arg("rounds", "2"));
const data = arg("data", "/usr/share/datasets/fashion-mnist");

manualSeed(0);
const qm = prepareQat(buildModel({ zoo: "smallCnn" }), { qconfig: qconfigs.x86 });
const dir = mkdtempSync(path.join(tmpdir(), "qat-torch-bench-"));
exportTorch(qm, dir, { model: { zoo: "smallCnn" }, schedule: { freezeBnStep: Math.round(steps * 0.6), freezeObserverStep: Math.round(steps * 0.8) }, train: { lr: 0.05, batchSize: 64 } });

interface Result { testAccuracy: number; wallSeconds: number; lossLast20: number }
function once(ranks: number, out: string): Result & { load: number } {
  const load = loadavg()[0];
  const common = ["--data", data, "--steps", String(steps), "--out", out];
  const args = ranks === 1
    ? ["train_ddp.py", ...common, "--batch-size", "64"]
    : ["-m", "torch.distributed.run", "--nproc_per_node", String(ranks), "--redirects", "2", "--tee", "2", "--log_dir", path.join(out, "logs"), "--master_port", String(29600 + Math.floor(Math.random() * 300)), "train_ddp.py", ...common, "--batch-size", String(64 / ranks)];
  // OMP_WAIT_POLICY=PASSIVE: on a loaded machine, spinning OpenMP threads make the 2-thread
  // single process many times slower (measured: 515 s vs 37 s for the same 300 steps)
  const env = { ...process.env, OMP_WAIT_POLICY: "PASSIVE" };
  const r = spawnSync("/usr/bin/python3", args, { cwd: dir, encoding: "utf8", maxBuffer: 64 << 20, env });
  if (r.status !== 0) throw new Error(r.stderr.slice(-3000));
  return { ...(JSON.parse(readFileSync(path.join(out, "result.json"), "utf8")) as Result), load };
}

const rows: string[] = [];
for (let round = 0; round < rounds; round++) {
  const one = once(1, path.join(dir, `r${round}-1`));
  const two = once(2, path.join(dir, `r${round}-2`));
  rows.push(`| ${round + 1} | ${(one.testAccuracy * 100).toFixed(2)} % | ${one.wallSeconds.toFixed(1)} s (load ${one.load.toFixed(1)}) | ${(two.testAccuracy * 100).toFixed(2)} % | ${two.wallSeconds.toFixed(1)} s (load ${two.load.toFixed(1)}) | ${(two.wallSeconds / one.wallSeconds).toFixed(2)} |`);
  console.error(rows.at(-1));
}
console.log(`SmallCNN, x86 preset, ${steps} global steps × 64 images, lr 0.05, BN frozen at ${Math.round(steps * 0.6)}, observers at ${Math.round(steps * 0.8)}; data ${data}`);
console.log("| round | 1 process: accuracy | 1 process: train wall | 2 processes: accuracy | 2 processes: train wall | time 2p / 1p |");
console.log("|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
rmSync(dir, { recursive: true, force: true });
