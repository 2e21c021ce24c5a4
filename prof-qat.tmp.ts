import "./src/index.js";
import { SGD } from "./src/optim/sgd.js";
import { smallCnn } from "./src/nn/models/small-cnn.js";
import { crossEntropy } from "./src/ops/loss.js";
import { manualSeed } from "./src/tensor/random.js";
import { noGrad } from "./src/tensor/grad-mode.js";
import { prepareQat } from "./src/quant/prepare.js";
import { qconfigs } from "./src/quant/qconfig.js";
import { fashionMnistSample } from "./src/data/fs.js";
import type { Module } from "./src/nn/module.js";
import { setNumThreads } from "./src/backend/wasm/index.js";
if (process.env.T) setNumThreads(Number(process.env.T));
manualSeed(0);
const d = fashionMnistSample();
const train = Array.from({ length: 40 }, (_, b) => d.train.getBatch(Array.from({ length: 64 }, (_, i) => b * 64 + i)));
function run(model: Module, steps: number) {
  const opt = new SGD(model.parameters(), { lr: 0.005, momentum: 0.9 });
  model.train();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const { x, y } = train[i % train.length];
    opt.zeroGrad();
    crossEntropy(model.forward(x), y).backward();
    opt.step();
  }
  return (performance.now() - t0) / steps;
}
const mode = process.argv[2];
const m = mode === "qat" ? prepareQat(smallCnn(), { qconfig: qconfigs.onednn }) : smallCnn();
if (mode === "qat") noGrad(() => m.forward(train[0].x));
run(m, 20);
console.log(mode, run(m, 200).toFixed(2), "ms/step");
