/**
 * The native int8 kernels (native/int8.c via src/backend/native/int8.ts) equal the
 * TypeScript integer kernels (src/int8/kernels/qconv2d.ts, qlinear.ts) bit for bit: conv
 * with padding, stride, dilation, odd K, with the fused 2×2 max pool, channel and pixel counts off the 6×16 tiles
 * (and last panels of ≤ 8 pixels), stride 1 on wide rows (no im2col) and narrow ones, batch
 * split across threads or one image split by pixels; linear over odd shapes, and at 1–4 rows (the matrix-vector path); uint8 and int8
 * on both sides; per-tensor and per-channel requantization including multipliers large
 * enough to saturate; extreme inputs (every value at the range ends). Both ISA paths.
 * Skipped, with the reason printed, where the addon is not built.
 */
import { afterAll, describe, expect, it } from "vitest";
import { addon as nativeAddon } from "../../src/backend/native/addon.js";
import { nativeIsa, nativeStatus, setNativeIsa } from "../../src/backend/native/index.js";
import { nativeInt8Available, nativeInt8Preferred, packNativeWeights, qconv2dNative, qlinearNative } from "../../src/backend/native/int8.js";
import { getNumThreads, setNumThreads } from "../../src/backend/wasm/index.js";
import { quantizeMultipliers } from "../../src/int8/fixed-point.js";
import { prepareConvWeights, prepareLinearWeights, qconv2dGemm, qlinearGemm } from "../../src/int8/kernels/gemm-path.js";
import { qconv2d } from "../../src/int8/kernels/qconv2d.js";
import { qlinear } from "../../src/int8/kernels/qlinear.js";
import { expectIdentical, newGen, onBackend } from "./helpers.js";
import { type ConvGeo, type Layer, maxPool2x2, randomQ, requantFor } from "./int8-addon-checks.js";

const threadsBefore = getNumThreads();
afterAll(() => {
  setNumThreads(threadsBefore);
  setNativeIsa("best");
});
if (!nativeInt8Available()) console.log(`native int8 kernels not tested: ${nativeStatus()}`);
const d = nativeInt8Available() ? describe : describe.skip;

const gen = newGen(5);
const randInt = (lo: number, hi: number) => lo + Math.floor(gen.uniform() * (hi - lo + 1));

function checkConv(c: number, h: number, w: number, oc: number, k: [number, number], n: number, geo: ConvGeo, l: Layer, pool2 = false): void {
  const [sh, sw] = geo.stride ?? [1, 1], [ph, pw] = geo.padding ?? [0, 0], [dh, dw] = geo.dilation ?? [1, 1];
  const oh = Math.floor((h + 2 * ph - dh * (k[0] - 1) - 1) / sh) + 1, ow = Math.floor((w + 2 * pw - dw * (k[1] - 1) - 1) / sw) + 1;
  const x = randomQ(l.xType, n * c * h * w, l.extreme, l.bits7);
  const wt = randomQ("int8", oc * c * k[0] * k[1], l.extreme) as Int8Array;
  if (l.wRange) for (let i = 0; i < wt.length; i++) wt[i] = Math.max(-l.wRange, Math.min(l.wRange - 1, wt[i]));
  const bias = Int32Array.from({ length: oc }, () => randInt(-5000, 5000));
  const rq = requantFor(l, oc);
  const want = qconv2d({
    x, xZp: l.xZp, xShape: [n, c, h, w], w: wt, wShape: [oc, c, k[0], k[1]], wZp: l.wZp, bias, geometry: { stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw] },
    requant: { multiplier: rq.multiplier, shift: rq.shift }, yZp: l.yZp, clampMin: rq.lo, clampMax: rq.hi, outDType: l.yType,
  });
  const packed = packNativeWeights(wt, oc, c * k[0] * k[1], l.wZp ? Int32Array.of(l.wZp) : null);
  const expected = pool2 ? maxPool2x2(want.data, n, oc, oh, ow) : want.data;
  const y = l.yType === "uint8" ? new Uint8Array(expected.length) : new Int8Array(expected.length);
  qconv2dNative(x, l.xZp, packed, { n, c, h, w, oc, kh: k[0], kw: k[1], oh, ow, sh, sw, ph, pw, dh, dw },
    { bias, multiplier: rq.multiplier, shift: rq.shift, yZp: l.yZp, lo: rq.lo, hi: rq.hi, ySigned: l.yType === "int8" }, y, pool2);
  expect(want.shape).toEqual([n, oc, oh, ow]);
  expectIdentical(y, expected, pool2 ? "qconv2d + 2×2 max pool" : "qconv2d");
}

