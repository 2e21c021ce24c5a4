/**
 * Native QAT kernels (native/fakequant.c, native/affine.c through src/backend/native/qat.ts and
 * the kernel table) vs the definitions run with the ref backend selected (src/quant's loops,
 * src/backend/ref/channel-affine.ts), on both ISA paths (AVX2 and portable C) at 1–3 threads:
 * fake quantization per tensor and per channel bit for bit — output and STE mask — on the wasm
 * kernel's cases (uint8 / int8 / narrow / 4-bit / 7-bit ranges, rounding ties, values at qmin and
 * qmax, NaN, ±∞, huge) plus ranges the float32 lanes cannot hold exactly (int32 and int64 ends,
 * zero points beyond 2^23, fractional ones); min/max with NaN and signed zeros (the sequential
 * loop's first zero); the channel affine forward bit for bit and its backward's dx bit for bit,
 * sums within float32 rounding, bitwise independent of the thread count; LSQ's backward (dx and
 * the scale / zero-point gradients) bit for bit. Also: the quantization code takes these kernels
 * when the native backend is active. Skipped where the addon is not built.
 */
import { expect, it, onTestFinished } from "vitest";
import "../../src/autograd/backward.js";
import { setNativeIsa } from "../../src/backend/native/index.js";
import { nativeQat } from "../../src/backend/native/qat.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { setNumThreads } from "../../src/backend/wasm/index.js";
import { fakeQuantPerChannelKernel, fakeQuantPerTensorKernel, fakeQuantizePerTensor } from "../../src/quant/fake-quantize.js";
import { fakeQuantizeLearnablePerChannel, fakeQuantizeLearnablePerTensor } from "../../src/quant/lsq.js";
import { aminmax, aminmaxPerChannel } from "../../src/quant/minmax.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { expectIdentical, expectNear, newGen, onBackend, randomF32, wasmCopy } from "./helpers.js";
import { nativeSuite } from "./native-helpers.js";

const { native, d, ISAS } = nativeSuite();
const q = nativeQat!;

function inputs(n: number, seed: number, scale: number): Float32Array {
  const x = randomF32(newGen(seed), n, 3);
  for (let i = 5; i < n; i += 13) x[i] = Math.fround((Math.round(x[i] * 100) + 0.5) * scale); // ties
  const specials = [NaN, Infinity, -Infinity, 1e30, -1e30, 0, -0, 2.5 * scale, 3.5 * scale, -2.5 * scale, 127.5 * scale, -128.5 * scale,
    255.5 * scale, 2 ** 60, -(2 ** 62), 2 ** 63 * scale, 2 ** 52 * scale, 1e-45, 0.5 * scale, -0.5 * scale, 8388608.5 * scale];
  specials.forEach((v, i) => i * 11 < n && (x[i * 11] = v));
  return x;
}

// [name, scale, zero point, qmin, qmax]: the wasm test's ranges, then ones the AVX2 lanes hand to the float64 path
const RANGES: [string, number, number, number, number][] = [
  ["uint8 affine", 0.037, 113, 0, 255],
  ["int8 symmetric", 0.021, 0, -128, 127],
  ["int8 narrow", 0.05, 0, -127, 127],
  ["4-bit", 0.4, 0, -8, 7],
  ["7-bit reduce_range", 0.1, 64, 0, 127],
  ["int32 range", 1e-3, 0, -(2 ** 31), 2 ** 31 - 1],
  ["int64 ends", 0.3, 0, -(2 ** 63), 2 ** 63],
  ["zero point past 2^23", 0.01, 2 ** 23 + 5, 2 ** 23 - 10, 2 ** 23 + 300],
  ["fractional zero point", 0.25, 0.5, -3.5, 7.25],
  ["tiny scale", 1e-30, 3, 0, 255],
];
const SIZES = [0, 7, 33, 1031, 200_011];

function checkPerTensor(x: Float32Array, scale: number, zp: number, qmin: number, qmax: number, what: string): void {
  const want = onBackend("ref", () => fakeQuantPerTensorKernel(x, scale, zp, qmin, qmax));
  const out = wasmCopy(new Float32Array(x.length)), mask = wasmCopy(new Uint8Array(x.length).fill(7));
  q.fakeQuant(x, scale, zp, qmin, qmax, out, mask);
  expectIdentical(out, want.out, `${what}: x̂`);
  expectIdentical(mask, want.mask, `${what}: mask`);
}

