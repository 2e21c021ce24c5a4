/**
 * Run an exported ONNX model with onnxruntime-node (the same code works with onnxruntime-web)
 * and compare with our Int8Model. Run examples/import-onnx-and-qat.ts first.
 *   node --import tsx examples/run-with-onnxruntime.ts [/tmp/qat-ts-example.qdq.onnx]
 */
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { onnx, Int8Model } from "../src/index.js";
import { fashionMnistSample } from "../src/datasets/fashion-mnist-sample.js";

const file = process.argv[2] ?? "/tmp/qat-ts-example.qdq.onnx";
const bytes = readFileSync(file);
const session = await ort.InferenceSession.create(bytes);
const { test } = fashionMnistSample();
const x = test.getBatch([0, 1, 2, 3]).x;
const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", Float32Array.from(x.data), [...x.shape]) });
const logits = out[session.outputNames[0]].data as Float32Array;
console.log("onnxruntime:", Array.from(logits.slice(0, 10)).map((v) => v.toFixed(3)).join(" "));
const ours = onnx.importModel(new Uint8Array(bytes));
if (ours instanceof Int8Model) console.log("qat-ts int8:", Array.from(ours.run(x).data.slice(0, 10)).map((v) => v.toFixed(3)).join(" "));
