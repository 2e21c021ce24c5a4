/**
 * Fake quantization (src/quant/fake-quantize.ts) beyond fake-quantize-{mutants,edges}, written
 * from the mutants `npm run mutation` left alive (docs/mutation-survivors.md): PyTorch goldens
 * (scripts/golden/fake_quant_edges.py) for float64 half-integer codes in [2^51, 2^52), the
 * code −2^63 with quant_min = −2^63, and a module zero point outside the range; the wasm
 * kernels' out-of-memory fallback (a RangeError from the fused kernel, simulated with a mocked
 * module in a fresh module graph); the STE product with varied gradients on every backend;
 * FakeQuantize / FixedQParamsFakeQuantize plumbing (observer options, range checks per field,
 * in-place qparam updates, state dicts, printing) with exact messages. In TESTS of
 * scripts/mutation.mjs.
 */
import { expect, test, vi } from "vitest";
import "../../src/autograd/backward.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { FakeQuantize, FixedQParamsFakeQuantize, fakeQuantizePerChannel, fakeQuantizePerTensor } from "../../src/quant/fake-quantize.js";
import { FixedQParamsObserver } from "../../src/quant/observer-fixed.js";
import { MinMaxObserver, MovingAveragePerChannelMinMaxObserver } from "../../src/quant/observer.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";
import { expectError } from "../expect-error.js";
import { loadGolden, num } from "./helpers.js";

const G = loadGolden("fake_quant_edges.json");

/** y and the STE mask (dx of Σy) of fakeQuantizePerTensor. */
function yMask(x: Tensor, s: number, z: number, qmin: number, qmax: number): [number[], number[]] {
  const xg = x.requiresGrad_();
  const y = fakeQuantizePerTensor(xg, s, z, qmin, qmax);
  y.backward(new Tensor(new (x.data.constructor as Float64ArrayConstructor)(x.size).fill(1), x.shape));
  return [Array.from(y.data), Array.from(xg.grad!.data)];
}

describeEachBackend("fake quantization against PyTorch: double half-integer codes, the int64 edge, the module", (backend) => {
  test("float64 codes in [2^51, 2^52) round half to even before Z is added", () => {
    for (const c of G.float64_half_codes) {
      const [y, mask] = yMask(new Tensor(Float64Array.from(c.x), [c.x.length]), c.scale, c.zero_point, c.qmin, c.qmax);
      expect(y, `S=${c.scale} Z=${c.zero_point}`).toEqual(c.y);
      expect(mask).toEqual(c.mask);
      const pc = fakeQuantizePerChannel(new Tensor(Float64Array.from([...c.x, ...c.x]), [2, c.x.length]), [c.scale, c.scale], [c.zero_point, c.zero_point], 0, c.qmin, c.qmax);
      expect(Array.from(pc.data)).toEqual([...c.y, ...c.y]);
    }
  });

  for (const c of G.int64_min) {
    // Known gap: the wasm fused kernel (assembly/fakequant.ts, float32 on the wasm backend) sends
    // NaN and every |p| ≥ 2^63 to −inf, −2^63 included, so with quant_min = −2^63 they are masked out.
    // The native kernel (native/fakequant.c) takes such ranges on its float64 path and is exact.
    const known = c.dtype === "float32" && backend === "wasm";
    (known ? test.fails : test)(`with quant_min = −2^63 the code −2^63 is in range, and INT64_MIN from 2^63, NaN, ±inf (${c.dtype})`, () => {
      const A = c.dtype === "float32" ? Float32Array : Float64Array;
      const [y, mask] = yMask(new Tensor(A.from(c.x.map(num)), [c.x.length]), c.scale, c.zero_point, c.qmin, c.qmax);
      expect([y, mask], c.dtype).toEqual([c.y.map(num), c.mask]);
    });
  }

  test("FakeQuantize with the observer off and a loaded zero point above quant_max: no check, codes clamped", () => {
    const c = G.module_zero_point_outside;
    const fq = new FakeQuantize();
    fq.disableObserver();
    fq.loadStateDict({ ...fq.stateDict(), scale: new Tensor(Float32Array.of(c.scale), [1]), zero_point: new Tensor(Int32Array.of(c.zero_point), [1]) });
    const x = new Tensor(Float32Array.from(c.x), [c.x.length]).requiresGrad_();
    const y = fq.forward(x);
    y.backward(new Tensor(Float32Array.from(c.dy), [c.dy.length]));
    expect([Array.from(y.data), Array.from(x.grad!.data)]).toEqual([c.y, c.dx]);
  });

  test("the STE backward multiplies each gradient by its own mask entry", () => {
    const x = new Tensor(Float32Array.of(0.3, 99, -0.7, 1.1, -50, 2.2), [2, 3]).requiresGrad_();
    fakeQuantizePerTensor(x, 0.1, 10, 0, 40).backward(new Tensor(Float32Array.of(1, 2, -3, 4, 5, -6), [2, 3]));
    expectIdentical(x.grad!.data, Float32Array.of(1, 0, -3, 4, 0, -6), "per tensor dx");
    const xc = new Tensor(Float32Array.of(0.3, 99, -0.7, 1.1, -50, 2.2), [2, 3]).requiresGrad_();
    fakeQuantizePerChannel(xc, [0.1, 1], [10, 0], 0, 0, 40).backward(new Tensor(Float32Array.of(1, 2, -3, 4, 5, -6), [2, 3]));
    expectIdentical(xc.grad!.data, Float32Array.of(1, 0, -3, 4, 0, -6), "per channel dx");
  });
});

