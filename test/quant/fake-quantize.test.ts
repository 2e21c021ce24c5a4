/** Fake quantization against PyTorch 1.13 goldens, plus explicit straight-through mask tests. */
import { describe, expect, test } from "vitest";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { Tensor } from "../../src/tensor/tensor.js";
import "../../src/autograd/backward.js";
import { Module } from "../../src/nn/module.js";
import {
  FakeQuantize,
  FixedQParamsFakeQuantize,
  disableFakeQuant,
  disableObserver,
  enableFakeQuant,
  enableObserver,
  fakeQuantizePerChannel,
  fakeQuantizePerTensor,
} from "../../src/quant/fake-quantize.js";
import { FusedMovingAvgObsFakeQuantize } from "../../src/quant/fake-quantize-fused.js";
import {
  defaultFakeQuant,
  defaultFixedQParamsRange0to1FakeQuant,
  defaultFusedPerChannelWtFakeQuant,
  defaultPerChannelWeightFakeQuant,
} from "../../src/quant/fake-quantize-defaults.js";
import {
  MinMaxObserver,
  MovingAverageMinMaxObserver,
  MovingAveragePerChannelMinMaxObserver,
  type ObserverBase,
} from "../../src/quant/observer.js";
import { defaultFixedQParamsRange0to1Observer } from "../../src/quant/observer-fixed.js";
import { HistogramObserver } from "../../src/quant/observer-histogram.js";
import { type GTensor, expectExact, expectUlps, f32, gtensor, loadGolden, num, stateEntries, torchEntries } from "./helpers.js";

const G = loadGolden("fake_quant.json");

/** Forward, then backward of Σ y·dy; returns y and dL/dx. */
function runWithGrad(fn: (x: Tensor) => Tensor, xg: GTensor, dyg: GTensor): { y: Tensor; dx: Float32Array | null } {
  const x = gtensor(xg).requiresGrad_();
  const y = fn(x);
  if (!y.requiresGrad) return { y, dx: null };
  y.backward(gtensor(dyg));
  return { y, dx: x.grad ? (x.grad.data as Float32Array) : null };
}

describe("functional fake quantization (torch.fake_quantize_per_*_affine)", () => {
  test("per tensor: outputs and input gradients bit-exact", () => {
    for (const c of G.per_tensor) {
      const { y, dx } = runWithGrad((x) => fakeQuantizePerTensor(x, num(c.scale), c.zero_point, c.qmin, c.qmax), c.x, c.dy);
      const what = `S=${c.scale} Z=${c.zero_point} [${c.qmin}, ${c.qmax}]`;
      expectExact(y.data, f32(c.y), `${what} y`);
      expectExact(dx!, f32(c.dx), `${what} dx`);
    }
  });

  test("per channel: outputs and input gradients bit-exact", () => {
    for (const c of G.per_channel) {
      const { y, dx } = runWithGrad((x) => fakeQuantizePerChannel(x, f32(c.scales), c.zero_points.data, c.axis, c.qmin, c.qmax), c.x, c.dy);
      expectExact(y.data, f32(c.y), `axis ${c.axis} y`);
      expectExact(dx!, f32(c.dx), `axis ${c.axis} dx`);
    }
  });
});

