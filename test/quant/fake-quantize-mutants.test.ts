/**
 * Fake quantization of float64 tensors against PyTorch 1.13 (scripts/golden/fake_quant_float64.py
 * → test/golden/quant/fake_quant_float64.json): per tensor and per channel, outputs formed in
 * double (no float32 rounding), the straight-through mask, ties, codes beyond 2^24 and 2^51 with
 * int32 and wider ranges; plus the float32 kernel at the int64 limit; the fused observer +
 * fake-quantizer skipping a non-finite batch and its argument errors. Runs on every backend.
 * Written from the mutants `npm run mutation` left alive in src/quant/fake-quantize.ts
 * (docs/mutation-survivors.md).
 */
import { expect, test } from "vitest";
import "../../src/autograd/backward.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { fakeQuantizePerChannel, fakeQuantizePerTensor } from "../../src/quant/fake-quantize.js";
import { FusedMovingAvgObsFakeQuantize } from "../../src/quant/fake-quantize-fused.js";
import { MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver } from "../../src/quant/observer.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";
import { loadGolden } from "./helpers.js";

const G = loadGolden("fake_quant_float64.json");
const E = loadGolden("qparams_edges.json");

describeEachBackend("fake quantization, float64 and extreme codes", () => {
  test("float64 per tensor equals PyTorch's double kernel (output and mask)", () => {
    for (const c of G.per_tensor as { scale: number; zero_point: number; qmin: number; qmax: number; y: number[]; mask: number[] }[]) {
      const x = new Tensor(Float64Array.from(G.x as number[]), [G.x.length]).requiresGrad_();
      const y = fakeQuantizePerTensor(x, c.scale, c.zero_point, c.qmin, c.qmax);
      y.backward(new Tensor(new Float64Array(G.x.length).fill(1), [G.x.length]));
      const where = `S ${c.scale}, Z ${c.zero_point}, [${c.qmin}, ${c.qmax}]`;
      expect(y.dtype).toBe("float64");
      expectIdentical(y.data, c.y, `${where} output`);
      expectIdentical(x.grad!.data, c.mask, `${where} mask`);
    }
  });

  test("float64 per channel equals PyTorch's double kernel", () => {
    const c = G.per_channel;
    const x = new Tensor(Float64Array.from((c.x as number[][]).flat()), [3, 4]).requiresGrad_();
    const y = fakeQuantizePerChannel(x, c.scales, c.zero_points, c.axis, c.qmin, c.qmax);
    y.backward(new Tensor(new Float64Array(12).fill(1), [3, 4]));
    expectIdentical(y.data, (c.y as number[][]).flat(), "per-channel output");
    expectIdentical(x.grad!.data, (c.mask as number[][]).flat(), "per-channel mask");
  });

  test("float32 tensors at |x/S| = 2^62, 2^63, 2^64: PyTorch's INT64_MIN conversion (qmin), on every path", () => {
    for (const c of E.fake_quant_int64_limit as { scale: number; zero_point: number; qmin: number; qmax: number; x: number[]; y: number[] }[]) {
      const y = fakeQuantizePerTensor(new Tensor(Float32Array.from(c.x), [c.x.length]), c.scale, c.zero_point, c.qmin, c.qmax);
      expectIdentical(y.data, c.y, JSON.stringify(c));
      const yc = fakeQuantizePerChannel(new Tensor(Float32Array.from(c.x), [1, c.x.length]), [c.scale], [c.zero_point], 0, c.qmin, c.qmax);
      expectIdentical(yc.data, c.y, `per channel ${JSON.stringify(c)}`);
    }
  });
});

describeEachBackend("FusedMovingAvgObsFakeQuantize", () => {
  const fused = {
    "per tensor": () => new FusedMovingAvgObsFakeQuantize({ observer: MovingAverageMinMaxObserver }),
    "per channel": () => new FusedMovingAvgObsFakeQuantize({ observer: MovingAveragePerChannelMinMaxObserver, dtype: "int8", quantMin: -128, quantMax: 127, qscheme: "per_channel_symmetric" } as never),
  };
  for (const [name, make] of Object.entries(fused)) {
    test(`${name}: a batch holding NaN or ±inf leaves the running range and qparams as they were`, () => {
      const fq = make();
      fq.forward(new Tensor(Float32Array.of(-1, 2, 0.5, -3, 4, 1), [2, 3]));
      const obs = fq.activation_post_process as unknown as { min_val: Tensor; max_val: Tensor };
      const before = [Array.from(obs.min_val.data), Array.from(obs.max_val.data), Array.from(fq.scale.data), Array.from(fq.zero_point.data)];
      for (const bad of [NaN, Infinity, -Infinity]) {
        fq.forward(new Tensor(Float32Array.of(-1, 2, bad, -3, 4, 1), [2, 3]));
        expect([Array.from(obs.min_val.data), Array.from(obs.max_val.data), Array.from(fq.scale.data), Array.from(fq.zero_point.data)], String(bad)).toEqual(before);
      }
    });
  }
});

test("FusedMovingAvgObsFakeQuantize takes float64 input, and a disabled observer learns nothing", () => {
  const fq = new FusedMovingAvgObsFakeQuantize({ observer: MovingAverageMinMaxObserver });
  const y = fq.forward(new Tensor(Float64Array.of(-1, 0.3, 2), [3]));
  expect(y.dtype).toBe("float64");
  const qp = [fq.scale.data[0], fq.zero_point.data[0]];
  fq.disableObserver();
  fq.forward(new Tensor(Float32Array.of(-10, 0, 30), [3]));
  expect([fq.scale.data[0], fq.zero_point.data[0]]).toEqual(qp);
});

test("FusedMovingAvgObsFakeQuantize argument errors name the class", () => {
  const msg = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return [(e as Error).constructor.name, (e as Error).message];
    }
    return null;
  };
  expect(msg(() => new FusedMovingAvgObsFakeQuantize({ quantMin: 10, quantMax: 5 }))).toEqual(["ValueError", "FusedMovingAvgObsFakeQuantize: quantMin (10) must be less than or equal to quantMax (5)"]);
  expect(msg(() => new FusedMovingAvgObsFakeQuantize().forward(new Tensor(Int32Array.of(1, 2), [2])))).toEqual(["ValueError", "FusedMovingAvgObsFakeQuantize: input must be float32 or float64, got int32"]);
});