test("wasm memory exhausted: a RangeError from the fused kernel falls back to the TypeScript loop; other errors propagate", async () => {
  let fail: Error | null = null;
  vi.resetModules();
  vi.doMock("../../src/backend/wasm/fakequant.js", async (importOriginal) => {
    const real = await importOriginal<typeof import("../../src/backend/wasm/fakequant.js")>();
    const guard = <A extends unknown[]>(f: (...a: A) => void) => (...a: A): void => {
      if (fail) throw fail;
      f(...a);
    };
    return { ...real, fakeQuantizePerTensorF32: guard(real.fakeQuantizePerTensorF32), fakeQuantizePerChannelF32: guard(real.fakeQuantizePerChannelF32) };
  });
  try {
    const backend = await import("../../src/backend/index.js");
    const fq = await import("../../src/quant/fake-quantize.js");
    const x = Float32Array.from({ length: 64 }, (_, i) => (i - 30) * 0.37);
    backend.setBackend("ref");
    const perTensor = fq.fakeQuantPerTensorKernel(x, 0.25, 3, 0, 31);
    const perChannel = fq.fakeQuantPerChannelKernel(x, [4, 16], 0, [0.25, 0.5, 1, 2], [3, 0, 1, 2], 0, 31);
    backend.setBackend("wasm");
    fail = new RangeError("WebAssembly.Memory.grow(): Maximum memory size exceeded");
    for (const [got, want] of [[fq.fakeQuantPerTensorKernel(x, 0.25, 3, 0, 31), perTensor], [fq.fakeQuantPerChannelKernel(x, [4, 16], 0, [0.25, 0.5, 1, 2], [3, 0, 1, 2], 0, 31), perChannel]] as const) {
      expectIdentical(got.out, want.out, "fallback output");
      expectIdentical(got.mask, want.mask, "fallback mask");
    }
    fail = new TypeError("not a memory error");
    expect(() => fq.fakeQuantPerTensorKernel(x, 0.25, 3, 0, 31)).toThrow(fail);
    expect(() => fq.fakeQuantPerChannelKernel(x, [4, 16], 0, [0.25, 0.5, 1, 2], [3, 0, 1, 2], 0, 31)).toThrow(fail);
  } finally {
    vi.doUnmock("../../src/backend/wasm/fakequant.js");
    vi.resetModules();
  }
});

test("functional forms: messages and op names", () => {
  const i32 = new Tensor(Int32Array.of(1, 2), [2]);
  expectError(() => fakeQuantizePerTensor(i32, 0.1, 0, 0, 255), DTypeError, "fakeQuantizePerTensor: input must be float32 or float64, got int32");
  expectError(() => fakeQuantizePerChannel(i32, [0.1, 0.1], [0, 0], 0, 0, 255), DTypeError, "fakeQuantizePerChannel: input must be float32 or float64, got int32");
  const x = new Tensor(Float32Array.of(1, 2, 3, 4), [2, 2]).requiresGrad_();
  expectError(() => fakeQuantizePerChannel(x, [0.1, 0.1, 0.1], [0, 0, 0], 0, 0, 255), ShapeError, "fakeQuantizePerChannel: 3 scales for 2 channels along axis 0 of input [2, 2]");
  expect(fakeQuantizePerTensor(x, 0.1, 0, 0, 255).gradNode!.name).toBe("fake_quantize_per_tensor_affine");
  expect(fakeQuantizePerChannel(x, [0.1, 0.1], [0, 0], 1, 0, 255).gradNode!.name).toBe("fake_quantize_per_channel_affine");
});

