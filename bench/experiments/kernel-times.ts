/**
 * Per-kernel time of the ResNet-20 training step (issue 20): the step of ./resnet20-setup.ts (as
 * resnet20-step.ts times it; QAT with the onednn preset), with every
 * entry of the active kernel table wrapped to count its calls and time them (outermost call
 * only; unary / binary / reduce split by op). Prints ms per step and calls per step per kernel,
 * then the step, the kernels' sum and the rest (JavaScript, autograd, allocation, GC). Not a test.
 *   node --import tsx bench/experiments/kernel-times.ts [--root <checkout>] [--qat] [--backend native] [--steps 20]
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { resnet20Step } from "./resnet20-setup.js";

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const root = path.resolve(arg("root", path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")));
const step = await resnet20Step(root, { backend: arg("backend", "native"), threads: 1, qat: process.argv.includes("--qat") });
const B = await import(path.join(root, "src/backend/index.ts"));

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
