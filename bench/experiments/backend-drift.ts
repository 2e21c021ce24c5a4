/**
 * Issue-20 evidence: does training on the native backend follow the same trajectory as wasm
 * and ref, or does it diverge by a bug? Runs the demo's float recipe (SmallCNN, SGD lr 0.05
 * momentum 0.9, batch 64, the embedded Fashion-MNIST sample, same seed) for `--steps` steps
 * on each backend in turn, from identical weights and batches, and prints per-step losses,
 * their relative differences against the first backend, and the largest relative parameter
 * gradient difference of the first step, per parameter, with the parameter's largest gradient
 * (a conv bias followed by batch norm has a true gradient of 0: its entries are rounding noise).
 *   node --import tsx bench/experiments/backend-drift.ts [--steps 40] [--seed 0] [--backends ref,wasm,native] [--threads 1]
 */
import { getBackend, setBackend, setNumThreads } from "../../src/backend/index.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { DataLoader } from "../../src/data/loader.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { SGD } from "../../src/optim/sgd.js";
import { manualSeed } from "../../src/tensor/random.js";
import "../../src/index.js";

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const steps = Number(arg("steps", "40"));
const seed = Number(arg("seed", "0"));
const backends = arg("backends", "ref,wasm,native").split(",");
setNumThreads(Number(arg("threads", "1")));

const data = fashionMnistSample();

interface Run {
  losses: number[];
  grads: Map<string, Float64Array>;
}

function run(backend: string): Run {
  setBackend(backend);
  if (getBackend() !== backend) throw new Error(`backend ${backend} did not activate`);
  manualSeed(seed);
  const loader = new DataLoader(data.train, { batchSize: 64, shuffle: true, seed: seed + 1 });
  const model = smallCnn();
  model.train();
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const losses: number[] = [];
  const grads = new Map<string, Float64Array>();
  for (const { x, y } of loader) {
    if (losses.length >= steps) break;
    opt.zeroGrad();
    const loss = crossEntropy(model.forward(x), y);
    loss.backward();
    if (losses.length === 0) {
      for (const [name, p] of model.namedParameters()) grads.set(name, Float64Array.from(p.grad!.data as Float32Array));
    }
    losses.push(loss.item());
    opt.step();
  }
  return { losses, grads };
}

const runs = backends.map((b) => [b, run(b)] as const);
const [baseName, base] = runs[0];
console.log(`seed ${seed}, ${steps} steps, threads ${arg("threads", "1")}; relative differences against ${baseName}`);
console.log("first-step gradients, max |g − g₀| / max |g₀| per parameter:");
for (const [name, run] of runs.slice(1)) {
  const parts: string[] = [];
  for (const [p, g0] of base.grads) {
    const g = run.grads.get(p)!;
    let d = 0, m = 0;
    for (let i = 0; i < g0.length; i++) {
      d = Math.max(d, Math.abs(g[i] - g0[i]));
      m = Math.max(m, Math.abs(g0[i]));
    }
    parts.push(`${p} ${(d / m).toExponential(1)} (max ${m.toExponential(0)})`);
  }
  console.log(`  ${name}: ${parts.join(", ")}`);
}
console.log(`step  ${runs.map(([n]) => n.padStart(10)).join(" ")}  ${runs.slice(1).map(([n]) => `rel(${n})`.padStart(12)).join(" ")}`);
for (let s = 0; s < steps; s++) {
  const l0 = base.losses[s];
  const cols = runs.map(([, r]) => r.losses[s].toFixed(6).padStart(10)).join(" ");
  const rel = runs.slice(1).map(([, r]) => (Math.abs(r.losses[s] - l0) / Math.abs(l0)).toExponential(2).padStart(12)).join(" ");
  console.log(`${String(s).padStart(4)}  ${cols}  ${rel}`);
}
