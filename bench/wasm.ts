/**
 * The `wasm` bench suite (issues 3 and 15): the WebAssembly SIMD backend's float32 matmul 1024³
 * (GFLOP/s) and the SmallCNN convolutions at batch 64 (forward; forward + backward through ops
 * and autograd), at 1 thread and at all cores, side by side with the PyTorch peer at the same
 * thread counts (its BLAS checked, OMP_WAIT_POLICY=PASSIVE; bench/peers/torch_peer.py).
 * Cases for bench/paired.ts; `matmulScaling` adds our 2-thread speed-up under the table.
 * Called by bench/run.ts.
 */
import { backward } from "../src/autograd/backward.js";
import { conv2d } from "../src/ops/conv.js";
import { matmul } from "../src/ops/matmul.js";
import { onesLike, randn } from "../src/tensor/creation.js";
import { manualSeed } from "../src/tensor/random.js";
import { timeit } from "./paired.js";
import type { PairedCase, PairedRun } from "./paired.js";
import { median } from "./paired.js";
import type { TorchPeer } from "./torch-peer.js";

export const CONV_SHAPES: Record<string, [number, number, number]> = { "conv 1→16 3×3 p1, 64×28×28": [1, 16, 28], "conv 16→32 3×3 p1, 64×14×14": [16, 32, 14] };

export function matmulCase(n: number, threads: number, peer: TorchPeer | null, minTime = 0.5): PairedCase {
  const a = randn([n, n]);
  const b = randn([n, n]);
  return {
    label: `matmul ${n}³`, threads, unit: "GFLOP/s", work: 2 * n ** 3,
    ours: () => timeit(() => matmul(a, b), minTime, 5),
    peer: peer && (() => peer.seconds({ op: "matmul", n, threads, min_time: minTime })),
  };
}

export function convCases(threads: number, peer: TorchPeer | null): PairedCase[] {
  const cases: PairedCase[] = [];
  for (const [name, [c, oc, hw]] of Object.entries(CONV_SHAPES)) {
    const x = randn([64, c, hw, hw]).requiresGrad_();
    const w = randn([oc, c, 3, 3]).requiresGrad_();
    const req = { op: "conv", batch: 64, c, oc, hw, threads, min_time: 0.5 };
    cases.push({
      label: `${name}, forward`, threads, unit: "ms",
      ours: () => timeit(() => conv2d(x, w, null, { padding: 1 }), 0.5, 5),
      peer: peer && (() => peer.seconds({ ...req, backward: false })),
    }, {
      label: `${name}, forward + backward`, threads, unit: "ms",
      ours: () => timeit(() => {
        const y = conv2d(x, w, null, { padding: 1 });
        backward(y, onesLike(y));
      }, 0.5, 5),
      peer: peer && (() => peer.seconds({ ...req, backward: true })),
    });
  }
  return cases;
}

export function wasmCases(peer: TorchPeer | null, threads: number[]): PairedCase[] {
  manualSeed(0);
  return threads.flatMap((t) => [matmulCase(1024, t, peer), ...convCases(t, peer)]);
}

/** Our matmul 1024³ at all cores over 1 thread (medians), the issue-3 scaling figure. */
export function matmulScaling(cases: PairedCase[], run: PairedRun): string {
  const m = cases.map((c, i) => ({ c, r: run.results[i] })).filter(({ c }) => c.label === "matmul 1024³");
  const one = m.find(({ c }) => c.threads === 1);
  const all = m.find(({ c }) => c.threads > 1);
  if (!one || !all) return "";
  return `matmul 1024³, wasm, ${all.c.threads} threads over 1 thread: ${(median(one.r.ours) / median(all.r.ours)).toFixed(2)}× (medians).`;
}
