/**
 * The exported PyTorch model computes what qat-ts computes, before any training (issue 21):
 * SmallCNN (x86, x86 with BN frozen — model.py's FROZEN_BN —, onnxruntime and two LSQ presets), ResNet-20, MobileNetV2-small and a user model with a functional residual add + concat + max pool +
 * reshape, after a few qat-ts QAT steps (so scales, BN statistics and weights are not initial),
 * run by predict.py in Debian's torch 1.13.
 *  - eval forward with observers frozen: outputs within 1 output quantum, ≥ 95 % bit-identical
 *    (measured: 100 % on every case but MobileNetV2-small, 97.5 %), top-1 identical, the state
 *    unchanged on both sides;
 *  - eval forward with observers updating: the observers see the float convolution outputs,
 *    which ATen sums in another order than qat-ts — a 1e-7 difference at an observed extreme
 *    moves a scale, and everything after it shifts by a fraction of a quantum: within 1 output
 *    quantum (ResNet-20: 2), the state after the forward within 1e-4 relative (measured: SmallCNN
 *    and the user model bit-identical; ResNet-20 ≤ 1 quantum, state ≤ 4.3e-5);
 *  - train-mode forward (BN on batch statistics): float rounding of the batch statistics moves
 *    observed ranges by ~1e-7 relative; within 1 output quantum (SmallCNN, user model) or 6
 *    (ResNet-20, whose 19 BN layers in a row compound it; measured 3.0 in three runs).
 *    MobileNetV2-small's train-mode forward is logged, not bounded: its BN statistics agree to
 *    1e-6 in the first blocks and drift apart smoothly through 17 BN layers (measured 55 output
 *    quanta on a random network) — no structural difference, but no useful bound either.
 * Top-1 is compared only where the outputs are frozen-identical: on barely trained random
 * networks the logits are near-tied, and a one-quantum shift can reorder them.
 * Skips with a printed reason when /usr/bin/python3 cannot import torch.
 */
import { afterAll, describe, expect, it } from "vitest";
import path from "node:path";
import "../../src/index.js";
import type { Module } from "../../src/nn/module.js";
import { buildModel } from "../../src/nn/models/registry.js";
import { loadSafetensors, saveSafetensors } from "../../src/nn/fs.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { SGD } from "../../src/optim/sgd.js";
import { disableObserver, freezeBnStats, prepareQat, qconfigByName, type QatModel } from "../../src/quant/index.js";
import { exportTorch } from "../../src/interop/torch/index.js";
import { ResidualConcatNet } from "../graph/models.js";
import { inQuanta, runPy, stateDiff, stateRelDiff, removeTempDirs, tempDir, top1, torchUnavailable } from "./torch-helpers.js";

const why = torchUnavailable();
if (why) console.warn(`[torch parity] skipped: ${why}`);

/** `<preset>+frozen-bn`: the preset, with BN statistics frozen after the steps. */
const presetOf = (qc: string) => qc.replace("+frozen-bn", "");

function trained(make: () => Module, qconfig: string, shape: number[]): QatModel {
  manualSeed(3);
  const qm = prepareQat(make(), { qconfig: qconfigByName(presetOf(qconfig)), example: randn([2, ...shape.slice(1)]) });
  qm.train();
  const opt = new SGD(qm.parameters(), { lr: 0.01, momentum: 0.9 });
  for (let s = 0; s < 3; s++) {
    opt.zeroGrad();
    qm.forward(randn([8, ...shape.slice(1)])).square().mean().backward();
    opt.step();
  }
  if (qconfig.endsWith("+frozen-bn")) freezeBnStats(qm);
  return qm;
}

const outScale = (qm: QatModel): number => {
  const st = qm.stateDict();
  const key = Object.keys(st).filter((k) => /activation_post_process\.scale$/.test(k) && !k.includes("weight_fake_quant")).pop()!;
  return st[key].data[0];
};

