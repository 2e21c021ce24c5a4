/**
 * Numerics policy for non-finite values (issue #16): every observer and fake-quantizer counts
 * a batch holding NaN or ±Infinity and leaves its statistics untouched; a training step whose
 * loss is not finite changes nothing (parameters, BN statistics, observers), so the model
 * keeps working on clean data afterwards.
 */
import { describe, expect, it } from "vitest";
import "../../src/index.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { ValueError } from "../../src/tensor/errors.js";
import type { Module } from "../../src/nn/module.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { SGD } from "../../src/optim/sgd.js";
import { Trainer } from "../../src/train/trainer.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { convert } from "../../src/quant/convert.js";
import { type ObserverBase, MinMaxObserver, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, PerChannelMinMaxObserver } from "../../src/quant/observer.js";
import { HistogramObserver } from "../../src/quant/observer-histogram.js";
import { FakeQuantize } from "../../src/quant/fake-quantize.js";
import { FusedMovingAvgObsFakeQuantize } from "../../src/quant/fake-quantize-fused.js";
import { lsqActivationFakeQuant, lsqWeightFakeQuant } from "../../src/quant/lsq-presets.js";

const clean = (seed: number): Tensor => {
  manualSeed(seed);
  return randn([4, 3, 5]);
};
function poisoned(v: number): Tensor {
  const x = clean(9);
  const d = Float32Array.from(x.toFloat32Array());
  d[7] = v;
  return new Tensor(d, x.shape);
}
const state = (m: Module): Record<string, number[]> => Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number>)]));
const observerOf = (m: Module): ObserverBase => ((m as { activation_post_process?: ObserverBase }).activation_post_process ?? m) as ObserverBase;

const QUANTIZERS: [string, () => Module][] = [
  ["MinMaxObserver", () => new MinMaxObserver()],
  ["MovingAverageMinMaxObserver", () => new MovingAverageMinMaxObserver()],
  ["PerChannelMinMaxObserver", () => new PerChannelMinMaxObserver({ dtype: "int8", qscheme: "per_channel_symmetric" })],
  ["MovingAveragePerChannelMinMaxObserver", () => new MovingAveragePerChannelMinMaxObserver({ dtype: "int8", qscheme: "per_channel_symmetric" })],
  ["HistogramObserver", () => new HistogramObserver()],
  ["FakeQuantize", () => new FakeQuantize()],
  ["FusedMovingAvgObsFakeQuantize per tensor", () => new FusedMovingAvgObsFakeQuantize({ observer: MovingAverageMinMaxObserver })],
  ["FusedMovingAvgObsFakeQuantize per channel", () => new FusedMovingAvgObsFakeQuantize({ observer: MovingAveragePerChannelMinMaxObserver, dtype: "int8", quantMin: -128, quantMax: 127, qscheme: "per_channel_symmetric" })],
  ["LSQ weights (per channel)", () => lsqWeightFakeQuant({ quantMin: -8, quantMax: 7, perChannel: true, channelLen: 4 })],
  ["LSQ activations", () => lsqActivationFakeQuant({ quantMin: 0, quantMax: 255 })],
];

describe("observers and fake-quantizers skip non-finite batches", () => {
  for (const [name, make] of QUANTIZERS) {
    it(`${name}: NaN, +Inf and −Inf batches are counted and change no state`, () => {
      const q = make();
      q.forward(clean(1));
      const before = state(q);
      for (const v of [NaN, Infinity, -Infinity]) q.forward(poisoned(v));
      expect(state(q)).toEqual(before);
      const obs = observerOf(q);
      // LSQ presets learn their step size (no observation after the first batch): nothing to count there.
      expect([obs.nonFiniteValues, obs.nonFiniteBatches]).toEqual(name.startsWith("LSQ") ? [0, 0] : [3, 3]);
      q.forward(clean(2)); // clean data still works and moves the statistics as usual
      const out = q.forward(clean(3)).toFloat32Array();
      expect(out.every(Number.isFinite)).toBe(true);
    });
  }
});

