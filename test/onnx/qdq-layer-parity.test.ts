/**
 * Issue #13, "our own QDQ export disagrees with Int8Model on MobileNetV2 (81.5 % within 1
 * quantum, max 14)": the export is exact layer by layer. Each node of the QDQ file in
 * onnxruntime, fed the same integer inputs as Int8Model, gives the same integers except by 1
 * where the exact value lies within 1e-4 of a rounding tie (layer-parity-helpers.ts) — on the
 * zoo MobileNetV2, ResNet-20 and SmallCNN and on the narrow torchvision MobileNetV2 the issue
 * measured; both as the file says (no graph optimization) and as onnxruntime deploys it (each
 * node's part of the file alone, fully optimized: QLinearConv + integer Clip, QLinearAdd, …),
 * and the QOperator export the same way.
 * The end-to-end gap on that torchvision model comes from the model: one LSB moved
 * in an early layer moves its output by many output quanta (asserted below), so a single
 * onnxruntime tie flip shows up at the output. The zoo MobileNetV2 keeps the end-to-end
 * invariant: ≥ 99.9 % of outputs within ±1 quantum, top-1 identical.
 */
import { describe, expect, it } from "vitest";
import type { Module } from "../../src/nn/module.js";
import { convert, qconfigs } from "../../src/quant/index.js";
import { mobilenetV2Small } from "../../src/nn/models/mobilenet.js";
import { resnet20 } from "../../src/nn/models/resnet.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { exportInt8Model } from "../../src/onnx/index.js";
import { loadOrt, ortUnavailable } from "./helpers.js";
import { calibrated, fmtParity, parity, runOrtWith, testImages } from "./quantized-helpers.js";
import { Pipeline, randomImages, shareWithinOne, outputScale, torchvisionDoc } from "./torchvision-helpers.js";
import { compareLayers, fmtLayerReport, oneLsbSensitivity, ortFusedNodes, ortQOperatorValues, ortValues } from "./layer-parity-helpers.js";

const ort = await loadOrt();
const itOrt = ort ? it : it.skip;
if (!ort) console.warn(`[qdq layer parity] onnxruntime checks skipped: ${ortUnavailable}`);

const qdq = (m: Parameters<typeof exportInt8Model>[0]) => exportInt8Model(m, { format: "qdq" });
const zoo = (make: () => Module) => convert(calibrated(make, qconfigs.x86), { example: testImages(2) });
/** `make()` computed once, on first use. */
const once = <T>(make: () => T): (() => T) => {
  let v: T | undefined;
  return () => (v ??= make());
};
const torchvisionMobileNetV2 = new Pipeline(torchvisionDoc.models.mobilenet_v2);
const zooMobileNetV2 = once(() => zoo(() => mobilenetV2Small({ widthMult: 0.5 })));

describe("QDQ export ≡ Int8Model layer by layer in onnxruntime (differences only by 1 at rounding ties)", () => {
  const cases: [string, () => ReturnType<typeof zoo>, () => ReturnType<typeof testImages>][] = [
    ["zoo MobileNetV2 (width 0.5)", zooMobileNetV2, () => testImages(64)],
    ["zoo ResNet-20 (width 8)", once(() => zoo(() => resnet20({ width: 8 }))), () => testImages(64)],
    ["zoo SmallCNN", once(() => zoo(() => smallCnn())), () => testImages(64)],
    ["torchvision MobileNetV2 (width 0.25, after 6 QAT steps)", () => torchvisionMobileNetV2.int8(), () => randomImages(16, 21)],
  ];
  for (const [title, model, images] of cases) {
    itOrt(`${title}: every node equals onnxruntime's on identical inputs (unfused, and fused per node), except by 1 within 1e-4 of a tie`, async () => {
      const m = model();
      const x = images();
      const bytes = qdq(m);
      const theirs = await ortValues(ort!, bytes, x, m);
      const fused = await ortFusedNodes(ort!, bytes, m, theirs);
      for (const [how, reference] of [["unfused", theirs], ["fused per node (QLinearConv, QLinearAdd, …)", fused]] as const) {
        const r = compareLayers(m, theirs, x, reference);
        console.log(`[qdq layer parity] ${title}, ${how}: ${fmtLayerReport(r)}`);
        expect(r.missing, `${how}: values the QDQ file does not expose`).toEqual([]);
        expect(r.offTie.slice(0, 5), how).toEqual([]);
        expect(r.differ / r.elements, how).toBeLessThan(1e-4);
      }
    });
  }

  for (const [title, model, images] of cases) {
    itOrt(`${title}: the QOperator export (QLinearConv, QLinearAdd, …) equals Int8Model node by node the same way`, async () => {
      const m = model();
      const x = images();
      const r = compareLayers(m, await ortQOperatorValues(ort!, exportInt8Model(m, { format: "qoperator" }), x, m), x);
      console.log(`[qdq layer parity] ${title}, QOperator: ${fmtLayerReport(r)}`);
      expect(r.missing, "values the QOperator file does not expose").toEqual([]);
      expect(r.offTie.slice(0, 5)).toEqual([]);
      expect(r.differ / r.elements).toBeLessThan(1e-4);
    });
  }

  itOrt("zoo MobileNetV2 (width 0.5) end to end: ≥ 99.9 % of outputs within ±1 quantum, top-1 identical (200 images)", async () => {
    const m = zooMobileNetV2();
    const x = testImages(200);
    const ours = m.run(x).toFloat32Array();
    const theirs = await runOrtWith(ort!, qdq(m), x);
    const p = parity(theirs, ours, outputScale(m), 10);
    console.log(`[qdq layer parity] zoo MobileNetV2 end to end: ${fmtParity(p)}`);
    expect(shareWithinOne(theirs, ours, outputScale(m))).toBeGreaterThanOrEqual(0.999);
    expect(p.top1).toBe(1);
  });

  it("torchvision MobileNetV2: one LSB moved in features.1 moves the output by more than 1 output quantum", () => {
    const m = torchvisionMobileNetV2.int8();
    const x = randomImages(16, 21);
    const node = m.graph.nodes.find((n) => n.name.endsWith("features.1.conv.1"));
    expect(node, "features.1.conv.1 in the converted graph").toBeDefined();
    const perImage = m.value(node!.output).shape.slice(1).reduce((a, b) => a * b, 1);
    let most = 0;
    for (let k = 0; k < 4; k++) most = Math.max(most, oneLsbSensitivity(m, x, node!.output, Math.floor(((k + 0.5) * perImage) / 4)));
    console.log(`[qdq layer parity] torchvision MobileNetV2: one LSB at features.1.conv.1 moves the output by up to ${most} output quanta`);
    expect(most).toBeGreaterThan(1);
  });
});
