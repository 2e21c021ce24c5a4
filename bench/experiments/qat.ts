/**
 * Issue-5/6 experiment: from the 3-epoch fp32 SmallCNN checkpoint (bench/experiments/fp32.ts),
 * on the full Fashion-MNIST test set:
 *   float control  1 more epoch at lr 0.005 (timed: the float step cost)
 *   PTQ            prepare + calibrate 16 batches → fake-quant and converted int8 accuracy
 *   QAT            prepare + calibrate + 1 epoch lr 0.005, BN frozen at 60 %, observers at 80 %
 *                  → fake-quant accuracy, converted Int8Model accuracy, top-1 agreement, time
 * for the variants given by --variants (x86, w4a8, w4a4, w2a4; LSQ for the low-bit ones).
 *   node --import tsx bench/experiments/qat.ts --variants x86,w4a8 [--seed 0] [--out /tmp/qat-exp] [--qat-epochs 1]
 *     [--freeze-bn 0.6] [--freeze-obs 0.8] [--lsq-learn-all no] [--control yes]
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import "../../src/index.js";
import { fashionMnist } from "../../src/data/fs.js";
import { DataLoader } from "../../src/data/loader.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import type { Module } from "../../src/nn/module.js";
import { SGD } from "../../src/optim/sgd.js";
import { manualSeed } from "../../src/tensor/random.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { Trainer, type TrainerCallbacks, evaluate, evaluatePredictor } from "../../src/train/trainer.js";
import { subset } from "../../src/data/dataset.js";
import { loadCheckpoint } from "../../src/train/fs.js";
import { autoProgress } from "../../src/train/progress-node.js";
import { prepareQat, type QConfig, type QConfigOverride } from "../../src/quant/prepare.js";
import { qconfigFor, qconfigs } from "../../src/quant/qconfig.js";
import { calibrate } from "../../src/quant/calibrate.js";
import { LearnableFakeQuantize } from "../../src/quant/lsq.js";
import { MovingAverageMinMaxObserver } from "../../src/quant/observer.js";
import { convert } from "../../src/quant/convert.js";
import { disableObserver, qatSchedule } from "../../src/quant/schedule.js";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const seed = Number(arg("seed", "0"));
const out = arg("out", "/tmp/qat-exp");
const variants = arg("variants", "x86").split(",").filter((v) => v !== "");
const withControl = arg("control", "yes") === "yes";
const qatEpochs = Number(arg("qat-epochs", "1"));
/** "yes": LSQ quantizers stop copying their observer's estimate right after calibration (learned for the whole run). */
const lsqLearnAll = arg("lsq-learn-all", "no") === "yes";
/** Schedule as fractions of the QAT steps (DESIGN.md §6: BN frozen at 60 %, observers at 80 %). */
const freezeBn = Number(arg("freeze-bn", "0.6"));
const freezeObs = Number(arg("freeze-obs", "0.8"));
const tag = `${lsqLearnAll ? "-learnall" : ""}${freezeBn !== 0.6 || freezeObs !== 0.8 ? `-bn${freezeBn}-obs${freezeObs}` : ""}`;
const full = fashionMnist(arg("data", "/usr/share/datasets/fashion-mnist"));
const limit = Number(arg("limit", "0"));
const train = limit ? subset(full.train, Array.from({ length: limit }, (_, i) => i)) : full.train;
const test = limit ? subset(full.test, Array.from({ length: limit / 2 }, (_, i) => i)) : full.test;
const testLoader = new DataLoader(test, { batchSize: 500 });
const ckpt = loadCheckpoint(path.join(out, `fp32-3ep-seed${seed}.safetensors`));

const w4a4 = () => qconfigFor({ name: "w4a4-lsq", weightBits: 4, activationBits: 4, lsqWeights: true, lsqActivations: true });
/** Per-variant overrides: "-in8" keeps the (natively 8-bit) input image at 8 bits. */
const OVERRIDES: Record<string, QConfigOverride[]> = {
  "w4a4-in8": [{ name: "quant", qconfig: qconfigs.onednn }],
  "w4a4-in8-fc8": [{ name: "quant", qconfig: qconfigs.onednn }, { name: "fc2", qconfig: qconfigs.onednn }],
  // The input image has negative values (normalised): it keeps the affine 4-bit LSQ+ quantizer.
  "w4a4-zp0": [{ name: "quant", qconfig: w4a4() }],
};

/** W4A4 with LSQ+ activations initialised from the calibration min/max instead of 2·mean|x|/√Qp. */
const w4a4MinMaxInit = (): QConfig => {
  const base = w4a4();
  return {
    ...base,
    name: "w4a4-lsq-minmax-init",
    activation: () => new LearnableFakeQuantize({
      observer: MovingAverageMinMaxObserver, quantMin: 0, quantMax: 15, dtype: "uint8", qscheme: "per_tensor_affine", useGradScaling: true, initMode: "minmax",
    }).enableParamLearning(),
  };
};

/** W4A4 with textbook LSQ activations: unsigned [0, 15], zero point fixed at 0 (scale learned only). */
const w4a4ZeroZp = (): QConfig => ({
  ...w4a4(),
  name: "w4a4-lsq-zp0",
  activation: () => new LearnableFakeQuantize({
    observer: MovingAverageMinMaxObserver, quantMin: 0, quantMax: 15, dtype: "uint8", qscheme: "per_tensor_symmetric", useGradScaling: true, initMode: "lsq",
  }).enableParamLearning(),
});

