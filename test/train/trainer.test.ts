/** Trainer: learning, determinism, bit-identical resume from checkpoints, corrupt files. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { DataLoader } from "../../src/data/loader.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { subset } from "../../src/data/dataset.js";
import { mlp } from "../../src/nn/models/mlp.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { SGD } from "../../src/optim/sgd.js";
import { StepLR } from "../../src/optim/lr-scheduler.js";
import { manualSeed } from "../../src/tensor/random.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { FormatError } from "../../src/tensor/errors.js";
import { Trainer, evaluate, type StepContext } from "../../src/train/trainer.js";
import { decodeCheckpoint, encodeCheckpoint } from "../../src/train/checkpoint.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/fs.js";
import type { Module } from "../../src/nn/module.js";

const sample = fashionMnistSample();
const small = subset(sample.train, Array.from({ length: 640 }, (_, i) => i * 9));

function setup(seed: number) {
  manualSeed(seed);
  const model = mlp({ hidden: [32] });
  const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const scheduler = new StepLR(optimizer, { stepSize: 1, gamma: 0.5 });
  const loader = new DataLoader(small, { batchSize: 32, shuffle: true, seed: seed + 1 });
  const trainer = new Trainer({ model, optimizer, scheduler, progress: false });
  return { model, optimizer, scheduler, loader, trainer };
}

function params(m: Module): number[] {
  return m.parameters().flatMap((p) => Array.from(p.data));
}

describe("Trainer", () => {
  it("learns: SmallCNN reaches well above chance on the embedded sample in one short epoch", () => {
    manualSeed(0);
    const model = smallCnn();
    const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const train = new DataLoader(subset(sample.train, Array.from({ length: 1280 }, (_, i) => i)), { batchSize: 64, shuffle: true, seed: 1 });
    const trainer = new Trainer({ model, optimizer: opt, progress: false });
    const hist = trainer.fit(train, { epochs: 1, test: new DataLoader(sample.test, { batchSize: 250 }) });
    expect(hist).toHaveLength(1);
    expect(hist[0].testAccuracy!).toBeGreaterThan(0.55);
    expect(hist[0].trainLoss).toBeLessThan(2.3);
  });

  it("is deterministic given a seed", () => {
    const a = setup(5);
    a.trainer.fit(a.loader, { epochs: 2 });
    const b = setup(5);
    b.trainer.fit(b.loader, { epochs: 2 });
    expect(params(a.model)).toEqual(params(b.model));
  });

  it("resumes bit-identically from a mid-epoch checkpoint (model, optimizer, scheduler, RNG, loader)", () => {
    const ref = setup(7);
    ref.trainer.fit(ref.loader, { epochs: 3 });

    const first = setup(7);
    let saved: Uint8Array | null = null;
    const stopAt = 27; // mid-epoch 2 (20 steps per epoch)
    const crash = new Error("simulated crash");
    const trainer = new Trainer({
      model: first.model, optimizer: first.optimizer, scheduler: first.scheduler, progress: false,
      callbacks: [{
        onStepEnd: (ctx: StepContext) => {
          if (ctx.step === stopAt) {
            saved = encodeCheckpoint(ctx.trainer.toCheckpoint(first.loader, { note: "test" }));
            throw crash;
          }
        },
      }],
    });
    expect(() => trainer.fit(first.loader, { epochs: 3 })).toThrow(crash);
    expect(saved).not.toBeNull();

    const resumed = setup(99); // different seed: everything must come from the checkpoint
    const ckpt = decodeCheckpoint(saved!);
    expect(ckpt.config).toEqual({ note: "test" });
    resumed.trainer.restore(ckpt);
    expect(resumed.trainer.step).toBe(stopAt);
    resumed.trainer.fit(resumed.loader, { epochs: 3 });
    expect(params(resumed.model)).toEqual(params(ref.model));
    expect(resumed.scheduler.getLastLr()).toEqual(ref.scheduler.getLastLr());
  });

  it("saves atomically and reports corrupt or foreign checkpoints clearly", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "qat-ckpt-"));
    const file = path.join(dir, "ckpt.safetensors");
    const s = setup(3);
    s.trainer.fit(s.loader, { epochs: 1 });
    saveCheckpoint(file, s.trainer.toCheckpoint(s.loader));
    const back = loadCheckpoint(file);
    expect(Object.keys(back.model)).toEqual(Object.keys(s.model.stateDict()));
    const bytes = readFileSync(file);
    writeFileSync(file + ".trunc", bytes.subarray(0, bytes.length - 100));
    expect(() => loadCheckpoint(file + ".trunc")).toThrow(FormatError);
    expect(() => loadCheckpoint(file + ".trunc")).toThrow(/ckpt\.safetensors\.trunc/);
    expect(() => loadCheckpoint(path.join(dir, "missing"))).toThrow(/cannot read checkpoint/);
    const other = setup(3);
    const wrong = mlp({ hidden: [16] });
    expect(() => new Trainer({ model: wrong, optimizer: other.optimizer, progress: false }).restore(back)).toThrow(/0\.weight|weight/);
  });

  it("evaluate: the hand-computed accuracy and loss, in eval mode without gradients, then restores the training mode", () => {
    const s = setup(1);
    s.trainer.fit(s.loader, { epochs: 1 });
    s.model.train();
    for (const p of s.model.parameters()) p.grad = null;
    const seen: { training: boolean; grad: boolean }[] = [];
    const hook = s.model.registerForwardHook((m, _inputs, out) => void seen.push({ training: m.training, grad: out.requiresGrad }));
    const r = evaluate(s.model, new DataLoader(sample.test, { batchSize: 500 }));
    hook.remove();
    expect(seen).toEqual([{ training: false, grad: false }, { training: false, grad: false }]);
    expect(s.model.training).toBe(true);
    expect(s.model.parameters().every((p) => p.grad === null)).toBe(true);
    // The same numbers by hand: argmax and log-softmax of each row of the eval-mode logits.
    s.model.eval();
    let correct = 0, lossSum = 0;
    for (const { x, y } of new DataLoader(sample.test, { batchSize: 500 })) {
      const logits = noGrad(() => s.model.forward(x));
      const [n, k] = logits.shape;
      for (let i = 0; i < n; i++) {
        const row = Array.from(logits.data.subarray(i * k, (i + 1) * k));
        const top = row.indexOf(Math.max(...row));
        const lse = Math.log(row.reduce((a, v) => a + Math.exp(v - row[top]), 0)) + row[top];
        if (top === y.data[i]) correct++;
        lossSum += lse - row[y.data[i]];
      }
    }
    expect(r.count).toBe(1000);
    expect(r.accuracy).toBe(correct / 1000);
    expect(r.accuracy).toBeGreaterThan(0.5); // one epoch on 640 images: far above chance (0.1)
    expect(r.loss).toBeCloseTo(lossSum / 1000, 4);
  });
});
