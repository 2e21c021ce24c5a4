/**
 * The `smallcnn` and `resnet20` bench suites: training steps (and, for SmallCNN, inference)
 * side by side with the PyTorch peer (bench/peers/torch_peer.py) on the same batches, at one
 * thread each and at all cores, wasm backend. SmallCNN (DESIGN.md §6) on Fashion-MNIST (Debian
 * dataset-fashion-mnist when installed, else the embedded sample): FP32 and QAT (onednn preset
 * on both sides) training at batch 64, FP32 inference and int8 inference (our converted
 * Int8Model vs PyTorch's converted model on its onednn engine) at batch 256. ResNet-20 on
 * 3×32×32 random images, batch 32: FP32 and QAT training. Cases for bench/paired.ts; called by
 * bench/run.ts.
 */
import { existsSync } from "node:fs";
import { SGD } from "../src/optim/sgd.js";
import { smallCnn } from "../src/nn/models/small-cnn.js";
import { resnet20 } from "../src/nn/models/resnet.js";
import { vitTiny } from "../src/nn/models/vit.js";
import type { Module } from "../src/nn/module.js";
import { crossEntropy } from "../src/ops/loss.js";
import { manualSeed } from "../src/tensor/random.js";
import { noGrad } from "../src/tensor/grad-mode.js";
import { randint, randn } from "../src/tensor/creation.js";
import type { Tensor } from "../src/tensor/tensor.js";
import { prepareQat } from "../src/quant/prepare.js";
import { qconfigs } from "../src/quant/qconfig.js";
import { convert } from "../src/quant/convert.js";
import { fashionMnist } from "../src/data/fs.js";
import { fashionMnistSample } from "../src/datasets/fashion-mnist-sample.js";
import { timeit } from "./paired.js";
import type { PairedCase, PairedRun } from "./paired.js";
import { median } from "./paired.js";
import type { TorchPeer } from "./torch-peer.js";
import "../src/index.js";

const DATA = "/usr/share/datasets/fashion-mnist";
const TRAIN_SECONDS = 1.5;
const INFER_SECONDS = 1.0;

interface TrainData { batches: { x: Tensor; y: Tensor }[]; batch: number }

/** One SGD step per call, cycling over the batches of `data`. */
function stepper(model: Module, data: TrainData): () => void {
  const opt = new SGD(model.parameters(), { lr: 0.005, momentum: 0.9 });
  const { batches } = data;
  const n = batches.length;
  let i = 0;
  return () => {
    model.train();
    const { x, y } = batches[i++ % n];
    opt.zeroGrad();
    crossEntropy(model.forward(x), y).backward();
    opt.step();
  };
}

/** The peer request fields that point it at the same training batches. */
function peerData(peer: TorchPeer, data: TrainData): Record<string, unknown> {
  const xs = data.batches.map((b) => b.x.toFloat32Array());
  const x = new Float32Array(xs.reduce((n, a) => n + a.length, 0));
  xs.reduce((off, a) => (x.set(a, off), off + a.length), 0);
  const y = Int32Array.from(data.batches.flatMap((b) => Array.from(b.y.toFloat32Array())));
  const shape = [data.batches.length * data.batch, ...data.batches[0].x.shape.slice(1)];
  return { x: peer.writeArray(x), y: peer.writeArray(y), shape, batch: data.batch };
}

function trainingCases(name: string, make: () => Module, data: TrainData, peer: TorchPeer | null, threads: number[], model: string, withQat = true): PairedCase[] {
  manualSeed(0);
  const float = make();
  const fStep = stepper(float, data);
  const kinds: [string, () => void, boolean][] = [["FP32", fStep, false]];
  if (withQat) {
    const qm = prepareQat(make(), { qconfig: qconfigs.onednn });
    noGrad(() => qm.forward(data.batches[0].x));
    kinds.push(["QAT (onednn)", stepper(qm, data), true]);
  }
  const req = peer ? peerData(peer, data) : {};
  const cases: PairedCase[] = [];
  for (const t of threads) {
    for (const [kind, step, qat] of kinds) {
      cases.push({
        label: `${name} ${kind} training step, batch ${data.batch}`, threads: t, unit: "img/s", work: data.batch,
        ours: () => timeit(step, TRAIN_SECONDS, 5),
        peer: peer && (() => peer.seconds({ op: "train", model, qat, threads: t, min_time: TRAIN_SECONDS, ...req })),
      });
    }
  }
  return cases;
}

