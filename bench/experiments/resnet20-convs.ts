/**
 * Per-pass timing of ResNet-20's convolutions (issues 15 and 20): every distinct conv geometry
 * of the `resnet20` bench case (3×32×32, batch 32, width 16) times forward, backward-input and
 * backward-weight through the active backend's kernel table, and prints each pass's time per
 * training step (× the number of layers with that geometry), so a profile's conv share can be
 * split by layer and pass. Median of `--reps` calls after one warm-up; CPU time of the process.
 *   node --import tsx bench/experiments/resnet20-convs.ts [--backend native] [--threads 1] [--reps 7] [--root <checkout>] [--model smallcnn]
 * `--root` imports the library from another checkout (before/after comparisons); PyTorch's side
 * is bench/peers/resnet20_convs.py. Not a test.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const root = path.resolve(arg("root", path.join(path.dirname(fileURLToPath(import.meta.url)), "../..")));
const imp = (p: string) => import(path.join(root, p));
const { setBackend, setNumThreads, kernels } = await imp("src/backend/index.ts");
await imp("src/index.ts");
setBackend(arg("backend", "native"));
setNumThreads(Number(arg("threads", "1")));
const K = kernels();

/** [label, layers with this geometry per step, c, h, oc, k, stride, pad] at batch 32 (ResNet-20) or 64 (`--model smallcnn`). */
const SMALLCNN: [string, number, number, number, number, number, number, number][] = [
  ["SmallCNN conv1 1→16 @28", 1, 1, 28, 16, 3, 1, 1],
  ["SmallCNN conv2 16→32 @14", 1, 16, 14, 32, 3, 1, 1],
];
const RESNET20: [string, number, number, number, number, number, number, number][] = [
  ["conv1 3→16 3×3 @32", 1, 3, 32, 16, 3, 1, 1],
  ["16→16 3×3 @32", 6, 16, 32, 16, 3, 1, 1],
  ["16→32 3×3 s2 @32", 1, 16, 32, 32, 3, 2, 1],
  ["ds 16→32 1×1 s2", 1, 16, 32, 32, 1, 2, 0],
  ["32→32 3×3 @16", 5, 32, 16, 32, 3, 1, 1],
  ["32→64 3×3 s2 @16", 1, 32, 16, 64, 3, 2, 1],
  ["ds 32→64 1×1 s2", 1, 32, 16, 64, 1, 2, 0],
  ["64→64 3×3 @8", 5, 64, 8, 64, 3, 1, 1],
];
const small = arg("model", "resnet20") === "smallcnn";
const LAYERS = small ? SMALLCNN : RESNET20;
const N = small ? 64 : 32;
const reps = Number(arg("reps", "7"));
const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const time = (f: () => void): number => {
  f();
  const t: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    f();
    const c = process.cpuUsage(c0);
    t.push((c.user + c.system) / 1e3);
  }
  return t.sort((a, b) => a - b)[reps >> 1];
};

let total = [0, 0, 0];
console.log(`${"layer".padEnd(22)} ×  fwd ms  bwdIn ms  bwdW ms  (per step, all layers of the row)  GFLOP/s fwd/in/w`);
for (const [label, count, c, h, oc, k, s, p] of LAYERS) {
  const oh = Math.floor((h + 2 * p - k) / s) + 1;
  const g = { n: N, c, h, w: h, oc, kh: k, kw: k, oh, ow: oh, strideH: s, strideW: s, padH: p, padW: p, dilationH: 1, dilationW: 1, groups: 1 };
  const x = rand(N * c * h * h), w = rand(oc * c * k * k), y = new Float32Array(N * oc * oh * oh), dy = rand(y.length);
  const dx = new Float32Array(x.length), dw = new Float32Array(w.length);
  const t = [time(() => K.conv2d(x, w, y, g)), time(() => K.conv2dBackwardInput(dy, w, dx, g)), time(() => K.conv2dBackwardWeight(x, dy, dw, g))];
  const gf = (2 * N * oc * c * k * k * oh * oh) / 1e6;
  total = total.map((v, i) => v + count * t[i]);
  console.log(`${label.padEnd(22)} ${count}  ${t.map((v) => (count * v).toFixed(2).padStart(7)).join("  ")}   ${t.map((v) => (gf / v).toFixed(1)).join(" / ")}`);
}
console.log(`${"total".padEnd(22)}    ${total.map((v) => v.toFixed(2).padStart(7)).join("  ")}   sum ${(total[0] + total[1] + total[2]).toFixed(1)} ms`);
