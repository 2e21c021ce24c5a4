/**
 * The SGD step on the wasm backend (assembly/optim.ts), bit-identical to src/optim/sgd.ts's
 * loop; not in `Kernels` (optimizers call it when the wasm backend is active).
 */
import { Call, runtime } from "./runtime.js";

export interface SgdStep {
  lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean; maximize: boolean;
}

export function sgdStepF32(p: Float32Array, grad: Float32Array, buf: Float32Array | null, first: boolean, o: SgdStep): void {
  const r = runtime();
  const call = new Call(r);
  try {
    const flags = (o.maximize ? 1 : 0) | (buf ? 2 : 0) | (first ? 4 : 0) | (o.nesterov ? 8 : 0);
    r.k.sgdStepF32(call.inout(p), call.in(grad), buf ? call.inout(buf) : 0, p.length, o.lr, o.momentum, 1 - o.dampening, o.weightDecay, flags);
  } finally {
    call.done();
  }
}
