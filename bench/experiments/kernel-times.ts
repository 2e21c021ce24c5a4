/**
 * Per-kernel time of the ResNet-20 training step (issue 20): the resnet20-step.ts model (3×32×32
 * random images, batch 32, width 16, SGD momentum 0.9; QAT with the onednn preset), with every
 * entry of the active kernel table wrapped to count its calls and time them (outermost call
 * only; unary / binary / reduce split by op). Prints ms per step and calls per step per kernel,
 * then the step, the kernels' sum and the rest (JavaScript, autograd, allocation, GC). Not a test.
 *   node --import tsx bench/experiments/kernel-times.ts [--root <checkout>] [--qat] [--backend native] [--steps 20]
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const root = path.resolve(arg("root", path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")));
const imp = (p: string) => import(path.join(root, p));
const B = await imp("src/backend/index.ts");
await imp("src/index.ts");
const { SGD } = await imp("src/optim/sgd.ts");
const { resnet20 } = await imp("src/nn/models/resnet.ts");
const { randn, randint } = await imp("src/tensor/creation.ts");
const { crossEntropy } = await imp("src/ops/loss.ts");
const { manualSeed } = await imp("src/tensor/random.ts");
const { noGrad } = await imp("src/tensor/grad-mode.ts");
const { prepareQat } = await imp("src/quant/prepare.ts");
const { qconfigs } = await imp("src/quant/qconfig.ts");

B.setBackend(arg("backend", "native"));
B.setNumThreads(1);
manualSeed(1);
const batches = Array.from({ length: 8 }, () => ({ x: randn([32, 3, 32, 32]), y: randint(0, 10, [32], { dtype: "int32" }) }));
let model = resnet20({ inChannels: 3 });
if (process.argv.includes("--qat")) {
  model = prepareQat(model, { qconfig: qconfigs.onednn });
  noGrad(() => model.forward(batches[0].x));
}
const opt = new SGD(model.parameters(), { lr: 0.005, momentum: 0.9 });
let i = 0;
const step = (): void => {
  model.train();
  const { x, y } = batches[i++ % batches.length];
  opt.zeroGrad();
  crossEntropy(model.forward(x), y).backward();
  opt.step();
};
for (let w = 0; w < 5; w++) step();

const table = B.kernels() as Record<string, unknown>;
const stats = new Map<string, { calls: number; ms: number }>();
let depth = 0;
for (const name of Object.keys(table)) {
  const f = table[name];
  if (typeof f !== "function") continue;
  table[name] = function (this: unknown, ...args: unknown[]): unknown {
    if (depth > 0) return f.apply(this, args);
    depth++;
    const t0 = performance.now();
    try {
      return f.apply(this, args);
    } finally {
      depth--;
      const key = ["unary", "binary", "reduce"].includes(name) ? `${name}:${String(args[0])}` : name;
      const s = stats.get(key) ?? { calls: 0, ms: 0 };
      s.calls++;
      s.ms += performance.now() - t0;
      stats.set(key, s);
    }
  };
}
const steps = Number(arg("steps", "20"));
const t0 = performance.now();
for (let s = 0; s < steps; s++) step();
const total = (performance.now() - t0) / steps;
let sum = 0;
for (const [name, s] of [...stats].sort((a, b) => b[1].ms - a[1].ms)) {
  sum += s.ms / steps;
  console.log(`${(s.ms / steps).toFixed(2).padStart(8)} ms ${(s.calls / steps).toFixed(0).padStart(5)} calls  ${name}`);
}
console.log(`step ${total.toFixed(1)} ms, kernels ${sum.toFixed(1)} ms, rest ${(total - sum).toFixed(1)} ms (${root})`);
