/**
 * Int8Model's wasm integer path (conv with fused requantization, conv + max pool fused, packed
 * linear, SIMD max pool) is bit-identical to the direct integer kernels, value by value (the
 * first differing index is reported; large tensors are never diffed whole).
 */
import { describe, expect, it } from "vitest";
import "../../src/index.js";
import { getBackend, listBackends, setBackend } from "../../src/backend/index.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { resnet20 } from "../../src/nn/models/resnet.js";
import { mobilenetV2Small } from "../../src/nn/models/mobilenet.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { calibrate } from "../../src/quant/calibrate.js";
import { convert } from "../../src/quant/convert.js";
import { disableObserver } from "../../src/quant/schedule.js";
import { DataLoader } from "../../src/data/loader.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Module } from "../../src/nn/module.js";
import { expectIdentical } from "../backend/helpers.js";

const sample = fashionMnistSample();
const hasWasm = listBackends().includes("wasm");

describe.skipIf(!hasWasm)("Int8Model on the int8 GEMM path", () => {
  for (const [name, make, qc] of [
    ["SmallCNN x86 (uint8 activations)", () => smallCnn(), qconfigs.x86],
    ["ResNet-20 tflite (int8 activations)", () => resnet20({ width: 8 }), qconfigs.tflite],
    ["MobileNetV2 x86 (depthwise convs, residual adds)", () => mobilenetV2Small({ widthMult: 0.5 }), qconfigs.x86],
  ] as [string, () => Module, typeof qconfigs.x86][]) {
    it(`${name}: every activation equals the direct kernels'`, () => {
      manualSeed(4);
      const qm = prepareQat(make(), { qconfig: qc });
      calibrate(qm, new DataLoader(sample.train, { batchSize: 32, seed: 1 }), { batches: 2 });
      disableObserver(qm);
      const int8 = convert(qm);
      const x = int8.quantizeInput(sample.test.getBatch(Array.from({ length: 16 }, (_, i) => i)).x);
      const before = getBackend();
      try {
        setBackend("wasm");
        const fast = int8.runQuantized(x, { collect: true }).values!;
        const fused = int8.runQuantized(x).output; // conv + 2×2 max pool fused where the graph allows
        setBackend("ref");
        const direct = int8.runQuantized(x, { collect: true });
        for (const [id, v] of direct.values!) {
          const got = fast.get(id);
          expect(got, `value ${id} on the wasm path`).toBeDefined();
          expectIdentical(got!.data, v.data, `value ${id}`);
        }
        expectIdentical(fused.data, direct.output.data, "fused output");
      } finally {
        setBackend(before);
      }
    }, 120_000);
  }
});
