/**
 * Issue-18 experiment: the small ViT of the issue (vitTiny: 28×28, 7×7 patches, width 64,
 * 4 pre-norm GELU layers) on Fashion-MNIST, trained in float with Adam, then each
 * quantization scheme from that one float checkpoint, evaluated on the test set:
 *
 *   float              the float model
 *   float-control      the float model trained --qat-epochs more at the QAT learning rate (the
 *                      fair reference for the QAT rows)
 *   int8 PTQ / QAT     static int8 (x86 preset): per-channel weights, every activation incl.
 *                      Q·Kᵀ and P·V quantized; LayerNorm, softmax, GELU float islands
 *   dynamic int8       quant.quantizeDynamic (int8 per-channel weights, activations per batch at
 *                      run time) — PTQ only, as torch.ao.quantization.quantize_dynamic
 *   8da4w PTQ / QAT    int8 per-token dynamic activations, int4 weights in groups of 32
 *   int4wo PTQ / QAT   int4 weight-only, groups of 32
 *   int8-ptq-integer / int8-qat-integer   the same int8 model converted with the integer-only
 *                      softmax and LayerNorm (convert's integerOps; after int8-ptq / int8-qat in
 *                      one run they reuse that run's calibrated / trained model, so the two rows
 *                      differ only in the conversion)
 *
 * Each row reports the fake-quant accuracy and the converted Int8Model's accuracy (the model
 * that is deployed), and the time of its QAT epoch. QAT: Adam lr 1e-4 for --qat-epochs.
 *   node --import tsx bench/experiments/vit.ts [--epochs 5] [--qat-epochs 1] [--limit 0] [--seed 0] [--out /tmp/vit-exp]
 *     [--variants float,int8-ptq,int8-qat,dynamic,8da4w-ptq,8da4w-qat,int4wo-ptq,int4wo-qat,int8-ptq-integer,int8-qat-integer]
 * Writes <out>/vit-results-seed<seed>.json (a row per variant as it finishes) and prints a table.
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import "../../src/index.js";
import { SCHEMES, arg, convertVariant, resultRows, runVariants } from "./rows.js";
import { fashionMnist } from "../../src/data/fs.js";
import { DataLoader } from "../../src/data/loader.js";
import { subset } from "../../src/data/dataset.js";
import { vitTiny } from "../../src/nn/models/vit.js";
import type { Module } from "../../src/nn/module.js";
import { Conv2d } from "../../src/nn/layers/conv.js";
import { loadSafetensors, saveSafetensors } from "../../src/nn/fs.js";
import { Adam } from "../../src/optim/adam.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { manualSeed } from "../../src/tensor/random.js";
import { evaluate, evaluatePredictor } from "../../src/train/evaluate.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { calibrate } from "../../src/quant/calibrate.js";
import { quantizeDynamic } from "../../src/quant/quantize-dynamic.js";
import type { QatModel } from "../../src/quant/stubs.js";

const seed = Number(arg("seed", "0"));
const out = arg("out", "/tmp/vit-exp");
const epochs = Number(arg("epochs", "5"));
const qatEpochs = Number(arg("qat-epochs", "1"));
const limit = Number(arg("limit", "0"));
const variants = arg("variants", "float,float-control,int8-ptq,int8-qat,dynamic,8da4w-ptq,8da4w-qat,int4wo-ptq,int4wo-qat").split(",");
mkdirSync(out, { recursive: true });

const full = fashionMnist(arg("data", "/usr/share/datasets/fashion-mnist"));
const train = limit ? subset(full.train, Array.from({ length: limit }, (_, i) => i)) : full.train;
const test = limit ? subset(full.test, Array.from({ length: Math.min(10000, limit) }, (_, i) => i)) : full.test;
const testLoader = new DataLoader(test, { batchSize: 500 });
const loader = (s: number) => new DataLoader(train, { batchSize: 128, shuffle: true, seed: s });

interface Row {
  variant: string;
  fakeQuant: number;
  int8: number | null;
  islands?: string[];
  seconds: number;
}
const { rows, record } = resultRows<Row>(path.join(out, `vit-results-seed${seed}.json`), (r) => `[vit] ${r.variant}: fake-quant ${(100 * r.fakeQuant).toFixed(2)} %, Int8Model ${r.int8 === null ? "—" : (100 * r.int8).toFixed(2) + " %"}, ${r.seconds.toFixed(0)} s`);

function trainEpochs(model: Module, n: number, lr: number, label: string, s: number): void {
  const opt = new Adam(model.parameters(), { lr });
  model.train();
  for (let e = 0; e < n; e++) {
    let steps = 0, loss = 0;
    const t = performance.now();
    for (const { x, y } of loader(s + e)) {
      opt.zeroGrad();
      const l = crossEntropy(model.forward(x), y);
      l.backward();
      opt.step();
      loss += l.item();
      steps++;
    }
    console.log(`[vit] ${label} epoch ${e + 1}/${n}: loss ${(loss / steps).toFixed(4)}, ${((performance.now() - t) / 1000).toFixed(0)} s`);
  }
}

// float: trained once per seed, reused by every scheme
const ckpt = path.join(out, `vit-float-${epochs}ep-seed${seed}.safetensors`);
const makeFloat = (): Module => {
  manualSeed(seed);
  const m = vitTiny();
  if (existsSync(ckpt)) m.loadStateDict(loadSafetensors(ckpt));
  return m;
};
if (!existsSync(ckpt)) {
  const t = performance.now();
  const m = makeFloat();
  trainEpochs(m, epochs, 1e-3, "float", seed + 100);
  saveSafetensors(ckpt, m.stateDict());
  record({ variant: "float", fakeQuant: evaluate(m, testLoader).accuracy, int8: null, seconds: (performance.now() - t) / 1000 });
} else if (variants.includes("float") && !rows.some((r) => r.variant === "float")) {
  record({ variant: "float", fakeQuant: evaluate(makeFloat(), testLoader).accuracy, int8: null, seconds: 0 });
}

const calibration = () => [...loader(seed + 7)].slice(0, 8);

/** Calibrated / trained QAT models by variant, for the -integer variants of the same run. */
const prepared = new Map<string, { qm: QatModel; fq: number; seconds: number }>();

