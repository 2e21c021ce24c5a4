/**
 * `npm run bench` — runs the benchmark suites and prints their tables. Paired suites (smallcnn,
 * resnet20, wasm, core: PyTorch through bench/peers/torch_peer.py when Debian's /usr/bin/python3
 * has torch; onnx: onnxruntime-node) time each case on both sides interleaved for `--rounds`
 * rounds (default 3) at 1 thread each and at all cores, and report medians, ranges and the
 * median per-round ratio with the machine's load (bench/paired.ts). Our-only suites (training,
 * int8, native) print our figures. `--only <suite>[,<suite>…]` runs those suites; `--write` replaces the suite's
 * generated block in bench/RESULTS.md. `--backend native` runs a paired suite's side on the
 * native backend instead of wasm (its block is then written as `<suite>-native`).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { coreCases } from "./core.js";
import { benchTraining } from "./training.js";
import { getBackend, getNumThreads, setBackend, setNumThreads } from "../src/backend/index.js";
import { matmulScaling, wasmCases } from "./wasm.js";
import { onnxCases, onnxruntimeVersion } from "./onnx.js";
import { resnet18Cases } from "./resnet18-onnx.js";
import { qatOverFloat, resnet20Cases, smallCnnCases, vitCases } from "./smallcnn.js";
import { benchInt8 } from "./int8.js";
import { NATIVE_ROWS, benchNative } from "./native.js";
import { benchGraph } from "./graph.js";
import { MEMORY_PHASES, benchMemory } from "./memory.js";
import { type PairedCase, type PairedRun, pairedTable, runPaired } from "./paired.js";
import { TorchPeer } from "./torch-peer.js";

interface Row {
  key: string;
  label: string;
  unit: string;
}

/** A suite with our figures only (no peer column). */
interface OwnSuite {
  name: string;
  title: string;
  run(): Record<string, number>;
  rows: Row[];
}

