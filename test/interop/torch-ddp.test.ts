/**
 * The round trip through torchrun (issue 21): SmallCNN prepared in qat-ts, exported, trained
 * 50 steps by `torchrun --nproc_per_node 2 train_ddp.py` (gloo, CPU) on the embedded
 * Fashion-MNIST sample (written as IDX by the exporter), imported back:
 *  - observer sync: the two ranks read different shards (DistributedSampler) yet end with
 *    identical state — every observer min/max, scale, zero point, BN statistic and weight —
 *    and without the sync (--no-sync-observers) their activation observers differ;
 *  - the schedule (BN frozen at step 30, observers at 40) comes back: step 50, frozen BN;
 *  - imported fake-quant ≡ PyTorch's outputs (≤ 1 quantum, ≥ 95 % identical, top-1 equal);
 *    its Int8Model ≡ fake-quant ≡ onnxruntime on the QDQ export (±1 quantum on ≥ 99.9 %, top-1);
 *  - train_ddp.py --resume continues from the checkpoint (step 50 → 60);
 *  - 2 ranks (started by `train_ddp.py --nproc 2`) × 32 images equal 1 process × 64 (the same images, --no-shuffle) after a step: the
 *    input observer bit for bit, every other state tensor within 1e-3 of its largest value
 *    (measured 8.8e-5: float rounding of the cross-rank BN statistics and averaged gradients).
 * Skips with a printed reason when /usr/bin/python3 cannot import torch.
 */
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import "../../src/index.js";
import { buildModel } from "../../src/nn/models/registry.js";
import { loadSafetensors, saveSafetensors } from "../../src/nn/fs.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { SGD } from "../../src/optim/sgd.js";
import { convert, isBnFolded, prepareQat, qconfigs } from "../../src/quant/index.js";
import { exportModel } from "../../src/onnx/index.js";
import { fashionMnist } from "../../src/data/fs.js";
import { exportTorch, importTorch } from "../../src/interop/torch/index.js";
import { loadOrt, ortUnavailable } from "../onnx/helpers.js";
import { runOrtWith } from "../onnx/quantized-helpers.js";
import { inQuanta, runPy, stateDiff, stateRelDiff, removeTempDirs, tempDir, top1, torchUnavailable, torchrun } from "./torch-helpers.js";

const why = torchUnavailable();
if (why) console.warn(`[torch ddp] skipped: ${why}`);
const ort = await loadOrt();

const isActObserver = (k: string) => /activation_post_process\.activation_post_process\.(min_val|max_val)$/.test(k) && !k.includes("weight_fake_quant");

