/**
 * The native fused batch-norm / ReLU kernels (native/norm.c, elementwise.c; wrappers in
 * src/backend/native/norm.ts) on both ISA paths at 1–3 threads:
 *  - against the reference definition (src/backend/ref/fused.ts, the unfused reference kernels
 *    in turn): statistics and gradients within float32 rounding (the sums run in another
 *    float64 order), addRelu bit for bit;
 *  - against the unfused native kernels in turn (stats, apply, relu / maskMul, backward): bit
 *    for bit, which is what makes the fused ops equal the unfused ones exactly;
 *  - the global average pool (adaptive to 1×1) and its backward: the reference bit for bit;
 *  - bit-identical at every thread count; ReLU masks at exactly ±0, at outputs that round to 0
 *    (the 2^-150 tie) and NaN; lengths refused.
 */
import { expect, it } from "vitest";
import type { Kernels } from "../../src/backend/kernels.js";
import { setNativeIsa } from "../../src/backend/native/index.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { setNumThreads } from "../../src/backend/wasm/index.js";
import { expectIdentical, expectNear, newGen, randomF32, wasmCopy } from "./helpers.js";
import { nativeSuite } from "./native-helpers.js";

const { native, d, ISAS } = nativeSuite();
const SHAPES = [[32, 16, 64], [5, 3, 37], [7, 4, 1], [3, 8, 61], [2, 2, 3]] as const;
const EPS = 1e-5;

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  try {
    expectNear(got, want, new Float32Array(want.length).fill(scale), 1e-6, 1e-7);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
}

interface Case { x: Float32Array; dy: Float32Array; gamma: Float32Array | null; beta: Float32Array | null; n: number; c: number; hw: number }

function cases(seed: number): Case[] {
  const gen = newGen(seed);
  const out: Case[] = [];
  for (const [n, c, hw] of SHAPES) {
    const size = n * c * hw;
    const x = randomF32(gen, size, 2).map((v) => v + 0.7), dy = randomF32(gen, size);
    out.push({ x, dy, gamma: randomF32(gen, c), beta: randomF32(gen, c), n, c, hw });
    out.push({ x, dy, gamma: null, beta: null, n, c, hw });
  }
  return out;
}

function train(t: Kernels, k: Case, relu: boolean): Float64Array[] {
  const { x, n, c, hw } = k;
  const y = new Float32Array(x.length), mean = new Float64Array(c), variance = new Float64Array(c), invStd = new Float64Array(c);
  t.batchNormTrain(x, n, c, hw, EPS, k.gamma, k.beta, y, mean, variance, invStd, relu);
  return [Float64Array.from(y), mean, variance, invStd];
}

/** The unfused kernels of table t in turn (what the ops call without a fused kernel). */
function trainUnfused(t: Kernels, k: Case, relu: boolean): Float64Array[] {
  const { x, n, c, hw } = k;
  const y = new Float32Array(x.length), mean = new Float64Array(c), variance = new Float64Array(c);
  t.batchNormStats(x, n, c, hw, mean, variance);
  const invStd = variance.map((v) => 1 / Math.sqrt(v + EPS));
  t.batchNormApply(x, mean, invStd, k.gamma, k.beta, y, n, c, hw);
  if (relu) t.unary("relu", y, y);
  return [Float64Array.from(y), mean, variance, invStd];
}

function reluBackward(t: Kernels, k: Case, stats: Float64Array[], training: boolean): Float32Array[] {
  const { x, dy, n, c, hw } = k;
  const dx = new Float32Array(x.length), dg = new Float32Array(c), db = new Float32Array(c);
  t.batchNormReluBackward(dy, x, stats[1], stats[3], k.gamma, k.beta, dx, k.gamma ? dg : null, k.beta ? db : null, n, c, hw, training);
  return [dx, dg, db];
}

function reluBackwardUnfused(t: Kernels, k: Case, stats: Float64Array[], training: boolean): Float32Array[] {
  const { x, dy, n, c, hw } = k;
  const out = Float32Array.from(stats[0]), masked = new Float32Array(x.length);
  t.maskMul(dy, out, 0, Infinity, masked);
  const dx = new Float32Array(x.length), dg = new Float32Array(c), db = new Float32Array(c);
  t.batchNormBackward(masked, x, stats[1], stats[3], k.gamma, dx, k.gamma ? dg : null, k.beta ? db : null, n, c, hw, training);
  return [dx, dg, db];
}