test("FakeQuantize options: quantMin or quantMax alone is ignored (as PyTorch), equal bounds reach the observer, a bad dtype is named", () => {
  expect([new FakeQuantize({ quantMin: 3 }).quantMin, new FakeQuantize({ quantMin: 3 }).quantMax]).toEqual([0, 255]);
  expect([new FakeQuantize({ quantMax: 100 }).quantMin, new FakeQuantize({ quantMax: 100 }).quantMax]).toEqual([0, 255]);
  expectError(() => new FakeQuantize({ quantMin: 5, quantMax: 5 }), ValueError, "MovingAverageMinMaxObserver: quantMin (5) must be less than quantMax (5)");
  expectError(() => new FakeQuantize({ quantMin: 0, quantMax: 3, dtype: "foo" as never }), ValueError, "FakeQuantize: dtype: expected one of uint8|int8|int32 (or quint8|qint8|qint32), got 'foo'");
});

test("an observer must have each of quantMin, quantMax and qscheme", () => {
  for (const field of ["quantMin", "quantMax", "qscheme"]) {
    const observer = () => Object.defineProperty(new MinMaxObserver(), field, { value: undefined });
    expectError(() => new FakeQuantize({ observer }), ValueError, "FakeQuantize: observer MinMaxObserver has no quantization range (quantMin/quantMax/qscheme)");
    expectError(() => new FixedQParamsFakeQuantize({ observer }), ValueError, "FixedQParamsFakeQuantize: observer MinMaxObserver has no quantization range (quantMin/quantMax/qscheme)");
  }
  expectError(() => new FixedQParamsFakeQuantize(undefined as never), ValueError, "FixedQParamsFakeQuantize: observer must be a FixedQParamsObserver, got MovingAverageMinMaxObserver");
  const perChannel = FixedQParamsObserver.withArgs({ scale: 1 / 256, zeroPoint: 0, qscheme: "per_channel_affine" });
  expectError(() => new FixedQParamsFakeQuantize({ observer: perChannel }), ValueError, "FixedQParamsFakeQuantize: only per-tensor quantization is supported");
});

test("FakeQuantize: axis, child accessor, printing, qparams updated in place, state dicts", () => {
  const fq = new FakeQuantize();
  expect(fq.chAxis).toBe(-1);
  expect(fq.activationPostProcess).toBe(fq.activation_post_process);
  expect(new FakeQuantize({ observer: MovingAveragePerChannelMinMaxObserver, qscheme: "per_channel_affine", chAxis: 1 }).chAxis).toBe(1);
  const [scale, zeroPoint] = [fq.scale, fq.zero_point];
  fq.forward(new Tensor(Float32Array.of(-1, 0.5, 3), [3]));
  fq.forward(new Tensor(Float32Array.of(-2, 4), [2]));
  expect(fq.scale).toBe(scale);
  expect(fq.zero_point).toBe(zeroPoint);
  const q = fq.calculateQParams();
  expect([fq.scale.data[0], fq.zero_point.data[0]]).toEqual([q.scale.data[0], q.zeroPoint.data[0]]);
  expect(fq.extraRepr()).toBe(`fake_quant_enabled=1, observer_enabled=1, quant_min=0, quant_max=255, dtype=uint8, qscheme=per_tensor_affine, ch_axis=-1, scale=[${fq.scale.data[0]}], zero_point=[${fq.zero_point.data[0]}]`);
  // A same-size state dict is copied into the existing buffers; other buffers keep their shape check.
  const other = new FakeQuantize();
  other.loadStateDict(fq.stateDict());
  const b = new FakeQuantize();
  const [bs, bz] = [b.scale, b.zero_point];
  b.loadStateDict(other.stateDict());
  expect(b.scale).toBe(bs);
  expect(b.zero_point).toBe(bz);
  expect([bs.data[0], bz.data[0]]).toEqual([fq.scale.data[0], fq.zero_point.data[0]]);
  expectError(() => b.loadStateDict({ ...b.stateDict(), fake_quant_enabled: new Tensor(Uint8Array.of(1, 1), [2]) }), ShapeError, "size mismatch for fake_quant_enabled: copying a param with shape [2] from checkpoint, the shape in current model is [1]");
});

test("FakeQuantize prints per-channel qparams as comma-separated lists", () => {
  const fq = new FakeQuantize({ observer: MovingAveragePerChannelMinMaxObserver, qscheme: "per_channel_affine", chAxis: 0 });
  fq.loadStateDict({ ...fq.stateDict(), scale: new Tensor(Float32Array.of(0.5, 0.25), [2]), zero_point: new Tensor(Int32Array.of(1, 2), [2]) });
  expect(fq.extraRepr()).toBe("fake_quant_enabled=1, observer_enabled=1, quant_min=0, quant_max=255, dtype=uint8, qscheme=per_channel_affine, ch_axis=0, scale=[0.5, 0.25], zero_point=[1, 2]");
});
