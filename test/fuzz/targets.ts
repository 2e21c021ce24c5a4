/**
 * The loaders under fuzz and their valid seed inputs: safetensors, Int8Model files,
 * checkpoints (decode + Trainer.restore), ONNX (import + one forward), IDX files (raw and
 * gzipped, through readIdxFile) and CLI config files (JSON / YAML through withConfig). Each
 * target mutates a seed with ./mutate.ts and loads the result; anything it throws is judged
 * by test/fuzz/runner.ts (a QatError is fine, anything else is a bug).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import "../../src/index.js";
import { decodeSafetensorsWithMetadata, encodeSafetensors } from "../../src/nn/safetensors.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { Int8Model } from "../../src/int8/model.js";
import type { Int8Graph } from "../../src/int8/graph.js";
import { mlp } from "../../src/nn/models/mlp.js";
import { SGD } from "../../src/optim/sgd.js";
import { Trainer } from "../../src/train/trainer.js";
import { decodeCheckpoint, encodeCheckpoint, requireResumable } from "../../src/train/checkpoint.js";
import { importModel } from "../../src/onnx/index.js";
import { encodeIdx } from "../../src/data/idx.js";
import { readIdxFile } from "../../src/data/fs.js";
import { num, withConfig } from "../../src/cli/common.js";
import { choice } from "../../src/cli/commands/train.js";
import { type Rand, mutateBytes, mutateJson, pick } from "./mutate.js";

export interface Target {
  seeds(): Uint8Array[];
  load(bytes: Uint8Array): void;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "qat-fuzz-"));
const ROOT = path.resolve(import.meta.dirname, "../..");

/** A safetensors file with its header JSON mutated (structure-aware), or its bytes. */
function mutateSafetensors(r: Rand, bytes: Uint8Array, metaKey?: string): Uint8Array {
  const choice = r();
  if (choice < 0.4) return mutateBytes(r, bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const len = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as Record<string, unknown>;
  let next: unknown;
  if (metaKey && choice < 0.8) {
    const meta = header.__metadata__ as Record<string, string>;
    next = { ...header, __metadata__: { ...meta, [metaKey]: JSON.stringify(mutateJson(r, JSON.parse(meta[metaKey]))) } };
  } else next = mutateJson(r, header);
  const text = new TextEncoder().encode(JSON.stringify(next));
  const out = new Uint8Array(8 + text.length + bytes.length - 8 - len);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes.subarray(8 + len), 8 + text.length);
  return out;
}

/** The Int8Model of test/int8/validate.test.ts: conv → max pool → flatten → linear. */
function tinyInt8(): Int8Model {
  const q = () => ({ scale: 0.05, zeroPoint: 10, dtype: "uint8" as const, qmin: 0, qmax: 255 });
  const graph: Int8Graph = {
    input: { id: "x", shape: [-1, 1, 6, 6], q: q() }, output: "y", meta: {},
    values: [
      { id: "x", shape: [-1, 1, 6, 6], q: q() }, { id: "c", shape: [-1, 2, 6, 6], q: q() }, { id: "p", shape: [-1, 2, 3, 3], q: q() },
      { id: "f", shape: [-1, 18], q: q() }, { id: "y", shape: [-1, 3], q: { scale: 0.1, zeroPoint: 0, dtype: "int8", qmin: -128, qmax: 127 } },
    ],
    nodes: [
      { op: "conv2d", name: "conv", inputs: ["x"], output: "c", weight: "cw", wShape: [2, 1, 3, 3], bias: "cb", stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, requant: { multiplier: "cm", shift: "cs" }, clamp: [10, 255], wScales: [0.01, 0.02], weightBits: 8 },
      { op: "maxpool2d", name: "pool", inputs: ["c"], output: "p", kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false },
      { op: "flatten", name: "flat", inputs: ["p"], output: "f", startDim: 1 },
      { op: "linear", name: "fc", inputs: ["f"], output: "y", weight: "lw", wShape: [3, 18], bias: null, requant: { multiplier: "lm", shift: "ls" }, clamp: [-128, 127], wScales: [0.01], weightBits: 8 },
    ],
  };
  return new Int8Model(graph, new Map<string, Int8Array | Int32Array>([
    ["cw", Int8Array.from({ length: 18 }, (_, i) => (i % 7) - 3)], ["cb", Int32Array.from([5, -5])], ["cm", Int32Array.from([1 << 30, 1 << 30])],
    ["cs", Int32Array.from([-3, -4])], ["lw", Int8Array.from({ length: 54 }, (_, i) => (i % 5) - 2)], ["lm", Int32Array.from([1518500250])], ["ls", Int32Array.from([-6])],
  ]));
}

/** A float input for a model whose input is declared `shape` (−1 → 1), or null when it would be large. */
function inputFor(shape: readonly number[]): Tensor | null {
  const s = shape.map((d) => (d < 0 ? 1 : d));
  const n = s.reduce((a, b) => a * b, 1);
  return n > 0 && n <= 1 << 16 ? new Tensor(Float32Array.from({ length: n }, (_, i) => ((i * 37) % 101) / 50 - 1), s) : null;
}

