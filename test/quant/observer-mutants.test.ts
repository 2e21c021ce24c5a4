/**
 * HistogramObserver against PyTorch 1.13 with few bins (scripts/golden/histogram_small.py →
 * test/golden/quant/histogram_small.json): every step's min/max, the whole histogram and the
 * qparams of the non-linear search, over sequences that grow the range to the left on negative
 * data (once tiling the old range exactly), stay inside it, start constant, or carry outliers;
 * empty, non-finite and too-narrow batches; the min/max observers' non-finite policy (skipped
 * and counted, per channel too), float64 and large inputs on every backend; and the state-dict rules of its
 * min_val/max_val buffers; every observer's argument errors with the exact message naming the
 * class and the value. Written from the mutants `npm run mutation` left alive in
 * src/quant/observer-histogram.ts (docs/mutation-survivors.md); runs on the default backend
 * (the observer has no backend-specific path).
 */
import { describe, expect, test } from "vitest";
import { Tensor } from "../../src/tensor/tensor.js";
import { DTypeError, NotSupportedError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { HistogramObserver } from "../../src/quant/observer-histogram.js";
import {
  MinMaxObserver, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, PerChannelMinMaxObserver, toObserverFactory,
} from "../../src/quant/observer.js";
import { FixedQParamsObserver, PlaceholderObserver } from "../../src/quant/observer-fixed.js";
import { aminmax, aminmaxPerChannel } from "../../src/quant/minmax.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";
import { loadGolden } from "./helpers.js";
import { expectError } from "../expect-error.js";

interface Step { min_val: number; max_val: number; histogram: number[]; scale: number; zero_point: number }
const G = loadGolden("histogram_small.json");

describe("HistogramObserver with few bins equals PyTorch at every step", () => {
  for (const c of G.cases as { kwargs: Record<string, unknown>; sequence: string; steps: Step[] }[]) {
    test(`${JSON.stringify(c.kwargs)} on ${c.sequence}`, () => {
      const o = new HistogramObserver(c.kwargs as never);
      (G.sequences[c.sequence] as number[][]).forEach((b, i) => {
        o.forward(new Tensor(Float32Array.from(b), [b.length]));
        const want = c.steps[i];
        const where = `${c.sequence} step ${i}`;
        expect([o.min_val.data[0], o.max_val.data[0]], where).toEqual([want.min_val, want.max_val]);
        expectIdentical(o.histogram.data, want.histogram, `${where} histogram`);
        const q = o.calculateQParams();
        expect([q.scale.data[0], q.zeroPoint.data[0]], `${where} qparams`).toEqual([want.scale, want.zero_point]);
      });
    });
  }

  test("a float64 batch is observed as its float32 values", () => {
    const b = (G.sequences.outliers as number[][])[0];
    const a = new HistogramObserver({ bins: 8, upsampleRate: 2 });
    const d = new HistogramObserver({ bins: 8, upsampleRate: 2 });
    a.forward(new Tensor(Float32Array.from(b), [b.length]));
    d.forward(new Tensor(Float64Array.from(b), [b.length]));
    expectIdentical(d.histogram.data, a.histogram.data, "float64 histogram");
    expect([d.min_val.data[0], d.max_val.data[0]]).toEqual([a.min_val.data[0], a.max_val.data[0]]);
  });
});

describe("HistogramObserver batches it must not learn from", () => {
  test("an empty batch changes nothing and is not counted as non-finite", () => {
    const o = new HistogramObserver({ bins: 8 });
    o.forward(new Tensor(Float32Array.of(-1, 2, 0.5), [3]));
    const before = [o.min_val.data[0], o.max_val.data[0], Array.from(o.histogram.data)];
    expect(o.forward(new Tensor(new Float32Array(0), [0, 3])).shape).toEqual([0, 3]);
    expect([o.min_val.data[0], o.max_val.data[0], Array.from(o.histogram.data)]).toEqual(before);
    expect([o.nonFiniteBatches, o.nonFiniteValues]).toEqual([0, 0]);
  });

  test("a batch holding NaN or ±inf is skipped whole and counted", () => {
    const o = new HistogramObserver({ bins: 8 });
    o.forward(new Tensor(Float32Array.of(-1, 2, 0.5), [3]));
    const before = [o.min_val.data[0], o.max_val.data[0], Array.from(o.histogram.data)];
    o.forward(new Tensor(Float32Array.of(-4, NaN, 7), [3]));
    o.forward(new Tensor(Float32Array.of(Infinity, 1, -Infinity), [3]));
    expect([o.min_val.data[0], o.max_val.data[0], Array.from(o.histogram.data)]).toEqual(before);
    expect([o.nonFiniteBatches, o.nonFiniteValues]).toEqual([2, 3]);
  });

  test("a range too narrow to widen (bin width 0 in float32) is a ValueError naming downsample_rate, as PyTorch fails there", () => {
    const o = new HistogramObserver({ bins: 8, upsampleRate: 2 });
    o.forward(new Tensor(Float32Array.of(0, 1e-44), [2]));
    expect(() => o.forward(new Tensor(Float32Array.of(-1, 1), [2]))).toThrow(
      new ValueError("HistogramObserver: cannot convert downsample_rate = Infinity to an integer"),
    );
  });
});

describe("HistogramObserver construction and degenerate ranges", () => {
  test("its range errors name the class; default_histogram_observer is uint8 [0, 127]", async () => {
    expect(() => new HistogramObserver({ quantMin: 5, quantMax: 1 } as never)).toThrow(new ValueError("HistogramObserver: quantMin (5) must be less than quantMax (1)"));
    const { defaultHistogramObserver } = await import("../../src/quant/observer-histogram.js");
    const d = defaultHistogramObserver();
    expect([d.quantMin, d.quantMax, d.dtype]).toEqual([0, 127, "uint8"]);
  });

  test("a constant batch so large that ±1 does not widen it is a ValueError (PyTorch fails there too)", () => {
    const o = new HistogramObserver({ bins: 8 });
    expect(() => o.forward(new Tensor(Float32Array.of(1e20, 1e20), [2]))).toThrow(new ValueError("histc: max must be larger than min"));
  });
});

describe("HistogramObserver state dicts", () => {
  test("min_val / max_val may come in another size (PyTorch resizes them); other buffers may not", () => {
    const src = new HistogramObserver({ bins: 8 });
    src.forward(new Tensor(Float32Array.of(-1, 0.5, 2, 3), [4]));
    const sd = src.stateDict();
    // A checkpoint whose min_val / max_val are 1-element vectors instead of scalars loads.
    const dst = new HistogramObserver({ bins: 8 });
    dst.loadStateDict({ ...sd, min_val: new Tensor(Float32Array.of(-1), [1]), max_val: new Tensor(Float32Array.of(3), [1]) });
    expect([dst.min_val.data[0], dst.max_val.data[0]]).toEqual([-1, 3]);
    expectIdentical(dst.histogram.data, src.histogram.data, "histogram");
    // An empty min_val / max_val (an unobserved checkpoint of another layout) replaces the buffers.
    const empty = new HistogramObserver({ bins: 8 });
    empty.loadStateDict({ ...sd, min_val: new Tensor(new Float32Array(0), [0]), max_val: new Tensor(new Float32Array(0), [0]) });
    expect([empty.min_val.shape, empty.max_val.shape, empty.min_val.dtype]).toEqual([[0], [0], "float32"]);
    // The histogram is not resizable, and min_val must stay a float.
    expect(() => new HistogramObserver({ bins: 8 }).loadStateDict({ ...sd, histogram: new Tensor(new Float32Array(4), [4]) })).toThrow(ShapeError);
    expect(() => new HistogramObserver({ bins: 8 }).loadStateDict({ ...sd, min_val: new Tensor(Int32Array.of(0), []) })).toThrow(
      "dtype mismatch for min_val: checkpoint has int32, current model has float32",
    );
    expect(() => new HistogramObserver({ bins: 8 }).loadStateDict({ ...sd, max_val: new Tensor(Int32Array.of(0), []) })).toThrow(DTypeError);
  });
});

describe("observer argument errors name the class and the value", () => {
  const two = () => new Tensor(Float32Array.of(1, 2, 3, 4), [2, 2]);
  const three = () => new Tensor(Float32Array.of(1, 2, 3, 4, 5, 6), [3, 2]);
  const cases: [() => unknown, new (...a: never[]) => Error, string][] = [
    [() => new MinMaxObserver({ qscheme: "per_channel_affine" } as never), ValueError, "MinMaxObserver: qscheme must be per_tensor_affine or per_tensor_symmetric, got per_channel_affine"],
    [() => new MovingAverageMinMaxObserver({ qscheme: "per_channel_affine" } as never), ValueError, "MovingAverageMinMaxObserver: qscheme must be per_tensor_affine or per_tensor_symmetric, got per_channel_affine"],
    [() => new PerChannelMinMaxObserver({ qscheme: "per_tensor_affine" } as never), ValueError, "PerChannelMinMaxObserver: qscheme must be per_channel_affine or per_channel_symmetric, got per_tensor_affine"],
    [() => new MovingAveragePerChannelMinMaxObserver({ qscheme: "per_tensor_affine" } as never), ValueError, "MovingAveragePerChannelMinMaxObserver: qscheme must be per_channel_affine or per_channel_symmetric, got per_tensor_affine"],
    [() => new MinMaxObserver({ qscheme: "per_tensor_symmetric", reduceRange: true } as never), NotSupportedError, "MinMaxObserver: cannot reduce range for symmetric quantization for uint8"],
    [() => new MovingAverageMinMaxObserver({ qscheme: "per_tensor_symmetric", reduceRange: true } as never), NotSupportedError, "MovingAverageMinMaxObserver: cannot reduce range for symmetric quantization for uint8"],
    [() => new PerChannelMinMaxObserver({ qscheme: "per_channel_symmetric", reduceRange: true } as never), NotSupportedError, "PerChannelMinMaxObserver: cannot reduce range for symmetric quantization for uint8"],
    [() => new PerChannelMinMaxObserver({ chAxis: 1.5 } as never), ValueError, "PerChannelMinMaxObserver: chAxis must be an integer, got 1.5"],
    [() => new MovingAveragePerChannelMinMaxObserver({ chAxis: 1.5 } as never), ValueError, "MovingAveragePerChannelMinMaxObserver: chAxis must be an integer, got 1.5"],
    [() => new HistogramObserver({ qscheme: "per_channel_affine" } as never), ValueError, "HistogramObserver: qscheme must be per_tensor_affine or per_tensor_symmetric, got per_channel_affine"],
    [() => new HistogramObserver({ bins: 1.5 }), ValueError, "HistogramObserver: bins must be a positive integer, got 1.5"],
    [() => new HistogramObserver({ upsampleRate: 0 }), ValueError, "HistogramObserver: upsampleRate must be a positive integer, got 0"],
    [() => new FixedQParamsObserver({} as never), ValueError, "FixedQParamsObserver: scale must be a positive number, got undefined"],
    [() => toObserverFactory(5 as never), ValueError, "observer: expected an observer class or factory, got number"],
    [() => { const o = new PerChannelMinMaxObserver({ chAxis: 0 }); o.forward(two()); o.forward(three()); }, ShapeError, "PerChannelMinMaxObserver: input has 3 channels along axis 0, the running statistics 2"],
    [() => { const o = new MovingAveragePerChannelMinMaxObserver({ chAxis: 0 }); o.forward(two()); o.forward(three()); }, ShapeError, "MovingAveragePerChannelMinMaxObserver: input has 3 channels along axis 0, the running statistics 2"],
  ];
  test.each(cases.map((c) => [c[2], c] as const))("%s", (_m, [fn, type, message]) => expectError(fn, type, message));

  test("the limits themselves are accepted: symmetric int8 with reduce_range, bins = 1, upsampleRate = 1", () => {
    expect(new MinMaxObserver({ qscheme: "per_tensor_symmetric", dtype: "int8", reduceRange: true } as never).quantMax).toBe(63);
    const h = new HistogramObserver({ bins: 1, upsampleRate: 1 });
    h.forward(new Tensor(Float32Array.of(-1, 2), [2]));
    expect(Array.from(h.histogram.data)).toEqual([2]);
  });
});

describeEachBackend("min/max observers: batches they must not learn from, and their statistics", () => {
  const perTensor = { MinMaxObserver: () => new MinMaxObserver(), MovingAverageMinMaxObserver: () => new MovingAverageMinMaxObserver() };
  const perChannel = {
    PerChannelMinMaxObserver: () => new PerChannelMinMaxObserver({ chAxis: 1 }),
    MovingAveragePerChannelMinMaxObserver: () => new MovingAveragePerChannelMinMaxObserver({ chAxis: 1 }),
  };
  const state = (o: { min_val: Tensor; max_val: Tensor }) => [Array.from(o.min_val.data), Array.from(o.max_val.data)];

  for (const [name, make] of Object.entries({ ...perTensor, ...perChannel })) {
    test(`${name}: empty batches are not counted; NaN / ±inf batches are skipped whole and counted`, () => {
      const o = make();
      o.forward(new Tensor(Float32Array.of(-1, 2, 0.5, 3, -2, 1), [2, 3]));
      const before = state(o);
      o.forward(new Tensor(new Float32Array(0), [0, 3]));
      expect([o.nonFiniteBatches, o.nonFiniteValues], "empty").toEqual([0, 0]);
      o.forward(new Tensor(Float32Array.of(-1, NaN, 0.5, 3, -2, 1), [2, 3]));
      o.forward(new Tensor(Float32Array.of(-1, 2, Infinity, 3, -2, 1), [2, 3])); // one channel's max only
      o.forward(new Tensor(Float32Array.of(-Infinity, 2, 0.5, 3, NaN, 1), [2, 3]));
      expect(state(o)).toEqual(before);
      expect([o.nonFiniteBatches, o.nonFiniteValues]).toEqual([3, 4]);
    });
  }

  test("aminmax / aminmaxPerChannel: float64 and long inputs, NaN propagating per channel", () => {
    const n = 3000;
    for (const mk of [(a: number[]) => Float64Array.from(a), (a: number[]) => Float32Array.from(a)]) {
      const v = mk(Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7))));
      const want = [Math.fround(Math.min(...v)), Math.fround(Math.max(...v))];
      expect(aminmax(v)).toEqual(want);
      expect(aminmax(v.subarray(0, 10))).toEqual([Math.fround(Math.min(...v.subarray(0, 10))), Math.fround(Math.max(...v.subarray(0, 10)))]);
      const [mins, maxs] = aminmaxPerChannel(new Tensor(v, [n / 3, 3]), 1);
      for (let c = 0; c < 3; c++) {
        const ch = Array.from(v).filter((_, i) => i % 3 === c);
        expect([mins[c], maxs[c]], `channel ${c}`).toEqual([Math.fround(Math.min(...ch)), Math.fround(Math.max(...ch))]);
      }
      const withNaN = v.slice();
      withNaN[4] = NaN; // channel 1
      const [m2, x2] = aminmaxPerChannel(new Tensor(withNaN, [n / 3, 3]), 1);
      expect([Number.isNaN(m2[1]), Number.isNaN(x2[1]), m2[0], x2[2]]).toEqual([true, true, mins[0], maxs[2]]);
      expect(aminmax(withNaN).map(Number.isNaN)).toEqual([true, true]);
    }
  });
});

