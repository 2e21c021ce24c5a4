/**
 * LSQ (src/quant/lsq.ts) beyond lsq.test.ts, written from the mutants `npm run mutation` left
 * alive (docs/mutation-survivors.md): PyTorch 1.13 goldens (scripts/golden/lsq_edges.py) for
 * codes at and past 2^51 / 2^52 / 2^63, ±inf, NaN and half-integer zero points, with and without
 * scale / zero-point gradients (ATen always runs the full backward, so dx keeps the backward's
 * own mask), and _LearnableFakeQuantize runs through every mode switch; the LearnableFakeQuantize
 * behaviour PyTorch has no counterpart for (per-channel sizing on the first batch, LSQ
 * initialisation in each mode, non-finite batches, partial state dicts, float64 input), checked
 * against the formulas; exact error messages. In TESTS of scripts/mutation.mjs.
 */
import { describe, expect, test } from "vitest";
import "../../src/autograd/backward.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { AxisError, DTypeError, ShapeError } from "../../src/tensor/errors.js";
import { LearnableFakeQuantize, fakeQuantizeLearnablePerChannel, fakeQuantizeLearnablePerTensor } from "../../src/quant/lsq.js";
import { MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver } from "../../src/quant/observer.js";
import { expectError } from "../expect-error.js";
import { type GTensor, expectExact, expectNear, f32, gtensor, loadGolden, stateEntries, torchEntries } from "./helpers.js";

const G = loadGolden("lsq_edges.json");
const t32 = (v: number[], shape = [v.length]) => new Tensor(Float32Array.from(v), shape);
const param = (t: GTensor, learn: boolean) => (learn ? gtensor(t).requiresGrad_() : gtensor(t));

describe("learnable fake quantization against PyTorch: extreme codes, half-integer zero points, no parameter grads", () => {
  const run = (c: any, fn: (x: Tensor, s: Tensor, z: Tensor) => Tensor, what: string) => {
    const x = gtensor(c.x).requiresGrad_();
    const s = param(c.scale, c.learn), z = param(c.zero_point, c.learn);
    const y = fn(x, s, z);
    y.backward(gtensor(c.dy));
    expectExact(y.data, f32(c.y), `${what} y`);
    expectExact(x.grad!.data, f32(c.dx), `${what} dx`);
    if (c.learn) {
      // NaN where x holds NaN and quant_min = −2^63 (its code INT64_MIN is then in range).
      const nan = (a: ArrayLike<number>) => Array.from(a, Number.isNaN);
      expect(nan(s.grad!.data), `${what} dscale NaN`).toEqual(nan(f32(c.dscale)));
      if (!Number.isNaN(s.grad!.data[0])) expectNear(s.grad!.data, f32(c.dscale), 1e-5, 1e-6, `${what} dscale`);
      expectNear(z.grad!.data, f32(c.dzero_point), 1e-5, 1e-6, `${what} dzero_point`);
    } else {
      expect([s.grad, z.grad]).toEqual([null, null]);
    }
  };

  test("per tensor", () => {
    for (const c of G.per_tensor) {
      run(c, (x, s, z) => fakeQuantizeLearnablePerTensor(x, s, z, c.qmin, c.qmax, c.grad_factor), `S=${c.scale.data[0]} Z=${c.zero_point.data[0]} learn=${c.learn}`);
    }
  });

  test("per channel", () => {
    for (const c of G.per_channel) run(c, (x, s, z) => fakeQuantizeLearnablePerChannel(x, s, z, c.axis, c.qmin, c.qmax, c.grad_factor), `learn=${c.learn}`);
  });
});