function runScheme(variant: string): void {
  const [scheme, mode, integer] = variant.split("-");
  const t = performance.now();
  if (variant === "float-control") {
    // the float model trained as long as QAT trains (Adam lr 1e-4, --qat-epochs): the fair reference for QAT rows
    const m = makeFloat();
    trainEpochs(m, qatEpochs, 1e-4, variant, seed + 200);
    record({ variant, fakeQuant: evaluate(m, testLoader).accuracy, int8: null, seconds: (performance.now() - t) / 1000 });
    return;
  }
  if (scheme === "dynamic") {
    const dq = quantizeDynamic(makeFloat());
    record({ variant, fakeQuant: evaluate(dq, testLoader).accuracy, int8: null, seconds: (performance.now() - t) / 1000 });
    return;
  }
  const base = `${scheme}-${mode}`;
  let p = prepared.get(base);
  if (!p) {
    const float = makeFloat();
    float.eval();
    // torchao's 8da4w / int4 weight-only quantize Linear layers: the patch-embedding conv stays float there
    const overrides = scheme === "int8" ? [] : [{ type: Conv2d, qconfig: null }];
    const qm: QatModel = prepareQat(float, { qconfig: SCHEMES[scheme](), example: calibration()[0].x, overrides });
    calibrate(qm, calibration(), { batches: 8 });
    if (mode === "qat") trainEpochs(qm, qatEpochs, 1e-4, variant, seed + 200);
    p = { qm, fq: evaluate(qm, testLoader).accuracy, seconds: (performance.now() - t) / 1000 };
    prepared.set(base, p);
  }
  const c = performance.now();
  const { int8, islands } = convertVariant(p.qm, integer);
  const acc = evaluatePredictor((x) => int8.run(x), testLoader).accuracy;
  record({ variant, fakeQuant: p.fq, int8: acc, islands, seconds: p.seconds + (performance.now() - c) / 1000 });
}

runVariants(variants, runScheme, "vit");
console.log("\n| variant | fake-quant acc | Int8Model acc | Δ vs float (Int8Model) | time |\n|---|---|---|---|---|");
const floatAcc = rows.find((r) => r.variant === "float")?.fakeQuant ?? NaN;
for (const r of rows) {
  const deployed = r.int8 ?? r.fakeQuant;
  console.log(`| ${r.variant} | ${(100 * r.fakeQuant).toFixed(2)} % | ${r.int8 === null ? "—" : (100 * r.int8).toFixed(2) + " %"} | ${r.variant === "float" ? "" : (100 * (deployed - floatAcc)).toFixed(2)} | ${r.seconds.toFixed(0)} s |`);
}
