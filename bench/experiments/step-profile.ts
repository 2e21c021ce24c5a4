/**
 * Profiling driver (issue 20): runs `--steps` FP32 training steps (batch 64, SGD) of a zoo model
 * on the active backend, after 3 warm-up steps, and prints the step time; run it under
 * `node --cpu-prof` to see where a step goes. Not a benchmark (npm run bench is).
 *   node --cpu-prof --cpu-prof-dir /tmp/prof --import tsx bench/experiments/step-profile.ts [--model vitTiny] [--steps 20] [--backend native] [--threads 1]
 */
import { setBackend, setNumThreads } from "../../src/backend/index.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { buildModel } from "../../src/nn/models/registry.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { SGD } from "../../src/optim/sgd.js";
import { manualSeed } from "../../src/tensor/random.js";
import "../../src/index.js";

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
setBackend(arg("backend", "native"));
setNumThreads(Number(arg("threads", "1")));
manualSeed(0);
const d = fashionMnistSample();
const batches = Array.from({ length: 8 }, (_, b) => d.train.getBatch(Array.from({ length: 64 }, (_, i) => b * 64 + i)));
const model = buildModel({ zoo: arg("model", "vitTiny") });
model.train();
const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
const step = (i: number): void => {
  const { x, y } = batches[i % batches.length];
  opt.zeroGrad();
  crossEntropy(model.forward(x), y).backward();
  opt.step();
};
for (let i = 0; i < 3; i++) step(i);
const steps = Number(arg("steps", "20"));
const t0 = performance.now();
for (let i = 0; i < steps; i++) step(i);
console.log(`${arg("model", "vitTiny")} on ${arg("backend", "native")}: ${((performance.now() - t0) / steps).toFixed(1)} ms/step`);
