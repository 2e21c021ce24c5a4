/**
 * Training-step benchmarks (issues 3 and 5): SmallCNN images/s for a float training step and
 * a QAT step (x86 preset, after calibration), batch 64, in the same process, and the QAT/float
 * cost ratio, on the wasm backend (1 thread, all cores) and the reference backend. Our side
 * only: the PyTorch comparison of the same steps is the `smallcnn` suite (bench/smallcnn.ts).
 */
import { SGD } from "../src/optim/sgd.js";
import { smallCnn } from "../src/nn/models/small-cnn.js";
import type { Module } from "../src/nn/module.js";
import { randn, randint } from "../src/tensor/creation.js";
import { crossEntropy } from "../src/ops/loss.js";
import { manualSeed } from "../src/tensor/random.js";
import { noGrad } from "../src/tensor/grad-mode.js";
import { prepareQat } from "../src/quant/prepare.js";
import { qconfigs } from "../src/quant/qconfig.js";
import { timeit } from "./paired.js";
import { getBackend, getNumThreads, setBackend, setNumThreads } from "../src/backend/index.js";
import "../src/index.js";

/** One SGD step (lr 0.01, momentum 0.9) of `model` on a fixed random batch of 64 images, in train mode. */
export function stepper(model: Module): () => void {
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = randn([64, 1, 28, 28]);
  const y = randint(0, 10, [64], { dtype: "int32" });
  model.train();
  return () => {
    opt.zeroGrad();
    const loss = crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
  };
}

/** Float and QAT img/s and their ratio on the current backend (suffix names the setting). */
function measure(suffix: string): Record<string, number> {
  manualSeed(0);
  const float = smallCnn();
  const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
  noGrad(() => qm.forward(randn([64, 1, 28, 28])));
  const fStep = stepper(float);
  const qStep = stepper(qm);
  // Interleave to share the machine's noise evenly.
  const f1 = timeit(fStep, 2);
  const q1 = timeit(qStep, 2);
  const f2 = timeit(fStep, 2);
  const q2 = timeit(qStep, 2);
  const f = Math.min(f1, f2);
  const q = Math.min(q1, q2);
  const x = randn([256, 1, 28, 28]);
  float.eval();
  const inf = timeit(() => noGrad(() => float.forward(x)), 1);
  return { [`float_img_s_${suffix}`]: 64 / f, [`qat_img_s_${suffix}`]: 64 / q, [`qat_over_float_${suffix}`]: q / f, [`infer256_ms_${suffix}`]: inf * 1e3 };
}

/** The wasm backend with 1 thread and with all cores, and the reference backend. */
export function benchTraining(): Record<string, number> {
  const before = getBackend();
  const threads = getNumThreads();
  try {
    setBackend("wasm");
    setNumThreads(1);
    const w1 = measure("wasm1");
    setNumThreads(threads);
    const w2 = measure("wasm2");
    setBackend("ref");
    return { ...w1, ...w2, ...measure("ref") };
  } finally {
    setBackend(before);
    setNumThreads(threads);
  }
}