it("LSQ: a non-finite first batch does not initialise the step size", () => {
  const q = lsqActivationFakeQuant({ quantMin: 0, quantMax: 255 });
  const before = state(q);
  q.forward(poisoned(NaN));
  expect(state(q)).toEqual(before);
  q.forward(clean(1));
  expect(state(q).scale[0]).not.toBe(before.scale[0]);
  expect(Number.isFinite(state(q).scale[0])).toBe(true);
});

describe("a non-finite training batch leaves the model intact", () => {
  const y = new Tensor(Int32Array.from({ length: 8 }, (_, i) => i % 10), [8]);
  const withPixel = (x: Tensor, v: number): Tensor => {
    const d = Float32Array.from(x.toFloat32Array());
    d[100] = v;
    return new Tensor(d, x.shape);
  };

  it("float model: a NaN/Inf loss is a typed error naming the cause; parameters and BN statistics unchanged", () => {
    manualSeed(0);
    const model = smallCnn();
    const trainer = new Trainer({ model, optimizer: new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 }), progress: false });
    const x = randn([8, 1, 28, 28]);
    trainer.trainStep(x, y);
    const before = state(model);
    for (const v of [NaN, Infinity]) {
      expect(() => trainer.trainStep(withPixel(x, v), y)).toThrow(ValueError);
      expect(() => trainer.trainStep(withPixel(x, v), y)).toThrow(/holds 1 NaN\/Infinity input value; the step was not applied/);
      expect(state(model)).toEqual(before);
    }
    expect(trainer.step).toBe(1);
    expect(Number.isFinite(trainer.trainStep(x, y))).toBe(true);
  });

  it("QAT model: the same; every statistic stays finite and training continues", () => {
    manualSeed(0);
    const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
    const trainer = new Trainer({ model: qm, optimizer: new SGD(qm.parameters(), { lr: 0.01, momentum: 0.9 }), progress: false });
    const x = randn([8, 1, 28, 28]);
    trainer.trainStep(x, y);
    const before = state(qm);
    for (const v of [NaN, Infinity, -Infinity]) {
      expect(() => trainer.trainStep(withPixel(x, v), y)).toThrow(ValueError);
      expect(state(qm)).toEqual(before);
    }
    trainer.trainStep(x, y);
    for (const [k, v] of Object.entries(state(qm))) {
      expect(v.every((e) => !Number.isNaN(e)), k).toBe(true);
      if (k.endsWith(".scale")) expect(v.every((e) => Number.isFinite(e) && e > 0), k).toBe(true);
    }
    // and it still converts (the issue: "afterwards every forward on clean data and convert fail")
    qm.eval();
    const out = convert(qm).run(x).toFloat32Array();
    expect(out.every(Number.isFinite)).toBe(true);
  });

  it("a diverged step (finite input, NaN weights) restores the buffers it touched", () => {
    manualSeed(0);
    const model = smallCnn();
    const trainer = new Trainer({ model, optimizer: new SGD(model.parameters(), { lr: 0.01 }), progress: false });
    const x = randn([8, 1, 28, 28]);
    trainer.trainStep(x, y);
    const params = model.parameters();
    params[params.length - 2].data.fill(NaN); // the last linear layer's weight: NaN logits

    const before = state(model);
    expect(() => trainer.trainStep(x, y)).toThrow(/loss became NaN at step 2 .* The step was not applied/);
    const after = state(model);
    for (const k of Object.keys(before)) if (k.includes("running_")) expect(after[k], k).toEqual(before[k]);
  });
});

describe("edge cases", () => {
  it("training on an empty dataset is a typed error, not trainLoss: null", async () => {
    const { DataLoader } = await import("../../src/data/loader.js");
    const { ImageDataset } = await import("../../src/data/dataset.js");
    const empty = new ImageDataset({ images: new Uint8Array(0), labels: new Uint8Array(0), shape: [0, 1, 28, 28], mean: 0, std: 1 });
    const model = smallCnn();
    const trainer = new Trainer({ model, optimizer: new SGD(model.parameters(), { lr: 0.01 }), progress: false });
    expect(() => trainer.fit(new DataLoader(empty, { batchSize: 8 }), { epochs: 1 })).toThrow(/Trainer: the training loader has no batches \(is the dataset empty\?\)/);
  });
});
