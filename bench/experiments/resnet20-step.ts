/**
 * ResNet-20 training-step driver (issues 15 and 20): the `resnet20` bench case's model
 * (3×32×32 random images, batch 32, width 16, SGD momentum 0.9; QAT with the onednn preset),
 * for profiling one side and for interleaved A/B timing against another checkout.
 *
 *   one side, e.g. under a profiler (prints ms/step):
 *     node --cpu-prof --cpu-prof-dir /tmp/prof --import tsx bench/experiments/resnet20-step.ts --run . [--qat] [--steps 40] [--backend native] [--threads 1]
 *   A/B (fresh process per side per round, alternating order; base/head > 1 means head is faster):
 *     node --import tsx bench/experiments/resnet20-step.ts --base <root of other checkout> [--qat] [--rounds 5] [--steps 30]
 *   against PyTorch 1.13 (bench/peers/resnet20_step.py, /usr/bin/python3, OMP_WAIT_POLICY=PASSIVE) as the base side:
 *     node --import tsx bench/experiments/resnet20-step.ts --peer [--qat] [--rounds 5] [--steps 30] [--threads 1]
 * Each side imports the library from its own root, warms up 5 steps and times blocks of 5
 * steps; it reports the median block's wall and process CPU time per step. Not a test.
 */
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { resnet20Step } from "./resnet20-setup.js";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

const median = (a: number[]): number => {
  const s = [...a].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function side(root: string): Promise<{ wall: number; cpu: number }> {
  const step = await resnet20Step(root, { backend: arg("backend", "native"), threads: Number(arg("threads", "1")), qat: flag("qat") });
  const steps = Number(arg("steps", "30"));
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let b = 0; b < Math.ceil(steps / 5); b++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let k = 0; k < 5; k++) step();
    wall.push((performance.now() - t0) / 5);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3 / 5);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

function parent(): void {
  const here = fileURLToPath(import.meta.url);
  const head = path.resolve(path.dirname(here), "../..");
  const peer = flag("peer");
  const base = path.resolve(arg("base", ""));
  const rounds = Number(arg("rounds", "5"));
  const pass = ["backend", "steps", "threads"].flatMap((k) => (flag(k) ? [`--${k}`, arg(k, "")] : []));
  if (flag("qat")) pass.push("--qat");
  const torch = (): { wall: number; cpu: number } =>
    JSON.parse(execFileSync("/usr/bin/python3", [path.join(head, "bench/peers/resnet20_step.py"), "--steps", arg("steps", "30"), "--threads", arg("threads", "1"),
      ...(flag("qat") ? ["--qat"] : [])], { encoding: "utf8", env: { ...process.env, OMP_WAIT_POLICY: "PASSIVE" } }));
  // The side, not its root, picks PyTorch: with --peer and no --base, base's root resolves to head's.
  const run = (s: "base" | "head"): { wall: number; cpu: number } =>
    peer && s === "base" ? torch() :
    JSON.parse(execFileSync(process.execPath, ["--import", "tsx", here, "--child", s === "base" ? base : head, ...pass],
      { cwd: head, encoding: "utf8", env: { ...process.env, QAT_BACKEND: "" } }));
  const load0 = os.loadavg()[0];
  const res = { base: [] as { wall: number; cpu: number }[], head: [] as { wall: number; cpu: number }[] };
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 ? (["head", "base"] as const) : (["base", "head"] as const)) res[s].push(run(s));
  }
  const load1 = os.loadavg()[0];
  const show = (k: "wall" | "cpu"): string => {
    const ratios = res.base.map((b, j) => b[k] / res.head[j][k]);
    return `${k}: base ${median(res.base.map((v) => v[k])).toFixed(1)} ms/step, head ${median(res.head.map((v) => v[k])).toFixed(1)} ms/step, ` +
      `base/head median ${median(ratios).toFixed(3)} (range ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`;
  };
  console.log(`ResNet-20 ${flag("qat") ? "QAT (onednn)" : "FP32"} ${arg("backend", "native")}, ${arg("threads", "1")} thread(s), ${rounds} rounds, ` +
    `base = ${peer ? "PyTorch" : base}, load ${load0.toFixed(1)} → ${load1.toFixed(1)}`);
  console.log(show("wall"));
  console.log(show("cpu"));
}

if (flag("child")) process.stdout.write(JSON.stringify(await side(arg("child", "."))));
else if (flag("run")) {
  const r = await side(arg("run", "."));
  console.log(`ResNet-20 ${flag("qat") ? "QAT" : "FP32"}: ${r.wall.toFixed(1)} ms/step wall, ${r.cpu.toFixed(1)} ms/step CPU`);
} else parent();
