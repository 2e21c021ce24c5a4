/**
 * Checks shared by the graph tests (invariants, attention, attention-integer): the largest
 * magnitude of a tensor, the share of values within one quantum, and the zoo ViT prepared under
 * x86 with invariant (a) checked, then calibrated on sample images.
 */
import { expect } from "vitest";
import { vitTiny } from "../../src/nn/models/vit.js";
import type { Module } from "../../src/nn/module.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { manualSeed } from "../../src/tensor/random.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { type QatModel, calibrate, disableFakeQuant, enableFakeQuant, prepareQat, qconfigs } from "../../src/quant/index.js";

export function maxAbs(t: Tensor): number {
  let m = 0;
  for (let i = 0; i < t.size; i++) m = Math.max(m, Math.abs(t.data[i]));
  return m;
}

/** Share of positions where a and b differ by at most one quantum (`scale`). */
export function within(a: ArrayLike<number>, b: ArrayLike<number>, scale: number): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) <= scale * 1.0001) n++;
  return n / a.length;
}

/**
 * vitTiny (depth 2, seed 27) prepared with the x86 preset on 64 sample test images; asserts
 * invariant (a) — fake quantization off ≡ float within 1e-5 of the output scale —, then
 * calibrates on two batches of 32 training images. Returns the model in train mode.
 */
export function calibratedVitTiny(): { vit: Module; images: Tensor; qm: QatModel } {
  manualSeed(27);
  const vit = vitTiny({ depth: 2 });
  vit.eval();
  const images = fashionMnistSample().test.getBatch(Array.from({ length: 64 }, (_, i) => i)).x;
  const qm = prepareQat(vit, { qconfig: qconfigs.x86, example: images });
  qm.eval();
  disableFakeQuant(qm);
  const ref = noGrad(() => vit.forward(images));
  const off = noGrad(() => qm.forward(images));
  for (let i = 0; i < ref.size; i++) expect(Math.abs(ref.data[i] - off.data[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(ref)));
  enableFakeQuant(qm);
  qm.train();
  calibrate(qm, [0, 1].map((b) => ({ x: fashionMnistSample().train.getBatch(Array.from({ length: 32 }, (_, i) => b * 32 + i)).x })), { batches: 2 });
  return { vit, images, qm };
}
