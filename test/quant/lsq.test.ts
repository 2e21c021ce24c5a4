/**
 * LSQ against PyTorch 1.13 (_fake_quantize_learnable_per_tensor/per_channel_affine and
 * _LearnableFakeQuantize). The scale gradient is piecewise (its finite differences jump at
 * every rounding boundary), so it is checked against the goldens rather than by gradcheck.
 */
import { describe, expect, test } from "vitest";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { Tensor } from "../../src/tensor/tensor.js";
import "../../src/autograd/backward.js";
import { LearnableFakeQuantize, fakeQuantizeLearnablePerChannel, fakeQuantizeLearnablePerTensor } from "../../src/quant/lsq.js";
import { lsqActivationFakeQuant, lsqWeightFakeQuant } from "../../src/quant/lsq-presets.js";
import { qconfigFor, qconfigs } from "../../src/quant/qconfig.js";
import { MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver } from "../../src/quant/observer.js";
import { type GTensor, expectExact, expectNear, f32, gtensor, loadGolden, stateEntries, torchEntries } from "./helpers.js";

const G = loadGolden("lsq.json");

function param(t: GTensor): Tensor {
  return gtensor(t).requiresGrad_();
}

/** Forward then backward of Σ y·dy. */
function run(fn: (x: Tensor, s: Tensor, z: Tensor) => Tensor, c: any): { y: Tensor; x: Tensor; s: Tensor; z: Tensor } {
  const x = param(c.x);
  const s = param(c.scale);
  const z = param(c.zero_point);
  const y = fn(x, s, z);
  y.backward(gtensor(c.dy));
  return { y, x, s, z };
}

function checkCase(r: ReturnType<typeof run>, c: any, what: string): void {
  expectExact(r.y.data, f32(c.y), `${what} y`);
  expectExact(r.x.grad!.data, f32(c.dx), `${what} dx`);
  // Σ over float32 terms: PyTorch's reduction order differs from ours (float64 then rounded).
  expectNear(r.s.grad!.data, f32(c.dscale), 1e-5, 1e-6, `${what} dscale`);
  expectNear(r.z.grad!.data, f32(c.dzero_point), 1e-5, 1e-6, `${what} dzero_point`);
}

