/** Observers against PyTorch 1.13 goldens: running statistics, qparams, state-dict layout, factories. */
import { describe, expect, test } from "vitest";
import { NotSupportedError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { Tensor } from "../../src/tensor/tensor.js";
import {
  MinMaxObserver,
  MovingAverageMinMaxObserver,
  MovingAveragePerChannelMinMaxObserver,
  ObserverBase,
  PerChannelMinMaxObserver,
  defaultObserver,
  defaultPerChannelWeightObserver,
  toObserverFactory,
} from "../../src/quant/observer.js";
import { FixedQParamsObserver, NoopObserver, PlaceholderObserver, defaultFixedQParamsRange0to1Observer } from "../../src/quant/observer-fixed.js";
import { HistogramObserver, histc } from "../../src/quant/observer-histogram.js";
import { type GTensor, expectExact, expectNear, expectUlps, f32, gtensor, loadGolden, stateEntries } from "./helpers.js";

const G = loadGolden("observers.json");

const CLASSES: Record<string, new (opts?: any) => ObserverBase> = {
  MinMaxObserver,
  MovingAverageMinMaxObserver,
  PerChannelMinMaxObserver,
  MovingAveragePerChannelMinMaxObserver,
  HistogramObserver,
};

interface Step {
  min_val: GTensor;
  max_val: GTensor;
  scale: GTensor;
  zero_point: GTensor;
  histogram_sum?: number;
}

describe("observers match PyTorch over batch sequences", () => {
  for (const cfg of G.configs) {
    test(`${cfg.observer} ${JSON.stringify(cfg.kwargs)} on '${cfg.sequence}'`, () => {
      const obs = new CLASSES[cfg.observer](cfg.kwargs) as ObserverBase & { min_val: Tensor; max_val: Tensor; histogram?: Tensor };
      const batches: GTensor[] = G.sequences[cfg.sequence];
      cfg.steps.forEach((step: Step, i: number) => {
        const x = gtensor(batches[i]);
        expect(obs.forward(x)).toBe(x);
        const what = `step ${i}`;
        expect([...obs.min_val.shape], what).toEqual(step.min_val.shape);
        expectExact(obs.min_val.data, f32(step.min_val), `${what} min_val`);
        expectExact(obs.max_val.data, f32(step.max_val), `${what} max_val`);
        const q = obs.calculateQParams();
        expectUlps(q.scale.data, f32(step.scale), 1, `${what} scale`);
        expect(Array.from(q.zeroPoint.data), `${what} zero_point`).toEqual(step.zero_point.data);
        if (step.histogram_sum !== undefined) {
          const sum = Array.from(obs.histogram!.data).reduce((a, b) => a + b, 0);
          expectNear([sum], [step.histogram_sum], 1e-6, 1e-4, `${what} histogram sum`);
        }
      });
      if (cfg.final_histogram) expectNear(obs.histogram!.data, f32(cfg.final_histogram), 1e-6, 1e-5, "final histogram");
      expect(stateEntries(obs.stateDict())).toEqual(cfg.state_dict);
    });
  }
});

describe("observer behaviour", () => {
  test("unobserved observers give scale 1, zero point 0", () => {
    for (const o of [new MinMaxObserver(), new PerChannelMinMaxObserver(), new HistogramObserver()]) {
      const q = o.calculateQParams();
      expect([q.scale.data[0], q.zeroPoint.data[0], q.scale.dtype, q.zeroPoint.dtype]).toEqual([1, 0, "float32", "int32"]);
    }
  });

  test("empty input is ignored; resetMinMaxVals forgets", () => {
    const o = new MinMaxObserver();
    o.forward(new Tensor(new Float32Array(0), [0, 3]));
    expect(o.min_val.data[0]).toBe(Infinity);
    o.forward(new Tensor(Float32Array.of(-1, 2), [2]));
    o.resetMinMaxVals();
    expect([o.min_val.data[0], o.max_val.data[0]]).toEqual([Infinity, -Infinity]);
  });

  test("per-channel state dicts load into fresh observers (buffers resize as in PyTorch)", () => {
    const a = new MovingAveragePerChannelMinMaxObserver({ dtype: "int8", qscheme: "per_channel_symmetric" });
    a.forward(new Tensor(Float32Array.from({ length: 12 }, (_, i) => i - 5.5), [3, 4]));
    const b = new MovingAveragePerChannelMinMaxObserver({ dtype: "int8", qscheme: "per_channel_symmetric" });
    b.loadStateDict(a.stateDict());
    expect(Array.from(b.min_val.data)).toEqual(Array.from(a.min_val.data));
    expect(Array.from(b.calculateQParams().scale.data)).toEqual(Array.from(a.calculateQParams().scale.data));
    const h = new HistogramObserver();
    h.loadStateDict(new HistogramObserver().stateDict());
  });

  test("channel count changes are a ShapeError; a bad axis an AxisError", () => {
    const o = new PerChannelMinMaxObserver();
    o.forward(new Tensor(new Float32Array(6), [3, 2]));
    expect(() => o.forward(new Tensor(new Float32Array(8), [4, 2]))).toThrow(ShapeError);
    expect(() => new PerChannelMinMaxObserver({ chAxis: 3 }).forward(new Tensor(new Float32Array(6), [3, 2]))).toThrow(/chAxis 3/);
  });

  test("invalid options are rejected like PyTorch", () => {
    expect(() => new MinMaxObserver({ qscheme: "per_channel_affine" })).toThrow(ValueError);
    expect(() => new PerChannelMinMaxObserver({ qscheme: "per_tensor_affine" })).toThrow(ValueError);
    expect(() => new MinMaxObserver({ qscheme: "per_tensor_symmetric", reduceRange: true })).toThrow(NotSupportedError);
    expect(() => new MinMaxObserver({ quantMin: 0, quantMax: 0 })).toThrow(/quantMin \(0\) must be less than quantMax/);
    expect(() => new HistogramObserver({ bins: 0 })).toThrow(/bins/);
    expect(() => new PlaceholderObserver().calculateQParams()).toThrow(NotSupportedError);
    expect(new NoopObserver().dtype).toBe("float16");
  });

  test("a batch holding NaN/±Infinity is counted and skipped (issue #16 policy; PyTorch would propagate NaN)", () => {
    const o = new MinMaxObserver();
    o.forward(new Tensor(Float32Array.of(1, NaN, -1), [3]));
    expect([o.min_val.data[0], o.max_val.data[0]]).toEqual([Infinity, -Infinity]);
    o.forward(new Tensor(Float32Array.of(0.5, -0.25), [2]));
    o.forward(new Tensor(Float32Array.of(Infinity, 3, -Infinity), [3]));
    expect([o.min_val.data[0], o.max_val.data[0]]).toEqual([-0.25, 0.5]);
    expect([o.nonFiniteValues, o.nonFiniteBatches]).toEqual([3, 2]);
  });

  test("histc follows torch.histc: last edge inclusive, outside dropped, lo == hi uses the data range", () => {
    expect(Array.from(histc([0, 0.5, 1, 1.5, -1, 2], 2, 0, 1))).toEqual([1, 2]);
    expect(Array.from(histc([3, 3, 3], 2, 0, 0))).toEqual([0, 3]);
    expect(Array.from(histc([0.25, 0.75], 2, 0, 0))).toEqual([1, 1]);
  });
});

describe("factories (withArgs)", () => {
  test("build fresh instances with preset options, overridable", () => {
    const f = MinMaxObserver.withArgs({ dtype: "int8", qscheme: "per_tensor_symmetric" });
    const a = f();
    const b = f();
    expect(a).not.toBe(b);
    expect([a.dtype, a.qscheme, a.quantMin, a.quantMax]).toEqual(["int8", "per_tensor_symmetric", -128, 127]);
    const c = f({ quantMin: -8, quantMax: 7 });
    expect([c.quantMin, c.quantMax]).toEqual([-8, 7]);
    const d = f.withArgs({ reduceRange: true })();
    expect([d.quantMin, d.quantMax]).toEqual([-64, 63]);
    expect(f.args).toEqual({ dtype: "int8", qscheme: "per_tensor_symmetric" });
    expect(f.target).toBe(MinMaxObserver);
  });

  test("PyTorch's default observers", () => {
    expect([defaultObserver().quantMin, defaultObserver().quantMax]).toEqual([0, 127]);
    const w = defaultPerChannelWeightObserver();
    expect([w.dtype, w.qscheme, w.chAxis]).toEqual(["int8", "per_channel_symmetric", 0]);
    const fixed = defaultFixedQParamsRange0to1Observer();
    expect(fixed).toBeInstanceOf(FixedQParamsObserver);
    expect([fixed.scale.data[0], fixed.zero_point.data[0]]).toEqual([1 / 256, 0]);
    expect(stateEntries(fixed.stateDict())).toEqual([
      ["scale", "float32", [1]],
      ["zero_point", "int32", [1]],
    ]);
  });

  test("toObserverFactory accepts classes and factories", () => {
    expect(toObserverFactory(MinMaxObserver)({ reduceRange: true })).toBeInstanceOf(MinMaxObserver);
    expect(toObserverFactory(defaultObserver)()).toBeInstanceOf(MinMaxObserver);
  });
});
