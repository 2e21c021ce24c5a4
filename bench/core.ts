/**
 * The `core` bench suite (issue 2): the reference (plain TypeScript) backend at 1 thread against
 * the PyTorch peer at 1 thread — matmul GFLOP/s, the SmallCNN convolutions at batch 64, and
 * per-op overhead on 4-element tensors. Cases for bench/paired.ts; called by bench/run.ts (which selects the ref backend).
 */
import { add } from "../src/ops/binary.js";
import { relu } from "../src/ops/unary.js";
import { randn } from "../src/tensor/creation.js";
import { manualSeed } from "../src/tensor/random.js";
import { type PairedCase, timeit } from "./paired.js";
import type { TorchPeer } from "./torch-peer.js";
import { convCases, matmulCase } from "./wasm.js";

function overheadCases(peer: TorchPeer | null): PairedCase[] {
  const small = randn([4]);
  const smallGrad = randn([4]).requiresGrad_();
  const reps = 20000;
  const ops: [string, string, () => unknown][] = [
    ["add", "add, 4 elements (per-op overhead)", () => add(small, small)],
    ["relu", "relu, 4 elements", () => relu(small)],
    ["add_grad", "add, 4 elements, recording autograd", () => add(smallGrad, smallGrad)],
  ];
  return ops.map(([kind, label, op]) => ({
    label, threads: 1, unit: "µs",
    ours: () => timeit(() => { for (let i = 0; i < reps; i++) op(); }, 0.3) / reps,
    peer: peer && (() => peer.seconds({ op: "overhead", kind, threads: 1, min_time: 0.3 })),
  }));
}

/** Cases at 1 thread (the reference backend is single-threaded). */
export function coreCases(peer: TorchPeer | null): PairedCase[] {
  manualSeed(0);
  return [matmulCase(256, 1, peer), matmulCase(1024, 1, peer, 1), ...convCases(1, peer), ...overheadCases(peer)];
}
