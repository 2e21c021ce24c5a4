/**
 * Where a 2-thread SmallCNN step waits (issue 15, item 4): wraps the wasm worker pool's
 * run / await and prints, per kernel, parallel regions per step, time inside them and the
 * main thread's wait for the workers, over 20 steps at batch 64.
 *   node --import tsx bench/pool-waits.ts
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = process.argv[2] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const imp = (p: string) => import(path.join(root, p));
const { setBackend, setNumThreads } = await imp("src/backend/index.ts");
await imp("src/index.ts");
const { WorkerPool } = await imp("src/backend/wasm/threads.ts");
const { workersReadySync } = await imp("src/backend/wasm/index.ts");
const { SGD } = await imp("src/optim/sgd.ts");
const { smallCnn } = await imp("src/nn/models/small-cnn.ts");
const { randn, randint } = await imp("src/tensor/creation.ts");
const { crossEntropy } = await imp("src/ops/loss.ts");
const { manualSeed } = await imp("src/tensor/random.ts");
setBackend("wasm"); setNumThreads(2); workersReadySync();
const P = WorkerPool.prototype as any;
const stats = new Map<string, { n: number; run: number; wait: number }>();
let cur = "";
const origRun = P.run, origAwait = P.await;
let on = false;
P.run = function (jobs: any[]) { if (!on) return origRun.call(this, jobs); cur = jobs[0].fn; const t = performance.now(); try { return origRun.call(this, jobs); } finally { const s = stats.get(cur) ?? { n: 0, run: 0, wait: 0 }; s.n++; s.run += performance.now() - t; stats.set(cur, s); } };
P.await = function (w: number) { if (!on) return origAwait.call(this, w); const t = performance.now(); try { return origAwait.call(this, w); } finally { if (!stats.has(cur)) stats.set(cur, { n: 0, run: 0, wait: 0 }); stats.get(cur)!.wait += performance.now() - t; } };
manualSeed(0);
const m = smallCnn(); const x = randn([64, 1, 28, 28]); const y = randint(0, 10, [64], { dtype: "int32" });
const opt = new SGD(m.parameters(), { lr: 0.01, momentum: 0.9 }); m.train();
const step = () => { opt.zeroGrad(); crossEntropy(m.forward(x), y).backward(); opt.step(); };
for (let i = 0; i < 5; i++) step();
const N = 20; on = true; const t0 = performance.now();
for (let i = 0; i < N; i++) step();
const total = performance.now() - t0; on = false;
let R = 0, W = 0, C = 0;
for (const [k, s] of [...stats].sort((a, b) => b[1].run - a[1].run)) { R += s.run; W += s.wait; C += s.n; console.log(k.padEnd(28), (s.n / N).toFixed(1).padStart(5), "regions/step", (s.run / N).toFixed(2).padStart(7), "ms/step in region", (s.wait / N).toFixed(2).padStart(7), "ms/step main waits", (s.run / s.n).toFixed(3), "ms/region"); }
console.log(`step ${(total / N).toFixed(1)} ms; parallel regions ${(C / N).toFixed(0)}/step, ${(R / N).toFixed(1)} ms/step (${(100 * R / total).toFixed(0)} %), main waits ${(W / N).toFixed(1)} ms/step (${(100 * W / total).toFixed(0)} % of the step)`);
