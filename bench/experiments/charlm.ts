/**
 * Issue-18 experiment: a character-level transformer language model (zoo `charTransformer`:
 * embedding + learned positions, causal pre-norm GELU encoder, LayerNorm, Linear head) on the
 * English text of Debian's license files — the 14 regular files of /usr/share/common-licenses
 * (package base-files; the GPL/LGPL/GFDL symlinks skipped so no text repeats), the last 10 % of
 * the characters held out. Bits per character (held-out cross-entropy / ln 2) for:
 *
 *   float · float-control (--qat-steps more float training: the reference for QAT) · int8 PTQ / QAT (static: both attention products in int8, LayerNorm / softmax / GELU
 *   float islands) · dynamic int8 · 8da4w PTQ / QAT · int4 weight-only PTQ / QAT · int8-ptq-integer / int8-qat-integer
 *   (the same int8 model converted with the integer-only softmax and LayerNorm, convert's integerOps; after int8-ptq /
 *   int8-qat in one run they reuse that run's calibrated / trained model, so the rows differ only in the conversion)
 *
 * reported for the fake-quant model and the converted Int8Model.
 *   node --import tsx bench/experiments/charlm.ts [--steps 3000] [--qat-steps 600] [--context 64] [--seed 0] [--out /tmp/charlm-exp] [--variants …]
 * Writes <out>/charlm-results-seed<seed>.json (a row per variant as it finishes) and prints a table.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import "../../src/index.js";
import { SCHEMES, arg, convertVariant, resultRows, runVariants } from "./rows.js";
import { charTransformer } from "../../src/nn/models/vit.js";
import type { Module } from "../../src/nn/module.js";
import { loadSafetensors, saveSafetensors } from "../../src/nn/fs.js";
import { Adam } from "../../src/optim/adam.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { Generator, manualSeed } from "../../src/tensor/random.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { calibrate } from "../../src/quant/calibrate.js";
import type { QatModel } from "../../src/quant/stubs.js";
import { quantizeDynamic } from "../../src/quant/quantize-dynamic.js";

const seed = Number(arg("seed", "0"));
const out = arg("out", "/tmp/charlm-exp");
const steps = Number(arg("steps", "3000"));
const qatSteps = Number(arg("qat-steps", "600"));
const context = Number(arg("context", "64"));
const batch = 32;
const variants = arg("variants", "float,float-control,int8-ptq,int8-qat,dynamic,8da4w-ptq,8da4w-qat,int4wo-ptq,int4wo-qat").split(",");
mkdirSync(out, { recursive: true });

// the corpus: regular files only, in name order
const dir = arg("corpus", "/usr/share/common-licenses");
const files = readdirSync(dir).sort().filter((f) => lstatSync(path.join(dir, f)).isFile());
const text = files.map((f) => readFileSync(path.join(dir, f), "utf8")).join("\n");
const chars = [...new Set(text)].sort();
const vocab = chars.length;
const codes = Int32Array.from(text, (c) => chars.indexOf(c));
const split = Math.floor(codes.length * 0.9);
console.log(`[charlm] corpus ${dir}: ${files.length} files, ${codes.length} characters, vocabulary ${vocab}; train ${split}, held out ${codes.length - split}`);

const gen = new Generator(seed + 1);
/** A batch of random training windows: ids [B, T] and next-character targets [B·T]. */
function trainBatch(): { x: Tensor; y: Tensor } {
  const x = new Int32Array(batch * context), y = new Int32Array(batch * context);
  for (let b = 0; b < batch; b++) {
    const s = gen.int(0, split - context - 1);
    x.set(codes.subarray(s, s + context), b * context);
    y.set(codes.subarray(s + 1, s + context + 1), b * context);
  }
  return { x: new Tensor(x, [batch, context]), y: new Tensor(y, [batch * context]) };
}
/** Non-overlapping held-out windows. */
const heldOut: { x: Tensor; y: Tensor }[] = [];
for (let s = split; s + context + 1 <= codes.length; s += context * 50) {
  const n = Math.min(50, Math.floor((codes.length - 1 - s) / context));
  const x = new Int32Array(n * context), y = new Int32Array(n * context);
  for (let b = 0; b < n; b++) {
    x.set(codes.subarray(s + b * context, s + (b + 1) * context), b * context);
    y.set(codes.subarray(s + b * context + 1, s + (b + 1) * context + 1), b * context);
  }
  heldOut.push({ x: new Tensor(x, [n, context]), y: new Tensor(y, [n * context]) });
}

const lossOf = (logits: Tensor, y: Tensor) => crossEntropy(logits.reshape([-1, vocab]), y);
/** Held-out bits per character of a predictor (logits [N, T, vocab]). */
function bpc(run: (x: Tensor) => Tensor): number {
  let nats = 0, count = 0;
  noGrad(() => {
    for (const { x, y } of heldOut) {
      nats += lossOf(run(x), y).item() * y.size;
      count += y.size;
    }
  });
  return nats / count / Math.LN2;
}

