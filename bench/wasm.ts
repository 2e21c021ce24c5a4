/**
 * The `wasm` bench suite (issue 3): float32 matmul 1024³ in GFLOP/s on the reference backend
 * and on the wasm backend with 1 and 2 threads, the SmallCNN convolutions at batch 64
 * (forward, forward + backward through ops and autograd) and one SmallCNN SGD training step
 * at batch 64, each with 1 and 2 threads. Keys match bench/torch_wasm.py (torch threads = 1
 * and 2) so bench/run.ts prints ratios. Times are best-of-runs on both sides (see timeit).
 * Called by bench/run.ts.
 */
import { backward } from "../src/autograd/backward.js";
import { getBackend, setBackend, setNumThreads } from "../src/backend/index.js";
import { workersReadySync } from "../src/backend/wasm/index.js";
import { SmallCNN } from "../src/nn/models/small-cnn.js";
import { conv2d } from "../src/ops/conv.js";
import { crossEntropy } from "../src/ops/loss.js";
import { matmul } from "../src/ops/matmul.js";
import { SGD } from "../src/optim/sgd.js";
import { onesLike, randint, randn } from "../src/tensor/creation.js";
import { manualSeed } from "../src/tensor/random.js";

/**
 * Best seconds of fn over at least minReps runs and minTime seconds, after one warm-up.
 * The minimum (not the median) because this 2-core machine is shared: other load only ever
 * adds time. bench/torch_wasm.py measures the same way.
 */
function timeit(fn: () => void, minTime = 0.5, minReps = 5): number {
  fn();
  let best = Infinity;
  const start = performance.now();
  for (let reps = 0; reps < minReps || performance.now() - start < minTime * 1e3; reps++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, (performance.now() - t0) / 1e3);
  }
  return best;
}

function matmulGflops(): number {
  const n = 1024;
  const a = randn([n, n]);
  const b = randn([n, n]);
  return (2 * n ** 3) / timeit(() => matmul(a, b)) / 1e9;
}

function convFigures(suffix: string): Record<string, number> {
  const out: Record<string, number> = {};
  const shapes: Record<string, [number, number, number]> = { conv1: [1, 16, 28], conv2: [16, 32, 14] };
  for (const [name, [c, oc, hw]] of Object.entries(shapes)) {
    const x = randn([64, c, hw, hw]).requiresGrad_();
    const w = randn([oc, c, 3, 3]).requiresGrad_();
    out[`${name}_fwd_ms_${suffix}`] = timeit(() => conv2d(x, w, null, { padding: 1 })) * 1e3;
    out[`${name}_fwdbwd_ms_${suffix}`] = timeit(() => {
      const y = conv2d(x, w, null, { padding: 1 });
      backward(y, onesLike(y));
    }) * 1e3;
  }
  return out;
}

function smallCnnImagesPerSecond(): number {
  manualSeed(0);
  const model = new SmallCNN();
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const x = randn([64, 1, 28, 28]);
  const y = randint(0, 10, [64]);
  const step = () => {
    opt.zeroGrad();
    backward(crossEntropy(model.forward(x), y));
    opt.step();
  };
  for (let i = 0; i < 3; i++) step();
  return 64 / timeit(step, 1.0);
}

/** Runs the suite; leaves the backend as it found it. */
export function benchWasm(): Record<string, number> {
  const before = getBackend();
  const out: Record<string, number> = {};
  manualSeed(0);
  setBackend("ref");
  out.matmul1024_ref = matmulGflops();
  setBackend("wasm");
  for (const threads of [1, 2]) {
    setNumThreads(threads);
    workersReadySync();
    out[`matmul1024_t${threads}`] = matmulGflops();
    Object.assign(out, convFigures(`t${threads}`));
    out[`smallcnn_img_s_t${threads}`] = smallCnnImagesPerSecond();
  }
  out.scaling_t2 = out.matmul1024_t2 / out.matmul1024_t1;
  setBackend(before);
  return out;
}