describe("_LearnableFakeQuantize runs against PyTorch", () => {
  for (const m of G.modules) {
    test(`${JSON.stringify(m.kwargs)} with ${JSON.stringify(m.actions)}`, () => {
      const mod = new LearnableFakeQuantize(m.kwargs);
      expect(stateEntries(mod.stateDict())).toEqual(torchEntries(m.state_dict_initial));
      m.steps.forEach((s: any, i: number) => {
        const action = m.actions[String(i)] as "enableParamLearning" | "enableStaticEstimate" | "enableStaticObservation" | undefined;
        if (action) mod[action]();
        const x = gtensor(m.batches[i]).requiresGrad_();
        const y = mod.forward(x);
        y.backward(gtensor(s.dy));
        const what = `step ${i}`;
        expectExact(mod.scale.data, f32(s.scale), `${what} scale`);
        expectExact(mod.zero_point.data, f32(s.zero_point), `${what} zero_point`);
        expectExact(y.data, f32(s.y), `${what} y`);
        expectExact(x.grad!.data, f32(s.dx), `${what} dx`);
        expectExact((mod.activation_post_process as MovingAverageMinMaxObserver).min_val.data, f32(s.min_val), `${what} min_val`);
        // Σ of ~100 float32 terms, summed in another order than PyTorch's.
        if (s.dscale) expectNear(mod.scale.grad!.data, f32(s.dscale), 1e-4, 1e-6, `${what} dscale`);
        else expect(mod.scale.grad).toBe(null);
        if (s.dzero_point) expectNear(mod.zero_point.grad!.data, f32(s.dzero_point), 1e-4, 1e-6, `${what} dzero_point`);
        mod.zeroGrad();
      });
      expect(stateEntries(mod.stateDict())).toEqual(torchEntries(m.state_dict));
    });
  }
});

describe("functional forms: argument checks, float64 input, op names", () => {
  const x = t32([0.3, -1.2, 2.6, 0.05], [2, 2]);
  test("scale and zero point must be float32, named in the message", () => {
    const d = new Tensor(Float64Array.of(1), [1]), d2 = new Tensor(Float64Array.of(1, 1), [2]);
    expectError(() => fakeQuantizeLearnablePerTensor(x, d, t32([0]), 0, 255), DTypeError, "fakeQuantizeLearnablePerTensor: scale must be float32, got float64");
    expectError(() => fakeQuantizeLearnablePerTensor(x, t32([1]), d, 0, 255), DTypeError, "fakeQuantizeLearnablePerTensor: zeroPoint must be float32, got float64");
    expectError(() => fakeQuantizeLearnablePerChannel(x, d2, t32([0, 0]), 0, 0, 255), DTypeError, "fakeQuantizeLearnablePerChannel: scale must be float32, got float64");
    expectError(() => fakeQuantizeLearnablePerChannel(x, t32([1, 1]), d2, 0, 0, 255), DTypeError, "fakeQuantizeLearnablePerChannel: zeroPoint must be float32, got float64");
  });

  test("a range ending at 0 is accepted ([−5, 0])", () => {
    expect(Array.from(fakeQuantizeLearnablePerTensor(x, t32([0.5]), t32([0]), -5, 0).data)).toEqual([0, -1, 0, 0]);
  });

  test("the autograd nodes carry ATen's op names", () => {
    const xg = t32([0.3, -1.2, 2.6, 0.05], [2, 2]).requiresGrad_();
    expect(fakeQuantizeLearnablePerTensor(xg, t32([1]), t32([0]), 0, 255).gradNode!.name).toBe("fake_quantize_learnable_per_tensor_affine");
    expect(fakeQuantizeLearnablePerChannel(xg, t32([1, 1]), t32([0, 0]), 0, 0, 255).gradNode!.name).toBe("fake_quantize_learnable_per_channel_affine");
  });

  test("float64 input: float64 output and dx; the gradients of float32-representable data equal the float32 path's", () => {
    const v = [0.3, -1.2, 2.6, 0.05, 7.7, -0.45];
    const dy = [0.5, -1, 2, 0.25, -0.75, 1.5];
    for (const perChannel of [false, true]) {
      const grads = (A: Float32ArrayConstructor | Float64ArrayConstructor) => {
        const xt = new Tensor(A.from(v.map(Math.fround)), [2, 3]).requiresGrad_();
        const s = t32(perChannel ? [0.5, 0.25] : [0.5]).requiresGrad_(), z = t32(perChannel ? [1, -2] : [1]).requiresGrad_();
        const y = perChannel ? fakeQuantizeLearnablePerChannel(xt, s, z, 0, -4, 3, 0.5) : fakeQuantizeLearnablePerTensor(xt, s, z, -4, 3, 0.5);
        y.backward(new Tensor(A.from(dy), [2, 3]));
        return { y, dx: xt.grad!, ds: Array.from(s.grad!.data), dz: Array.from(z.grad!.data) };
      };
      const a = grads(Float32Array), b = grads(Float64Array);
      expect([b.y.dtype, b.dx.dtype]).toEqual(["float64", "float64"]);
      expect(Array.from(b.dx.data)).toEqual(Array.from(a.dx.data));
      expect([b.ds, b.dz]).toEqual([a.ds, a.dz]);
      expect(Array.from(b.y.data).map(Math.fround)).toEqual(Array.from(a.y.data));
    }
  });
});

