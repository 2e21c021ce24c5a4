/**
 * `matmul(x, W)` with a parameter W (issue #13): a user model that writes `x.matmul(this.w)`
 * instead of a Linear. prepareQat rewrites it as linear(x, Wᵀ) with a per-channel weight
 * fake-quant on Wᵀ (per output channel: W's axis 1), convert lowers it to an integer linear, and the three
 * invariants hold: (a) prepared with fake quantization off ≡ float; (b) fake-quant ≡ Int8Model ≡
 * onnxruntime on the QDQ and QOperator exports (±1 output quantum on ≥ 99.9 %, top-1 equal);
 * (c) an export after more train- and eval-mode forwards is byte-identical. For rows
 * ([N, K] @ [K, N']) and tokens ([N, T, K] @ [K, N']).
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import { Module } from "../../src/nn/module.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { SGD } from "../../src/optim/sgd.js";
import { calibrate, convertWithReport, disableFakeQuant, prepareQat, qconfigs } from "../../src/quant/index.js";
import { exportModel } from "../../src/onnx/index.js";
import { loadOrt, ortUnavailable } from "../onnx/helpers.js";
import { parity, runOrtWith } from "../onnx/quantized-helpers.js";

const ort = await loadOrt();
if (!ort) console.warn(`[matmul weight] onnxruntime checks skipped: ${ortUnavailable}`);

/** A Linear, a ReLU, then `h.matmul(this.w)` with w [16, 10] a parameter (a classifier written as a matmul). */
class MatmulHead extends Module {
  fc = this.registerModule("fc", new Linear(12, 16));
  w: Tensor;
  constructor() {
    super();
    this.w = this.registerParameter("w", randn([16, 10]).mul(0.3));
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(x).relu().matmul(this.w);
  }
}

describe("matmul(x, W) with a parameter W", () => {
  for (const [title, shape] of [["rows [N, 12]", [12]], ["tokens [N, 5, 12]", [5, 12]]] as const) {
    it(`${title}: it becomes linear(x, Wᵀ) with a per-channel weight fake-quant (W's axis 1); convert makes an integer linear; invariants (a) (b) (c) with onnxruntime`, async () => {
      manualSeed(4);
      const float = new MatmulHead();
      float.eval();
      const batch = (n: number, seed: number) => (manualSeed(seed), randn([n, ...shape]));
      const qm = prepareQat(float, { qconfig: qconfigs.x86, example: batch(2, 1) });
      // the prepared graph: linear(h, weight_fake_quant_0(transpose(w))), the quantizer per output channel of Wᵀ
      const gm = qm.module as unknown as { graph: { nodes: { kind: string; target: string }[] } };
      expect(gm.graph.nodes.filter((n) => n.kind !== "get_attr").map((n) => n.target)).toEqual(["fc", "transpose", "weight_fake_quant_0", "linear", "activation_post_process_0"]);
      const wfq = qm.module.getSubmodule("weight_fake_quant_0") as unknown as { chAxis: number; isPerChannel: boolean };
      expect([wfq.isPerChannel, wfq.chAxis]).toEqual([true, 0]);
      const x = batch(32, 3);
      // (a)
      qm.eval();
      disableFakeQuant(qm);
      const ref = noGrad(() => float.forward(x));
      const off = noGrad(() => qm.forward(x));
      let d = 0, big = 1;
      for (let i = 0; i < ref.size; i++) {
        d = Math.max(d, Math.abs(ref.data[i] - off.data[i]));
        big = Math.max(big, Math.abs(ref.data[i]));
      }
      expect(d).toBeLessThanOrEqual(1e-5 * big);
      // calibrate, then QAT steps with fake quantization on (W moves and is fake-quantized in the loss)
      qm.train();
      calibrate(qm, [0, 1, 2].map((s) => ({ x: batch(16, 10 + s) })), { batches: 3 });
      const w0 = Float32Array.from(qm.module.getParameter("w").data as Float32Array);
      const opt = new SGD(qm.parameters(), { lr: 0.01, momentum: 0.9 });
      for (let s = 0; s < 3; s++) {
        opt.zeroGrad();
        qm.forward(batch(16, 20 + s)).square().mean().backward();
        opt.step();
      }
      expect(Array.from(qm.module.getParameter("w").data).some((v, i) => v !== w0[i])).toBe(true);
      // (b)
      const { model: int8, report } = convertWithReport(qm);
      expect(report.islands).toEqual([]);
      const lin = int8.graph.nodes.filter((n) => n.op === "linear");
      expect(lin.map((n) => n.op === "linear" && n.wShape)).toEqual([[16, 12], [10, 16]]);
      expect(lin[1].op === "linear" && lin[1].wScales.length).toBe(10);
      qm.eval();
      const fq = noGrad(() => qm.forward(x)).data;
      const ours = int8.run(x).data;
      const scale = int8.value(int8.graph.output).q.scale;
      const viaInt8 = parity(fq, ours, scale, 10);
      expect(viaInt8.maxQuanta).toBeLessThanOrEqual(1);
      expect(viaInt8.top1).toBe(1);
      const exports = { qdq: exportModel(qm, { example: x, format: "qdq" }), qoperator: exportModel(qm, { example: x, format: "qoperator" }) };
      if (ort) {
        for (const [format, bytes] of Object.entries(exports)) {
          const viaOrt = parity(await runOrtWith(ort, bytes, x), ours, scale, 10);
          expect(viaOrt.maxQuanta, `${format}: onnxruntime vs Int8Model, output quanta`).toBeLessThanOrEqual(1);
          expect(viaOrt.top1).toBe(1);
        }
      }
      // (c)
      qm.train();
      noGrad(() => qm.forward(batch(16, 40)));
      qm.eval();
      noGrad(() => qm.forward(batch(16, 41)));
      expect(Buffer.from(exportModel(qm, { example: x, format: "qdq" })).equals(Buffer.from(exports.qdq))).toBe(true);
    });
  }

  it("a parameter read both as a matmul weight and otherwise stays float (no weight quantizer), and converts with a float island", () => {
    class Both extends MatmulHead {
      override forward(x: Tensor): Tensor {
        const h = this.fc.forward(x).relu();
        return h.matmul(this.w).add(h.matmul(this.w.mul(0.5)));
      }
    }
    manualSeed(4);
    const qm = prepareQat(new Both().eval(), { qconfig: qconfigs.x86, example: randn([2, 12]) });
    expect(qm.module.namedChildren().map(([n]) => n).filter((n) => n.startsWith("weight_fake_quant"))).toEqual([]);
    noGrad(() => qm.forward(randn([8, 12])));
    const { report } = convertWithReport(qm);
    expect(report.islands.map((i) => i.fn)).toEqual(["matmul", "matmul"]);
  });
});
