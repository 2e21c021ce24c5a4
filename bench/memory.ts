/**
 * Memory over a long run (issue 15: "RSS flat over 2,000 training steps"): SmallCNN float
 * training, QAT training (x86 preset) and Int8Model inference, 2,000 steps each at batch 64
 * on the current default backend, sampling the process RSS and the wasm heap every 100 steps.
 * Reported per phase: RSS after the first 200 steps (warm-up: pools and caches fill), at the
 * end, the peak, and the growth over the last 1,000 steps — the figure that must stay near 0.
 * Run alone for clean absolute figures: `npm run bench -- --only memory`.
 */
import { smallCnn } from "../src/nn/models/small-cnn.js";
import { randn } from "../src/tensor/creation.js";
import { stepper } from "./training.js";
import { manualSeed } from "../src/tensor/random.js";
import { noGrad } from "../src/tensor/grad-mode.js";
import { prepareQat } from "../src/quant/prepare.js";
import { qconfigs } from "../src/quant/qconfig.js";
import { convert } from "../src/quant/convert.js";
import { getBackend } from "../src/backend/index.js";
import { wasmMemoryStats } from "../src/index.js";

const STEPS = 2000;
const EVERY = 100;
const MB = 1024 * 1024;

interface Trace {
  rss: number[];
  wasm: number[];
}

function run(step: () => void): Trace {
  const t: Trace = { rss: [], wasm: [] };
  for (let i = 1; i <= STEPS; i++) {
    step();
    if (i % EVERY === 0) {
      t.rss.push(process.memoryUsage().rss / MB);
      t.wasm.push((wasmMemoryStats()?.committedBytes ?? 0) / MB);
    }
  }
  return t;
}

function summary(name: string, t: Trace): Record<string, number> {
  const at = (k: number) => t.rss[k / EVERY - 1];
  return {
    [`${name}_rss_warm_mb`]: at(200),
    [`${name}_rss_end_mb`]: at(STEPS),
    [`${name}_rss_peak_mb`]: Math.max(...t.rss),
    [`${name}_rss_growth_last1000_mb`]: at(STEPS) - at(STEPS - 1000),
    [`${name}_wasm_end_mb`]: t.wasm[t.wasm.length - 1],
  };
}

export const MEMORY_PHASES = [
  ["float", "float training, SmallCNN, batch 64"],
  ["qat", "QAT training (x86), SmallCNN, batch 64"],
  ["int8", "Int8Model inference, SmallCNN, batch 64"],
] as const;

export function benchMemory(): Record<string, number> {
  manualSeed(0);
  const out: Record<string, number> = { backend_is_native: getBackend() === "native" ? 1 : 0 };
  Object.assign(out, summary("float", run(stepper(smallCnn()))));
  const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
  noGrad(() => qm.forward(randn([64, 1, 28, 28])));
  Object.assign(out, summary("qat", run(stepper(qm))));
  qm.eval();
  const int8 = convert(qm);
  const x = randn([64, 1, 28, 28]);
  Object.assign(out, summary("int8", run(() => void int8.run(x))));
  return out;
}
