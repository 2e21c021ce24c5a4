/**
 * Fake quantization beyond the goldens: the float64 path's straight-through mask at exactly
 * qmin and qmax, per-channel along a middle axis (outer and inner both > 1) against the
 * formula, and each argument check alone with its exact message (functional forms and the
 * FakeQuantize constructor). Runs on every backend. Written to kill the mutants
 * `npm run mutation` found surviving (docs/TESTING.md).
 */
import { expect, test } from "vitest";
import "../../src/autograd/backward.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { ShapeError, ValueError } from "../../src/tensor/errors.js";
import { FakeQuantize, fakeQuantizePerChannel, fakeQuantizePerTensor } from "../../src/quant/fake-quantize.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";
import { expectError } from "../expect-error.js";

describeEachBackend("fake quantization edges", () => {
  test("float64: the mask is 1 at exactly qmin and qmax, 0 one step beyond", () => {
    // S = 1/4, Z = 3, [0, 15]: x = −0.75 ↦ q = 0 = qmin, x = 3 ↦ q = 15 = qmax.
    for (const dtype of ["float64", "float32"] as const) {
      const data = [-1, -0.75, 3, 3.25];
      const x = new Tensor(dtype === "float64" ? Float64Array.from(data) : Float32Array.from(data), [4]).requiresGrad_();
      const y = fakeQuantizePerTensor(x, 0.25, 3, 0, 15);
      y.backward(new Tensor(dtype === "float64" ? Float64Array.of(1, 1, 1, 1) : Float32Array.of(1, 1, 1, 1), [4]));
      expect(Array.from(y.data), dtype).toEqual([-0.75, -0.75, 3, 3]);
      expect(Array.from(x.grad!.data), dtype).toEqual([0, 1, 1, 0]);
    }
  });

  test("per channel along the middle axis of [2, 3, 4]", () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => (i - 11) * 0.37);
    const scales = [0.1, 0.25, 0.5], zps = [-2, 0, 3];
    const want = Float32Array.from(x, (v, i) => {
      const c = Math.floor(i / 4) % 3, s = Math.fround(scales[c]);
      const p = Math.fround(v * Math.fround(1 / s));
      const r = Math.round(p) - (Math.abs(p % 1) === 0.5 && Math.round(p) % 2 !== 0 ? 1 : 0); // ties to even
      const q = Math.min(7, Math.max(-8, r + zps[c]));
      return (q - zps[c]) * s;
    });
    expectIdentical(fakeQuantizePerChannel(new Tensor(x, [2, 3, 4]), scales, zps, 1, -8, 7).data, want, "per channel");
  });
});

test("argument checks, one at a time", () => {
  const x = new Tensor(Float32Array.of(1, 2, 3, 4), [2, 2]);
  expectError(() => fakeQuantizePerTensor(x, 0.1, 0, 5, 4), ValueError, "fakeQuantizePerTensor: quantMin (5) should be less than or equal to quantMax (4)");
  expect(() => fakeQuantizePerTensor(x, 0.1, 4, 4, 4)).not.toThrow();
  expectError(() => fakeQuantizePerTensor(x, 0.1, 16, 0, 15), ValueError, "fakeQuantizePerTensor: zeroPoint (16) must be between quantMin (0) and quantMax (15)");
  expectError(() => fakeQuantizePerTensor(x, 0.1, -1, 0, 15), ValueError, "fakeQuantizePerTensor: zeroPoint (-1) must be between quantMin (0) and quantMax (15)");
  expectError(() => fakeQuantizePerChannel(x, [0.1, 0.1], [0], 0, 0, 15), ShapeError, "fakeQuantizePerChannel: 2 scales but 1 zero points");
  expectError(() => fakeQuantizePerChannel(x, [0.1, 0.1], [0, 16], 0, 0, 15), ValueError, "fakeQuantizePerChannel (channel 1): zeroPoint (16) must be between quantMin (0) and quantMax (15)");
  expectError(() => new FakeQuantize({ quantMin: 10, quantMax: 5 }), ValueError, "FakeQuantize: quantMin (10) must be less than or equal to quantMax (5)");
  expectError(() => new FakeQuantize({ quantMin: -1, quantMax: 5 }), ValueError, "FakeQuantize: quantMin (-1) is out of bounds for the dtype (min 0)");
  expectError(() => new FakeQuantize({ quantMin: 0, quantMax: 256 }), ValueError, "FakeQuantize: quantMax (256) is out of bounds for the dtype (max 255)");
  const fq = new FakeQuantize({ quantMin: 0, quantMax: 15 });
  expect([(fq as unknown as { quantMin: number }).quantMin, (fq as unknown as { quantMax: number }).quantMax]).toEqual([0, 15]);
});

test("FakeQuantize module plumbing: observers without a range, state dicts that resize the buffers", async () => {
  const { PlaceholderObserver, FixedQParamsObserver } = await import("../../src/quant/observer-fixed.js");
  const { MovingAveragePerChannelMinMaxObserver } = await import("../../src/quant/observer.js");
  const { FixedQParamsFakeQuantize } = await import("../../src/quant/fake-quantize.js");
  const { DTypeError } = await import("../../src/tensor/errors.js");
  expectError(() => new FakeQuantize({ observer: PlaceholderObserver }), ValueError, "FakeQuantize: observer PlaceholderObserver has no quantization range (quantMin/quantMax/qscheme)");
  expectError(() => new FixedQParamsFakeQuantize({ observer: MovingAveragePerChannelMinMaxObserver as never }), ValueError, "FixedQParamsFakeQuantize: observer must be a FixedQParamsObserver, got MovingAveragePerChannelMinMaxObserver");
  // A per-channel fake-quantizer starts with [1] buffers; a state dict with 3 channels resizes them.
  const a = new FakeQuantize({ observer: MovingAveragePerChannelMinMaxObserver, quantMin: -128, quantMax: 127, dtype: "int8", qscheme: "per_channel_symmetric" } as never);
  a.forward(new Tensor(Float32Array.from({ length: 12 }, (_, i) => i - 6), [3, 4]));
  expect(a.scale.shape).toEqual([3]);
  const b = new FakeQuantize({ observer: MovingAveragePerChannelMinMaxObserver, quantMin: -128, quantMax: 127, dtype: "int8", qscheme: "per_channel_symmetric" } as never);
  expect(b.scale.shape).toEqual([1]);
  b.loadStateDict(a.stateDict());
  expect([b.scale.shape, Array.from(b.scale.data), Array.from(b.zero_point.data)]).toEqual([[3], Array.from(a.scale.data), Array.from(a.zero_point.data)]);
  expect(b.zero_point.dtype).toBe("int32");
  const x = new Tensor(Float32Array.from({ length: 12 }, (_, i) => (i - 6) * 0.7), [3, 4]);
  (b as unknown as { observer_enabled: Tensor }).observer_enabled.data[0] = 0;
  (a as unknown as { observer_enabled: Tensor }).observer_enabled.data[0] = 0;
  expectIdentical(b.forward(x).data, a.forward(x).data, "loaded per-channel fake quant");
  const sd = a.stateDict();
  sd.scale = new Tensor(Int32Array.of(1, 1, 1), [3]);
  expect(() => b.loadStateDict(sd)).toThrow(DTypeError);
  expect(() => b.loadStateDict(sd)).toThrow("dtype mismatch for scale: checkpoint has int32, current model has float32");
  expect(new FixedQParamsFakeQuantize({ observer: FixedQParamsObserver.withArgs({ scale: 1 / 256, zeroPoint: 0 }) }).scale.data[0]).toBe(1 / 256);
});