describe("straight-through mask at the range ends", () => {
  // S = 1/4 and Z = 3 keep every product exact: q = 4x + 3, range [0, 15] ↔ x ∈ [−0.75, 3].
  const S = 0.25;
  const Z = 3;
  const cases: [number, number, number][] = [
    // x, expected x̂, expected gradient
    [-0.75, -0.75, 1], // q = 0 = qmin
    [-0.875, -0.75, 0], // 4x = −3.5 → −4 (even) → q = −1: the tie just below qmin is outside
    [-0.625, -0.5, 1], // 4x = −2.5 → −2 (even) → q = 1
    [-0.8125, -0.75, 1], // 4x = −3.25 → −3 → q = 0
    [-0.9375, -0.75, 0], // 4x = −3.75 → −4 → q = −1 < qmin
    [-1.125, -0.75, 0], // 4x = −4.5 → −4 (even) → q = −1
    [3, 3, 1], // q = 15 = qmax
    [3.125, 3, 1], // 4x = 12.5 → 12 (even) → q = 15
    [3.375, 3, 0], // 4x = 13.5 → 14 (even) → q = 17
    [3.1875, 3, 0], // 4x = 12.75 → 13 → q = 16
    [1e30, -0.75, 0], // beyond int64: ATen's conversion gives INT64_MIN → qmin
    [-Infinity, -0.75, 0],
  ];
  test("per tensor", () => {
    const x = new Tensor(Float32Array.from(cases.map((c) => c[0])), [cases.length]).requiresGrad_();
    const y = fakeQuantizePerTensor(x, S, Z, 0, 15);
    y.backward(new Tensor(new Float32Array(cases.length).fill(1), [cases.length]));
    expect(Array.from(y.data)).toEqual(cases.map((c) => c[1]));
    expect(Array.from(x.grad!.data)).toEqual(cases.map((c) => c[2]));
  });
  test("per channel (same mask rule per channel)", () => {
    const n = cases.length;
    const data = Float32Array.from([...cases.map((c) => c[0]), ...cases.map((c) => c[0] * 2)]);
    const x = new Tensor(data, [2, n]).requiresGrad_();
    const y = fakeQuantizePerChannel(x, [S, 2 * S], [Z, Z], 0, 0, 15);
    y.backward(new Tensor(new Float32Array(2 * n).fill(1), [2, n]));
    const grads = cases.map((c) => c[2]);
    expect(Array.from(x.grad!.data)).toEqual([...grads, ...grads]);
  });
  test("float64 inputs keep float64 outputs and gradients", () => {
    const x = new Tensor(Float64Array.of(-1, 0.1, 5), [3]).requiresGrad_();
    const y = fakeQuantizePerTensor(x, S, Z, 0, 15);
    y.backward(new Tensor(Float64Array.of(1, 1, 1), [3]));
    expect([y.dtype, x.grad!.dtype]).toEqual(["float64", "float64"]);
    expect(Array.from(x.grad!.data)).toEqual([0, 1, 0]);
  });
});

const OBSERVERS: Record<string, new (opts?: any) => ObserverBase> = {
  MinMaxObserver,
  MovingAverageMinMaxObserver,
  MovingAveragePerChannelMinMaxObserver,
  HistogramObserver,
};

function buildModule(m: any): FakeQuantize {
  if (m.module === "FixedQParamsFakeQuantize") return new FixedQParamsFakeQuantize({ observer: defaultFixedQParamsRange0to1Observer });
  const kw = { ...m.kwargs, observer: OBSERVERS[m.kwargs.observer] };
  return m.module === "FusedMovingAvgObsFakeQuantize" ? new FusedMovingAvgObsFakeQuantize(kw) : new FakeQuantize(kw);
}

const TOGGLES: Record<string, Record<number, (m: FakeQuantize) => void>> = {
  toggles: { 1: (m) => m.disableObserver(), 2: (m) => m.disableFakeQuant() },
  fq_off: { 2: (m) => m.disableFakeQuant() },
};

describe("fake-quantize modules follow PyTorch step by step", () => {
  for (const m of G.modules) {
    test(`${m.module} ${JSON.stringify(m.kwargs)}${m.toggles ? ` (${m.toggles})` : ""}`, () => {
      const mod = buildModule(m);
      expect(torchEntries(m.state_dict_initial)).toEqual(stateEntries(mod.stateDict()));
      m.steps.forEach((s: any, i: number) => {
        TOGGLES[m.toggles ?? ""]?.[i]?.(mod);
        const { y, dx } = runWithGrad((x) => mod.forward(x), m.batches[i], s.dy);
        const what = `step ${i}`;
        expectUlps(mod.scale.data, f32(s.scale), 0, `${what} scale`);
        expect(Array.from(mod.zero_point.data), `${what} zero_point`).toEqual(s.zero_point.data);
        if (s.min_val) {
          const obs = mod.activation_post_process as unknown as { min_val: Tensor; max_val: Tensor };
          expectExact(obs.min_val.data, f32(s.min_val), `${what} min_val`);
          expectExact(obs.max_val.data, f32(s.max_val), `${what} max_val`);
        }
        expectExact(y.data, f32(s.y), `${what} y`);
        expectExact(dx ?? f32(s.dy), f32(s.dx), `${what} dx`);
      });
      expect(stateEntries(mod.stateDict())).toEqual(torchEntries(m.state_dict));
    });
  }
});