d("native fused batch norm / ReLU kernels", () => {
  for (const isa of ISAS) {
    it(`[${isa}] batchNormTrain: = the native unfused kernels bit for bit, ≈ the reference; same at 1–3 threads`, () => {
      setNativeIsa(isa);
      for (const k of cases(3)) {
        for (const relu of [true, false]) {
          setNumThreads(1);
          const got = train(native!, k, relu);
          const unfused = trainUnfused(native!, k, relu), ref = train(refKernels, k, relu);
          const what = `${k.n}×${k.c}×${k.hw} relu ${relu} affine ${k.gamma !== null}`;
          got.forEach((a, i) => expectIdentical(a, unfused[i], `${what}: output ${i} vs unfused`));
          got.forEach((a, i) => expectClose(a, ref[i], `${what}: output ${i} vs reference`));
          for (const threads of [2, 3]) {
            setNumThreads(threads);
            train(native!, k, relu).forEach((a, i) => expectIdentical(a, got[i], `${what}: output ${i} at ${threads} threads`));
          }
        }
      }
      setNumThreads(1);
    });

    it(`[${isa}] batchNormReluBackward (training and eval): = maskMul then batchNormBackward natively, ≈ the reference`, () => {
      setNativeIsa(isa);
      for (const k of cases(4)) {
        const stats = train(native!, k, true);
        for (const training of [true, false]) {
          setNumThreads(1);
          const got = reluBackward(native!, k, stats, training);
          const unfused = reluBackwardUnfused(native!, k, stats, training), ref = reluBackward(refKernels, k, stats, training);
          const what = `${k.n}×${k.c}×${k.hw} training ${training} affine ${k.gamma !== null}`;
          got.forEach((a, i) => expectIdentical(a, unfused[i], `${what}: gradient ${i} vs unfused`));
          got.forEach((a, i) => expectClose(a, ref[i], `${what}: gradient ${i} vs reference`));
          setNumThreads(3);
          reluBackward(native!, k, stats, training).forEach((a, i) => expectIdentical(a, got[i], `${what}: gradient ${i} at 3 threads`));
        }
      }
      setNumThreads(1);
    });

    it(`[${isa}] the ReLU mask: outputs at exactly ±0 and below pass no gradient (a NaN input stays NaN, as unfused); inside wasm memory too`, () => {
      setNativeIsa(isa);
      // one channel, mean 0 and invStd 1: the output is x itself (γ 1, β 0)
      const x = new Float32Array([0, -0, 1e-30, -1e-30, 2, -2, NaN, 3, ...new Array(292).fill(0.5)]);
      const dy = new Float32Array(x.length).fill(1.5);
      const mean = new Float64Array([0]), invStd = new Float64Array([1]);
      for (const place of [(a: Float32Array) => a, wasmCopy]) {
        const dx = place(new Float32Array(x.length));
        native!.batchNormReluBackward(place(dy), place(x), mean, invStd, null, null, dx, null, null, 1, 1, x.length, false);
        expect(Array.from(dx.subarray(0, 9))).toEqual([0, 0, 1.5, 0, 1.5, 0, NaN, 1.5, 1.5]);
      }
      // invStd 0.5: 2^-149·0.5 = 2^-150 rounds (a tie, to even) to an output of 0 — no gradient;
      // 3·2^-149·0.5 rounds up to 2^-148 — gradient 0.5·1.5
      const tiny = new Float32Array(300).fill(1), dxTiny = new Float32Array(300);
      tiny.set([2 ** -149, 3 * 2 ** -149, 2 ** -148, -(2 ** -149)]);
      native!.batchNormReluBackward(dy, tiny, mean, new Float64Array([0.5]), null, null, dxTiny, null, null, 1, 1, 300, false);
      expect(Array.from(dxTiny.subarray(0, 5))).toEqual([0, 0.75, 0.75, 0, 0.75]);
    });

    it(`[${isa}] addRelu = binary add then relu, bit for bit (and the reference)`, () => {
      setNativeIsa(isa);
      const gen = newGen(5);
      for (const size of [300, 1000, 1 << 17, 9]) {
        const a = randomF32(gen, size), b = randomF32(gen, size);
        a[0] = 1; b[0] = -1; // exactly 0
        a[1] = NaN;
        for (const threads of [1, 2, 3]) {
          setNumThreads(threads);
          const got = new Float32Array(size), want = new Float32Array(size), ref = new Float32Array(size);
          native!.addRelu(a, b, got);
          native!.binary("add", a, [size], b, [size], want, [size]);
          native!.unary("relu", want, want);
          refKernels.addRelu(a, b, ref);
          expectIdentical(got, want, `addRelu ${size} at ${threads} threads`);
          expectIdentical(got, ref, `addRelu ${size} vs reference`);
        }
      }
      setNumThreads(1);
    });
  }

  for (const isa of ISAS) {
    it(`[${isa}] global average pool (adaptive to 1×1) and its backward = the reference bit for bit, 1–3 threads; other sizes fall back`, () => {
      setNativeIsa(isa);
      const gen = newGen(8);
      for (const [n, c, h, w] of [[32, 64, 8, 8], [3, 5, 7, 9], [2, 70, 1, 300], [1, 3, 17, 17]]) {
        const x = randomF32(gen, n * c * h * w, 3), dy = randomF32(gen, n * c);
        const y = new Float32Array(n * c), yRef = new Float32Array(n * c), dx = new Float32Array(x.length).fill(7), dxRef = new Float32Array(x.length);
        refKernels.adaptiveAvgPool2d(x, yRef, n, c, h, w, 1, 1);
        refKernels.adaptiveAvgPool2dBackward(dy, dxRef, n, c, h, w, 1, 1);
        for (const threads of [1, 2, 3]) {
          setNumThreads(threads);
          native!.adaptiveAvgPool2d(wasmCopy(x), y, n, c, h, w, 1, 1);
          native!.adaptiveAvgPool2dBackward(dy, dx, n, c, h, w, 1, 1);
          expectIdentical(y, yRef, `${n}×${c}×${h}×${w} forward, ${threads} threads`);
          expectIdentical(dx, dxRef, `${n}×${c}×${h}×${w} backward, ${threads} threads`);
        }
      }
      const x = randomF32(gen, 2 * 3 * 8 * 8), y = new Float32Array(2 * 3 * 4), yRef = new Float32Array(2 * 3 * 4);
      native!.adaptiveAvgPool2d(x, y, 2, 3, 8, 8, 2, 2);
      refKernels.adaptiveAvgPool2d(x, yRef, 2, 3, 8, 8, 2, 2);
      expectIdentical(y, yRef, "2×2 output (fallback)");
      setNumThreads(1);
    });
  }

  it("lengths too short are refused before any C runs", () => {
    const x = new Float32Array(24), c = 2, s = new Float64Array(c);
    expect(() => native!.batchNormTrain(x, 2, 2, 7, EPS, null, null, new Float32Array(24), s, s, s, true)).toThrow(/batchNormTrain: tensor has 24 elements, needs 28/);
    expect(() => native!.batchNormTrain(x, 2, 3, 4, EPS, null, null, x, s, s, s, true)).toThrow(/per-channel array has 2 elements, needs 3/);
    expect(() => native!.batchNormReluBackward(x, x, s, s, null, null, new Float32Array(20), null, null, 2, 2, 6, true)).toThrow(/batchNormReluBackward: tensor has 20/);
    expect(() => native!.addRelu(new Float32Array(300), new Float32Array(299), new Float32Array(300))).toThrow(/addRelu: b has 299 elements, needs 300/);
    expect(() => native!.adaptiveAvgPool2d(new Float32Array(400), new Float32Array(7), 2, 4, 7, 7, 1, 1)).toThrow(/adaptiveAvgPool2d: input has 400 elements, needs 392|output has 7 elements, needs 8/);
    expect(() => native!.adaptiveAvgPool2dBackward(new Float32Array(8), new Float32Array(300), 2, 4, 7, 7, 1, 1)).toThrow(/input gradient has 300 elements, needs 392/);
  });
});
