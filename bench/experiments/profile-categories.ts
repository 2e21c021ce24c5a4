/**
 * Summarises a V8 .cpuprofile written by `node --cpu-prof` around step-profile.ts (issue 20):
 * self time per category of the ViT training step — matmul, GELU, LayerNorm, softmax,
 * autograd's gradient sums, copies, GC, other — as shares of the time spent running (idle and
 * module loading excluded), then the top functions by self time. Used for the ViT breakdowns
 * in the #20 notes.
 *   node --cpu-prof --cpu-prof-dir /tmp/prof --import tsx bench/experiments/step-profile.ts --model vitTiny --steps 60
 *   node --import tsx bench/experiments/profile-categories.ts /tmp/prof/<file>.cpuprofile [--top 20]
 */
import { readFileSync } from "node:fs";

interface ProfileNode { id: number; callFrame: { functionName: string; url: string } }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const file = process.argv[2];
if (!file) throw new Error("profile-categories: give the .cpuprofile file");
const topIdx = process.argv.indexOf("--top");
const top = topIdx >= 0 ? Number(process.argv[topIdx + 1]) : 20;
const p = JSON.parse(readFileSync(file, "utf8")) as Profile;

const self = new Map<number, number>();
p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));

/** First match wins; `f` is the function name, `u` the script URL. */
const CATEGORIES: [string, (f: string, u: string) => boolean][] = [
  ["(startup: module loading)", (f, u) => /esm|cjs|lexer|bootstrap|source_map|zlib|package_json|compile|wrapSafe|Module\._|waitForWorker|receiveMessageOnPort|postMessage|onclose/.test(`${u} ${f}`)],
  ["(idle)", (f) => f === "(idle)"],
  ["LayerNorm", (f) => /layerNorm/i.test(f)],
  ["GELU", (f, u) => /gelu|pointwise/i.test(f) || (/nn-functional|transformer\.ts/.test(u) && f === "(anon)")],
  ["softmax (forward and backward)", (f, u) => /softmax/i.test(f + u)],
  ["matmul", (f, u) => f === "matmul" || f === "mm" || /ops\/matmul/.test(u)],
  ["autograd gradient sums (addInto)", (f) => f === "addInto"],
  ["elementwise (binary / unary)", (f, u) => /^(binary|unary)$/.test(f) && /backend/.test(u)],
  ["copies (copyStrided, permute)", (f, u) => /copyStrided|permute/.test(f) || /ops\/layout/.test(u)],
  ["garbage collector", (f) => f === "(garbage collector)"],
  ["wasm functions", (f) => f.startsWith("wasm-function")],
];

const byCat = new Map<string, number>();
const byFn = new Map<string, number>();
let total = 0;
for (const n of p.nodes) {
  const t = self.get(n.id) ?? 0;
  const f = n.callFrame.functionName || "(anon)";
  const u = n.callFrame.url;
  const cat = (CATEGORIES.find(([, m]) => m(f, u)) ?? ["other (op wrappers, tensors, autograd)"])[0];
  byCat.set(cat, (byCat.get(cat) ?? 0) + t);
  const key = `${f} ${u.split("/").slice(-2).join("/")}`;
  byFn.set(key, (byFn.get(key) ?? 0) + t);
  total += t;
}
const running = total - (byCat.get("(idle)") ?? 0) - (byCat.get("(startup: module loading)") ?? 0);
console.log(`running ${(running / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s sampled (idle and module loading excluded)`);
for (const [c, t] of [...byCat].sort((a, b) => b[1] - a[1])) if (!c.startsWith("(")) console.log(`${((100 * t) / running).toFixed(1).padStart(5)} %  ${c}`);
console.log("\ntop functions by self time (share of running time):");
for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * t) / running).toFixed(1).padStart(5)} %  ${k}`);
