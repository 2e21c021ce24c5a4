/**
 * Interleaved A/B timing of training steps between this checkout and another one (e.g. the
 * previous commit in a `git worktree`), used for the before/after ratios in bench/RESULTS.md
 * (issue 15). Each round starts one fresh process per side, in alternating order, that imports
 * the library from that side's root, warms up, then times `--steps` steps in blocks and
 * prints the median block's wall and main-thread CPU time per step. Reports per-side medians
 * and the median of the per-round ratios (base / head: > 1 means head is faster), with the
 * load average before and after.
 *
 *   node --import tsx bench/ab-step.ts --base /tmp/s6-base [--model smallcnn|smallcnn-qat|resnet20|resnet20-qat|vit|gemm1024]
 *        [--backend wasm] [--threads 1] [--base-threads N] [--rounds 5] [--steps 30] [--batch 64]
 * Thread scaling: `--base . --base-threads 1 --threads 2` (the same checkout on both sides;
 * "base/head" is then the 2-thread speed-up). gemm1024 times one 1024³ matmul per step.
 *   node --import tsx bench/ab-step.ts --child <root> …   (one side; internal)
 */
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const median = (a: number[]): number => {
  const s = [...a].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function child(root: string): Promise<void> {
  const imp = (p: string) => import(path.join(root, p));
  const { setBackend, setNumThreads } = await imp("src/backend/index.ts");
  await imp("src/index.ts");
  const { SGD } = await imp("src/optim/sgd.ts");
  const { smallCnn } = await imp("src/nn/models/small-cnn.ts");
  const { resnet20 } = await imp("src/nn/models/resnet.ts");
  const { vitTiny } = await imp("src/nn/models/vit.ts");
  const { randn, randint } = await imp("src/tensor/creation.ts");
  const { crossEntropy } = await imp("src/ops/loss.ts");
  const { manualSeed } = await imp("src/tensor/random.ts");
  const { noGrad } = await imp("src/tensor/grad-mode.ts");
  const { prepareQat } = await imp("src/quant/prepare.ts");
  const { qconfigs } = await imp("src/quant/qconfig.ts");
  setBackend(arg("backend", "wasm"));
  setNumThreads(Number(arg("threads", "1")));
  const wasmIndex = await imp("src/backend/wasm/index.ts");
  wasmIndex.workersReadySync?.();
  const model = arg("model", "smallcnn");
  const batch = Number(arg("batch", model.startsWith("resnet20") ? "32" : "64"));
  manualSeed(0);
  const inShape = model.startsWith("resnet20") ? [batch, 3, 32, 32] : [batch, 1, 28, 28];
  let m = model.startsWith("resnet20") ? resnet20({ inChannels: 3 }) : model.startsWith("vit") ? vitTiny() : smallCnn();
  if (model.endsWith("-qat")) {
    m = prepareQat(m, { qconfig: qconfigs.x86 });
    noGrad(() => m.forward(randn(inShape)));
  }
  const x = randn(inShape);
  const y = randint(0, 10, [batch], { dtype: "int32" });
  const opt = new SGD(m.parameters(), { lr: 0.01, momentum: 0.9 });
  m.train();
  const { matmul } = await imp("src/ops/matmul.ts");
  const [ga, gb] = [randn([1024, 1024]), randn([1024, 1024])];
  const step = model === "gemm1024" ? (): void => void matmul(ga, gb) : (): void => {
    opt.zeroGrad();
    crossEntropy(m.forward(x), y).backward();
    opt.step();
  };
  for (let i = 0; i < 5; i++) step();
  const steps = Number(arg("steps", "30"));
  const block = 5;
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let b = 0; b < Math.ceil(steps / block); b++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < block; i++) step();
    wall.push((performance.now() - t0) / block);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3 / block);
  }
  process.stdout.write(JSON.stringify({ wall: median(wall), cpu: median(cpu) }));
}

function parent(): void {
  const here = fileURLToPath(import.meta.url);
  const head = path.resolve(path.dirname(here), "..");
  const base = arg("base", "");
  if (!base) throw new Error("ab-step: --base <root of the other checkout> is required");
  const rounds = Number(arg("rounds", "5"));
  const pass = ["model", "backend", "steps", "batch"].flatMap((k) => (process.argv.includes(`--${k}`) ? [`--${k}`, arg(k, "")] : []));
  const threads = { head: arg("threads", "1"), base: arg("base-threads", arg("threads", "1")) };
  const run = (side: "base" | "head"): { wall: number; cpu: number } =>
    JSON.parse(execFileSync(process.execPath, ["--import", "tsx", here, "--child", side === "base" ? path.resolve(base) : head, ...pass, "--threads", threads[side]], {
      cwd: head, encoding: "utf8", env: { ...process.env, QAT_BACKEND: "" },
    }));
  const load0 = os.loadavg()[0];
  const res: Record<"base" | "head", { wall: number; cpu: number }[]> = { base: [], head: [] };
  for (let r = 0; r < rounds; r++) {
    const order: ("base" | "head")[] = r % 2 ? ["head", "base"] : ["base", "head"];
    for (const side of order) res[side].push(run(side));
  }
  const load1 = os.loadavg()[0];
  const show = (k: "wall" | "cpu"): string => {
    const ratios = res.base.map((b, i) => b[k] / res.head[i][k]);
    return `${k}: base ${median(res.base.map((v) => v[k])).toFixed(1)} ms/step, head ${median(res.head.map((v) => v[k])).toFixed(1)} ms/step, ` +
      `base/head median ${median(ratios).toFixed(3)} (range ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`;
  };
  console.log(`${arg("model", "smallcnn")} ${arg("backend", "wasm")}, threads base ${threads.base} / head ${threads.head}, ${rounds} rounds, load ${load0.toFixed(1)} → ${load1.toFixed(1)}`);
  console.log(show("wall"));
  console.log(show("cpu"));
}

if (process.argv.includes("--child")) await child(process.argv[process.argv.indexOf("--child") + 1]);
else parent();
