/**
 * Engine benchmarks (issue 2): matmul GFLOP/s, conv2d forward/backward on the SmallCNN
 * shapes at batch 64, and per-op overhead on tiny tensors. Each returns numbers with the
 * same keys as bench/torch_ref.py so run.ts can print ratios.
 */
import { conv2d } from "../src/ops/conv.js";
import { add } from "../src/ops/binary.js";
import { matmul } from "../src/ops/matmul.js";
import { relu } from "../src/ops/unary.js";
import { randn } from "../src/tensor/creation.js";
import { backward } from "../src/autograd/backward.js";
import { onesLike } from "../src/tensor/creation.js";

/** Median seconds of fn over at least minReps runs and minTime seconds (after one warm-up). */
export function timeit(fn: () => void, minTime = 0.5, minReps = 3): number {
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < minTime * 1e3) {
    const t0 = performance.now();
    fn();
    times.push((performance.now() - t0) / 1e3);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

export function benchMatmul(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of [256, 1024]) {
    const a = randn([n, n]);
    const b = randn([n, n]);
    out[`matmul${n}`] = (2 * n ** 3) / timeit(() => matmul(a, b)) / 1e9;
  }
  return out;
}

export function benchConv(): Record<string, number> {
  const out: Record<string, number> = {};
  const shapes: Record<string, [number, number, number]> = { conv1: [1, 16, 28], conv2: [16, 32, 14] };
  for (const [name, [c, oc, hw]] of Object.entries(shapes)) {
    const x = randn([64, c, hw, hw]);
    const w = randn([oc, c, 3, 3]);
    x.requiresGrad = true;
    w.requiresGrad = true;
    out[`${name}_fwd_ms`] = timeit(() => conv2d(x, w, null, { padding: 1 })) * 1e3;
    out[`${name}_fwdbwd_ms`] = timeit(() => {
      const y = conv2d(x, w, null, { padding: 1 });
      backward(y, onesLike(y));
    }) * 1e3;
  }
  return out;
}

export function benchOverhead(): Record<string, number> {
  const small = randn([4]);
  const smallg = randn([4]);
  smallg.requiresGrad = true;
  const reps = 20000;
  const perOp = (fn: () => void) =>
    (timeit(() => {
      for (let i = 0; i < reps; i++) fn();
    }, 0.3) / reps) * 1e6;
  return {
    op_add_us: perOp(() => add(small, small)),
    op_relu_us: perOp(() => relu(small)),
    op_add_grad_us: perOp(() => add(smallg, smallg)),
  };
}
