/**
 * Shared by test/onnx/torchvision.test.ts and test/onnx/qdq-layer-parity.test.ts: the narrow
 * torchvision ONNX files of scripts/golden/torchvision_onnx.py (test/golden/onnx/torchvision/),
 * PyTorch's fixed input batch, and one model's QAT pipeline as a user runs it — import,
 * prepareQat (x86), six SGD steps on a fixed random batch, convert — computed once, in order,
 * each step rethrowing an earlier step's failure.
 */
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { randn, tensor } from "../../src/tensor/creation.js";
import { Generator, manualSeed } from "../../src/tensor/random.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { SGD } from "../../src/optim/index.js";
import type { Module } from "../../src/nn/module.js";
import { convert, disableObserver, prepareQat, qconfigs, type QatModel } from "../../src/quant/index.js";
import type { Int8Model } from "../../src/int8/model.js";
import { importModel } from "../../src/onnx/index.js";

export interface GoldenModel {
  file: string;
  /** How the script built it (torchvision class and arguments). */
  built: string;
  parameters: number;
  output: { shape: number[]; data: number[] };
}
export interface GoldenDoc {
  torch_version: string;
  torchvision_version: string;
  input: { file: string; shape: number[] };
  models: Record<string, GoldenModel>;
}

export const TORCHVISION_DIR = join(import.meta.dirname, "..", "golden", "onnx", "torchvision");
export const torchvisionDoc = JSON.parse(readFileSync(join(TORCHVISION_DIR, "torchvision.json"), "utf8")) as GoldenDoc;
const inputBytes = readFileSync(join(TORCHVISION_DIR, torchvisionDoc.input.file));
/** PyTorch's fixed input batch [2, 3, 64, 64] (float32 little-endian in input.bin). */
export const torchvisionInput = tensor(new Float32Array(inputBytes.buffer.slice(inputBytes.byteOffset, inputBytes.byteOffset + inputBytes.byteLength)), { shape: torchvisionDoc.input.shape });

/** `n` N(0, 1) images shaped like the golden input, from our generator with a fixed seed. */
export function randomImages(n: number, seed: number) {
  return randn([n, ...torchvisionDoc.input.shape.slice(1)], { generator: new Generator(seed) });
}

export const onnxBytesOf = (g: GoldenModel) => new Uint8Array(readFileSync(join(TORCHVISION_DIR, g.file)));
export const importFresh = (g: GoldenModel) => (importModel(onnxBytesOf(g)) as Module).eval();

/** One model's pipeline, each stage computed once on first use. */
export class Pipeline {
  private readonly failures = new Map<string, Error>();
  private readonly values = new Map<string, unknown>();
  /** Cross-entropy before each of the six QAT steps. */
  losses: number[] = [];

  constructor(readonly g: GoldenModel) {}

  private get<T>(key: string, make: () => T): T {
    const failed = this.failures.get(key);
    if (failed) throw new Error(`needs ${key}: ${failed.message}`);
    if (!this.values.has(key)) {
      try {
        this.values.set(key, make());
      } catch (e) {
        this.failures.set(key, e as Error);
        throw e;
      }
    }
    return this.values.get(key) as T;
  }

  /** The imported float model (eval mode). */
  model = (): Module => this.get("import", () => importFresh(this.g));

  /** prepareQat(x86) of a fresh import (fake quantization and observers on). */
  qat = (): QatModel =>
    this.get("prepare", () => {
      this.model();
      manualSeed(0);
      return prepareQat(importFresh(this.g), { qconfig: qconfigs.x86 });
    });

  /** The QAT model after six SGD steps (lr 0.01, momentum 0.9) on 8 random images with labels i mod 10. */
  trained = (): QatModel =>
    this.get("QAT steps", () => {
      const qm = this.qat();
      const x = randomImages(8, 7);
      const y = tensor(Int32Array.from({ length: 8 }, (_, i) => i % 10), { shape: [8] });
      const opt = new SGD(qm.parameters(), { lr: 0.01, momentum: 0.9 });
      qm.train();
      for (let i = 0; i < 6; i++) {
        opt.zeroGrad();
        const loss = crossEntropy(qm.forward(x), y);
        loss.backward();
        opt.step();
        this.losses.push(loss.item());
      }
      disableObserver(qm);
      qm.eval();
      return qm;
    });

  /** convert() of the trained model, observers off, traced on the golden input. */
  int8 = (): Int8Model => this.get("convert", () => convert(this.trained(), { example: torchvisionInput }));
}

/** The scale of an Int8Model's output value. */
export const outputScale = (m: Int8Model) => m.value(m.graph.output).q.scale;

/** Share of elements with |a − b| ≤ 1 quantum (with a little float slack). */
export function shareWithinOne(a: ArrayLike<number>, b: ArrayLike<number>, scale: number): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) <= scale * 1.001) n++;
  return n / a.length;
}
