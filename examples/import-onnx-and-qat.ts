/**
 * Import a float ONNX model (here: one we export ourselves; any PyTorch-exported CNN works the
 * same way), fine-tune it with QAT, convert, and export QDQ for onnxruntime.
 *   node --import tsx examples/import-onnx-and-qat.ts
 */
import { writeFileSync } from "node:fs";
import { manualSeed, nn, optim, data, onnx, quant, train, zeros, type Tensor } from "../src/index.js";
import { fashionMnistSample } from "../src/datasets/fashion-mnist-sample.js";

manualSeed(0);
const float = nn.models.smallCnn();
const bytes = onnx.exportModel(float, { example: zeros([1, 1, 28, 28]), format: "float" });
const imported = onnx.importModel(bytes) as nn.Module; // float graph → trainable module

const { train: trainSet, test } = fashionMnistSample();
const loader = new data.DataLoader(trainSet.select(Array.from({ length: 1024 }, (_, i) => i)), { batchSize: 64, shuffle: true, seed: 1 });
new train.Trainer({ model: imported, optimizer: new optim.SGD(imported.parameters(), { lr: 0.05, momentum: 0.9 }) }).fit(loader, { epochs: 1 });

const qm = quant.prepareQat(imported, { qconfig: quant.qconfigs.onnxruntime }); // Conv→BN→Relu fused as usual
quant.calibrate(qm, loader, { batches: 4 });
new train.Trainer({ model: qm, optimizer: new optim.SGD(qm.parameters(), { lr: 0.005, momentum: 0.9 }) }).fit(loader, { epochs: 1 });
quant.disableObserver(qm);
qm.eval();
const x: Tensor = test.getBatch([0, 1, 2, 3]).x;
writeFileSync("/tmp/qat-ts-example.qdq.onnx", onnx.exportModel(qm, { example: x, format: "qdq" }));
console.log("wrote /tmp/qat-ts-example.qdq.onnx");
