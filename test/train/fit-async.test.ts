/**
 * Trainer.fitAsync: the same loop as fit (bit-identical results), yielding to the event loop
 * after every step, with onStep/onEpoch callbacks and an injected progress reporter; an
 * AbortSignal stops it at a step boundary with the model consistent, the completed epochs'
 * history returned, and a later fit continuing exactly where it stopped.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { DataLoader } from "../../src/data/loader.js";
import { TensorDataset } from "../../src/data/dataset.js";
import { mlp } from "../../src/nn/models/mlp.js";
import { SGD } from "../../src/optim/sgd.js";
import { StepLR } from "../../src/optim/lr-scheduler.js";
import { manualSeed, randn, randint } from "../../src/index.js";
import { Trainer, type EpochRecord } from "../../src/train/trainer.js";
import { type ProgressReporter, lineProgress } from "../../src/train/progress.js";
import { yieldToEventLoop } from "../../src/train/yield.js";
import { ValueError } from "../../src/tensor/errors.js";
import type { Module } from "../../src/nn/module.js";

const STEPS_PER_EPOCH = 6; // 96 samples / batch 16

function setup(seed = 3) {
  manualSeed(seed);
  const x = randn([96, 1, 28, 28]);
  const y = randint(0, 10, [96]);
  const model = mlp({ hidden: [16] });
  const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const scheduler = new StepLR(optimizer, { stepSize: 1, gamma: 0.5 });
  const loader = new DataLoader(new TensorDataset(x, y), { batchSize: 16, shuffle: true, seed: seed + 1 });
  const trainer = new Trainer({ model, optimizer, scheduler });
  return { model, loader, trainer };
}

const params = (m: Module): number[] => m.parameters().flatMap((p) => Array.from(p.data));
const strip = (h: EpochRecord[]) => h.map(({ seconds: _s, imagesPerSec: _i, ...r }) => r);

describe("Trainer.fitAsync", () => {
  it("trains exactly as fit does, calling onStep / onEpoch and the given reporter", async () => {
    const a = setup();
    const syncHist = a.trainer.fit(a.loader, { epochs: 2 });
    const b = setup();
    const steps: number[] = [];
    const epochs: number[] = [];
    const calls: string[] = [];
    const progress: ProgressReporter = { start: (l, t) => calls.push(`start ${l} ${t}`), update: (d) => calls.push(`update ${d}`), stop: () => calls.push("stop") };
    const asyncHist = await b.trainer.fitAsync(b.loader, { epochs: 2, progress, onStep: (ctx) => steps.push(ctx.step), onEpoch: (r) => epochs.push(r.epoch) });
    expect(params(b.model)).toEqual(params(a.model));
    expect(strip(asyncHist)).toEqual(strip(syncHist));
    expect(steps).toEqual(Array.from({ length: 2 * STEPS_PER_EPOCH }, (_, i) => i + 1));
    expect(epochs).toEqual([1, 2]);
    expect(calls.slice(0, 3)).toEqual([`start epoch 1 ${STEPS_PER_EPOCH}`, "update 1", "update 2"]);
    expect(calls.filter((c) => c === "stop")).toHaveLength(2);
  });

  it("yields to the event loop after every step", async () => {
    const { loader, trainer } = setup();
    const seen: number[] = [];
    // Each macrotask re-queues itself: it can only run while fitAsync is suspended.
    let running = true;
    const tick = () => {
      seen.push(trainer.step);
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const run = trainer.fitAsync(loader, { epochs: 1 });
    expect(trainer.step).toBe(1); // the first step ran synchronously, before the first yield
    await run;
    running = false;
    const during = [...new Set(seen)].filter((s) => s < STEPS_PER_EPOCH);
    expect(during).toEqual([1, 2, 3, 4, 5]); // the other tasks ran between every pair of steps
  });

  it("stops at a step boundary on abort; the model is consistent and a later fit continues exactly", async () => {
    const ref = setup();
    ref.trainer.fit(ref.loader, { epochs: 2 });

    const s = setup();
    const ac = new AbortController();
    const hist = await s.trainer.fitAsync(s.loader, { epochs: 2, signal: ac.signal, onStep: (ctx) => ctx.step === 8 && ac.abort() });
    expect(ac.signal.aborted).toBe(true);
    expect(s.trainer.step).toBe(8); // 6 steps of epoch 1, 2 of epoch 2
    expect(hist.map((r) => r.epoch)).toEqual([1]); // the partial epoch has no record
    expect(s.trainer.epoch).toBe(1);
    // Consistent: identical to a run that stops after exactly 8 steps.
    const eight = setup();
    eight.trainer.fit(eight.loader, { epochs: 1 });
    let n = 0;
    for (const { x, y } of eight.loader) {
      eight.trainer.trainStep(x, y);
      if (++n === 2) break;
    }
    expect(params(s.model)).toEqual(params(eight.model));
    // Continuing (sync or async) finishes epoch 2 from batch 3: the same model as never stopping.
    const rest = await s.trainer.fitAsync(s.loader, { epochs: 2 });
    expect(s.trainer.step).toBe(2 * STEPS_PER_EPOCH);
    expect(rest.map((r) => r.epoch)).toEqual([1, 2]);
    expect(params(s.model)).toEqual(params(ref.model));
  });

  it("an abort during the last step of an epoch still completes that epoch's record", async () => {
    const s = setup();
    const ac = new AbortController();
    const hist = await s.trainer.fitAsync(s.loader, { epochs: 3, signal: ac.signal, onStep: (ctx) => ctx.step === STEPS_PER_EPOCH && ac.abort() });
    expect(hist.map((r) => r.epoch)).toEqual([1]);
    expect(s.trainer.step).toBe(STEPS_PER_EPOCH);
    const again = await s.trainer.fitAsync(s.loader, { epochs: 2 });
    expect(again.map((r) => [r.epoch, r.step])).toEqual([[1, 6], [2, 12]]);
  });

  it("an already aborted signal trains nothing; bad epochs reject with a ValueError", async () => {
    const s = setup();
    const before = params(s.model);
    expect(await s.trainer.fitAsync(s.loader, { epochs: 1, signal: AbortSignal.abort() })).toEqual([]);
    expect(params(s.model)).toEqual(before);
    await expect(s.trainer.fitAsync(s.loader, { epochs: 1.5 })).rejects.toThrow(ValueError);
    await expect(s.trainer.fitAsync(s.loader, { epochs: -1 })).rejects.toThrow("Trainer.fitAsync: epochs must be a non-negative integer, got -1");
  });
});

describe("progress reporters", () => {
  it("lineProgress writes one Keras-style line per epoch; progress: true uses it", () => {
    const lines: string[] = [];
    const s = setup();
    const t = new Trainer({ model: s.model, optimizer: new SGD(s.model.parameters(), { lr: 0.01 }), progress: lineProgress((l) => lines.push(l)), label: "float" });
    t.fit(s.loader, { epochs: 2 });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^float {8}6\/6 · loss \d+\.\d{4} · [\d,]+ img\/s · \d+\.\ds$/);
  });

  it("yieldToEventLoop resolves after already queued macrotasks", async () => {
    const order: string[] = [];
    setImmediate(() => order.push("task"));
    await yieldToEventLoop();
    order.push("after yield");
    expect(order).toEqual(["task", "after yield"]);
  });
});
