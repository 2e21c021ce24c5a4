/**
 * The integer engine against our float model on the same (wasm) backend, for the model zoo:
 * Int8Model.run (float in → float out) vs the float model's eval forward at batch 1 and 64.
 * Models are prepared with the x86 preset and calibrated on random batches (speed does not
 * depend on training). Issue 6: "Int8Model faster than our float model on the same backend".
 */
import { smallCnn } from "../src/nn/models/small-cnn.js";
import { resnet20 } from "../src/nn/models/resnet.js";
import { mobilenetV2Small } from "../src/nn/models/mobilenet.js";
import type { Module } from "../src/nn/module.js";
import { randn } from "../src/tensor/creation.js";
import { manualSeed } from "../src/tensor/random.js";
import { noGrad } from "../src/tensor/grad-mode.js";
import { prepareQat } from "../src/quant/prepare.js";
import { qconfigs } from "../src/quant/qconfig.js";
import { convert } from "../src/quant/convert.js";
import { getBackend, setBackend } from "../src/backend/index.js";
import { timeit } from "./paired.js";
import "../src/index.js";

const MODELS: [string, () => Module][] = [
  ["smallcnn", () => smallCnn()],
  ["resnet20", () => resnet20({ width: 16 })],
  ["mobilenetv2", () => mobilenetV2Small()],
];

export function benchInt8(): Record<string, number> {
  const before = getBackend();
  const out: Record<string, number> = {};
  try {
    setBackend("wasm");
    for (const [name, make] of MODELS) {
      manualSeed(0);
      const float = make();
      const qm = prepareQat(make(), { qconfig: qconfigs.x86 });
      noGrad(() => { for (let i = 0; i < 3; i++) qm.forward(randn([32, 1, 28, 28])); });
      qm.eval();
      float.eval();
      const int8 = convert(qm);
      for (const b of [1, 64]) {
        const x = randn([b, 1, 28, 28]);
        let f = Infinity, q = Infinity;
        for (let round = 0; round < 3; round++) {
          f = Math.min(f, timeit(() => noGrad(() => float.forward(x)), 0.5, 5));
          q = Math.min(q, timeit(() => int8.run(x), 0.5, 5));
        }
        out[`${name}_float_b${b}_ms`] = f * 1e3;
        out[`${name}_int8_b${b}_ms`] = q * 1e3;
        out[`${name}_speedup_b${b}`] = f / q;
      }
    }
    return out;
  } finally {
    setBackend(before);
  }
}