/** A suite timed side by side with a peer (bench/paired.ts). */
interface PairedSuite {
  name: string;
  title: string;
  peer: "pytorch" | "onnxruntime";
  /** Backend our side runs on (default wasm). */
  backend?: "ref" | "wasm";
  cases(peer: TorchPeer | null, threads: number[]): PairedCase[] | Promise<PairedCase[]>;
  /** Lines under the table computed from the run. */
  after?(cases: PairedCase[], run: PairedRun): string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

const PAIRED: PairedSuite[] = [
  {
    name: "smallcnn",
    title: "SmallCNN on Fashion-MNIST (wasm backend) vs PyTorch 1.13",
    peer: "pytorch",
    cases: smallCnnCases,
    after: qatOverFloat,
  },
  {
    name: "resnet20",
    title: "ResNet-20, 3×32×32, batch 32 (wasm backend) vs PyTorch 1.13",
    peer: "pytorch",
    cases: resnet20Cases,
    after: qatOverFloat,
  },
  {
    name: "vit",
    title: "ViT (issue 18: vitTiny on Fashion-MNIST), FP32 training step, batch 64, vs PyTorch 1.13",
    peer: "pytorch",
    cases: vitCases,
  },
  {
    name: "onnx",
    title: "SmallCNN int8: Int8Model (wasm) vs its QDQ export in onnxruntime-node",
    peer: "onnxruntime",
    cases: (_peer, threads) => onnxCases(threads),
  },
  {
    name: "resnet18",
    title: "ResNet-18 int8 (torchvision, 224×224, batch 1): Int8Model (wasm) vs its QDQ export in onnxruntime-node",
    peer: "onnxruntime",
    cases: (_peer, threads) => resnet18Cases(threads),
  },
  {
    name: "wasm",
    title: "WebAssembly SIMD backend vs PyTorch 1.13",
    peer: "pytorch",
    cases: wasmCases,
    after: matmulScaling,
  },
  {
    name: "core",
    title: "Reference backend (plain TypeScript, 1 thread) vs PyTorch 1.13 (1 thread)",
    peer: "pytorch",
    backend: "ref",
    cases: (peer) => coreCases(peer),
  },
];

const OWN: OwnSuite[] = [
  {
    name: "memory",
    title: "Memory over 2,000 steps (issue 15: RSS flat), SmallCNN batch 64, default backend, RSS sampled every 100 steps",
    run: benchMemory,
    rows: [
      { key: "backend_is_native", label: "ran on the native backend (1) or wasm (0)", unit: "" },
      ...MEMORY_PHASES.flatMap(([k, name]) => [
        { key: `${k}_rss_warm_mb`, label: `${name}: RSS after 200 steps`, unit: "MB" },
        { key: `${k}_rss_end_mb`, label: `${name}: RSS after 2,000 steps`, unit: "MB" },
        { key: `${k}_rss_peak_mb`, label: `${name}: peak RSS`, unit: "MB" },
        { key: `${k}_rss_growth_last1000_mb`, label: `${name}: RSS growth over the last 1,000 steps (target ≈ 0)`, unit: "MB" },
        { key: `${k}_wasm_end_mb`, label: `${name}: wasm memory committed at the end`, unit: "MB" },
      ]),
    ],
  },
  {
    name: "native",
    title: "Native backend (C, AVX2+FMA) vs WebAssembly SIMD, 1 thread each, median of 5 interleaved rounds (CPU time and wall time)",
    run: () => benchNative(5),
    rows: NATIVE_ROWS,
  },
  {
    name: "training",
    title: "SmallCNN training step, float vs QAT (x86): wasm 1 thread / all cores, reference backend",
    run: benchTraining,
    rows: ["wasm1", "wasm2", "ref"].flatMap((s) => {
      const where = s === "ref" ? "reference backend" : s === "wasm1" ? "wasm, 1 thread" : "wasm, all cores";
      return [
        { key: `float_img_s_${s}`, label: `float training, batch 64 — ${where}`, unit: "img/s" },
        { key: `qat_img_s_${s}`, label: `QAT training (x86), batch 64 — ${where}`, unit: "img/s" },
        { key: `qat_over_float_${s}`, label: `QAT step / float step (issue 5 target ≤ 1.4) — ${where}`, unit: "×" },
        { key: `infer256_ms_${s}`, label: `float inference, batch 256 — ${where}`, unit: "ms" },
      ];
    }),
  },
  {
    name: "graph",
    title: "Graph capture and GraphModule (issue #13), wasm backend, all cores",
    run: benchGraph,
    rows: [
      ...(["narrow", "full"] as const).flatMap((k) => [
        { key: `resnet18_${k}_import_s`, label: `ResNet-18 (${k === "narrow" ? "narrow test variant" : "full size, 224×224"}) ONNX import`, unit: "s" },
        { key: `resnet18_${k}_prepare_s`, label: `ResNet-18 (${k === "narrow" ? "narrow test variant" : "full size, 224×224"}) capture + prepareQat (target < 1 s)`, unit: "s" },
      ]),
      ...[["smallcnn", "SmallCNN, batch 64"], ["resnet20", "ResNet-20, batch 32"]].flatMap(([k, n]) => [
        { key: `${k}_module_step_ms`, label: `${n}: float SGD step, module`, unit: "ms" },
        { key: `${k}_graph_step_ms`, label: `${n}: float SGD step, GraphModule of the same modules`, unit: "ms" },
        { key: `${k}_graph_over_module`, label: `${n}: GraphModule / module step time (median of 5 interleaved rounds; target ≤ 1)`, unit: "×" },
        { key: `${k}_graph_over_module_min`, label: `${n}: GraphModule / module, lowest round`, unit: "×" },
        { key: `${k}_graph_over_module_max`, label: `${n}: GraphModule / module, highest round`, unit: "×" },
      ]),
    ],
  },
  {
    name: "int8",
    title: "Int8Model vs our float model, wasm backend, all cores",
    run: benchInt8,
    rows: [["smallcnn", "SmallCNN"], ["resnet20", "ResNet-20 (width 16)"], ["mobilenetv2", "MobileNetV2-small"]].flatMap(([k, name]) =>
      [1, 64].flatMap((b) => [
        { key: `${k}_float_b${b}_ms`, label: `${name}, float, batch ${b}`, unit: "ms" },
        { key: `${k}_int8_b${b}_ms`, label: `${name}, Int8Model, batch ${b}`, unit: "ms" },
        { key: `${k}_speedup_b${b}`, label: `${name}, int8 speed-up over float, batch ${b}`, unit: "×" },
      ])),
  },
];

const fmt = (v: number | undefined) => (v === undefined ? "—" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function ownTable(suite: OwnSuite, ours: Record<string, number>): string {
  const lines = [`| ${suite.title} | unit | qat-ts |`, "|---|---|---:|"];
  for (const row of suite.rows) lines.push(`| ${row.label} | ${row.unit} | ${fmt(ours[row.key])} |`);
  return lines.join("\n");
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

function writeBlock(name: string, body: string): void {
  const file = path.join(HERE, "RESULTS.md");
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmark results\n";
  const block = `${start}\n${body}\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  const next = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file + ".tmp", next);
  renameSync(file + ".tmp", file);
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function runPairedSuite(suite: PairedSuite, torch: () => Promise<TorchPeer | null>, threads: number[], rounds: number, backend?: string, title = suite.title): Promise<string> {
  const before = getBackend();
  const beforeThreads = getNumThreads();
  try {
    setBackend(suite.backend ?? backend ?? "wasm");
    const peer = suite.peer === "pytorch" ? await torch() : null;
    const cases = await suite.cases(peer, suite.backend === "ref" ? [1] : threads);
    if (cases.length === 0) return "(no cases: the peer is unavailable)";
    const run = await runPaired(cases, rounds);
    const peerName = suite.peer === "onnxruntime" ? "onnxruntime" : "PyTorch";
    const who = suite.peer === "onnxruntime" ? await onnxruntimeVersion() : peer ? peer.describe() : "PyTorch not available in this run";
    const after = suite.after?.(cases, run);
    return `${who}\n\n${pairedTable(title.split(" vs ")[0], peerName, cases, run)}${after ? `\n\n${after}` : ""}`;
  } finally {
    setBackend(before);
    setNumThreads(beforeThreads);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = option(args, "--only")?.split(",");
  const rounds = Math.max(3, Number(option(args, "--rounds") ?? 3));
  const backend = option(args, "--backend");
  const threads = [...new Set([1, os.cpus().length])];
  let peer: Promise<TorchPeer | null> | undefined;
  const torch = () => (peer ??= TorchPeer.start(threads));
  const date = new Date().toISOString().slice(0, 10);
  try {
    for (const suite of PAIRED.filter((s) => !only || only.includes(s.name))) {
      const other = backend && !suite.backend ? backend : undefined;
      let title = other ? suite.title.replace("(wasm)", `(${other})`).replace("(wasm backend)", `(${other} backend)`) : suite.title;
      if (other && title === suite.title) title += ` (${other} backend)`;
      console.log(`\n## ${title}\n`);
      const body = await runPairedSuite(suite, torch, threads, rounds, other, title);
      console.log(body);
      const command = `npm run bench -- --only ${suite.name}${rounds !== 3 ? ` --rounds ${rounds}` : ""}${other ? ` --backend ${other}` : ""}`;
      if (args.includes("--write")) writeBlock(other ? `${suite.name}-${other}` : suite.name, `### ${title}\n\n${date} · ${machine()} · \`${command}\`\n${body}`);
    }
    for (const suite of OWN.filter((s) => !only || only.includes(s.name))) {
      console.log(`\n## ${suite.title}\n`);
      const load0 = os.loadavg()[0];
      const t = ownTable(suite, suite.run());
      const body = `${t}\n\n1-minute load average ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)} (${os.cpus().length} cores).`;
      console.log(body);
      if (args.includes("--write")) writeBlock(suite.name, `### ${suite.title}\n\n${date} · ${machine()} · \`npm run bench -- --only ${suite.name}\`\n\n${body}`);
    }
  } finally {
    (await peer)?.close();
  }
}

await main();
