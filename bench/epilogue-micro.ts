/**
 * Kernel-level A/B of the fused epilogue (issue 15), same process, interleaved, wasm backend,
 * 1 thread, process CPU time: conv + the bias pass + the ReLU pass vs one conv call with the
 * epilogue; the ReLU gradient as compare + multiply vs maskMul; linear's bias as a JS loop vs
 * the matmul epilogue. Prints median times and the median (range) of per-round ratios.
 *   node --import tsx bench/epilogue-micro.ts
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = process.argv[2] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const imp = (p: string) => import(path.join(root, p));
const { setBackend, setNumThreads, kernels } = await imp("src/backend/index.ts");
await imp("src/index.ts");
const { randn } = await imp("src/tensor/creation.ts");
const { allocArray } = await imp("src/tensor/dtype.ts");
const ops = await imp("src/ops/index.ts");
const { maskGrad } = await imp("src/ops/fused-act.ts");
setBackend("wasm"); setNumThreads(1);
const k = kernels();
const cpu = (f: () => void, n: number) => { const c0 = process.cpuUsage(); for (let i = 0; i < n; i++) f(); const c = process.cpuUsage(c0); return (c.user + c.system) / 1e3 / n; };
const med = (a: number[]) => { const s = [...a].sort((p, q) => p - q); return s[s.length >> 1]; };
function ab(name: string, A: () => void, B: () => void, n: number) {
  for (let i = 0; i < 3; i++) { A(); B(); }
  const r: number[] = [], ta: number[] = [], tb: number[] = [];
  for (let round = 0; round < 15; round++) { const a = cpu(A, n), b = cpu(B, n); ta.push(a); tb.push(b); r.push(a / b); }
  console.log(`${name}: unfused ${med(ta).toFixed(3)} ms, fused ${med(tb).toFixed(3)} ms, unfused/fused median ${med(r).toFixed(2)} (range ${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)})`);
}
const geom = (n: number, c: number, h: number, oc: number) => ({ n, c, h, w: h, oc, kh: 3, kw: 3, oh: h, ow: h, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1 });
for (const [name, g] of [["conv 1→16 28² (64)", geom(64, 1, 28, 16)], ["conv 16→32 14² (64)", geom(64, 16, 14, 32)]] as const) {
  const x = randn([g.n, g.c, g.h, g.w]).data, w = randn([g.oc, g.c, 3, 3]).data, b = randn([g.oc]).data;
  const P = g.oh * g.ow, N = g.n * g.oc * P;
  const one = new Float32Array(g.oc).fill(1);
  ab(`${name} + bias + ReLU`, () => {
    const y = allocArray("float32", N); k.conv2d(x, w, y, g);
    k.channelAffine(y, one, b, y, g.n, g.oc, P);
    const z = allocArray("float32", N); k.unary("relu", y, z);
  }, () => { const y = allocArray("float32", N); k.conv2d(x, w, y, g, { bias: b, act: "relu", lo: 0, hi: 0 }); }, 5);
}
const y = ops.relu(randn([64, 32, 14, 14])), g = randn([64, 32, 14, 14]);
ab("ReLU gradient, 64×32×14×14", () => { ops.mul(g, ops.gt(y, 0)); }, () => { maskGrad(g, y, 0, Infinity); }, 20);
const xl = randn([64, 1568]), wl = randn([128, 1568]), bl = randn([128]);
ab("linear 64×1568→128 + bias (was a JS loop)", () => { const o = ops.linear(xl, wl); const d = o.data, bd = bl.data; for (let r = 0; r < 64; r++) for (let j = 0; j < 128; j++) d[r * 128 + j] += bd[j]; }, () => { ops.linear(xl, wl, bl); }, 20);