function checkLinear(m: number, k: number, o: number, l: Layer): void {
  const x = randomQ(l.xType, m * k, l.extreme), wt = randomQ("int8", o * k, l.extreme) as Int8Array;
  const bias = Int32Array.from({ length: o }, () => randInt(-5000, 5000));
  const rq = requantFor(l, o);
  const want = qlinear({
    x, xZp: l.xZp, xShape: [m, k], w: wt, wShape: [o, k], bias, requant: { multiplier: rq.multiplier, shift: rq.shift },
    yZp: l.yZp, clampMin: rq.lo, clampMax: rq.hi, outDType: l.yType,
  });
  const y = l.yType === "uint8" ? new Uint8Array(m * o) : new Int8Array(m * o);
  qlinearNative(x, l.xZp, m, k, packNativeWeights(wt, o, k), o,
    { bias, multiplier: rq.multiplier, shift: rq.shift, yZp: l.yZp, lo: rq.lo, hi: rq.hi, ySigned: l.yType === "int8" }, y);
  expectIdentical(y, want.data, "qlinear");
}

const U8: Layer = { xType: "uint8", yType: "uint8", xZp: 3, yZp: 7, wZp: 0, perChannel: true, scale: 2e-3 };
const S8: Layer = { xType: "int8", yType: "int8", xZp: -5, yZp: 2, wZp: 0, perChannel: false, scale: 5e-3 };