/** name, model, qconfig, input shape, [eval, train] bounds in output quanta (null: logged only), how importTorch rebuilds it */
const cases: [string, () => Module, string, number[], [number, number | null], { model: { zoo: string } } | { rebuild: () => Module }][] = [
  ["SmallCNN (x86: fused moving-average fake-quant)", () => buildModel({ zoo: "smallCnn" }), "x86", [1, 1, 28, 28], [1, 1], { model: { zoo: "smallCnn" } }],
  ["SmallCNN (x86) with BN frozen: the folded form in training mode too", () => buildModel({ zoo: "smallCnn" }), "x86+frozen-bn", [1, 1, 28, 28], [1, 1], { model: { zoo: "smallCnn" } }],
  ["SmallCNN (onnxruntime: FakeQuantize + moving-average observers)", () => buildModel({ zoo: "smallCnn" }), "onnxruntime", [1, 1, 28, 28], [1, 1], { model: { zoo: "smallCnn" } }],
  ["SmallCNN (w4a8: 4-bit LSQ weights)", () => buildModel({ zoo: "smallCnn" }), "w4a8", [1, 1, 28, 28], [1, 1], { model: { zoo: "smallCnn" } }],
  ["SmallCNN (w8a8-lsq: LSQ weights and LSQ+ activations)", () => buildModel({ zoo: "smallCnn" }), "w8a8-lsq", [1, 1, 28, 28], [1, 1], { model: { zoo: "smallCnn" } }],
  ["ResNet-20 (x86)", () => buildModel({ zoo: "resnet20" }), "x86", [1, 1, 28, 28], [2, 6], { model: { zoo: "resnet20" } }],
  ["MobileNetV2-small (x86: depthwise convs, fused ReLU6)", () => buildModel({ zoo: "mobilenetV2Small" }), "x86", [1, 1, 28, 28], [2, null], { model: { zoo: "mobilenetV2Small" } }],
  ["user model: functional residual add + concat + max pool + reshape (x86)", () => new ResidualConcatNet(), "x86", [1, 3, 8, 8], [1, 1], { rebuild: () => new ResidualConcatNet() }],
];

describe.skipIf(why !== "")("exportTorch: the PyTorch model computes what qat-ts computes", () => {
  afterAll(removeTempDirs);
  for (const [name, make, qc, shape, [evalBound, trainBound], src] of cases) {
    it(name, () => {
      const qm = trained(make, qc, shape);
      const dir = tempDir("parity");
      exportTorch(qm, dir, "model" in src ? { model: src.model } : {});
      manualSeed(11);
      const x = randn([16, ...shape.slice(1)]);
      saveSafetensors(path.join(dir, "x.safetensors"), { x });
      const reference = qm.stateDict();
      runPy(dir, ["predict.py", "--input", "x.safetensors", "--modes", "frozen,eval,train", "--out-dir", "pred"]);
      for (const mode of ["frozen", "eval", "train"] as const) {
        // the same forward in qat-ts, on the exported state (a fresh prepare of the same model +
        // the state; importTorch is checked in torch-codegen.test.ts and torch-ddp.test.ts)
        const ours = prepareQat("rebuild" in src ? src.rebuild() : make(), { qconfig: qconfigByName(presetOf(qc)), example: randn([2, ...shape.slice(1)]) });
        ours.loadStateDict(reference);
        if (qc.endsWith("+frozen-bn")) freezeBnStats(ours);
        expect(stateDiff(reference, ours.stateDict())).toEqual([]);
        ours.train(mode === "train");
        if (mode === "frozen") disableObserver(ours);
        const y = noGrad(() => ours.forward(x));
        const yt = loadSafetensors(path.join(dir, "pred", `y_${mode}.safetensors`)).y;
        const after = loadSafetensors(path.join(dir, "pred", `state_${mode}.safetensors`));
        const q = inQuanta(y, yt, outScale(ours));
        const st = stateRelDiff(ours.stateDict(), after);
        console.log(`[torch parity] ${name}, ${mode} forward: max ${q.max.toFixed(3)} quanta, ${(q.exact * 100).toFixed(1)} % identical; state: ${st.identical}/${st.keys} keys identical, worst ${st.worst.toExponential(2)} (${st.key})`);
        const bound = { frozen: 1, eval: evalBound, train: trainBound }[mode];
        if (bound !== null) expect(q.max).toBeLessThanOrEqual(bound + 1e-4);
        if (mode === "frozen") {
          expect(q.exact).toBeGreaterThanOrEqual(0.95);
          expect(top1(y.data, yt.data, y.shape[1])).toBe(1);
          expect(st.worst).toBe(0);
        }
        if (mode === "eval") expect(st.worst).toBeLessThanOrEqual(1e-4);
      }
    }, 120_000);
  }
});