const QCONFIGS: Record<string, () => QConfig> = {
  "w4a4-mminit": w4a4MinMaxInit,
  "w4a4-zp0": w4a4ZeroZp,
  "w4a4-in8": w4a4,
  "w4a4-in8-fc8": w4a4,
  x86: () => qconfigs.x86,
  onednn: () => qconfigs.onednn,
  w4a8: () => qconfigs.w4a8,
  w4a4,
  w2a4: () => qconfigFor({ name: "w2a4-lsq", weightBits: 2, activationBits: 4, lsqWeights: true, lsqActivations: true }),
  "w4a4-lsqw": () => qconfigFor({ name: "w4a4-lsqw", weightBits: 4, activationBits: 4, lsqWeights: true }),
  "w2a4-lsqw": () => qconfigFor({ name: "w2a4-lsqw", weightBits: 2, activationBits: 4, lsqWeights: true }),
};

function freshFloat(): Module {
  const m = smallCnn();
  m.loadStateDict(ckpt.model);
  return m;
}

function oneEpoch(model: Module, callbacks: TrainerCallbacks[] = [], epochs = 1) {
  const loader = new DataLoader(train, { batchSize: 64, shuffle: true, seed: seed + 11 });
  const opt = new SGD(model.parameters(), { lr: 0.005, momentum: 0.9 });
  const trainer = new Trainer({ model, optimizer: opt, label: "epoch", callbacks, progress: autoProgress() });
  const t0 = performance.now();
  trainer.fit(loader, { epochs });
  return { seconds: (performance.now() - t0) / 1e3, steps: loader.length };
}

function top1(a: Float32Array | Float64Array, b: Float32Array | Float64Array, c: number): number {
  let agree = 0;
  const n = a.length / c;
  for (let i = 0; i < n; i++) {
    let ia = 0;
    let ib = 0;
    for (let j = 1; j < c; j++) {
      if (a[i * c + j] > a[i * c + ia]) ia = j;
      if (b[i * c + j] > b[i * c + ib]) ib = j;
    }
    if (ia === ib) agree++;
  }
  return agree;
}

const results: Record<string, unknown> = { seed };
const log = (k: string, v: unknown) => {
  results[k] = v;
  console.log(JSON.stringify({ [k]: v }));
  writeFileSync(path.join(out, `qat-seed${seed}-${variants.join("_")}${tag}.json`), JSON.stringify(results, null, 2));
};

manualSeed(seed);
if (withControl) {
  const float = freshFloat();
  const t = oneEpoch(float, [], qatEpochs);
  log(`floatControl${qatEpochs > 1 ? `-${qatEpochs}ep` : ""}`, { accuracy: evaluate(float, testLoader).accuracy, ...t });
}
for (const v of variants) {
  const qc = QCONFIGS[v]();
  // PTQ
  const ptq = prepareQat(freshFloat(), { qconfig: qc, overrides: OVERRIDES[v] });
  calibrate(ptq, new DataLoader(train, { batchSize: 64, shuffle: true, seed: seed + 5 }), { batches: 16 });
  disableObserver(ptq);
  const ptqFq = evaluate(ptq, testLoader).accuracy;
  let ptqInt8: number | null = null;
  try {
    ptqInt8 = evaluatePredictor((x) => convert(ptq).run(x), new DataLoader(test, { batchSize: 10000 })).accuracy;
  } catch (e) {
    ptqInt8 = null;
    console.error(`PTQ convert failed for ${v}: ${(e as Error).message}`);
  }
  log(`${v}.ptq`, { fakeQuantAccuracy: ptqFq, int8Accuracy: ptqInt8 });
  // QAT
  manualSeed(seed);
  const qm = prepareQat(freshFloat(), { qconfig: qc, overrides: OVERRIDES[v] });
  calibrate(qm, new DataLoader(train, { batchSize: 64, shuffle: true, seed: seed + 5 }), { batches: 16 });
  if (lsqLearnAll) for (const [, mod] of qm.namedModules()) if (mod instanceof LearnableFakeQuantize) mod.toggleObserverUpdate(false);
  const steps = Math.ceil(train.length / 64) * qatEpochs;
  const t = oneEpoch(qm, [qatSchedule(qm, { freezeBnStep: Math.floor(steps * freezeBn), freezeObserverStep: Math.floor(steps * freezeObs) })], qatEpochs);
  qm.eval();
  const fq = evaluate(qm, testLoader).accuracy;
  const int8 = convert(qm);
  let agreeCount = 0;
  for (const { x } of testLoader) agreeCount += top1(noGrad(() => qm.forward(x)).data as Float32Array, int8.run(x).data as Float32Array, 10);
  const intAcc = evaluatePredictor((x) => int8.run(x), testLoader).accuracy;
  const agree = agreeCount / test.length;
  const floatBytes = freshFloat().parameters().reduce((s, p) => s + p.size * 4, 0);
  log(`${v}.qat${qatEpochs > 1 ? `-${qatEpochs}ep` : ""}${tag}`, { fakeQuantAccuracy: fq, int8Accuracy: intAcc, top1Agreement: agree, int8Bytes: int8.sizeBytes, floatParamBytes: floatBytes, ...t });
}
console.log(JSON.stringify({ done: true }));
