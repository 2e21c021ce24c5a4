/**
 * The graph layer's costs (issue #13 item 7), wasm backend, all cores:
 *  - capture + prepareQat of ResNet-18 imported from ONNX: the narrow torchvision variant the
 *    tests commit (test/golden/onnx/torchvision/resnet18.onnx) and, when present, the full-size
 *    one (`/usr/bin/python3 scripts/golden/torchvision_onnx.py --full bench/.models`);
 *  - a float training step through a GraphModule vs the module itself (same modules, same
 *    batch; interleaved rounds, median ratio) on SmallCNN and ResNet-20 — the interpretation
 *    overhead of running a captured graph.
 * Our-only suite (no peer): `npm run bench -- --only graph`.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { smallCnn } from "../src/nn/models/small-cnn.js";
import { resnet20 } from "../src/nn/models/resnet.js";
import type { Module } from "../src/nn/module.js";
import { randn, randint } from "../src/tensor/creation.js";
import { manualSeed } from "../src/tensor/random.js";
import { crossEntropy } from "../src/ops/loss.js";
import { SGD } from "../src/optim/sgd.js";
import { capture } from "../src/graph/capture.js";
import { GraphModule } from "../src/graph/graph-module.js";
import { prepareQat } from "../src/quant/prepare.js";
import { qconfigs } from "../src/quant/qconfig.js";
import { importModel } from "../src/onnx/index.js";
import { getBackend, setBackend } from "../src/backend/index.js";
import { median, timeit } from "./paired.js";
import "../src/index.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Seconds for import + capture + prepareQat of an ONNX file (median of 3). */
function prepareSeconds(file: string): { importS: number; prepareS: number } {
  const bytes = new Uint8Array(readFileSync(file));
  const imports: number[] = [];
  const prepares: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    const m = importModel(bytes) as Module;
    const t1 = performance.now();
    prepareQat(m, { qconfig: qconfigs.x86 });
    imports.push((t1 - t0) / 1e3);
    prepares.push((performance.now() - t1) / 1e3);
  }
  return { importS: median(imports), prepareS: median(prepares) };
}

/** One SGD step (forward, cross-entropy, backward, update) on `m`. */
function stepper(m: Module, shape: number[]): () => void {
  const opt = new SGD(m.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = randn(shape);
  const y = randint(0, 10, [shape[0]]);
  m.train();
  return () => {
    opt.zeroGrad();
    crossEntropy(m.forward(x), y).backward();
    opt.step();
  };
}

export function benchGraph(): Record<string, number> {
  const before = getBackend();
  const out: Record<string, number> = {};
  try {
    setBackend("wasm");
    const narrow = path.join(ROOT, "test/golden/onnx/torchvision/resnet18.onnx");
    const full = path.join(ROOT, "bench/.models/resnet18.onnx");
    for (const [key, file] of [["narrow", narrow], ["full", full]] as const) {
      if (!existsSync(file)) continue;
      const r = prepareSeconds(file);
      out[`resnet18_${key}_import_s`] = r.importS;
      out[`resnet18_${key}_prepare_s`] = r.prepareS;
    }
    for (const [name, make, shape] of [["smallcnn", () => smallCnn(), [64, 1, 28, 28]], ["resnet20", () => resnet20({ width: 16 }), [32, 1, 28, 28]]] as const) {
      manualSeed(0);
      const m = make();
      const gm = new GraphModule(m, capture(m, randn([1, ...shape.slice(1)])));
      const viaModule = stepper(m, [...shape]);
      const viaGraph = stepper(gm, [...shape]);
      const ratios: number[] = [];
      const mod: number[] = [];
      const graph: number[] = [];
      for (let r = 0; r < 5; r++) {
        const a = timeit(viaModule, 1.0);
        const b = timeit(viaGraph, 1.0);
        mod.push(a);
        graph.push(b);
        ratios.push(b / a);
      }
      out[`${name}_module_step_ms`] = median(mod) * 1e3;
      out[`${name}_graph_step_ms`] = median(graph) * 1e3;
      out[`${name}_graph_over_module`] = median(ratios);
      out[`${name}_graph_over_module_min`] = Math.min(...ratios);
      out[`${name}_graph_over_module_max`] = Math.max(...ratios);
    }
  } finally {
    setBackend(before);
  }
  return out;
}