function fashionBatches(): { train: TrainData; x256: Tensor } {
  const d = existsSync(DATA) ? fashionMnist(DATA) : fashionMnistSample();
  const batches = Array.from({ length: 40 }, (_, b) => d.train.getBatch(Array.from({ length: 64 }, (_, i) => b * 64 + i)));
  return { train: { batches, batch: 64 }, x256: d.test.getBatch(Array.from({ length: 256 }, (_, i) => i)).x };
}

export function smallCnnCases(peer: TorchPeer | null, threads: number[]): PairedCase[] {
  const { train, x256 } = fashionBatches();
  const cases = trainingCases("SmallCNN", () => smallCnn(), train, peer, threads, "smallcnn");
  manualSeed(0);
  const float = smallCnn().eval();
  const qm = prepareQat(smallCnn(), { qconfig: qconfigs.onednn });
  const qStep = stepper(qm, train);
  for (let i = 0; i < 3; i++) qStep(); // a few QAT steps before conversion, as on the peer's side
  qm.eval();
  const int8 = convert(qm);
  const req = peer ? { model: "smallcnn", x: peer.writeArray(x256.toFloat32Array()), shape: [...x256.shape], train: peerData(peer, train) } : {};
  for (const t of threads) {
    cases.push({
      label: "SmallCNN FP32 inference, batch 256", threads: t, unit: "ms",
      ours: () => timeit(() => noGrad(() => float.forward(x256)), INFER_SECONDS, 5),
      peer: peer && (() => peer.seconds({ op: "infer", int8: false, threads: t, min_time: INFER_SECONDS, ...req })),
    });
    cases.push({
      label: "SmallCNN int8 inference, batch 256 (Int8Model vs PyTorch onednn)", threads: t, unit: "ms",
      ours: () => timeit(() => int8.run(x256), INFER_SECONDS, 5),
      peer: peer && (() => peer.seconds({ op: "infer", int8: true, threads: t, min_time: INFER_SECONDS, ...req })),
    });
  }
  return cases;
}

export function resnet20Cases(peer: TorchPeer | null, threads: number[]): PairedCase[] {
  manualSeed(1);
  const batches = Array.from({ length: 8 }, () => ({ x: randn([32, 3, 32, 32]), y: randint(0, 10, [32], { dtype: "int32" }) }));
  const data = { batches, batch: 32 };
  return trainingCases("ResNet-20", () => resnet20({ inChannels: 3 }), data, peer, threads, "resnet20");
}

/** The issue-18 ViT (vitTiny: 28×28, 7×7 patches, width 64, 4 layers) FP32 training step, batch 64, vs PyTorch's same model (bench/peers/vit_torch.py). */
export function vitCases(peer: TorchPeer | null, threads: number[]): PairedCase[] {
  const { train } = fashionBatches();
  return trainingCases("ViT (vitTiny)", () => vitTiny(), { batches: train.batches.slice(0, 8), batch: train.batch }, peer, threads, "vit", false);
}

/** Lines under a training table: the QAT step's cost over the FP32 step, both sides (medians). */
export function qatOverFloat(cases: PairedCase[], run: PairedRun): string {
  const lines: string[] = [];
  for (const [i, c] of cases.entries()) {
    if (!c.label.includes("FP32 training")) continue;
    const j = cases.findIndex((d) => d.threads === c.threads && d.label === c.label.replace("FP32", "QAT (onednn)"));
    if (j < 0) continue;
    const [f, q] = [run.results[i], run.results[j]];
    const peer = f.peer.length && q.peer.length ? `, PyTorch ${(median(q.peer) / median(f.peer)).toFixed(2)}×` : "";
    lines.push(`QAT step / FP32 step, ${c.label.split(" FP32")[0]}, ${c.threads} thread(s): qat-ts ${(median(q.ours) / median(f.ours)).toFixed(2)}×${peer}.`);
  }
  return lines.join("\n");
}