describe.skipIf(why !== "")("torchrun / DDP round trip", () => {
  afterAll(removeTempDirs);
  it("exports, trains on 2 ranks with synchronised observers, imports, converts", async () => {
    manualSeed(5);
    const qm = prepareQat(buildModel({ zoo: "smallCnn" }), { qconfig: qconfigs.x86 });
    qm.train();
    const opt = new SGD(qm.parameters(), { lr: 0.01, momentum: 0.9 });
    for (let s = 0; s < 2; s++) {
      opt.zeroGrad();
      qm.forward(randn([8, 1, 28, 28])).square().mean().backward();
      opt.step();
    }
    const dir = tempDir("ddp");
    exportTorch(qm, dir, { model: { zoo: "smallCnn" }, schedule: { freezeBnStep: 30, freezeObserverStep: 40 }, train: { lr: 0.02, batchSize: 64 }, sampleData: true });

    // the negative control first: without the observer sync the ranks' activation observers differ
    torchrun(dir, 2, ["--data", "data", "--steps", "3", "--batch-size", "32", "--subset", "2000", "--dump-rank-states", "--no-sync-observers", "--out", "nosync"]);
    const n0 = loadSafetensors(path.join(dir, "nosync", "rank0.safetensors"));
    const n1 = loadSafetensors(path.join(dir, "nosync", "rank1.safetensors"));
    expect(stateDiff(n0, n1, isActObserver).length).toBeGreaterThan(0);
    expect(stateDiff(n0, n1, (k) => !isActObserver(k) && !/activation_post_process\.(scale|zero_point)$/.test(k))).toEqual([]); // weights and BN: DDP + cross-rank BN

    // the run: 50 steps, 2 ranks × 32 images
    torchrun(dir, 2, ["--data", "data", "--steps", "50", "--batch-size", "32", "--subset", "2000", "--dump-rank-states", "--out", "run"]);
    const r0 = loadSafetensors(path.join(dir, "run", "rank0.safetensors"));
    const r1 = loadSafetensors(path.join(dir, "run", "rank1.safetensors"));
    expect(Object.keys(r0).length).toBe(Object.keys(qm.stateDict()).length);
    expect(stateDiff(r0, r1)).toEqual([]);
    const result = JSON.parse(readFileSync(path.join(dir, "run", "result.json"), "utf8")) as { step: number; ranks: number; testAccuracy: number };
    expect(result).toMatchObject({ step: 50, ranks: 2 });

    const back = importTorch(dir, { checkpoint: path.join(dir, "run", "checkpoint.safetensors") });
    expect(back.step).toBe(50);
    expect(back.training.frozenBn).toEqual(["module.conv1", "module.conv2"]);
    for (const p of back.training.frozenBn) {
      const m = back.model.getSubmodule(p);
      expect(isBnFolded(m) && m.freezeBn).toBe(true);
    }
    expect(stateDiff(r0, back.model.stateDict())).toEqual([]);
    const model = back.model;
    model.eval();

    const test = fashionMnist(path.join(dir, "data")).test;
    const batch = test.getBatch(Array.from({ length: 64 }, (_, i) => i * 7));
    const x = batch.x as Tensor;
    saveSafetensors(path.join(dir, "x.safetensors"), { x });
    runPy(dir, ["predict.py", "--weights", path.join("run", "checkpoint.safetensors"), "--input", "x.safetensors", "--out", "y.safetensors", "--no-observe"]);
    const yt = loadSafetensors(path.join(dir, "y.safetensors")).y;
    const fq = noGrad(() => model.forward(x));
    const int8 = convert(model);
    const scale = int8.value(int8.graph.output).q.scale;
    const vsTorch = inQuanta(fq, yt, scale);
    console.log(`[torch ddp] 2-rank run: test accuracy ${(result.testAccuracy * 100).toFixed(1)} %; imported fake-quant vs PyTorch: max ${vsTorch.max.toFixed(3)} quanta, ${(vsTorch.exact * 100).toFixed(1)} % identical`);
    expect(vsTorch.max).toBeLessThanOrEqual(1.0001);
    expect(vsTorch.exact).toBeGreaterThanOrEqual(0.95);
    expect(top1(fq.data, yt.data, 10)).toBe(1);
    const yi = int8.run(x);
    const vsInt8 = inQuanta(fq, yi, scale);
    expect(vsInt8.within1).toBeGreaterThanOrEqual(0.999);
    expect(top1(fq.data, yi.data, 10)).toBe(1);
    if (ort) {
      const yo = await runOrtWith(ort, exportModel(model, { example: x, format: "qdq" }), x);
      const vsOrt = inQuanta(yi, yo, scale);
      expect(vsOrt.within1).toBeGreaterThanOrEqual(0.999);
      expect(top1(yi.data, yo, 10)).toBe(1);
    } else console.warn(`[torch ddp] onnxruntime check skipped: ${ortUnavailable}`);

    // resume: one process continues the 2-rank run's checkpoint to step 60
    runPy(dir, ["train_ddp.py", "--data", "data", "--steps", "60", "--batch-size", "64", "--subset", "2000", "--resume", "--out", "run"]);
    expect(importTorch(dir, { checkpoint: path.join(dir, "run", "checkpoint.safetensors") }).step).toBe(60);
  }, 600_000);

  it("2 ranks × 32 images are 1 process × 64: observers and BN see the global batch", () => {
    manualSeed(6);
    const qm = prepareQat(buildModel({ zoo: "smallCnn" }), { qconfig: qconfigs.x86 });
    const dir = tempDir("global");
    exportTorch(qm, dir, { model: { zoo: "smallCnn" }, train: { lr: 0.02, batchSize: 64 }, sampleData: true });
    const common = ["--data", "data", "--steps", "2", "--subset", "512", "--no-shuffle", "--dump-rank-states"];
    runPy(dir, ["train_ddp.py", ...common, "--batch-size", "64", "--out", "one"]);
    runPy(dir, ["train_ddp.py", "--nproc", "2", ...common, "--batch-size", "32", "--out", "two"]); // the script's own launcher this time
    const one = loadSafetensors(path.join(dir, "one", "rank0.safetensors"));
    const two = loadSafetensors(path.join(dir, "two", "rank0.safetensors"));
    expect(stateDiff(one, two, (k) => k.startsWith("quant."))).toEqual([]);
    const d = stateRelDiff(one, two);
    console.log(`[torch ddp] 1 × 64 vs 2 × 32 after 2 steps: ${d.identical}/${d.keys} keys identical, worst ${d.worst.toExponential(2)} (${d.key})`);
    expect(d.worst).toBeLessThanOrEqual(1e-3);
  }, 300_000);
});