d("native fake quantization vs the reference loops (exact)", () => {
  for (const isa of ISAS) {
    for (const [name, scale, zp, qmin, qmax] of RANGES) {
      it(`[${isa}] per tensor, ${name}, 1–3 threads`, () => {
        setNativeIsa(isa);
        for (const n of SIZES) {
          const x = inputs(n, n + 1, scale);
          for (const t of [1, 2, 3]) {
            setNumThreads(t);
            checkPerTensor(x, scale, zp, qmin, qmax, `n ${n}, ${t} threads`);
          }
        }
      });

      it(`[${isa}] per channel (axes 0, 1, 3), ${name}`, () => {
        setNativeIsa(isa);
        const shape = [6, 5, 7, 9];
        const x = wasmCopy(inputs(6 * 5 * 7 * 9, 5, scale));
        for (const axis of [0, 1, 3]) {
          const c = shape[axis];
          const scales = Array.from({ length: c }, (_, i) => scale * (1 + i / 7));
          const zps = Array.from({ length: c }, (_, i) => Math.min(qmax, zp + i));
          const want = onBackend("ref", () => fakeQuantPerChannelKernel(x, shape, axis, scales, zps, qmin, qmax));
          for (const t of [1, 3]) {
            setNumThreads(t);
            const out = new Float32Array(x.length), mask = new Uint8Array(x.length);
            q.fakeQuantChannels(x, shape, axis, scales, Number.isInteger(zp) ? Int32Array.from(zps) : zps, qmin, qmax, out, mask);
            expectIdentical(out, want.out, `axis ${axis}, ${t} threads: x̂`);
            expectIdentical(mask, want.mask, `axis ${axis}, ${t} threads: mask`);
          }
        }
      });
    }
  }

  it("per channel with more than 256 channels (the parameter table on the heap) and an empty tensor", () => {
    const shape = [300, 17];
    const x = inputs(300 * 17, 3, 0.02);
    const scales = Array.from({ length: 300 }, (_, i) => 0.02 * (1 + i / 100)), zps = scales.map((_, i) => i % 256);
    const want = onBackend("ref", () => fakeQuantPerChannelKernel(x, shape, 0, scales, zps, 0, 255));
    const out = new Float32Array(x.length), mask = new Uint8Array(x.length);
    q.fakeQuantChannels(x, shape, 0, scales, zps, 0, 255, out, mask);
    expectIdentical(out, want.out, "x̂");
    expectIdentical(mask, want.mask, "mask");
    expect(() => q.fakeQuantChannels(new Float32Array(0), [0, 4], 1, [1, 1, 1, 1], [0, 0, 0, 0], 0, 255, new Float32Array(0), new Uint8Array(0))).not.toThrow();
  });

  it("refuses outputs, masks, scales or zero points that are too short, before any C runs", () => {
    const x = new Float32Array(10);
    expect(() => q.fakeQuant(x, 1, 0, 0, 255, new Float32Array(9), new Uint8Array(10))).toThrow(/native fakeQuant: out has 9 elements, needs 10/);
    expect(() => q.fakeQuant(x, 1, 0, 0, 255, new Float32Array(10), new Uint8Array(3))).toThrow(/mask has 3 elements/);
    expect(() => q.fakeQuantChannels(x, [2, 5], 1, [1, 1, 1, 1], [0, 0, 0, 0, 0], 0, 255, new Float32Array(10), new Uint8Array(10))).toThrow(/scales has 4/);
    expect(() => q.fakeQuantChannels(x, [2, 5], 1, [1, 1, 1, 1, 1], [0, 0], 0, 255, new Float32Array(10), new Uint8Array(10))).toThrow(/zero points has 2/);
    expect(() => q.minmaxChannels(x, 3, 2, 2)).toThrow(/native minmaxChannels: x has 10 elements, needs 12/);
  });

  it("the quantization code runs these kernels on the native backend", () => {
    const calls: string[] = [];
    const saved = { fakeQuant: q.fakeQuant, minmax: q.minmax };
    q.fakeQuant = (...a) => (calls.push("fakeQuant"), saved.fakeQuant(...a));
    q.minmax = (x) => (calls.push("minmax"), saved.minmax(x));
    try {
      const x = new Tensor(inputs(2048, 9, 0.1).map((v) => (Number.isFinite(v) ? v : 0)), [2048]);
      const y = onBackend("native", () => (aminmax(x.data), fakeQuantizePerTensor(x, 0.1, 3, 0, 255)));
      const want = onBackend("ref", () => fakeQuantizePerTensor(x, 0.1, 3, 0, 255));
      expectIdentical(y.data, want.data, "x̂");
      expect(calls).toEqual(["minmax", "fakeQuant"]);
    } finally {
      Object.assign(q, saved);
    }
  });
});