describe("functional learnable fake quantization", () => {
  test("per tensor: y, dx exact; dscale, dzero_point to 1e-5 (grad factors 1 and 1/√(N·Qp))", () => {
    for (const c of G.per_tensor) {
      const r = run((x, s, z) => fakeQuantizeLearnablePerTensor(x, s, z, c.qmin, c.qmax, c.grad_factor), c);
      checkCase(r, c, `S=${c.scale.data[0]} Z=${c.zero_point.data[0]} [${c.qmin}, ${c.qmax}] g=${c.grad_factor}`);
    }
  });

  test("per channel", () => {
    for (const c of G.per_channel) {
      const r = run((x, s, z) => fakeQuantizeLearnablePerChannel(x, s, z, c.axis, c.qmin, c.qmax, c.grad_factor), c);
      checkCase(r, c, `axis ${c.axis} g=${c.grad_factor}`);
    }
  });

  test("zero point rounding: forward rint(Z), backward trunc(Z + 0.5) (ATen per-tensor quirk)", () => {
    // Z = 2.5: forward uses 2, backward 3. x = 0 then sits at q = 2 in the forward, and the
    // backward sees q = 3; both inside, so dZ = 0 and dS = (x̂_b − x)/S = (3 − 3)·… = 0.
    const x = new Tensor(Float32Array.of(0, 2), [2]).requiresGrad_();
    const s = new Tensor(Float32Array.of(1), [1]).requiresGrad_();
    const z = new Tensor(Float32Array.of(2.5), [1]).requiresGrad_();
    const y = fakeQuantizeLearnablePerTensor(x, s, z, 0, 4);
    expect(Array.from(y.data)).toEqual([0, 2]);
    y.backward(new Tensor(Float32Array.of(1, 1), [2]));
    // x = 2: forward q = 4 (inside); backward q = rint(3 + 2) = 5 > qmax → outside: dZ = −S, dS = qmax − Z = 1.
    expect(Array.from(x.grad!.data)).toEqual([1, 0]);
    expect(Array.from(s.grad!.data)).toEqual([1]);
    expect(Array.from(z.grad!.data)).toEqual([-1]);
  });

  test("explicit scale gradient per Esser et al.", () => {
    // S = 0.5, Z = 0, range [−4, 3]: x = 0.6 → v = 1.2 → q = 1 inside: ∂S = (0.5 − 0.6)/0.5 = −0.2;
    // x = 5 → q = 10 > 3: ∂S = qmax − Z = 3, ∂Z = −S; x = −9 → q = −18 < −4: ∂S = −4.
    const x = new Tensor(Float32Array.of(0.6, 5, -9), [3]).requiresGrad_();
    const s = new Tensor(Float32Array.of(0.5), [1]).requiresGrad_();
    const z = new Tensor(Float32Array.of(0), [1]).requiresGrad_();
    const y = fakeQuantizeLearnablePerTensor(x, s, z, -4, 3);
    y.backward(new Tensor(Float32Array.of(1, 1, 1), [3]));
    expect(Array.from(y.data)).toEqual([0.5, 1.5, -2]);
    expect(Array.from(x.grad!.data)).toEqual([1, 0, 0]);
    expectNear(s.grad!.data, [-0.2 + 3 - 4], 0, 1e-6);
    expect(Array.from(z.grad!.data)).toEqual([-1]);
  });

  test("bad input", () => {
    const x = new Tensor(Float32Array.of(1, 2, 3, 4), [2, 2]);
    const one = (v: number) => new Tensor(Float32Array.of(v), [1]);
    expect(() => fakeQuantizeLearnablePerTensor(x, one(0), one(0), 0, 255)).toThrow(/scale/);
    expect(() => fakeQuantizeLearnablePerTensor(x, one(1), one(0), 1, 255)).toThrow(/include 0/);
    expect(() => fakeQuantizeLearnablePerTensor(x, new Tensor(Float64Array.of(1), [1]), one(0), 0, 255)).toThrow(DTypeError);
    expect(() => fakeQuantizeLearnablePerChannel(x, one(1), one(0), 0, 0, 255)).toThrow(ShapeError);
    expect(() => new LearnableFakeQuantize({ quantMin: 3, quantMax: 3 })).toThrow(ValueError);
  });
});