describe("LearnableFakeQuantize beyond PyTorch's module", () => {
  const x23 = t32([1, -3, 0.5, -0.5, 2, 2.5], [2, 3]);

  test("properties, switches with their defaults, printing", () => {
    const m = new LearnableFakeQuantize({ quantMin: -8, quantMax: 7, dtype: "int8" });
    expect([m.chAxis, m.bitwidth, m.initialized]).toEqual([-1, 4, false]);
    expect(m.activationPostProcess).toBe(m.activation_post_process);
    expect(new LearnableFakeQuantize({ observer: MovingAveragePerChannelMinMaxObserver, qscheme: "per_channel_affine", chAxis: 1 }).chAxis).toBe(1);
    m.toggleObserverUpdate(false).toggleFakeQuant(false).toggleQParamLearning(false);
    m.toggleObserverUpdate().toggleFakeQuant().toggleQParamLearning();
    expect([m.static_enabled.data[0], m.fake_quant_enabled.data[0], m.learning_enabled.data[0], m.scale.requiresGrad, m.zero_point.requiresGrad]).toEqual([1, 1, 1, true, true]);
    m.enableStaticEstimate();
    expect([m.static_enabled.data[0], m.fake_quant_enabled.data[0], m.learning_enabled.data[0], m.scale.requiresGrad]).toEqual([1, 1, 0, false]);
    expect(m.extraRepr()).toBe("fake_quant_enabled=1, static_enabled=1, learning_enabled=0, quant_min=-8, quant_max=7, qscheme=per_tensor_affine");
  });

  test("LSQ initialisation in the static estimate: S = 2·mean|x|/√Qp per tensor and per channel, Z from the observer", () => {
    const m = new LearnableFakeQuantize({ initMode: "lsq", quantMin: 0, quantMax: 255 });
    m.forward(x23);
    expect(Array.from(m.scale.data)).toEqual([Math.fround((2 * (9.5 / 6)) / Math.sqrt(255))]);
    expect(Array.from(m.zero_point.data)).toEqual(Array.from(m.activation_post_process.calculateQParams().zeroPoint.data));
    expect(m.initialized).toBe(true);
    const pc = new LearnableFakeQuantize({ initMode: "lsq", quantMin: -8, quantMax: 7, dtype: "int8", observer: MovingAveragePerChannelMinMaxObserver, qscheme: "per_channel_symmetric", chAxis: 0 });
    pc.forward(x23);
    expect(Array.from(pc.scale.data)).toEqual([Math.fround((2 * (4.5 / 3)) / Math.sqrt(7)), Math.fround((2 * (5 / 3)) / Math.sqrt(7))]);
  });

  test("LSQ initialisation when learning starts first: once, from the first batch; the minmax mode keeps the given scale", () => {
    const m = new LearnableFakeQuantize({ initMode: "lsq", quantMin: 0, quantMax: 255 });
    m.enableParamLearning();
    m.forward(x23);
    const s = Math.fround((2 * (9.5 / 6)) / Math.sqrt(255));
    expect([m.scale.data[0], m.initialized]).toEqual([s, true]);
    m.forward(t32([10, -20]));
    expect(m.scale.data[0]).toBe(s);
    const mm = new LearnableFakeQuantize({ scale: 0.25, quantMin: 0, quantMax: 255 });
    mm.enableParamLearning();
    mm.forward(x23);
    expect([mm.scale.data[0], mm.initialized]).toEqual([0.25, false]);
  });

  test("a non-finite batch in the static estimate is counted and moves nothing", () => {
    const m = new LearnableFakeQuantize({ scale: 0.5, zeroPoint: 2 });
    const y = m.forward(t32([1, NaN, -1]));
    expect([m.scale.data[0], m.zero_point.data[0], m.initialized, m.activation_post_process.nonFiniteBatches]).toEqual([0.5, 2, false, 1]);
    expect((m.activation_post_process as MovingAverageMinMaxObserver).min_val.data[0]).toBe(Infinity);
    expect(Array.from(y.data)).toEqual([1, -1, -1]); // NaN: code INT64_MIN, clamped to qmin
  });

  test("per channel without channelLen: sized on the first batch, then kept (same Parameter, own values)", () => {
    const opts = { observer: MovingAveragePerChannelMinMaxObserver, qscheme: "per_channel_affine" as const, chAxis: 0 };
    const m = new LearnableFakeQuantize(opts);
    m.forward(x23);
    const scale = m.scale, values = Array.from(scale.data);
    expect(scale.shape).toEqual([2]);
    expect(values[0]).not.toBe(values[1]);
    m.enableParamLearning();
    m.forward(x23);
    expect(m.scale).toBe(scale);
    expect(Array.from(m.scale.data)).toEqual(values);
    expectError(() => m.forward(t32([1, 2, 3, 4], [4, 1])), ShapeError, "fakeQuantizeLearnablePerChannel: scale [2] and zeroPoint [2] must have 4 elements (axis 0 of [4, 1])");
    const m2 = new LearnableFakeQuantize(opts);
    m2.forward(x23);
    // Another channel count later: the observer rejects it, and the parameters keep their size.
    expect(() => m2.forward(t32([1, 2, 3], [3, 1]))).toThrow("MovingAveragePerChannelMinMaxObserver: input has 3 channels along axis 0, the running statistics 2");
    expect(m2.scale.shape).toEqual([2]);
    const one = new LearnableFakeQuantize(opts);
    const s1 = one.scale;
    one.forward(t32([1, -2], [1, 2]));
    expect(one.scale).toBe(s1);
    expectError(() => new LearnableFakeQuantize({ ...opts, channelLen: 1 }).forward(x23), ShapeError, "LearnableFakeQuantize: cannot copy 2 scale values into [1]");
    expectError(() => new LearnableFakeQuantize({ ...opts, chAxis: 2 }).forward(x23), AxisError, "LearnableFakeQuantize: chAxis 2 is out of range for input of shape [2, 3]");
  });

  test("sizes that differ from the observer's: a per-tensor scale broadcast into channelLen entries; a short zero point rejected", () => {
    const m = new LearnableFakeQuantize({ channelLen: 3 });
    m.forward(x23);
    const s = m.activation_post_process.calculateQParams().scale.data[0];
    expect(Array.from(m.scale.data)).toEqual([s, s, s]);
    const opts = { initMode: "lsq" as const, observer: MovingAveragePerChannelMinMaxObserver, qscheme: "per_channel_affine" as const, chAxis: 0, channelLen: 4 };
    expectError(() => new LearnableFakeQuantize(opts).forward(x23), ShapeError, "LearnableFakeQuantize: cannot copy 2 zero point values into [4]");
  });

  test("a per-channel module with one scale takes the LSQ step size from the whole tensor", () => {
    const m = new LearnableFakeQuantize({ initMode: "lsq", observer: MovingAveragePerChannelMinMaxObserver, qscheme: "per_channel_affine", chAxis: 0, channelLen: 1, quantMin: 0, quantMax: 255 });
    m.enableParamLearning();
    expectError(() => m.forward(x23), ShapeError, "fakeQuantizeLearnablePerChannel: scale [1] and zeroPoint [1] must have 2 elements (axis 0 of [2, 3])");
    expect(m.scale.data[0]).toBe(Math.fround((2 * (9.5 / 6)) / Math.sqrt(255)));
  });

  test("a partial state dict marks the module initialised only when it holds the scale", () => {
    const src = new LearnableFakeQuantize({ scale: 0.125, zeroPoint: 3 });
    const a = new LearnableFakeQuantize();
    a.loadStateDict({ zero_point: src.zero_point }, { strict: false });
    expect([a.initialized, a.zero_point.data[0]]).toEqual([false, 3]);
    a.loadStateDict({ scale: src.scale }, { strict: false });
    expect([a.initialized, a.scale.data[0]]).toEqual([true, 0.125]);
  });
});
