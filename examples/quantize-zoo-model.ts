/**
 * Quantize a zoo model: ResNet-20-style network on the embedded Fashion-MNIST sample,
 * float training → QAT with the onednn preset → Int8Model, with a per-layer SQNR table.
 *   node --import tsx examples/quantize-zoo-model.ts
 */
import { manualSeed, nn, optim, data, quant, train } from "../src/index.js";
import { fashionMnistSample } from "../src/datasets/fashion-mnist-sample.js";

manualSeed(0);
const { train: trainSet, test } = fashionMnistSample();
const loader = new data.DataLoader(trainSet.select(Array.from({ length: 2048 }, (_, i) => i)), { batchSize: 64, shuffle: true, seed: 1 });
const testLoader = new data.DataLoader(test, { batchSize: 250 });

const model = nn.models.resnet20({ width: 8 });
new train.Trainer({ model, optimizer: new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }) }).fit(loader, { epochs: 1 });
console.log("float", train.evaluate(model, testLoader).accuracy);

const qm = quant.prepareQat(model, { qconfig: quant.qconfigs.onednn });
quant.calibrate(qm, loader, { batches: 8 });
const steps = loader.length;
const schedule = quant.qatSchedule(qm, { freezeBnStep: Math.floor(0.6 * steps), freezeObserverStep: Math.floor(0.8 * steps) });
new train.Trainer({ model: qm, optimizer: new optim.SGD(qm.parameters(), { lr: 0.005, momentum: 0.9 }), callbacks: [schedule] }).fit(loader, { epochs: 1 });

const int8 = quant.convert(qm);
console.log("fake-quant", train.evaluate(qm, testLoader).accuracy, "int8", train.evaluatePredictor((x) => int8.run(x), testLoader).accuracy);
for (const l of quant.inspectModel(qm, test.getBatch([0, 1, 2, 3, 4, 5, 6, 7]).x)) console.log(l.name.padEnd(32), l.sqnrDb?.toFixed(1));