/** Cases for min/max: random, ReLU output with signed zeros, a NaN, all zeros, a −0 before +0 and after it. */
function minmaxCases(n: number, seed: number): Float32Array[] {
  const base = randomF32(newGen(seed), n, 2);
  const relu = base.map((v, i) => (v > 0 ? v : i % 3 ? 0 : -0));
  const withNan = base.slice();
  if (n > 3) withNan[n - 2] = NaN;
  const zeros = base.map((_, i) => (i % 2 ? 0 : -0));
  const negFirst = base.map((v) => Math.abs(v) + 1);
  if (n > 10) [negFirst[1], negFirst[n - 3], negFirst[n - 1]] = [-0, 0, Infinity];
  const posFirst = negFirst.map((v) => -v);
  if (n > 10) [posFirst[1], posFirst[n - 3], posFirst[n - 1]] = [0, -0, -Infinity];
  return [base, relu, withNan, zeros, negFirst, posFirst];
}

d("native min/max vs the observers' loops (exact, signed zeros included)", () => {
  for (const isa of ISAS) {
    it(`[${isa}] per tensor, 1–3 threads`, () => {
      setNativeIsa(isa);
      for (const n of [1, 5, 17, 1031, 200_011]) {
        for (const [k, x] of minmaxCases(n, n).entries()) {
          const want = onBackend("ref", () => aminmax(x));
          for (const t of [1, 2, 3]) {
            setNumThreads(t);
            expectIdentical(q.minmax(x), want, `n ${n}, case ${k}, ${t} threads`);
          }
        }
      }
    });

    it(`[${isa}] per channel (axes 0, 1, 2)`, () => {
      setNativeIsa(isa);
      const shape = [4, 6, 101];
      for (const [k, data] of minmaxCases(4 * 6 * 101, 3).entries()) {
        const x = new Tensor(data, shape);
        for (const axis of [0, 1, 2]) {
          const [mins, maxs] = onBackend("ref", () => aminmaxPerChannel(x, axis));
          let inner = 1;
          for (let dd = axis + 1; dd < 3; dd++) inner *= shape[dd];
          for (const t of [1, 3]) {
            setNumThreads(t);
            const [gotMin, gotMax] = q.minmaxChannels(data, data.length / (shape[axis] * inner), shape[axis], inner);
            expectIdentical(gotMin, mins, `case ${k}, axis ${axis}: mins`);
            expectIdentical(gotMax, maxs, `case ${k}, axis ${axis}: maxs`);
          }
        }
      }
    });
  }
});

d("native channel affine (native/affine.c) vs the reference", () => {
  for (const isa of ISAS) {
    it(`[${isa}] forward bit for bit, backward dx bit for bit and sums within float32 rounding, independent of threads`, () => {
      setNativeIsa(isa);
      const gen = newGen(11);
      for (const [n, c, inner] of [[3, 5, 1], [4, 8, 100], [32, 16, 1024], [7, 64, 64], [2, 3, 13], [0, 4, 5], [2, 3, 0]]) {
        const x = randomF32(gen, n * c * inner), g = randomF32(gen, n * c * inner), s = randomF32(gen, c), b = randomF32(gen, c);
        const runs: Float32Array[][] = [];
        for (const t of [1, 2, 3]) {
          setNumThreads(t);
          for (const bias of [b, null]) {
            const y = new Float32Array(x.length), want = new Float32Array(x.length);
            native!.channelAffine(x, s, bias, y, n, c, inner);
            refKernels.channelAffine(x, s, bias, want, n, c, inner);
            expectIdentical(y, want, `[${n}, ${c}, ${inner}] forward`);
          }
          const out = (all: boolean, k: typeof refKernels) => {
            const dx = all ? new Float32Array(x.length) : null, ds = new Float32Array(c).fill(9), db = all ? new Float32Array(c).fill(9) : null;
            k.channelAffineBackward(g, x, s, dx, ds, db, n, c, inner);
            return [dx ?? new Float32Array(0), ds, db ?? new Float32Array(0)];
          };
          const got = out(true, native!), want = out(true, refKernels);
          expectIdentical(got[0], want[0], "dx");
          expectNear(got[1], want[1], undefined, 1e-6, 1e-6);
          expectNear(got[2], want[2], undefined, 1e-6, 1e-6);
          expectIdentical(out(false, native!)[1], got[1], "dscale alone");
          runs.push(got);
        }
        for (const r of runs.slice(1)) r.forEach((a, i) => expectIdentical(a, runs[0][i], "thread independence"));
      }
    });
  }
});

