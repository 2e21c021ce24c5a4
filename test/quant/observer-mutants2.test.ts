/**
 * The observers' module-level presets (PyTorch's default_fixed_qparams_range_{neg1to1,0to1}_observer,
 * default_observer, the weight observers and default_histogram_observer), read from a freshly
 * imported module so the preset arguments are evaluated inside the test (a mutated preset then
 * shows); HistogramObserver's printing, and
 * its parameter search on 10^5 values with single outliers against PyTorch
 * (scripts/golden/histogram_edges.py: integer quantile bounds, so a cumulative count equal to a
 * bound decides the path).
 * Written from the mutants `npm run mutation` left alive (docs/mutation-survivors.md); in TESTS
 * of scripts/mutation.mjs.
 */
import { expect, test, vi } from "vitest";
import { Tensor } from "../../src/tensor/tensor.js";
import { HistogramObserver } from "../../src/quant/observer-histogram.js";
import { loadGolden } from "./helpers.js";

test("fixed-qparams presets: tanh S = 2/256, Z = 128; sigmoid S = 1/256, Z = 0; both uint8 [0, 255] per tensor", async () => {
  vi.resetModules();
  const m = await import("../../src/quant/observer-fixed.js");
  const describe = (o: InstanceType<typeof m.FixedQParamsObserver>) => [o.scale.data[0], o.zero_point.data[0], o.dtype, o.quantMin, o.quantMax, o.qscheme];
  expect(describe(m.defaultFixedQParamsRangeNeg1to1Observer())).toEqual([2 / 256, 128, "uint8", 0, 255, "per_tensor_affine"]);
  expect(describe(m.defaultFixedQParamsRange0to1Observer())).toEqual([1 / 256, 0, "uint8", 0, 255, "per_tensor_affine"]);
});

test("min/max presets as PyTorch's (default_observer, default_weight_observer, the ±127 weight observers, per channel)", async () => {
  // observer-fixed.js imports observer.js, so a fresh import re-runs these presets inside a test too.
  vi.resetModules();
  const m = await import("../../src/quant/observer.js");
  const describe = (o: InstanceType<typeof m.MinMaxObserver> | InstanceType<typeof m.PerChannelMinMaxObserver>) => [o.dtype, o.qscheme, o.quantMin, o.quantMax, o.eps.data[0]];
  const eps = Math.fround(2 ** -23);
  expect(describe(m.defaultObserver())).toEqual(["uint8", "per_tensor_affine", 0, 127, eps]);
  expect(describe(m.defaultWeightObserver())).toEqual(["int8", "per_tensor_symmetric", -128, 127, eps]);
  expect(describe(m.weightObserverRangeNeg127To127())).toEqual(["int8", "per_tensor_symmetric", -127, 127, 2 ** -12]);
  expect(describe(m.defaultPerChannelWeightObserver())).toEqual(["int8", "per_channel_symmetric", -128, 127, eps]);
  expect(describe(m.perChannelWeightObserverRangeNeg127To127())).toEqual(["int8", "per_channel_symmetric", -127, 127, 2 ** -12]);
});

test("histogram preset: uint8 [0, 127] (PyTorch's default_histogram_observer)", async () => {
  vi.resetModules();
  const m = await import("../../src/quant/observer-histogram.js");
  const o = m.defaultHistogramObserver();
  expect([o.dtype, o.quantMin, o.quantMax, o.bins]).toEqual(["uint8", 0, 127, 2048]);
});

test("HistogramObserver prints its range", () => {
  const o = new HistogramObserver({ bins: 8 });
  expect(o.extraRepr()).toBe("min_val=Infinity, max_val=-Infinity");
  o.forward(new Tensor(Float32Array.of(-1.5, 0.25, 3), [3]));
  expect(o.extraRepr()).toBe("min_val=-1.5, max_val=3");
});

test("HistogramObserver on 10^5 values with single outliers: the searched range equals PyTorch's", () => {
  const G = loadGolden("histogram_edges.json");
  for (const c of G.cases) {
    const n = G.n - c.lows.length - c.highs.length;
    const x = new Float32Array(G.n);
    for (let i = 0; i < n; i++) x[i] = ((i * 7919) % 10000) / 5000 - 1;
    x.set([...c.lows, ...c.highs], n);
    const o = new HistogramObserver();
    o.forward(new Tensor(x, [G.n]));
    const q = o.calculateQParams();
    expect([o.min_val.data[0], o.max_val.data[0], q.scale.data[0], q.zeroPoint.data[0]], c.name).toEqual([c.min_val, c.max_val, c.scale, c.zero_point]);
  }
});