d("native int8 kernels equal the TypeScript kernels bit for bit", () => {
  for (const isa of ["best", "scalar"] as const) {
    it(`[${isa}] conv: SmallCNN shapes, odd geometry, dilation, weight zero point, both dtypes, ReLU clamp`, () => {
      setNativeIsa(isa);
      checkConv(1, 28, 28, 16, [3, 3], 3, { padding: [1, 1] }, U8);
      checkConv(16, 14, 14, 32, [3, 3], 2, { padding: [1, 1] }, { ...S8, lo: 2 });
      checkConv(5, 11, 9, 7, [3, 2], 2, { stride: [2, 1], padding: [1, 0] }, { ...U8, xType: "int8", xZp: 0 });
      checkConv(3, 13, 17, 6, [3, 3], 1, { stride: [3, 2], padding: [2, 1], dilation: [2, 2] }, { ...S8, yType: "uint8", yZp: 128 });
      checkConv(12, 5, 7, 10, [1, 1], 3, {}, { ...U8, wZp: -3, perChannel: false });
      checkConv(64, 8, 8, 64, [3, 3], 1, { stride: [2, 2], padding: [1, 1] }, U8);
      // stride 1 (the "wide" path: no im2col): dilation, asymmetric kernel and padding, 5×5, 1×1
      checkConv(4, 12, 11, 9, [3, 3], 2, { padding: [2, 1], dilation: [2, 2] }, { ...U8, perChannel: false });
      checkConv(3, 9, 13, 5, [2, 5], 2, { padding: [0, 2] }, { ...S8, yType: "uint8", yZp: 100 });
      checkConv(7, 6, 5, 6, [1, 1], 2, { padding: [1, 0] }, U8);
      // rows wide enough for the "wide" positions (W + 2·PW ≤ 1.05·OW); a last panel of ≤ 8 pixels (the half micro-kernel)
      checkConv(3, 9, 62, 8, [3, 3], 2, { padding: [1, 1] }, { ...S8, perChannel: true });
      checkConv(5, 7, 41, 13, [1, 3], 1, { padding: [0, 1] }, U8);
      checkConv(9, 7, 7, 20, [3, 3], 1, { padding: [1, 1] }, U8); // 49 pixels: 3 panels + 1
    });

    it(`[${isa}] conv and linear: extreme inputs, multipliers large enough to saturate`, () => {
      setNativeIsa(isa);
      checkConv(32, 6, 6, 8, [3, 3], 2, { padding: [1, 1] }, { ...U8, extreme: true, xZp: 0, scale: 0.5 });
      checkConv(8, 6, 6, 8, [3, 3], 2, { padding: [1, 1] }, { ...S8, extreme: true, xZp: 127, scale: 64 });
      checkConv(8, 6, 6, 8, [3, 3], 2, { padding: [1, 1] }, { ...U8, scale: 0.05, lo: 7, hi: 200 }); // ReLU6-like clamp
      checkConv(8, 6, 6, 8, [3, 3], 2, { padding: [1, 1] }, { ...S8, scale: 0.05, lo: -20, hi: 90 });
      checkLinear(5, 300, 9, { ...S8, extreme: true, xZp: -128, scale: 40 });
      checkLinear(3, 7, 5, { ...U8, extreme: true, xZp: 255, scale: 1e-4 });
    });

    it(`[${isa}] conv on 7-bit uint8 inputs (the u8 × s8 path on AVX2): ResNet shapes, extremes, zero points, fallbacks`, () => {
      setNativeIsa(isa);
      const U7: Layer = { ...U8, bits7: true };
      checkConv(3, 30, 29, 8, [7, 7], 2, { stride: [2, 2], padding: [3, 3] }, { ...U7, xZp: 64 }); // the stem: K = 147, stride-2 rows
      checkConv(16, 12, 60, 10, [3, 3], 1, { padding: [1, 1] }, U7); // wide rows
      checkConv(16, 9, 9, 20, [3, 3], 2, { padding: [1, 1] }, { ...U7, xZp: 0, perChannel: true }); // im2col, 49-pixel tail
      checkConv(8, 14, 14, 8, [3, 3], 1, { padding: [1, 1] }, { ...U7, xZp: 3 }); // im2col runs of 14 (8-byte moves)
      checkConv(8, 28, 27, 8, [3, 3], 1, { stride: [2, 2], padding: [1, 1] }, { ...U7, xZp: 9 }); // stride-2 runs of 14
      checkConv(16, 9, 9, 12, [1, 1], 1, { stride: [2, 2] }, { ...U7, xZp: 127, yType: "int8", yZp: -4 }); // 1×1 stride-2 downsample
      checkConv(5, 8, 8, 7, [3, 3], 2, { padding: [1, 1] }, { ...U7, extreme: true, xZp: 127, scale: 0.5 }); // 2·127·(−128): no saturation
      checkConv(5, 8, 8, 7, [3, 3], 2, { padding: [1, 1] }, { ...U7, extreme: true, xZp: 0, scale: 1e-3 });
      checkConv(4, 10, 64, 6, [3, 3], 1, { padding: [1, 1] }, { ...U7, xZp: 5 }, true); // with the fused pool
      checkConv(6, 7, 9, 5, [3, 3], 2, { padding: [1, 1] }, { ...U7, wZp: -3, wRange: 100, perChannel: false }); // w − wZp fits int8
      checkConv(6, 7, 9, 5, [3, 3], 2, { padding: [1, 1] }, { ...U7, wZp: -3, perChannel: false }); // it does not: the int16 path
      checkConv(6, 7, 9, 5, [3, 3], 2, { padding: [1, 1] }, { ...U7, xZp: 128 }); // xZp (the padding) over 127: the int16 path
    });

    it(`[${isa}] linear: odd shapes, both dtypes, per-channel`, () => {
      setNativeIsa(isa);
      checkLinear(1, 1, 1, U8);
      checkLinear(37, 157, 33, U8);
      checkLinear(64, 1568, 128, { ...S8, perChannel: true });
      checkLinear(256, 300, 10, { ...U8, yType: "int8", yZp: -3 });
    });

    it(`[${isa}] conv with the fused 2×2 max pool: SmallCNN shapes at batch 1 and 3, odd output sizes, clamps`, () => {
      setNativeIsa(isa);
      checkConv(1, 28, 28, 16, [3, 3], 1, { padding: [1, 1] }, U8, true);
      checkConv(16, 14, 14, 32, [3, 3], 3, { padding: [1, 1] }, { ...S8, lo: 2 }, true);
      checkConv(5, 11, 9, 7, [3, 2], 2, { stride: [1, 1], padding: [1, 0] }, { ...U8, xType: "int8", xZp: 0 }, true); // 11×8 → 5×4
      checkConv(3, 7, 13, 6, [3, 3], 1, { padding: [0, 1] }, { ...S8, yType: "uint8", yZp: 128, perChannel: true }, true); // 5×13 → 2×6
      checkConv(8, 6, 6, 8, [3, 3], 2, { padding: [1, 1] }, { ...U8, extreme: true, xZp: 0, scale: 0.5 }, true);
      checkConv(4, 10, 64, 6, [3, 3], 1, { padding: [1, 1] }, { ...S8, yType: "uint8", yZp: 9 }, true); // wide rows, pooled
    });

    it(`[${isa}] linear with 1–4 rows (the matrix-vector path): odd k and output counts, extremes, per-channel`, () => {
      setNativeIsa(isa);
      checkLinear(1, 1568, 128, { ...U8, perChannel: true }); // SmallCNN fc1 at batch 1
      checkLinear(1, 128, 10, S8);
      checkLinear(2, 157, 10, { ...U8, yType: "int8", yZp: -3 });
      checkLinear(3, 9, 7, { ...S8, perChannel: true });
      checkLinear(4, 1001, 13, { ...U8, extreme: true, xZp: 0, scale: 0.5 });
      checkLinear(1, 300, 9, { ...S8, extreme: true, xZp: -128, scale: 40 });
    });
  }

  it("threads: images split, one image split by pixels, linear rows split — identical results", () => {
    setNativeIsa("best");
    for (const t of [1, 2, 3]) {
      setNumThreads(t);
      checkConv(16, 16, 16, 32, [3, 3], 4, { padding: [1, 1] }, U8);
      checkConv(32, 24, 24, 32, [3, 3], 1, { padding: [1, 1] }, S8);
      checkLinear(200, 512, 64, U8);
      checkConv(16, 14, 14, 32, [3, 3], 1, { padding: [1, 1] }, U8, true); // one image, pooled row pairs split
      checkConv(32, 22, 22, 32, [3, 3], 3, { padding: [1, 1] }, S8, true);
      checkConv(16, 20, 20, 24, [3, 3], 1, { padding: [1, 1] }, { ...U8, bits7: true, xZp: 30 }); // u8 × s8 rows split
      checkConv(3, 40, 40, 16, [7, 7], 2, { stride: [2, 2], padding: [3, 3] }, { ...U8, bits7: true, xZp: 60 });
    }
    setNumThreads(threadsBefore);
  });

  it("the int8 engine's gemm path takes the native kernels on 'native' and agrees with the wasm ones", () => {
    setNativeIsa("best");
    const x = randomQ("uint8", 2 * 16 * 14 * 14), wt = randomQ("int8", 32 * 16 * 9) as Int8Array;
    const fw = prepareConvWeights(wt, 32, 16 * 9);
    expect(fw.native).toBeInstanceOf(Int32Array);
    const { multiplier, shift } = quantizeMultipliers(Array.from({ length: 32 }, (_, i) => 1e-3 * (1 + i / 32)));
    const r = { bias: Int32Array.from({ length: 32 }, (_, i) => 100 * i - 1600), multiplier, shift, yZp: 5, lo: 5, hi: 255, outDType: "uint8" as const };
    const s = { n: 2, c: 16, h: 14, w: 14, oc: 32, kh: 3, kw: 3, oh: 14, ow: 14, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1 };
    expectIdentical(onBackend("native", () => qconv2dGemm(x, 3, s, fw, r)), onBackend("wasm", () => qconv2dGemm(x, 3, s, fw, r)), "conv");
    expectIdentical(onBackend("native", () => qconv2dGemm(x, 3, s, fw, r, true)), onBackend("wasm", () => qconv2dGemm(x, 3, s, fw, r, true)), "conv + pool");
    const xl = randomQ("int8", 7 * 100), wl = randomQ("int8", 32 * 100) as Int8Array, fl = prepareLinearWeights(wl, 32, 100);
    expectIdentical(onBackend("native", () => qlinearGemm(xl, -2, 7, 100, fl, r)), onBackend("wasm", () => qlinearGemm(xl, -2, 7, 100, fl, r)), "linear");
    expect(nativeInt8Preferred()).toBe(nativeIsa() !== "scalar"); // true on an AVX2 CPU
    setNativeIsa("scalar");
    expect(nativeInt8Preferred()).toBe(false); // the portable int8 path is slower than wasm's: not taken
    setNativeIsa("best");
  });

  it("refuses arrays shorter than the geometry", () => {
    const rq = { bias: null, multiplier: Int32Array.of(1 << 30), shift: Int32Array.of(0), yZp: 0, lo: 0, hi: 255, ySigned: false };
    expect(() => qlinearNative(new Uint8Array(10), 0, 2, 6, packNativeWeights(new Int8Array(18), 3, 6), 3, rq, new Uint8Array(6)))
      .toThrow(/native qlinear: input has 10 elements, needs 12/);
  });
});

