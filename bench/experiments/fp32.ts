/**
 * Issue-4 experiment: SmallCNN on the full Fashion-MNIST (Debian dataset-fashion-mnist),
 * DESIGN.md §6 recipe: 3 epochs SGD lr 0.05 momentum 0.9 batch 64, then 1 epoch at lr 0.005.
 * Saves the 3-epoch checkpoint (the QAT experiment starts from it) and prints/writes JSON.
 *   node --import tsx bench/experiments/fp32.ts [--seed 0] [--out /tmp/qat-exp] [--data dir]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fashionMnist } from "../../src/data/fs.js";
import { DataLoader } from "../../src/data/loader.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { SGD } from "../../src/optim/sgd.js";
import { manualSeed } from "../../src/tensor/random.js";
import { Trainer, evaluate } from "../../src/train/trainer.js";
import { saveCheckpoint } from "../../src/train/fs.js";
import { autoProgress } from "../../src/train/progress-node.js";
import "../../src/index.js";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const seed = Number(arg("seed", "0"));
const out = arg("out", "/tmp/qat-exp");
const dir = arg("data", "/usr/share/datasets/fashion-mnist");
mkdirSync(out, { recursive: true });

manualSeed(seed);
const { train, test } = fashionMnist(dir);
const loader = new DataLoader(train, { batchSize: 64, shuffle: true, seed: seed + 1 });
const testLoader = new DataLoader(test, { batchSize: 500 });
const model = smallCnn();
const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
const log = (r: object) => console.log(JSON.stringify(r));
const trainer = new Trainer({ model, optimizer, log, label: "fp32", progress: autoProgress() });
const t0 = performance.now();
trainer.fit(loader, { epochs: 3, test: testLoader });
const threeEpochSeconds = (performance.now() - t0) / 1e3;
saveCheckpoint(path.join(out, `fp32-3ep-seed${seed}.safetensors`), trainer.toCheckpoint(loader, { model: "smallCnn", seed }));
for (const g of optimizer.paramGroups) g.lr = 0.005;
trainer.fit(loader, { epochs: 4, test: testLoader });
const seconds = (performance.now() - t0) / 1e3;
const final = evaluate(model, testLoader);
const result = { experiment: "fp32", seed, testAccuracy: final.accuracy, threeEpochSeconds, seconds, history: trainer.history };
writeFileSync(path.join(out, `fp32-seed${seed}.json`), JSON.stringify(result, null, 2));
console.log(JSON.stringify({ done: true, seed, testAccuracy: final.accuracy, seconds }));