function checkpointSeed(): Uint8Array {
  const model = mlp({ inFeatures: 16, hidden: [8], classes: 3 });
  const trainer = new Trainer({ model, optimizer: new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 }), progress: false });
  trainer.trainStep(new Tensor(new Float32Array(32).fill(0.5), [2, 16]), new Tensor(Int32Array.of(0, 2), [2]));
  return encodeCheckpoint(trainer.toCheckpoint(undefined, { model: { zoo: "mlp" } }));
}

const KNOWN = ["json", "config", "subset", "threads", "backend", "memory", "model", "data", "epochs", "batchSize", "lr", "momentum", "weightDecay", "schedule", "seed", "out", "progress"];

export const TARGETS: Record<string, Target & { mutate(r: Rand, seed: Uint8Array): Uint8Array }> = {
  safetensors: {
    seeds: () => [encodeSafetensors({ a: new Tensor(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3]), b: new Tensor(Int32Array.of(1, -2, 3, 4), [4]), c: new Tensor(Int8Array.of(1, 2, 3, 4), [2, 2]) }, { metadata: { note: "seed" } })],
    mutate: (r, b) => mutateSafetensors(r, b),
    load: (b) => void decodeSafetensorsWithMetadata(b, "fuzz.safetensors"),
  },
  int8: {
    seeds: () => [tinyInt8().encode()],
    mutate: (r, b) => mutateSafetensors(r, b, "qat_ts.int8"),
    load: (b) => {
      const m = Int8Model.decode(b, "fuzz.int8");
      const x = inputFor(m.graph.input.shape);
      if (x) m.run(x);
    },
  },
  checkpoint: {
    seeds: () => [checkpointSeed()],
    mutate: (r, b) => mutateSafetensors(r, b, "qat_ts.checkpoint"),
    load: (b) => {
      const ck = decodeCheckpoint(b, "fuzz.ckpt");
      requireResumable(ck, "fuzz.ckpt");
      const model = mlp({ inFeatures: 16, hidden: [8], classes: 3 });
      new Trainer({ model, optimizer: new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 }), progress: false }).restore(ck);
    },
  },
  onnx: {
    seeds: () => ["small_cnn.onnx", "qdq_torch.onnx"].map((f) => new Uint8Array(readFileSync(path.join(ROOT, "test/golden/onnx", f)))),
    mutate: (r, b) => mutateBytes(r, r() < 0.3 ? mutateBytes(r, b) : b),
    load: (b) => {
      const m = importModel(b) as unknown as { run?: (x: Tensor) => Tensor; forward?: (x: Tensor) => Tensor; graph?: Int8Graph; inputSpecs?: { dims?: (number | null)[] }[] };
      if (m instanceof Int8Model) {
        const x = inputFor(m.graph.input.shape);
        if (x) m.run(x);
        return;
      }
      const dims = m.inputSpecs?.[0]?.dims;
      const x = dims ? inputFor(dims.map((d) => (typeof d === "number" ? d : 1))) : null;
      if (x) m.forward?.(x);
    },
  },
  idx: {
    seeds: () => {
      const raw = [encodeIdx({ shape: [3, 4, 4], data: Uint8Array.from({ length: 48 }, (_, i) => i) }), encodeIdx({ shape: [5], data: Int16Array.of(1, -2, 3, -4, 5) }), encodeIdx({ shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) })];
      return [...raw, ...raw.map((b) => new Uint8Array(gzipSync(b)))];
    },
    mutate: (r, b) => {
      if (b[0] === 0x1f && r() < 0.5) return new Uint8Array(gzipSync(mutateBytes(r, new Uint8Array(gunzipSync(b))))); // mutate inside the gzip
      return mutateBytes(r, b);
    },
    load: (b) => {
      const f = path.join(tmp, "case.idx");
      writeFileSync(f, b);
      readIdxFile(f);
    },
  },
  config: {
    seeds: () => [new TextEncoder().encode('{"epochs": 2, "lr": 0.1, "schedule": "cosine", "batch-size": 32}'), new TextEncoder().encode("epochs: 2\nlr: 0.1\nschedule: cosine\nbatch-size: 32\n")],
    mutate: (r, b) => {
      const text = new TextDecoder().decode(b);
      if (text.startsWith("{") && r() < 0.6) return new TextEncoder().encode(JSON.stringify(mutateJson(r, JSON.parse(text))));
      if (r() < 0.3) return new TextEncoder().encode(text + pick(r, ["x: !!js/function 'f'\n", "? [a]\n: 1\n", "&a [*a]\n", "lr: !!binary AAAA\n", "\t- 1\n", "epochs: *x\n"]));
      return mutateBytes(r, b);
    },
    load: (b) => {
      const f = path.join(tmp, b[0] === 0x7b ? "case.json" : "case.yaml");
      writeFileSync(f, b);
      const o = withConfig({ config: f } as Record<string, unknown>, {}, new Set(), KNOWN) as Record<string, unknown>;
      if (o.epochs !== undefined) num(o.epochs, "epochs", { int: true, min: 1 });
      if (o.lr !== undefined) num(o.lr, "lr", { min: 0 });
      if (o.schedule !== undefined) choice(o.schedule, "schedule", ["none", "cosine"]);
    },
  },
};
