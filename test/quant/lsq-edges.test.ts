/**
 * LSQ (learnable fake quantization) beyond the goldens: the forward per channel along a
 * middle axis (outer and inner both > 1) against the formula, and each argument check alone
 * with its exact message (functional forms and the LearnableFakeQuantize constructor). Runs on
 * every backend. Written to kill the mutants `npm run mutation` found surviving (docs/TESTING.md).
 */
import { expect, test } from "vitest";
import "../../src/autograd/backward.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { LearnableFakeQuantize, fakeQuantizeLearnablePerChannel, fakeQuantizeLearnablePerTensor } from "../../src/quant/lsq.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";
import { expectError } from "../expect-error.js";

const f32t = (v: number[], shape = [v.length]) => new Tensor(Float32Array.from(v), shape);

describeEachBackend("LSQ edges", () => {
  test("per channel along the middle axis of [2, 3, 4]: x̂ = S·(clamp(rint(x/S) + Z) − Z)", () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => (i - 11) * 0.41);
    const scales = [0.2, 0.5, 1], zps = [-1, 0, 2];
    const want = Float32Array.from(x, (v, i) => {
      const c = Math.floor(i / 4) % 3, s = scales[c];
      const p = v * Math.fround(1 / s) + zps[c];
      const r = Math.round(p) - (Math.abs(p % 1) === 0.5 && Math.round(p) % 2 !== 0 ? 1 : 0);
      return Math.fround(s * (Math.min(7, Math.max(-8, r)) - zps[c]));
    });
    const y = fakeQuantizeLearnablePerChannel(new Tensor(x, [2, 3, 4]), f32t(scales), f32t(zps), 1, -8, 7);
    expectIdentical(y.data, want, "lsq per channel");
  });
});

test("argument checks, one at a time", () => {
  const x = f32t([1, 2, 3, 4], [2, 2]);
  const s1 = f32t([0.1]), z1 = f32t([0]);
  expectError(() => fakeQuantizeLearnablePerTensor(x, s1, z1, 5, 5), ValueError, "fakeQuantizeLearnablePerTensor: quantMin (5) must be less than quantMax (5)");
  expectError(() => fakeQuantizeLearnablePerTensor(x, s1, z1, 1, 5), ValueError, "fakeQuantizeLearnablePerTensor: [quantMin, quantMax] = [1, 5] must include 0");
  expectError(() => fakeQuantizeLearnablePerTensor(x, s1, z1, -5, -1), ValueError, "fakeQuantizeLearnablePerTensor: [quantMin, quantMax] = [-5, -1] must include 0");
  expect(() => fakeQuantizeLearnablePerTensor(x, s1, z1, 0, 1)).not.toThrow();
  expectError(() => fakeQuantizeLearnablePerTensor(new Tensor(Int32Array.of(1), [1]), s1, z1, 0, 255), DTypeError, "fakeQuantizeLearnablePerTensor: input must be float32 or float64, got int32");
  expectError(() => fakeQuantizeLearnablePerChannel(new Tensor(Int32Array.of(1, 2), [2]), f32t([1, 1]), f32t([0, 0]), 0, 0, 255), DTypeError, "fakeQuantizeLearnablePerChannel: input must be float32 or float64, got int32");
  expectError(() => fakeQuantizeLearnablePerChannel(x, f32t([1]), f32t([0, 0]), 0, 0, 255), ShapeError, "fakeQuantizeLearnablePerChannel: scale [1] and zeroPoint [2] must have 2 elements (axis 0 of [2, 2])");
  expectError(() => fakeQuantizeLearnablePerChannel(x, f32t([1, 1]), f32t([0]), 0, 0, 255), ShapeError, "fakeQuantizeLearnablePerChannel: scale [2] and zeroPoint [1] must have 2 elements (axis 0 of [2, 2])");
  expectError(() => fakeQuantizeLearnablePerChannel(x, f32t([1, 0]), f32t([0, 0]), 0, 0, 255), ValueError, "fakeQuantizeLearnablePerChannel: scale of channel 1 must be positive and finite, got 0");
  expectError(() => fakeQuantizeLearnablePerChannel(x, f32t([1, Infinity]), f32t([0, 0]), 0, 0, 255), ValueError, "fakeQuantizeLearnablePerChannel: scale of channel 1 must be positive and finite, got Infinity");
  expectError(() => new LearnableFakeQuantize({ quantMin: 3, quantMax: 3 }), ValueError, "LearnableFakeQuantize: quantMin (3) must be strictly less than quantMax (3)");
  expectError(() => new LearnableFakeQuantize({ channelLen: 0 }), ValueError, "LearnableFakeQuantize: channelLen must be a positive integer, got 0");
  expectError(() => new LearnableFakeQuantize({ channelLen: 2.5 }), ValueError, "LearnableFakeQuantize: channelLen must be a positive integer, got 2.5");
  expectError(() => new LearnableFakeQuantize({ initMode: "max" as never }), ValueError, 'LearnableFakeQuantize: initMode must be "minmax" or "lsq", got max');
  expect(() => new LearnableFakeQuantize({ quantMin: 0, quantMax: 1, channelLen: 1 })).not.toThrow();
});
