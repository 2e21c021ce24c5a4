/**
 * HistogramObserver against PyTorch 1.13 with few bins (scripts/golden/histogram_small.py →
 * test/golden/quant/histogram_small.json): every step's min/max, the whole histogram and the
 * qparams of the non-linear search, over sequences that grow the range to the left on negative
 * data, stay inside it, start constant, or carry outliers; and the state-dict rules of its
 * min_val/max_val buffers. Written from the mutants `npm run mutation` left alive in
 * src/quant/observer-histogram.ts (docs/mutation-survivors.md); runs on the default backend
 * (the observer has no backend-specific path).
 */
import { describe, expect, test } from "vitest";
import { Tensor } from "../../src/tensor/tensor.js";
import { DTypeError, ShapeError } from "../../src/tensor/errors.js";
import { HistogramObserver } from "../../src/quant/observer-histogram.js";
import { expectIdentical } from "../backend/helpers.js";
import { loadGolden } from "./helpers.js";

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
