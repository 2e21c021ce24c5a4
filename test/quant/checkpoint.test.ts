/** Prepared-model checkpoints: loadPrepared rebuilds the QAT model and resuming is exact. */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { DataLoader } from "../../src/data/loader.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { subset } from "../../src/data/dataset.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { SGD } from "../../src/optim/sgd.js";
import { manualSeed } from "../../src/tensor/random.js";
import { Trainer, type StepContext } from "../../src/train/trainer.js";
import { decodeCheckpoint, encodeCheckpoint } from "../../src/train/checkpoint.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigByName, qconfigs } from "../../src/quant/qconfig.js";
import { qatSchedule } from "../../src/quant/schedule.js";
import { loadPrepared, preparedConfig } from "../../src/quant/checkpoint.js";
import type { QatModel } from "../../src/quant/stubs.js";

const data = subset(fashionMnistSample().train, Array.from({ length: 96 }, (_, i) => i * 13));

function run(qm: QatModel, crashAt?: number, onCrash?: (bytes: Uint8Array) => void): Trainer {
  const loader = new DataLoader(data, { batchSize: 16, shuffle: true, seed: 4 });
  const opt = new SGD(qm.parameters(), { lr: 0.01, momentum: 0.9 });
  const trainer = new Trainer({
    model: qm, optimizer: opt, progress: false,
    callbacks: [
      qatSchedule(qm, { activationQuantDelaySteps: 2, freezeBnStep: 7, freezeObserverStep: 9 }),
      { onStepEnd: (ctx: StepContext) => {
        if (ctx.step !== crashAt) return;
        onCrash!(encodeCheckpoint(ctx.trainer.toCheckpoint(loader, preparedConfig(qm, { zoo: "smallCnn" }))));
        throw new Error("crash");
      } },
    ],
  });
  return Object.assign(trainer, { loader });
}

describe("prepared-model checkpoints", () => {
  it("loadPrepared + Trainer.restore continues bit-identically across BN/observer freezes", () => {
    manualSeed(3);
    const ref = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
    const t1 = run(ref);
    t1.fit((t1 as unknown as { loader: DataLoader }).loader, { epochs: 2 }); // 12 steps

    manualSeed(3);
    const first = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
    let saved: Uint8Array | null = null;
    const t2 = run(first, 8, (b) => (saved = b));
    expect(() => t2.fit((t2 as unknown as { loader: DataLoader }).loader, { epochs: 2 })).toThrow("crash");

    manualSeed(99);
    const ckpt = decodeCheckpoint(saved!);
    const resumed = loadPrepared(ckpt);
    const t3 = run(resumed);
    t3.restore(ckpt);
    t3.fit((t3 as unknown as { loader: DataLoader }).loader, { epochs: 2 });
    const a = ref.stateDict();
    const b = resumed.stateDict();
    expect(Object.keys(b)).toEqual(Object.keys(a));
    for (const k of Object.keys(a)) expect(Array.from(b[k].data), k).toEqual(Array.from(a[k].data));
  });

  it("qconfig names: presets and w<b>a<b>[-lsq] specs; unknown names list the choices", () => {
    expect(qconfigByName("x86").name).toBe("x86");
    expect(qconfigByName("w4a4-lsq").name).toBe("w4a4-lsq");
    expect(qconfigByName("w8a8").name).toBe("w8a8");
    expect(() => qconfigByName("w9a8")).toThrow(/x86, onednn/);
  });
});