describe("switches, state dicts, factories", () => {
  const x = new Tensor(Float32Array.from({ length: 24 }, (_, i) => (i - 9.3) / 7), [2, 3, 4]);

  test("disableFakeQuant returns the input; disableObserver freezes qparams", () => {
    const fq = new FakeQuantize();
    fq.forward(x);
    const scale = fq.scale.data[0];
    fq.disableObserver();
    fq.forward(new Tensor(Float32Array.from(x.data, (v) => v * 10), x.shape));
    expect(fq.scale.data[0]).toBe(scale);
    fq.disableFakeQuant();
    expect(fq.forward(x)).toBe(x);
    expect([fq.fake_quant_enabled.data[0], fq.observer_enabled.data[0]]).toEqual([0, 0]);
  });

  test("module-tree helpers switch every fake-quantizer", () => {
    class Two extends Module {
      constructor() {
        super();
        this.registerModule("a", new FakeQuantize());
        this.registerModule("b", defaultPerChannelWeightFakeQuant());
      }
      forward(t: Tensor): Tensor {
        return t;
      }
    }
    const net = new Two();
    const fqs = net.modules().filter((m): m is FakeQuantize => m instanceof FakeQuantize);
    disableFakeQuant(net);
    disableObserver(net);
    expect(fqs.map((f) => [f.fake_quant_enabled.data[0], f.observer_enabled.data[0]])).toEqual([[0, 0], [0, 0]]);
    enableFakeQuant(net);
    enableObserver(net);
    expect(fqs.map((f) => [f.fake_quant_enabled.data[0], f.observer_enabled.data[0]])).toEqual([[1, 1], [1, 1]]);
  });

  test("per-channel state dicts load into fresh modules (scale / zero_point resize)", () => {
    for (const make of [() => defaultPerChannelWeightFakeQuant(), () => defaultFusedPerChannelWtFakeQuant()]) {
      const a = make();
      a.forward(x);
      const b = make();
      b.loadStateDict(a.stateDict());
      expect(Array.from(b.scale.data)).toEqual(Array.from(a.scale.data));
      expect(b.zero_point.dtype).toBe("int32");
      b.disableObserver();
      expect(Array.from(b.forward(x).data)).toEqual(Array.from(a.forward(x).data));
    }
  });

  test("PyTorch's default fake-quant factories", () => {
    const act = defaultFakeQuant();
    expect([act.quantMin, act.quantMax, act.dtype, act.qscheme]).toEqual([0, 127, "uint8", "per_tensor_affine"]);
    const w = defaultPerChannelWeightFakeQuant();
    expect([w.quantMin, w.quantMax, w.isPerChannel, w.chAxis]).toEqual([-128, 127, true, 0]);
    const fixed = defaultFixedQParamsRange0to1FakeQuant();
    expect(fixed.scale).toBe((fixed.activation_post_process as unknown as { scale: Tensor }).scale);
    expect(FakeQuantize.withArgs({ quantMin: 0, quantMax: 15 })().quantMax).toBe(15);
  });

  test("bad input", () => {
    const ints = new Tensor(Int32Array.of(1, 2), [2]);
    expect(() => fakeQuantizePerTensor(ints, 1, 0, 0, 255)).toThrow(DTypeError);
    expect(() => fakeQuantizePerTensor(x, 0, 0, 0, 255)).toThrow(/scale/);
    expect(() => fakeQuantizePerTensor(x, 1, 300, 0, 255)).toThrow(/zeroPoint/);
    expect(() => fakeQuantizePerTensor(x, 1, 0, 5, 4)).toThrow(ValueError);
    expect(() => fakeQuantizePerChannel(x, [1, 1], [0, 0], 1, 0, 255)).toThrow(ShapeError);
    expect(() => fakeQuantizePerChannel(x, [1, 1, 1], [0, 0.5, 0], 1, 0, 255)).toThrow(/not an integer/);
    expect(() => new FakeQuantize({ quantMin: 0, quantMax: 300 })).toThrow(/quantMax \(300\) is out of bounds/);
    expect(() => new FakeQuantize({ quantMin: 5, quantMax: 1 })).toThrow(ValueError);
    expect(() => new FixedQParamsFakeQuantize({ observer: MinMaxObserver })).toThrow(/FixedQParamsObserver/);
    expect(() => new FusedMovingAvgObsFakeQuantize({ observer: MinMaxObserver })).toThrow(/moving-average/);
  });
});
