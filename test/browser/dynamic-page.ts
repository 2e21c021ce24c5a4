/**
 * Browser page of test/browser/dynamic.test.ts (bundled there by esbuild): the dynamic and
 * 4-bit ONNX export forms run in onnxruntime-web (wasm, one thread) and compared with
 * Int8Model.run in the same tab. Cases: an MLP and a transformer encoder layer under the
 * `dynamic` preset (DynamicQuantizeLinear + MatMulInteger + Mul + Add), under int4WeightOnly
 * and int8DynActInt4Weight (com.microsoft MatMulNBits), and a dynamic LSTM (com.microsoft
 * DynamicQuantizeLSTM) and GRU (unrolled GEMMs). Each result: max |onnxruntime − Int8Model|,
 * bit-equal count, or onnxruntime-web's error message. Left on globalThis.__dynResult.
 */
import * as ort from "onnxruntime-web/wasm";
import { manualSeed, nn, onnx, quant, randn, type Tensor } from "../../src/index.js";
import type { Int8Model } from "../../src/int8/model.js";

const page = globalThis as unknown as { location: { href: string }; __dynResult?: unknown; __dynError?: string };

interface CaseResult {
  name: string;
  ops: string[];
  outputs: number;
  maxAbs: number;
  range: number;
  equal: number;
  error?: string;
}

async function compare(name: string, int8: Int8Model, x: Tensor): Promise<CaseResult> {
  const bytes = onnx.exportInt8Model(int8, { format: "qdq" });
  const ops = [...new Set(onnx.decodeModel(bytes).graph!.node!.map((n) => (n.domain ? `${n.domain}::${n.opType}` : n.opType!)))];
  const ours = int8.run(x).toFloat32Array();
  const range = Math.max(...Array.from(ours, Math.abs));
  try {
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", x.toFloat32Array(), [...x.shape]) });
    const theirs = out[session.outputNames[0]].data as Float32Array;
    let maxAbs = 0;
    let equal = 0;
    for (let i = 0; i < ours.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(ours[i] - theirs[i]));
      if (ours[i] === theirs[i]) equal++;
    }
    return { name, ops, outputs: theirs.length === ours.length ? ours.length : -1, maxAbs, range, equal };
  } catch (e) {
    return { name, ops, outputs: 0, maxAbs: NaN, range, equal: 0, error: (e as Error).message ?? String(e) };
  }
}

async function main(): Promise<void> {
  ort.env.wasm.wasmPaths = new URL("./ort/", page.location.href).href; // served locally
  ort.env.wasm.numThreads = 1;
  const results: CaseResult[] = [];
  manualSeed(18);
  const mlp = new nn.Sequential(new nn.Linear(64, 48), new nn.ReLU(), new nn.Linear(48, 32), new nn.ReLU(), new nn.Linear(32, 10));
  const x = randn([16, 64]);
  for (const preset of ["dynamic", "int4WeightOnly", "int8DynActInt4Weight"] as const) {
    const int8 = quant.convert(quant.prepareQat(mlp, { qconfig: quant.qconfigs[preset], example: x }));
    results.push(await compare(`MLP ${preset}`, int8, x));
  }
  const enc = new nn.Sequential(new nn.TransformerEncoderLayer(32, 4, { dimFeedforward: 64, dropout: 0, batchFirst: true, activation: "gelu" }), new nn.Linear(32, 10));
  enc.eval();
  const xt = randn([2, 6, 32]);
  results.push(await compare("encoder layer dynamic", quant.convert(quant.prepareQat(enc, { qconfig: quant.qconfigs.dynamic, example: xt })), xt));
  const xs = randn([3, 5, 8]);
  for (const [name, rnn] of [["LSTM dynamic (DynamicQuantizeLSTM)", new nn.LSTM(8, 12, { batchFirst: true })], ["GRU dynamic (unrolled)", new nn.GRU(8, 12, { batchFirst: true })]] as const) {
    const model = new nn.Sequential(rnn, new nn.Linear(12, 4));
    results.push(await compare(name, quant.convert(quant.prepareQat(model, { qconfig: quant.qconfigs.dynamic, example: xs })), xs));
  }
  page.__dynResult = results;
}

main().catch((e: unknown) => {
  page.__dynError = (e as Error).stack ?? String(e);
});