/** dx, dScale, dZeroPoint of an LSQ op on `backend` (Σ of y·dy as the loss). */
function lsqGrads(backend: string, run: (x: Tensor, s: Tensor, z: Tensor) => Tensor, x: Float32Array, shape: number[], s: Float32Array, z: Float32Array, dy: Float32Array): Float32Array[] {
  return onBackend(backend, () => {
    const xt = new Tensor(x.slice(), shape).requiresGrad_(), st = new Tensor(s.slice(), [s.length]).requiresGrad_(), zt = new Tensor(z.slice(), [z.length]).requiresGrad_();
    const y = run(xt, st, zt);
    y.backward(new Tensor(dy, shape));
    return [y.data as Float32Array, xt.grad!.data as Float32Array, st.grad!.data as Float32Array, zt.grad!.data as Float32Array];
  });
}

d("native LSQ backward vs src/quant/lsq.ts (exact)", () => {
  for (const isa of ISAS) {
    it(`[${isa}] per tensor and per channel (axes 0 and 1), 4-bit and 8-bit, gradient scaling on and off, 1 and 3 threads`, () => {
      setNativeIsa(isa);
      const saved = q.lsqGrad;
      let calls = 0;
      q.lsqGrad = (...a) => (calls++, saved(...a));
      onTestFinished(() => void (q.lsqGrad = saved));
      const shape = [8, 6, 5, 5];
      const n = 8 * 6 * 5 * 5;
      const dy = randomF32(newGen(4), n, 1);
      for (const [qmin, qmax, scale, zp] of [[-8, 7, 0.3, 0], [0, 255, 0.02, 117.4], [-128, 127, 0.05, -3.5]]) {
        const x = inputs(n, 21, scale);
        for (const gf of [1, 1 / Math.sqrt(n * qmax)]) {
          for (const t of [1, 3]) {
            setNumThreads(t);
            const perTensor = (xx: Tensor, ss: Tensor, zz: Tensor) => fakeQuantizeLearnablePerTensor(xx, ss, zz, qmin, qmax, gf);
            const s1 = Float32Array.of(scale), z1 = Float32Array.of(zp);
            const want = lsqGrads("ref", perTensor, x, shape, s1, z1, dy);
            lsqGrads("native", perTensor, x, shape, s1, z1, dy).forEach((a, i) => expectIdentical(a, want[i], `per tensor, gf ${gf}, ${t} threads: output ${i}`));
            for (const axis of [0, 1]) {
              const c = shape[axis];
              const sc = Float32Array.from({ length: c }, (_, k) => scale * (1 + k / 5)), zc = Float32Array.from({ length: c }, (_, k) => Math.min(qmax, zp + k));
              const perChannel = (xx: Tensor, ss: Tensor, zz: Tensor) => fakeQuantizeLearnablePerChannel(xx, ss, zz, axis, qmin, qmax, gf);
              const wantC = lsqGrads("ref", perChannel, x, shape, sc, zc, dy);
              lsqGrads("native", perChannel, x, shape, sc, zc, dy).forEach((a, i) => expectIdentical(a, wantC[i], `axis ${axis}, gf ${gf}, ${t} threads: output ${i}`));
            }
          }
        }
      }
      expect(calls, "native lsqGrad calls").toBe(3 * 2 * 2 * 3);
    });
  }

  it("refuses arrays that are too short", () => {
    const x = new Float32Array(12);
    expect(() => q.lsqGrad(x, x, new Float32Array(11), 1, 3, 4, [1, 1, 1], [0, 0, 0], -8, 7, 1, new Float64Array(6))).toThrow(/native lsqGrad: dx has 11 elements, needs 12/);
    expect(() => q.lsqGrad(x, x, x, 1, 3, 4, [1, 1, 1], [0, 0, 0], -8, 7, 1, new Float64Array(5))).toThrow(/acc has 5 elements, needs 6/);
  });
});