describe("LearnableFakeQuantize module (torch _LearnableFakeQuantize)", () => {
  const OBS = { MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver } as const;
  for (const m of G.modules) {
    test(`${JSON.stringify(m.kwargs)}: static estimate, then parameter learning at step ${m.enable_param_learning_at}`, () => {
      const mod = new LearnableFakeQuantize({ ...m.kwargs, observer: OBS[m.kwargs.observer as keyof typeof OBS] });
      expect(stateEntries(mod.stateDict())).toEqual(torchEntries(m.state_dict_initial));
      m.steps.forEach((s: any, i: number) => {
        if (i === m.enable_param_learning_at) mod.enableParamLearning();
        const x = gtensor(m.batches[i]).requiresGrad_();
        const y = mod.forward(x);
        y.backward(gtensor(s.dy));
        const what = `step ${i}`;
        expectExact(mod.scale.data, f32(s.scale), `${what} scale`);
        expectExact(mod.zero_point.data, f32(s.zero_point), `${what} zero_point`);
        expectExact(y.data, f32(s.y), `${what} y`);
        expectExact(x.grad!.data, f32(s.dx), `${what} dx`);
        if (s.dscale) expectNear(mod.scale.grad!.data, f32(s.dscale), 1e-5, 1e-7, `${what} dscale`);
        if (s.dzero_point) expectNear(mod.zero_point.grad!.data, f32(s.dzero_point), 1e-5, 1e-7, `${what} dzero_point`);
        mod.zeroGrad();
      });
      expect(stateEntries(mod.stateDict())).toEqual(torchEntries(m.state_dict));
    });
  }

  test("switches mirror PyTorch (enableObserver toggles the static estimate)", () => {
    const m = new LearnableFakeQuantize();
    expect([m.static_enabled.data[0], m.learning_enabled.data[0], m.scale.requiresGrad]).toEqual([1, 0, true]);
    m.enableParamLearning();
    expect([m.static_enabled.data[0], m.learning_enabled.data[0], m.fake_quant_enabled.data[0]]).toEqual([0, 1, 1]);
    m.enableObserver();
    expect(m.static_enabled.data[0]).toBe(1);
    m.disableObserver();
    expect(m.static_enabled.data[0]).toBe(0);
    m.enableStaticObservation();
    const x = new Tensor(Float32Array.of(0.3, -2), [2]);
    expect(m.forward(x)).toBe(x);
    expect(m.scale.requiresGrad).toBe(false);
    expect(m.bitwidth).toBe(8);
  });

  test("calculateQParams clamps the scale to eps and rounds the zero point", () => {
    const m = new LearnableFakeQuantize({ scale: 1e-12, zeroPoint: 2.5 });
    const q = m.calculateQParams();
    expect([q.scale.data[0], q.zeroPoint.data[0], q.zeroPoint.dtype]).toEqual([Math.fround(2 ** -23), 2, "int32"]);
  });

  test("LSQ initialisation S = 2·mean|x|/√Qp on the first batch, per tensor and per channel", () => {
    const x = new Tensor(Float32Array.of(1, -3, 0.5, -0.5, 2, 2), [2, 3]);
    const w = lsqWeightFakeQuant({ quantMin: -8, quantMax: 7 });
    w.forward(x);
    expect(w.scale.data[0]).toBe(Math.fround((2 * (9 / 6)) / Math.sqrt(7)));
    const pc = lsqWeightFakeQuant({ quantMin: -8, quantMax: 7, perChannel: true });
    pc.forward(x);
    expect(Array.from(pc.scale.data)).toEqual([Math.fround((2 * 1.5) / Math.sqrt(7)), Math.fround((2 * 1.5) / Math.sqrt(7))]);
    expect(pc.scale.shape).toEqual([2]);
    expect(pc.learning_enabled.data[0]).toBe(1);
    const a = lsqActivationFakeQuant({ quantMin: 0, quantMax: 255 });
    a.forward(x);
    expect(a.scale.data[0]).toBe(Math.fround((2 * (9 / 6)) / Math.sqrt(255)));
  });

  test("the qconfig builder and the w4a8 preset produce LSQ quantizers with per-channel parameters from the start", () => {
    const w = qconfigs.w4a8.weight({ outChannels: 3 }) as LearnableFakeQuantize;
    expect(w).toBeInstanceOf(LearnableFakeQuantize);
    expect(w.scale.size).toBe(3);
    expect(w.quantMin).toBe(-8);
    expect(qconfigFor({ lsqActivations: true }).activation()).toBeInstanceOf(LearnableFakeQuantize);
  });

  test("state dicts round-trip", () => {
    const a = lsqWeightFakeQuant({ quantMin: -8, quantMax: 7, perChannel: true, channelLen: 2 });
    a.forward(new Tensor(Float32Array.of(1, -3, 0.5, -0.5, 2, 2), [2, 3]));
    const b = lsqWeightFakeQuant({ quantMin: -8, quantMax: 7, perChannel: true, channelLen: 2 });
    b.loadStateDict(a.stateDict());
    expect(Array.from(b.scale.data)).toEqual(Array.from(a.scale.data));
    expect(b.initialized).toBe(true);
  });
});