describe("min/max observer plumbing", () => {
  test("FixedQParamsObserver: no options is the scale error; dtype, qscheme and range defaults", () => {
    expect(() => new FixedQParamsObserver(undefined as never)).toThrow(new ValueError("FixedQParamsObserver: scale must be a positive number, got undefined"));
    const f = new FixedQParamsObserver({ scale: 0.5, zeroPoint: 3 });
    expect([f.dtype, f.qscheme, f.quantMin, f.quantMax]).toEqual(["uint8", "per_tensor_affine", 0, 255]);
    const g = new FixedQParamsObserver({ scale: 0.5, zeroPoint: -3, dtype: "int8", qscheme: "per_tensor_symmetric", quantMin: -128, quantMax: 127 } as never);
    expect([g.dtype, g.qscheme, g.quantMin, g.quantMax]).toEqual(["int8", "per_tensor_symmetric", -128, 127]);
  });

  test("printing shows the running range; a bad FixedQParamsObserver dtype names the class; PlaceholderObserver has no custom op", () => {
    const m = new MinMaxObserver();
    m.forward(new Tensor(Float32Array.of(-1.5, 2), [2]));
    const p = new PerChannelMinMaxObserver({ chAxis: 0 });
    p.forward(new Tensor(Float32Array.of(-1, 2, 3, 4), [2, 2]));
    const h = new HistogramObserver({ bins: 4 });
    h.forward(new Tensor(Float32Array.of(-0.5, 3), [2]));
    expect([String(m), String(p), String(h)]).toEqual([
      "MinMaxObserver(min_val=-1.5, max_val=2)", "PerChannelMinMaxObserver(min_val=[-1, 3], max_val=[2, 4])", "HistogramObserver(min_val=-0.5, max_val=3)",
    ]);
    expect(() => new FixedQParamsObserver({ scale: 1, zeroPoint: 0, dtype: "int7" } as never)).toThrow(
      new ValueError("FixedQParamsObserver: dtype: expected one of uint8|int8|int32 (or quint8|qint8|qint32), got 'int7'"),
    );
    expect(new PlaceholderObserver().customOpName).toBe("");
  });

  test("per-channel state dicts: min_val/max_val resize, a float min_val is required, other buffers keep their shape", () => {
    const a = new PerChannelMinMaxObserver({ chAxis: 0 });
    a.forward(new Tensor(Float32Array.of(-1, 2, 3, -4, 5, 6), [3, 2]));
    const b = new PerChannelMinMaxObserver({ chAxis: 0 });
    b.loadStateDict(a.stateDict());
    expect(state2(b)).toEqual([[-1, -4, 5], [2, 3, 6]]);
    expect(() => new PerChannelMinMaxObserver().loadStateDict({ ...a.stateDict(), min_val: new Tensor(Int32Array.of(1, 2, 3), [3]) })).toThrow(
      "dtype mismatch for min_val: checkpoint has int32, current model has float32",
    );
    expect(() => new PerChannelMinMaxObserver().loadStateDict({ ...a.stateDict(), eps: new Tensor(Float32Array.of(1, 1), [2]) })).toThrow(ShapeError);
    b.resetMinMaxVals();
    expect([b.min_val.shape, b.max_val.shape]).toEqual([[0], [0]]);
    expect([new MinMaxObserver({ reduceRange: true }).reduceRange, new MinMaxObserver().reduceRange]).toEqual([true, false]);
  });
});

const state2 = (o: { min_val: Tensor; max_val: Tensor }) => [Array.from(o.min_val.data), Array.from(o.max_val.data)];
