/**
 * Import time of a long ONNX chain (issue 14: "a 20,000-node chain in under 2 s"): three
 * 20,000-node graphs — Relu nodes, Mul nodes each with its own initializer ("s<k>.weight",
 * one module per node) and Mul nodes with PyTorch scope names ("/blocks/blocks.<k>/Mul") —
 * each decoded and imported `--rounds` times (default 5, interleaved), median and range of the
 * wall time and of the process CPU time (user + system; on a loaded machine the CPU time is the
 * better estimate of the quiet wall time) printed.
 *   node --import tsx bench/onnx-import-chain.ts [--nodes 20000] [--rounds 5]
 * Profile: node --cpu-prof --import tsx bench/onnx-import-chain.ts --rounds 1
 */
import { performance } from "node:perf_hooks";
import { loadavg } from "node:os";
import { DataType, encodeModel, floatTensorProto, importFloatModel, makeModel, makeNode, makeValueInfo } from "../src/onnx/index.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg("nodes", 20000);
const rounds = arg("rounds", 5);

function chain(kind: "relu" | "mul" | "scoped"): Uint8Array {
  const io = (k: number) => [k === 0 ? "x" : `v${k - 1}`, k === n - 1 ? "y" : `v${k}`];
  const nodes = Array.from({ length: n }, (_, k) => {
    const [i, o] = io(k);
    if (kind === "relu") return makeNode("Relu", [i], [o]);
    return makeNode("Mul", [i, kind === "mul" ? `s${k}.weight` : `w${k}`], [o], kind === "scoped" ? { name: `/blocks/blocks.${k}/Mul` } : {});
  });
  const inits = kind === "relu" ? [] : Array.from({ length: n }, (_, k) => floatTensorProto(kind === "mul" ? `s${k}.weight` : `w${k}`, [1 + k * 1e-6], [1]));
  const graph = { name: kind, node: nodes, initializer: inits, input: [makeValueInfo("x", DataType.FLOAT, [1, 2])], output: [makeValueInfo("y", DataType.FLOAT, [1, 2])] };
  return encodeModel(makeModel(graph, { opset: 13 }));
}

const kinds = ["relu", "mul", "scoped"] as const;
const bytes = Object.fromEntries(kinds.map((k) => [k, chain(k)])) as Record<(typeof kinds)[number], Uint8Array>;
const times: Record<string, number[]> = { relu: [], mul: [], scoped: [] };
const cpu: Record<string, number[]> = { relu: [], mul: [], scoped: [] };
const load0 = loadavg()[0];
for (let r = 0; r < rounds; r++) {
  for (const k of kinds) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    importFloatModel(bytes[k]);
    const c = process.cpuUsage(c0);
    times[k].push((performance.now() - t0) / 1000);
    cpu[k].push((c.user + c.system) / 1e6);
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`${n}-node chains, ${rounds} interleaved rounds, load ${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)} (1-min average)`);
const fmt = (a: number[]) => `${med(a).toFixed(2)} s (${Math.min(...a).toFixed(2)}–${Math.max(...a).toFixed(2)})`;
for (const k of kinds) console.log(`  ${k.padEnd(7)} wall ${fmt(times[k])}   CPU ${fmt(cpu[k])}`);
