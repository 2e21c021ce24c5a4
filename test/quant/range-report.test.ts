/**
 * Activation range report and percentile clipping (src/quant/range-report.ts, calibrate):
 * one 1e30 pixel in a calibration batch is reported as an outlier-dominated range naming the
 * layer, and `calibrate({ percentile })` keeps the fake-quant model faithful to the float one.
 */
import { describe, expect, it } from "vitest";
import "../../src/index.js";
import { DataLoader } from "../../src/data/loader.js";
import { fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { subset } from "../../src/data/dataset.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { manualSeed } from "../../src/tensor/random.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { ValueError } from "../../src/tensor/errors.js";
import type { Module } from "../../src/nn/module.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { calibrate } from "../../src/quant/calibrate.js";
import { convertWithReport } from "../../src/quant/convert.js";
import { RangeCollector, type RangeWarning, lastRangeReport, rangeWarnings } from "../../src/quant/range-report.js";

const sample = fashionMnistSample();
const calib = subset(sample.train, Array.from({ length: 128 }, (_, i) => i * 29));
const test = sample.test.getBatch(Array.from({ length: 200 }, (_, i) => i * 5));

/** Batches of the calibration set, the first one with one pixel set to `v`. */
function batches(v?: number): { x: Tensor }[] {
  const out = [...new DataLoader(calib, { batchSize: 32 })].map(({ x }) => ({ x }));
  if (v !== undefined) {
    const d = Float32Array.from(out[0].x.toFloat32Array());
    d[300] = v;
    out[0] = { x: new Tensor(d, out[0].x.shape) };
  }
  return out;
}

function top1(m: Module): number[] {
  return noGrad(() => {
    const y = m.forward(test.x);
    const [n, c] = y.shape;
    const d = y.toFloat32Array();
    return Array.from({ length: n }, (_, i) => {
      let best = 0;
      for (let k = 1; k < c; k++) if (d[i * c + k] > d[i * c + best]) best = k;
      return best;
    });
  });
}

describe("range report", () => {
  it("RangeCollector: exact min/max, sampled percentiles, non-finite values counted apart", () => {
    const c = new RangeCollector(1000);
    const x = Float32Array.from({ length: 10001 }, (_, i) => i / 100);
    x[5] = NaN;
    c.add(x);
    expect([c.min, c.max, c.count, c.nonFinite]).toEqual([0, 100, 10000, 1]);
    expect(c.percentile(50)).toBeGreaterThan(49);
    expect(c.percentile(50)).toBeLessThan(51);
    expect(() => c.percentile(101)).toThrow(ValueError);
    const w = rangeWarnings([{ ...c.summary("a"), ratio: 150 }, c.summary("b")]);
    expect(w.map((r) => r.layer)).toEqual(["a"]);
    expect(w[0].message).toMatch(/activation range of 'a' is dominated by outliers/);
  });

  it("one 1e30 pixel: a warning naming the input quantizer; percentile clipping keeps top-1 agreement", () => {
    manualSeed(1);
    const float = smallCnn();
    float.eval();
    const ref = top1(float);
    const agreement = (qm: Module) => top1(qm).filter((k, i) => k === ref[i]).length / ref.length;

    const clean = prepareQat(float, { qconfig: qconfigs.x86 });
    let warned: RangeWarning[] = [];
    calibrate(clean, batches(), { onWarning: (w) => (warned = w) });
    expect(warned).toEqual([]);
    expect(lastRangeReport(clean)!.map((r) => r.layer)).toContain("quant");

    const hostile = prepareQat(float, { qconfig: qconfigs.x86 });
    calibrate(hostile, batches(1e30), { onWarning: (w) => (warned = w) });
    expect(warned.map((w) => w.layer)).toContain("quant");
    expect(warned.find((w) => w.layer === "quant")!.ratio).toBeGreaterThan(1e20);
    // convert's report carries the same warnings; a clean calibration gives none
    expect(convertWithReport(hostile).report.rangeWarnings.map((w) => w.layer)).toContain("quant");
    expect(convertWithReport(clean).report.rangeWarnings).toEqual([]);

    const clipped = prepareQat(float, { qconfig: qconfigs.x86 });
    calibrate(clipped, batches(1e30), { percentile: 99.99, onWarning: () => {} });
    clipped.eval();
    hostile.eval();
    clean.eval();
    const [a, b, c] = [agreement(clean), agreement(hostile), agreement(clipped)];
    console.log(`top-1 agreement with the float model: clean ${a}, 1e30 pixel ${b}, 1e30 pixel + percentile 99.99 ${c}`);
    expect(b).toBeLessThan(0.5);
    expect(c).toBeGreaterThan(0.9);
    expect(Math.abs(a - c)).toBeLessThan(0.05);
  });

  it("rejects a percentile outside (50, 100]", () => {
    const qm = prepareQat(smallCnn(), { qconfig: qconfigs.x86 });
    expect(() => calibrate(qm, batches(), { percentile: 20 })).toThrow(/calibrate: percentile must be in \(50, 100\]/);
  });
});
