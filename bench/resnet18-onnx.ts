/**
 * The `resnet18` bench suite (issue 20 target "Int8Model ≥ 1.0× onnxruntime on ResNet-18"):
 * torchvision's ResNet-18 (bench/.models/resnet18.onnx, from `/usr/bin/python3
 * scripts/golden/torchvision_onnx.py --full bench/.models`; random weights) imported,
 * QAT-prepared with the x86 qconfig, calibrated on random 224×224 images (its declared input size), converted — run as our
 * Int8Model and as its QDQ export in onnxruntime-node (graph optimisation "all"), batch 1 at
 * 224×224, equal threads on both sides. Cases for bench/paired.ts (interleaved); none when the
 * model file or onnxruntime-node is missing. Called by bench/run.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Module } from "../src/nn/module.js";
import { exportModel, importModel } from "../src/onnx/index.js";
import { calibrate, convert, prepareQat, qconfigs } from "../src/quant/index.js";
import { randn } from "../src/tensor/creation.js";
import { manualSeed } from "../src/tensor/random.js";
import type { PairedCase } from "./paired.js";
import { timeit } from "./paired.js";
import { loadOrtPeer, ortPeer, ortSession } from "./onnx.js";
import "../src/index.js";

const FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), ".models", "resnet18.onnx");

export async function resnet18Cases(threads: number[]): Promise<PairedCase[]> {
  if (!existsSync(FILE)) {
    console.error(`(${FILE} missing: see bench/torchvision-full.ts)`);
    return [];
  }
  const ort = await loadOrtPeer();
  if (!ort) return [];
  manualSeed(0);
  const qm = prepareQat(importModel(new Uint8Array(readFileSync(FILE))) as Module, { qconfig: qconfigs.x86 });
  calibrate(qm, [0, 1].map(() => ({ x: randn([2, 3, 224, 224]) })), { batches: 2 });
  const x = randn([1, 3, 224, 224]);
  const int8 = convert(qm, { example: x });
  const bytes = exportModel(qm, { example: x, format: "qdq" });
  const cases: PairedCase[] = [];
  for (const t of threads) {
    const session = ortSession(ort, bytes, t);
    cases.push({
      label: "ResNet-18 int8 (x86 preset), batch 1, 224×224: Int8Model.run vs onnxruntime QDQ", threads: t, unit: "ms",
      ours: () => timeit(() => int8.run(x), 1.5, 3),
      peer: ortPeer(ort, () => session, x, 1.5),
    });
  }
  return cases;
}
