/**
 * Checkpoint metadata validation (src/train/checkpoint-validate.ts, decodeCheckpoint and
 * quant.loadPrepared): each hostile field named in issue #16 is a FormatError naming the file
 * and the field, never a TypeError/SyntaxError, and NaN observer state is refused.
 */
import { describe, expect, it } from "vitest";
import "../../src/index.js";
import { encodeSafetensors } from "../../src/nn/safetensors.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { SGD } from "../../src/optim/sgd.js";
import { Trainer } from "../../src/train/trainer.js";
import { decodeCheckpoint, encodeCheckpoint } from "../../src/train/checkpoint.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { loadPrepared, preparedConfig } from "../../src/quant/checkpoint.js";
import { FormatError } from "../../src/tensor/errors.js";
import { Tensor } from "../../src/tensor/tensor.js";

/** The metadata JSON of a real prepared-model checkpoint (with optimizer and trainer state). */
function realMeta(): { meta: Record<string, unknown>; tensors: Record<string, Tensor> } {
  const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
  const opt = new SGD(qm.parameters(), { lr: 0.01, momentum: 0.9 });
  const trainer = new Trainer({ model: qm, optimizer: opt, progress: false });
  const ckpt = decodeCheckpoint(encodeCheckpoint(trainer.toCheckpoint(undefined, preparedConfig(qm, { zoo: "smallCnn" }))));
  const bytes = encodeCheckpoint(ckpt);
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as { __metadata__: Record<string, string> };
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(ckpt.model)) tensors[`model.${k}`] = t;
  return { meta: JSON.parse(header.__metadata__["qat_ts.checkpoint"]) as Record<string, unknown>, tensors };
}

const file = (meta: unknown, tensors: Record<string, Tensor>): Uint8Array =>
  encodeSafetensors(tensors, { metadata: { "qat_ts.checkpoint": typeof meta === "string" ? meta : JSON.stringify(meta) } });

type Meta = any;
const CASES: [string, (m: Meta) => unknown, RegExp][] = [
  ["'null' metadata", () => "null", /ck\.st: checkpoint field '\(metadata\)' must be an object, got null/],
  ["optimizer.numbers: null", (m) => { m.optimizer = { numbers: null, param_groups: [] }; }, /'optimizer\.numbers' must be an object, got null/],
  ["trainer.rng: null", (m) => { m.trainer = { epoch: 0, step: 0, rng: null, loader: null, history: [] }; }, /'trainer\.rng' must be an array, got null/],
  ["trainer.history: null", (m) => { m.trainer = { epoch: 0, step: 0, rng: [1, 2, 3, 4, null], loader: null, history: null }; }, /'trainer\.history' must be an array/],
  ["trainer.epoch: -5", (m) => { m.trainer = { epoch: -5, step: 0, rng: [1, 2, 3, 4, null], loader: null, history: [] }; }, /'trainer\.epoch' must be an integer ≥ 0, got -5/],
  ["trainer.epoch: \"x\"", (m) => { m.trainer = { epoch: "x", step: 0, rng: [1, 2, 3, 4, null], loader: null, history: [] }; }, /'trainer\.epoch' must be an integer ≥ 0, got "x"/],
  ["trainer.loader.generator short", (m) => { m.trainer = { epoch: 0, step: 0, rng: [1, 2, 3, 4, null], loader: { epoch: 0, batch: 0, generator: [1] }, history: [] }; }, /'trainer\.loader\.generator' must hold 5 numbers/],
  ["param_groups params not indices", (m) => { m.optimizer = { numbers: {}, param_groups: [{ params: ["a"] }] }; }, /'optimizer\.param_groups\[0\]\.params\[0\]' must be an integer/],
  ["scheduler a number", (m) => { m.scheduler = 5; }, /'scheduler' must be an object/],
  ["version 2", (m) => { m.version = 2; }, /checkpoint version 2 is not supported/],
];

describe("decodeCheckpoint validates its metadata", () => {
  const { meta, tensors } = realMeta();
  it("accepts the real thing", () => {
    expect(() => decodeCheckpoint(file(meta, tensors), "ck.st")).not.toThrow();
  });
  for (const [what, mutate, message] of CASES) {
    it(`${what}: FormatError naming the field`, () => {
      const m = structuredClone(meta);
      const replaced = mutate(m);
      const bytes = file(replaced ?? m, tensors);
      expect(() => decodeCheckpoint(bytes, "ck.st")).toThrow(FormatError);
      expect(() => decodeCheckpoint(bytes, "ck.st")).toThrow(message);
    });
  }
});

describe("loadPrepared validates config.qat and observer state", () => {
  const { meta, tensors } = realMeta();
  const load = (m: Meta, t = tensors) => loadPrepared(decodeCheckpoint(file(m, t), "ck.st"), { source: "ck.st" });
  it("accepts the real thing", () => {
    expect(load(meta).description.qconfig).toBe("x86");
  });
  for (const [what, mutate, message] of [
    ["overrides: null", (m: Meta) => { m.config.qat.description.overrides = null; }, /'config\.qat\.description\.overrides' must be an array, got null/],
    ["a bad override regex", (m: Meta) => { m.config.qat.description.overrides = [{ regex: "(", qconfig: null }]; }, /'config\.qat\.description\.overrides\[0\]\.regex' is not a valid regular expression/],
    ["inputShape [0]", (m: Meta) => { m.config.qat.inputShape = [0, 1]; }, /'config\.qat\.inputShape\[0\]' must be an integer ≥ 1/],
    ["model.zoo a number", (m: Meta) => { m.config.qat.model = { zoo: 3 }; }, /'config\.qat\.model\.zoo' must be a string/],
  ] as [string, (m: Meta) => void, RegExp][]) {
    it(`${what}: FormatError naming the field`, () => {
      const m = structuredClone(meta);
      mutate(m);
      expect(() => load(m)).toThrow(FormatError);
      expect(() => load(m)).toThrow(message);
    });
  }
  for (const [key, value] of [["model.module.conv1.activation_post_process.scale", NaN], ["model.quant.activation_post_process.scale", -1], ["model.quant.activation_post_process.activation_post_process.min_val", NaN], ["model.quant.activation_post_process.zero_point", 0.5]] as [string, number][]) {
    it(`${key} = ${value} is refused`, () => {
      const t = { ...tensors };
      const old = t[key];
      const data = Float32Array.from(old.toFloat32Array());
      data[0] = value;
      t[key] = new Tensor(data, old.shape);
      expect(() => load(meta, t)).toThrow(FormatError);
      expect(() => load(meta, t)).toThrow(`ck.st: ${key}[0] = ${value}`);
    });
  }
});