describe("native igemmBench (the benchmark's raw int16-pair GEMM)", () => {
  const dd = nativeAddon ? it : it.skip;
  // qat_igemm computes whole 6-row tiles: with m off that multiple the benchmark entry once wrote
  // past c's m × n ints (AddressSanitizer: heap-buffer-overflow; glibc later aborted the process).
  dd("m off the 6-row tile: c gets exactly m × n values, equal to the word-by-word product, nothing past it", () => {
    const a = nativeAddon!;
    const lo = (w: number) => (w << 16) >> 16, hi = (w: number) => w >> 16;
    for (const isa of ["best", "scalar"] as const) {
      setNativeIsa(isa);
      for (const [m, n, k] of [[20, 32, 10], [256, 48, 7], [7, 16, 33]]) {
        const kp = Math.ceil(k / 2);
        const wp = new Int32Array(a.qpackWords(m, k));
        a.qpackWeights(Int8Array.from({ length: m * k }, () => randInt(-128, 127)), m, k, null, wp);
        const bp = Int32Array.from({ length: n * kp }, () => (randInt(-128, 127) & 0xffff) | (randInt(-128, 127) << 16));
        const buf = new Int32Array(m * n + 64).fill(0x5a5a5a5a);
        a.igemmBench(m, n, k, wp, bp, buf.subarray(0, m * n));
        const want = new Int32Array(m * n);
        for (let o = 0; o < m; o++) {
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < kp; p++) {
              const w = wp[(Math.floor(o / 6) * kp + p) * 6 + (o % 6)], b = bp[Math.floor(j / 16) * kp * 16 + p * 16 + (j % 16)];
              s += lo(w) * lo(b) + hi(w) * hi(b);
            }
            want[o * n + j] = s;
          }
        }
        expectIdentical(buf.subarray(0, m * n), want, `${isa} ${m}×${n}×${k}`);
        expectIdentical(buf.subarray(m * n), new Int32Array(64).fill(0x5a5a5a5a), `${isa} ${m}×${n}×${k}: ints past c`);
      }
    }
    setNativeIsa("best");
  });
});
