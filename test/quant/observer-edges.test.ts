/**
 * Observers beyond the goldens: per-channel statistics along a middle axis (outer and inner
 * both > 1) against a hand loop, an empty batch that must leave every statistic untouched,
 * and the channel-axis check with its exact message. Runs on every backend. Written to kill
 * the mutants `npm run mutation` found surviving (docs/TESTING.md).
 */
import { expect, test } from "vitest";
import { Tensor } from "../../src/tensor/tensor.js";
import { AxisError } from "../../src/tensor/errors.js";
import {
  MinMaxObserver, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, PerChannelMinMaxObserver, channelAxis,
} from "../../src/quant/observer.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";

const stats = (o: { min_val: Tensor; max_val: Tensor }) => [Array.from(o.min_val.data), Array.from(o.max_val.data)];

describeEachBackend("observer edges", () => {
  test("per channel along the middle axis of [2, 3, 4] (and −2)", () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => Math.fround(Math.sin(i * 1.7) * (1 + (i % 5))));
    const mins = [Infinity, Infinity, Infinity], maxs = [-Infinity, -Infinity, -Infinity];
    x.forEach((v, i) => {
      const c = Math.floor(i / 4) % 3;
      mins[c] = Math.min(mins[c], v);
      maxs[c] = Math.max(maxs[c], v);
    });
    for (const chAxis of [1, -2]) {
      const o = new PerChannelMinMaxObserver({ chAxis });
      o.forward(new Tensor(x, [2, 3, 4]));
      expectIdentical(o.min_val.data, mins, "min");
      expectIdentical(o.max_val.data, maxs, "max");
      const m = new MovingAveragePerChannelMinMaxObserver({ chAxis });
      m.forward(new Tensor(x, [2, 3, 4]));
      expectIdentical(m.min_val.data, mins, "moving min (first batch)");
    }
  });

  test("an empty batch leaves every statistic as it was", () => {
    const x = new Tensor(Float32Array.of(-1, 2, -3, 4), [2, 2]);
    const empty = new Tensor(new Float32Array(0), [0, 2]);
    for (const o of [new MinMaxObserver(), new MovingAverageMinMaxObserver(), new PerChannelMinMaxObserver({ chAxis: 1 }), new MovingAveragePerChannelMinMaxObserver({ chAxis: 1 })]) {
      const before = stats(o);
      expect(o.forward(empty)).toBe(empty);
      expect(stats(o), `${o.constructor.name} before any data`).toEqual(before);
      o.forward(x);
      const after = stats(o);
      o.forward(empty);
      expect(stats(o), `${o.constructor.name} after data`).toEqual(after);
    }
  });
});

test("channelAxis: in range, negative from the end, else an AxisError naming the axis and shape", () => {
  const x = new Tensor(new Float32Array(6), [2, 3]);
  expect(channelAxis(1, x, "w")).toBe(1);
  expect(channelAxis(-1, x, "w")).toBe(1);
  expect(channelAxis(-2, x, "w")).toBe(0);
  for (const axis of [2, -3, 0.5]) {
    expect(() => channelAxis(axis, x, "w")).toThrow(AxisError);
    expect(() => channelAxis(axis, x, "w")).toThrow(`w: chAxis ${axis} is out of range for input of shape [2, 3]`);
  }
});

test("FixedQParamsObserver: fixed buffers, defaults, pass-through, exact errors", async () => {
  const { FixedQParamsObserver, PlaceholderObserver, NoopObserver } = await import("../../src/quant/observer-fixed.js");
  const { NotSupportedError, ValueError } = await import("../../src/tensor/errors.js");
  const o = new FixedQParamsObserver({ scale: 2 / 256, zeroPoint: 128 });
  expect([o.qscheme, o.quantMin, o.quantMax, o.dtype]).toEqual(["per_tensor_affine", 0, 255, "uint8"]);
  const q = o.calculateQParams();
  expect(q.scale).toBe(o.scale);
  expect([q.scale.data[0], q.zeroPoint.data[0]]).toEqual([2 / 256, 128]);
  const x = new Tensor(Float32Array.of(-5, 5), [2]);
  expect(o.forward(x)).toBe(x);
  const s = new FixedQParamsObserver({ scale: 1 / 128, zeroPoint: 0, dtype: "int8", qscheme: "per_tensor_symmetric", quantMin: -128, quantMax: 127 });
  expect([s.qscheme, s.quantMin, s.quantMax, s.dtype]).toEqual(["per_tensor_symmetric", -128, 127, "int8"]);
  expect(() => new FixedQParamsObserver({ scale: 0, zeroPoint: 0 })).toThrow(ValueError);
  expect(() => new FixedQParamsObserver({ scale: 0, zeroPoint: 0 })).toThrow("FixedQParamsObserver: scale must be a positive number, got 0");
  expect(() => new FixedQParamsObserver({ scale: 1, zeroPoint: 0.5 })).toThrow("FixedQParamsObserver: zeroPoint must be an integer, got 0.5");
  const p = new PlaceholderObserver({ customOpName: "op" });
  expect([p.dtype, p.customOpName, new NoopObserver().dtype]).toEqual(["float32", "op", "float16"]);
  expect(p.forward(x)).toBe(x);
  expect(() => p.calculateQParams()).toThrow(NotSupportedError);
  expect(() => p.calculateQParams()).toThrow("calculateQParams should not be called for PlaceholderObserver");
});

test("histc equals torch.histc at the edges (histc_edges.json: dropped values, x = hi, lo = hi, empty, errors)", async () => {
  const { histc } = await import("../../src/quant/observer-histogram.js");
  const { ValueError } = await import("../../src/tensor/errors.js");
  const { loadGolden } = await import("./helpers.js");
  const G = loadGolden("histc_edges.json") as { cases: { bins: number; lo: number; hi: number; x: number[]; hist: number[] }[]; errors: { lo: string; hi: string; error: string }[] };
  for (const c of G.cases) expect(Array.from(histc(Float32Array.from(c.x), c.bins, c.lo, c.hi)), JSON.stringify(c)).toEqual(c.hist);
  for (const e of G.errors) {
    const num = (s: string) => (s === "inf" ? Infinity : s === "-inf" ? -Infinity : Number(s));
    const lo = num(e.lo), hi = num(e.hi);
    expect(() => histc([0.5], 2, lo, hi)).toThrow(ValueError);
    expect(() => histc([0.5], 2, lo, hi)).toThrow(e.error.replace(/^torch\./, "").replace("[0, inf]", "[0, Infinity]").replace("[nan, 1]", "[NaN, 1]"));
  }
});

test("PyTorch's default fixed-qparams observers: sigmoid S = 1/256, Z = 0; tanh S = 2/256, Z = 128 (uint8, [0, 255])", async () => {
  const { defaultFixedQParamsRange0to1Observer, defaultFixedQParamsRangeNeg1to1Observer } = await import("../../src/quant/observer-fixed.js");
  const sig = defaultFixedQParamsRange0to1Observer(), tanh = defaultFixedQParamsRangeNeg1to1Observer();
  expect([sig.scale.data[0], sig.zero_point.data[0], sig.dtype, sig.quantMin, sig.quantMax]).toEqual([1 / 256, 0, "uint8", 0, 255]);
  expect([tanh.scale.data[0], tanh.zero_point.data[0], tanh.dtype, tanh.quantMin, tanh.quantMax]).toEqual([2 / 256, 128, "uint8", 0, 255]);
});
