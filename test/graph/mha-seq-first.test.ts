/**
 * nn.MultiheadAttention({ batchFirst: false }) (issue #13): its input is [L, N, E] and it
 * transposes to [N, L, E] and back inside. The integer transpose moves any axis — the first
 * dim of an Int8Model value is only named the batch — so those transposes are integer nodes and
 * the layer converts with softmax as its only float island. The invariants: (a) prepared with
 * fake quantization off ≡ float; (b) fake-quant ≡ Int8Model ≡ onnxruntime on the QDQ and
 * QOperator exports (±1 output quantum on ≥ 99.9 % of values); (c) an export after more forwards
 * is byte-identical; and the model runs from a file.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import * as nn from "../../src/nn/index.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { calibrate, convertWithReport, disableFakeQuant, enableFakeQuant, prepareQat, qconfigs } from "../../src/quant/index.js";
import { exportModel } from "../../src/onnx/index.js";
import { Int8Model } from "../../src/int8/model.js";
import { loadOrt, ortUnavailable } from "../onnx/helpers.js";
import { runOrtWith } from "../onnx/quantized-helpers.js";

const ort = await loadOrt();
if (!ort) console.warn(`[mha seq-first] onnxruntime checks skipped: ${ortUnavailable}`);
const [L, N, E] = [6, 3, 16];

/** Self-attention on sequence-first tokens [L, N, E], then a linear on each token. */
class SeqFirst extends nn.Module {
  att = this.registerModule("att", new nn.MultiheadAttention(E, 2, { batchFirst: false }));
  head = this.registerModule("head", new nn.Linear(E, 4));
  forward(x: Tensor): Tensor {
    return this.head.forward(this.att.forward(x, x, x));
  }
}

const seqs = (seed: number) => (manualSeed(seed), randn([L, N, E]));

/** Share of values within ±1 quantum, and the largest difference in quanta. */
function within(a: ArrayLike<number>, b: ArrayLike<number>, scale: number): { share: number; max: number } {
  let ok = 0, max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / scale;
    if (d <= 1.0001) ok++;
    max = Math.max(max, d);
  }
  return { share: ok / a.length, max };
}

describe("nn.MultiheadAttention with batchFirst: false", () => {
  it("its batch transposes are integer transpose nodes (softmax the only island); invariants (a) (b) (c) with onnxruntime; runs from a file", async () => {
    manualSeed(2);
    const float = new SeqFirst().eval();
    const qm = prepareQat(float, { qconfig: qconfigs.x86, example: seqs(1) });
    const x = seqs(3);
    // (a)
    qm.eval();
    disableFakeQuant(qm);
    const ref = noGrad(() => float.forward(x)).data;
    const off = noGrad(() => qm.forward(x)).data;
    let d = 0, big = 1;
    for (let i = 0; i < ref.length; i++) {
      d = Math.max(d, Math.abs(ref[i] - off[i]));
      big = Math.max(big, Math.abs(ref[i]));
    }
    expect(d).toBeLessThanOrEqual(1e-5 * big);
    enableFakeQuant(qm);
    qm.train();
    calibrate(qm, [10, 11, 12, 13].map((s) => ({ x: seqs(s) })), { batches: 4 });
    // (b)
    const { model: int8, report } = convertWithReport(qm);
    expect(report.islands.map((i) => i.fn)).toEqual(["softmax"]);
    const moves = int8.graph.nodes.filter((n) => n.op === "transpose" && n.perm[0] !== 0);
    expect(moves.map((n) => n.op === "transpose" && n.perm)).toEqual([[1, 0, 2], [1, 0, 2]]);
    qm.eval();
    const fq = noGrad(() => qm.forward(x)).data;
    const ours = int8.run(x);
    expect(ours.shape).toEqual([L, N, 4]);
    const scale = int8.value(int8.graph.output).q.scale;
    const viaInt8 = within(fq, ours.data, scale);
    expect(viaInt8.share).toBeGreaterThanOrEqual(0.999);
    const exports = { qdq: exportModel(qm, { example: x, format: "qdq" }), qoperator: exportModel(qm, { example: x, format: "qoperator" }) };
    if (ort) {
      for (const [format, bytes] of Object.entries(exports)) {
        const viaOrt = within(await runOrtWith(ort, bytes, x), ours.data, scale);
        console.log(`[mha seq-first] ${format}: onnxruntime vs Int8Model ${(100 * viaOrt.share).toFixed(2)} % within ±1 quantum, max ${viaOrt.max.toFixed(2)}`);
        expect(viaOrt.share, format).toBeGreaterThanOrEqual(0.999);
      }
    }
    // (c)
    qm.train();
    noGrad(() => qm.forward(seqs(40)));
    qm.eval();
    noGrad(() => qm.forward(seqs(41)));
    expect(Buffer.from(exportModel(qm, { example: x, format: "qdq" })).equals(Buffer.from(exports.qdq))).toBe(true);
    // from a file
    const back = Int8Model.decode(int8.encode());
    expect(Array.from(back.run(x).data)).toEqual(Array.from(ours.data));
  });
});
