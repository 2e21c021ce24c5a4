/**
 * `npm run bench` — runs every benchmark suite side by side with its PyTorch reference (when
 * Debian's /usr/bin/python3 has torch) and prints a table of ratios. `--write` replaces the
 * suite's generated block in bench/RESULTS.md. `--only <suite>` runs one suite.
 * Absolute times drift on this shared machine; the ratios, taken in one run, are the figures.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileSync, renameSync } from "node:fs";
import { benchConv, benchMatmul, benchOverhead } from "./core.js";
import { benchTraining } from "./training.js";
import { getBackend, setBackend } from "../src/backend/index.js";
import { benchWasm } from "./wasm.js";
import { benchOnnx } from "./onnx.js";
import { benchSmallCnn } from "./smallcnn.js";
import { benchInt8 } from "./int8.js";

interface Row {
  key: string;
  label: string;
  unit: string;
  /** True when larger is better (throughput); ratios are then ours/torch, else torch/ours. */
  higher: boolean;
}

interface Suite {
  name: string;
  title: string;
  /** Figures by key; may be async (the onnx suite awaits onnxruntime). */
  run(): Record<string, number> | Promise<Record<string, number>>;
  torchScript?: string;
  torchArgs?: string[];
  rows: Row[];
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PY = "/usr/bin/python3";

const SUITES: Suite[] = [
  {
    name: "smallcnn",
    title: "SmallCNN on Fashion-MNIST, wasm backend on all cores vs PyTorch 1.13 (same threads, onednn int8)",
    run: benchSmallCnn,
    torchScript: "peers/pytorch_smallcnn.py",
    rows: [
      { key: "float_train_img_s", label: "FP32 training, batch 64 (target ≥ 0.8×)", unit: "img/s", higher: true },
      { key: "qat_train_img_s", label: "QAT training, batch 64 (target ≥ 1.0×)", unit: "img/s", higher: true },
      { key: "qat_over_float", label: "QAT step / FP32 step (issue 5 target ≤ 1.4)", unit: "×", higher: false },
      { key: "float_infer256_ms", label: "FP32 inference, batch 256", unit: "ms", higher: false },
      { key: "int8_infer256_ms", label: "int8 inference, batch 256 (Int8Model vs quantized PyTorch; target ≥ 0.5×)", unit: "ms", higher: false },
    ],
  },
  {
    name: "training",
    title: "SmallCNN training step, float vs QAT (wasm 1 thread / all cores, reference) vs PyTorch 1.13 (1 thread)",
    run: benchTraining,
    torchScript: "torch_training.py",
    torchArgs: ["1"],
    rows: [
      { key: "float_img_s_wasm1", label: "float training, batch 64 — wasm, 1 thread", unit: "img/s", higher: true },
      { key: "qat_img_s_wasm1", label: "QAT training (x86), batch 64 — wasm, 1 thread", unit: "img/s", higher: true },
      { key: "qat_over_float_wasm1", label: "QAT step / float step (target ≤ 1.4) — wasm, 1 thread", unit: "×", higher: false },
      { key: "infer256_ms_wasm1", label: "float inference, batch 256 — wasm, 1 thread", unit: "ms", higher: false },
      { key: "float_img_s_wasm2", label: "float training, batch 64 — wasm, all cores", unit: "img/s", higher: true },
      { key: "qat_img_s_wasm2", label: "QAT training (x86), batch 64 — wasm, all cores", unit: "img/s", higher: true },
      { key: "qat_over_float_wasm2", label: "QAT step / float step (target ≤ 1.4) — wasm, all cores", unit: "×", higher: false },
      { key: "infer256_ms_wasm2", label: "float inference, batch 256 — wasm, all cores", unit: "ms", higher: false },
      { key: "float_img_s_ref", label: "float training, batch 64 — reference backend", unit: "img/s", higher: true },
      { key: "qat_img_s_ref", label: "QAT training (x86), batch 64 — reference backend", unit: "img/s", higher: true },
      { key: "qat_over_float_ref", label: "QAT step / float step (target ≤ 1.4) — reference backend", unit: "×", higher: false },
      { key: "infer256_ms_ref", label: "float inference, batch 256 — reference backend", unit: "ms", higher: false },
    ],
  },
  {
    name: "core",
    title: "Engine (reference backend, 1 thread) vs PyTorch 1.13 (1 thread)",
    run: () => {
      const before = getBackend();
      setBackend("ref");
      try {
        return { ...benchMatmul(), ...benchConv(), ...benchOverhead() };
      } finally {
        setBackend(before);
      }
    },
    torchScript: "torch_ref.py",
    torchArgs: ["1"],
    rows: [
      { key: "matmul256", label: "matmul 256³", unit: "GFLOP/s", higher: true },
      { key: "matmul1024", label: "matmul 1024³", unit: "GFLOP/s", higher: true },
      { key: "conv1_fwd_ms", label: "conv 1→16 3×3 p1, 64×28×28, forward", unit: "ms", higher: false },
      { key: "conv1_fwdbwd_ms", label: "conv 1→16, forward + backward", unit: "ms", higher: false },
      { key: "conv2_fwd_ms", label: "conv 16→32 3×3 p1, 64×14×14, forward", unit: "ms", higher: false },
      { key: "conv2_fwdbwd_ms", label: "conv 16→32, forward + backward", unit: "ms", higher: false },
      { key: "op_add_us", label: "add, 4 elements (per-op overhead)", unit: "µs", higher: false },
      { key: "op_relu_us", label: "relu, 4 elements", unit: "µs", higher: false },
      { key: "op_add_grad_us", label: "add, 4 elements, recording autograd", unit: "µs", higher: false },
    ],
  },
  {
    name: "wasm",
    title: "WebAssembly SIMD backend (1 and 2 threads) vs PyTorch 1.13 (same thread counts)",
    run: benchWasm,
    torchScript: "torch_wasm.py",
    rows: [
      { key: "matmul1024_ref", label: "matmul 1024³, reference backend (1 thread)", unit: "GFLOP/s", higher: true },
      { key: "matmul1024_t1", label: "matmul 1024³, 1 thread", unit: "GFLOP/s", higher: true },
      { key: "matmul1024_t2", label: "matmul 1024³, 2 threads", unit: "GFLOP/s", higher: true },
      { key: "scaling_t2", label: "matmul 1024³, 2-thread speed-up (wasm)", unit: "×", higher: true },
      { key: "conv1_fwd_ms_t1", label: "conv 1→16 3×3 p1, 64×28×28, forward, 1 thread", unit: "ms", higher: false },
      { key: "conv1_fwdbwd_ms_t1", label: "conv 1→16, forward + backward, 1 thread", unit: "ms", higher: false },
      { key: "conv2_fwd_ms_t1", label: "conv 16→32 3×3 p1, 64×14×14, forward, 1 thread", unit: "ms", higher: false },
      { key: "conv2_fwdbwd_ms_t1", label: "conv 16→32, forward + backward, 1 thread", unit: "ms", higher: false },
      { key: "conv1_fwd_ms_t2", label: "conv 1→16, forward, 2 threads", unit: "ms", higher: false },
      { key: "conv1_fwdbwd_ms_t2", label: "conv 1→16, forward + backward, 2 threads", unit: "ms", higher: false },
      { key: "conv2_fwd_ms_t2", label: "conv 16→32, forward, 2 threads", unit: "ms", higher: false },
      { key: "conv2_fwdbwd_ms_t2", label: "conv 16→32, forward + backward, 2 threads", unit: "ms", higher: false },
      { key: "smallcnn_img_s_t1", label: "SmallCNN SGD training step, batch 64, 1 thread", unit: "img/s", higher: true },
      { key: "smallcnn_img_s_t2", label: "SmallCNN SGD training step, batch 64, 2 threads", unit: "img/s", higher: true },
    ],
  },
  {
    name: "int8",
    title: "Int8Model vs our float model, wasm backend, all cores (no PyTorch column)",
    run: benchInt8,
    rows: [
      { key: "smallcnn_float_b1_ms", label: "SmallCNN, float, batch 1", unit: "ms", higher: false },
      { key: "smallcnn_int8_b1_ms", label: "SmallCNN, Int8Model, batch 1", unit: "ms", higher: false },
      { key: "smallcnn_speedup_b1", label: "SmallCNN, int8 speed-up over float, batch 1", unit: "×", higher: true },
      { key: "smallcnn_float_b64_ms", label: "SmallCNN, float, batch 64", unit: "ms", higher: false },
      { key: "smallcnn_int8_b64_ms", label: "SmallCNN, Int8Model, batch 64", unit: "ms", higher: false },
      { key: "smallcnn_speedup_b64", label: "SmallCNN, int8 speed-up over float, batch 64", unit: "×", higher: true },
      { key: "resnet20_float_b1_ms", label: "ResNet-20 (width 16), float, batch 1", unit: "ms", higher: false },
      { key: "resnet20_int8_b1_ms", label: "ResNet-20 (width 16), Int8Model, batch 1", unit: "ms", higher: false },
      { key: "resnet20_speedup_b1", label: "ResNet-20 (width 16), int8 speed-up over float, batch 1", unit: "×", higher: true },
      { key: "resnet20_float_b64_ms", label: "ResNet-20 (width 16), float, batch 64", unit: "ms", higher: false },
      { key: "resnet20_int8_b64_ms", label: "ResNet-20 (width 16), Int8Model, batch 64", unit: "ms", higher: false },
      { key: "resnet20_speedup_b64", label: "ResNet-20 (width 16), int8 speed-up over float, batch 64", unit: "×", higher: true },
      { key: "mobilenetv2_float_b1_ms", label: "MobileNetV2-small, float, batch 1", unit: "ms", higher: false },
      { key: "mobilenetv2_int8_b1_ms", label: "MobileNetV2-small, Int8Model, batch 1", unit: "ms", higher: false },
      { key: "mobilenetv2_speedup_b1", label: "MobileNetV2-small, int8 speed-up over float, batch 1", unit: "×", higher: true },
      { key: "mobilenetv2_float_b64_ms", label: "MobileNetV2-small, float, batch 64", unit: "ms", higher: false },
      { key: "mobilenetv2_int8_b64_ms", label: "MobileNetV2-small, Int8Model, batch 64", unit: "ms", higher: false },
      { key: "mobilenetv2_speedup_b64", label: "MobileNetV2-small, int8 speed-up over float, batch 64", unit: "×", higher: true },
    ],
  },
  {
    name: "onnx",
    title: "SmallCNN int8: our Int8Model vs its QDQ export in onnxruntime-node",
    run: benchOnnx,
    rows: [
      { key: "int8_b1_ms", label: "Int8Model.run, batch 1", unit: "ms", higher: false },
      { key: "ort_b1_t1_ms", label: "onnxruntime QDQ, batch 1, 1 thread", unit: "ms", higher: false },
      { key: "ort_b1_ms", label: "onnxruntime QDQ, batch 1, default threads", unit: "ms", higher: false },
      { key: "ratio_b1_t1", label: "onnxruntime (1 thread) / ours, batch 1", unit: "×", higher: true },
      { key: "ratio_b1", label: "onnxruntime (default threads) / ours, batch 1", unit: "×", higher: true },
      { key: "int8_b256_ms", label: "Int8Model.run, batch 256", unit: "ms", higher: false },
      { key: "ort_b256_t1_ms", label: "onnxruntime QDQ, batch 256, 1 thread", unit: "ms", higher: false },
      { key: "ort_b256_ms", label: "onnxruntime QDQ, batch 256, default threads", unit: "ms", higher: false },
      { key: "ratio_b256_t1", label: "onnxruntime (1 thread) / ours, batch 256", unit: "×", higher: true },
      { key: "ratio_b256", label: "onnxruntime (default threads) / ours, batch 256", unit: "×", higher: true },
    ],
  },
];

function torchFigures(suite: Suite): Record<string, number> | null {
  if (!suite.torchScript || !existsSync(PY)) return null;
  const r = spawnSync(PY, [path.join(HERE, suite.torchScript), ...(suite.torchArgs ?? [])], { encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`(PyTorch reference unavailable: ${r.stderr.trim().split("\n").pop()})`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>;
}

const fmt = (v: number | undefined) => (v === undefined ? "—" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function table(suite: Suite, ours: Record<string, number>, ref: Record<string, number> | null): string {
  const lines = [
    `| ${suite.title.split(" vs ")[0]} | unit | qat-ts | PyTorch | ratio (>1 = we are faster) |`,
    "|---|---|---:|---:|---:|",
  ];
  for (const row of suite.rows) {
    const a = ours[row.key];
    const b = ref?.[row.key];
    const ratio = a === undefined || b === undefined ? undefined : row.higher ? a / b : b / a;
    lines.push(`| ${row.label} | ${row.unit} | ${fmt(a)} | ${fmt(b)} | ${ratio === undefined ? "—" : ratio.toFixed(2) + "×"} |`);
  }
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

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
  for (const suite of SUITES.filter((s) => !only || s.name === only)) {
    console.log(`\n## ${suite.title}\n`);
    const ours = await suite.run();
    const ref = torchFigures(suite);
    const t = table(suite, ours, ref);
    console.log(t);
    if (args.includes("--write")) {
      const date = new Date().toISOString().slice(0, 10);
      const refLine = ref ? `PyTorch ${String(ref.torch)} (${String(ref.threads)} thread(s)), same run` : "PyTorch not available in this run";
      writeBlock(suite.name, `### ${suite.title}\n\n${date} · ${machine()} · ${refLine}\n\n${t}`);
    }
  }
}

await main();
