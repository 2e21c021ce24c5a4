/**
 * SmallCNN side by side with bench/peers/pytorch_smallcnn.py (issues 3 and 6): the same model,
 * the same Fashion-MNIST batches (Debian dataset-fashion-mnist; the embedded sample when the
 * full set is absent), the wasm backend on all cores. FP32 and QAT (onednn preset) training
 * img/s at batch 64, FP32 inference and int8 (converted Int8Model, float in → float out)
 * inference at batch 256. Per-step times are medians over ≥ 1.5 s; the four measurements are
 * interleaved for three rounds and each keeps its best round (other jobs on a shared machine
 * only ever add time), exactly like the peer.
 */
import { existsSync } from "node:fs";
import { SGD } from "../src/optim/sgd.js";
import { smallCnn } from "../src/nn/models/small-cnn.js";
import type { Module } from "../src/nn/module.js";
import { crossEntropy } from "../src/ops/loss.js";
import { manualSeed } from "../src/tensor/random.js";
import { noGrad } from "../src/tensor/grad-mode.js";
import type { Tensor } from "../src/tensor/tensor.js";
import { prepareQat } from "../src/quant/prepare.js";
import { qconfigs } from "../src/quant/qconfig.js";
import { convert } from "../src/quant/convert.js";
import { fashionMnist, fashionMnistSample } from "../src/data/fs.js";
import { timeit } from "./core.js";
import { getBackend, getNumThreads, setBackend } from "../src/backend/index.js";
import "../src/index.js";

const DATA = "/usr/share/datasets/fashion-mnist";
const N_TRAIN = 64 * 40;

function batches(): { train: { x: Tensor; y: Tensor }[]; x256: Tensor } {
  const d = existsSync(DATA) ? fashionMnist(DATA) : fashionMnistSample();
  const train = Array.from({ length: N_TRAIN / 64 }, (_, b) => d.train.getBatch(Array.from({ length: 64 }, (_, i) => b * 64 + i)));
  return { train, x256: d.test.getBatch(Array.from({ length: 256 }, (_, i) => i)).x };
}

function stepper(model: Module, train: { x: Tensor; y: Tensor }[]): () => void {
  const opt = new SGD(model.parameters(), { lr: 0.005, momentum: 0.9 });
  model.train();
  let i = 0;
  return () => {
    const { x, y } = train[i++ % train.length];
    opt.zeroGrad();
    crossEntropy(model.forward(x), y).backward();
    opt.step();
  };
}

export function benchSmallCnn(): Record<string, number> {
  const before = getBackend();
  try {
    setBackend("wasm");
    manualSeed(0);
    const { train, x256 } = batches();
    const float = smallCnn();
    const qm = prepareQat(smallCnn(), { qconfig: qconfigs.onednn });
    noGrad(() => qm.forward(train[0].x));
    const fStep = stepper(float, train);
    const qStep = stepper(qm, train);
    for (let i = 0; i < 3; i++) qStep(); // a few QAT steps before conversion, as on the peer's side
    qm.eval();
    const int8 = convert(qm);
    let f = Infinity, q = Infinity, fInf = Infinity, iInf = Infinity;
    for (let round = 0; round < 3; round++) {
      float.train();
      qm.train();
      f = Math.min(f, timeit(fStep, 1.5, 5));
      q = Math.min(q, timeit(qStep, 1.5, 5));
      float.eval();
      fInf = Math.min(fInf, timeit(() => noGrad(() => float.forward(x256)), 1, 5));
      iInf = Math.min(iInf, timeit(() => int8.run(x256), 1, 5));
    }
    return {
      threads: getNumThreads(),
      float_train_img_s: 64 / f, qat_train_img_s: 64 / q, qat_over_float: q / f,
      float_infer256_ms: fInf * 1e3, int8_infer256_ms: iInf * 1e3,
    };
  } finally {
    setBackend(before);
  }
}