function trainSteps(model: Module, n: number, lr: number, label: string): void {
  const opt = new Adam(model.parameters(), { lr });
  model.train();
  let acc = 0;
  const t = performance.now();
  for (let s = 1; s <= n; s++) {
    const { x, y } = trainBatch();
    opt.zeroGrad();
    const l = lossOf(model.forward(x), y);
    l.backward();
    opt.step();
    acc += l.item();
    if (s % 200 === 0) {
      console.log(`[charlm] ${label} step ${s}/${n}: train loss ${(acc / 200).toFixed(4)} nats, ${((performance.now() - t) / 1000).toFixed(0)} s`);
      acc = 0;
    }
  }
  model.eval();
}

interface Row {
  variant: string;
  bpcFakeQuant: number;
  bpcInt8: number | null;
  islands?: string[];
  seconds: number;
}
const { rows, record } = resultRows<Row>(path.join(out, `charlm-results-seed${seed}.json`), (r) => `[charlm] ${r.variant}: fake-quant ${r.bpcFakeQuant.toFixed(4)} bpc, Int8Model ${r.bpcInt8 === null ? "—" : r.bpcInt8.toFixed(4) + " bpc"}, ${r.seconds.toFixed(0)} s`);

const opts = { vocab, context, dim: 64, depth: 2, heads: 4, mlpDim: 128 };
const ckpt = path.join(out, `charlm-float-${steps}steps-seed${seed}.safetensors`);
const makeFloat = (): Module => {
  manualSeed(seed);
  const m = charTransformer(opts);
  if (existsSync(ckpt)) m.loadStateDict(loadSafetensors(ckpt));
  m.eval();
  return m;
};
if (!existsSync(ckpt)) {
  const t = performance.now();
  const m = makeFloat();
  trainSteps(m, steps, 1e-3, "float");
  saveSafetensors(ckpt, m.stateDict());
  record({ variant: "float", bpcFakeQuant: bpc((x) => m.forward(x)), bpcInt8: null, seconds: (performance.now() - t) / 1000 });
}

/** Calibrated / trained QAT models by variant, for the -integer variants of the same run. */
const prepared = new Map<string, { qm: QatModel; fq: number; seconds: number }>();

function runScheme(variant: string): void {
  const [scheme, mode, integer] = variant.split("-");
  const t = performance.now();
  if (variant === "float-control") {
    // the float model trained --qat-steps more at the QAT learning rate: the fair reference for the QAT rows
    const m = makeFloat();
    trainSteps(m, qatSteps, 1e-4, variant);
    record({ variant, bpcFakeQuant: bpc((x) => m.forward(x)), bpcInt8: null, seconds: (performance.now() - t) / 1000 });
    return;
  }
  if (scheme === "dynamic") {
    const dq = quantizeDynamic(makeFloat());
    record({ variant, bpcFakeQuant: bpc((x) => dq.forward(x)), bpcInt8: null, seconds: (performance.now() - t) / 1000 });
    return;
  }
  const base = `${scheme}-${mode}`;
  let p = prepared.get(base);
  if (!p) {
    const qm = prepareQat(makeFloat(), { qconfig: SCHEMES[scheme]() });
    qm.train();
    calibrate(qm, Array.from({ length: 8 }, () => trainBatch()), { batches: 8 });
    if (mode === "qat") trainSteps(qm, qatSteps, 1e-4, variant);
    qm.eval();
    p = { qm, fq: bpc((x) => qm.forward(x)), seconds: (performance.now() - t) / 1000 };
    prepared.set(base, p);
  }
  const c = performance.now();
  const { int8, islands } = convertVariant(p.qm, integer);
  record({ variant, bpcFakeQuant: p.fq, bpcInt8: bpc((x) => int8.run(x)), islands, seconds: p.seconds + (performance.now() - c) / 1000 });
}

runVariants(variants, runScheme, "charlm");
console.log("\n| variant | fake-quant bpc | Int8Model bpc | Δ vs float (deployed) | time |\n|---|---|---|---|---|");
const floatBpc = rows.find((r) => r.variant === "float")?.bpcFakeQuant ?? NaN;
for (const r of rows) {
  const deployed = r.bpcInt8 ?? r.bpcFakeQuant;
  console.log(`| ${r.variant} | ${r.bpcFakeQuant.toFixed(4)} | ${r.bpcInt8 === null ? "—" : r.bpcInt8.toFixed(4)} | ${r.variant === "float" ? "" : (deployed - floatBpc >= 0 ? "+" : "") + (deployed - floatBpc).toFixed(4)} | ${r.seconds.toFixed(0)} s |`);
}
