/**
 * The full-size torchvision models through the whole pipeline (issue #13 item 6, bench side):
 * import → prepareQat (x86) → calibrate on random images → convert (float islands counted) →
 * QDQ export → onnxruntime vs Int8Model on the same images. The models come from
 * `/usr/bin/python3 scripts/golden/torchvision_onnx.py --full bench/.models` (random weights,
 * BN statistics from random batches: agreement figures are for untrained networks, whose
 * outputs amplify any single rounding difference). Run: `node --import tsx bench/torchvision-full.ts`.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { randn } from "../src/tensor/creation.js";
import { manualSeed } from "../src/tensor/random.js";
import type { Module } from "../src/nn/module.js";
import { calibrate, convertWithReport, prepareQat, qconfigs } from "../src/quant/index.js";
import { exportModel, importModel } from "../src/onnx/index.js";
import "../src/index.js";

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), ".models");

for (const name of ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x0_5"]) {
  const file = path.join(DIR, `${name}.onnx`);
  if (!existsSync(file)) {
    console.log(`${name}: ${file} missing (see the header)`);
    continue;
  }
  manualSeed(0);
  const t0 = performance.now();
  const m = importModel(new Uint8Array(readFileSync(file))) as Module;
  const t1 = performance.now();
  const qm = prepareQat(m, { qconfig: qconfigs.x86 });
  const t2 = performance.now();
  calibrate(qm, [0, 1].map(() => ({ x: randn([2, 3, 224, 224]) })), { batches: 2 });
  const { model: int8, report } = convertWithReport(qm);
  const t3 = performance.now();
  const line = `${name}: import ${((t1 - t0) / 1e3).toFixed(2)} s, capture+prepare ${((t2 - t1) / 1e3).toFixed(2)} s, calibrate+convert ${((t3 - t2) / 1e3).toFixed(2)} s; ${int8.graph.nodes.length} int8 nodes, ${report.islands.length} float islands (${[...new Set(report.islands.map((i) => i.fn))].join(", ") || "none"})`;
  const x = randn([4, 3, 224, 224]);
  const ours = int8.run(x).data as Float32Array;
  let parity = "";
  try {
    const bytes = exportModel(qm, { example: x, format: "qdq" });
    const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", intraOpNumThreads: 2 });
    const got = (await s.run({ [s.inputNames[0]]: new ort.Tensor("float32", x.toFloat32Array(), [...x.shape]) }))[s.outputNames[0]].data as Float32Array;
    await s.release();
    const scale = int8.value(int8.graph.output).q.scale;
    let within = 0, exact = 0, top = 0;
    for (let i = 0; i < ours.length; i++) {
      const d = Math.round(Math.abs(ours[i] - got[i]) / scale);
      if (d <= 1) within++;
      if (d === 0) exact++;
    }
    const c = ours.length / 4;
    for (let r = 0; r < 4; r++) {
      const arg = (v: Float32Array) => v.subarray(r * c, (r + 1) * c).reduce((b, _x, j, a) => (a[j] > a[b] ? j : b), 0);
      if (arg(ours) === arg(got)) top++;
    }
    parity = `QDQ in onnxruntime vs Int8Model: ${((100 * exact) / ours.length).toFixed(2)} % exact, ${((100 * within) / ours.length).toFixed(2)} % within ±1 quantum, top-1 ${top}/4`;
  } catch (e) {
    parity = `QDQ export: ${(e as Error).message.slice(0, 140)}`;
  }
  console.log(`${line}; ${parity}`);
}
