/**
 * The wasm integer kernels of Int8Model's fast path (src/int8/kernels/gemm-path.ts →
 * assembly/qconv.ts, assembly/igemm.ts) against the naive integer accumulator + BigInt
 * single-rounding requantization (test/int8/reference.ts) and the direct max-pool kernel,
 * bit for bit: odd widths (partial 8-pixel groups), channel counts not a multiple of 4, odd
 * reduction lengths, strides 1/2/3, dilation, asymmetric padding, uint8/int8 in and out,
 * clamps, per-tensor/per-channel, the vector epilogue and the saturating one (multipliers so
 * large that acc·M leaves int32), and splits over the worker pool.
 */
import { describe, expect, test } from "vitest";
import "../../src/index.js";
import { listBackends } from "../../src/backend/index.js";
import { prepareConvWeights, prepareDepthwiseWeights, prepareLinearWeights, qconv2dGemm, qdepthwiseGemm, qlinearGemm, qmaxPool2dFast } from "../../src/int8/kernels/gemm-path.js";
import { dequantizeTensor, lutTable, qadd, qaddParams, qlut, qrequantize, qmaxPool2d, quantizeMultiplier, quantizeMultipliers, quantizeTensor, type QuantDType } from "../../src/int8/index-kernels.js";
import { Rng, convAccRef, requantRef } from "./reference.js";
import { onBackend } from "../backend/helpers.js";

const hasWasm = listBackends().includes("wasm");
const range = (d: QuantDType): [number, number] => (d === "uint8" ? [0, 255] : [-128, 127]);
const quant = (rng: Rng, d: QuantDType, n: number) => rng.fill(d === "uint8" ? new Uint8Array(n) : new Int8Array(n), ...range(d));

interface Case {
  x: [number, number, number, number]; oc: number; k: [number, number];
  /** Per-channel weight zero points in [−127, 127] (PyTorch's one-signed channels). */
  wZp?: boolean;
  stride?: [number, number]; padding?: [number, number]; dilation?: [number, number];
  xd: QuantDType; xZp: number; yd: QuantDType; yZp: number; clamp?: [number, number];
  perTensor?: boolean; noBias?: boolean; huge?: boolean;
}

const CASES: Case[] = [
  { x: [2, 1, 28, 28], oc: 16, k: [3, 3], padding: [1, 1], xd: "uint8", xZp: 0, yd: "uint8", yZp: 0, clamp: [0, 255] },
  { x: [3, 5, 7, 9], oc: 6, k: [3, 3], padding: [1, 1], xd: "uint8", xZp: 3, yd: "uint8", yZp: 100 },
  { x: [1, 3, 11, 17], oc: 5, k: [3, 2], stride: [2, 1], padding: [2, 1], dilation: [2, 3], xd: "int8", xZp: -5, yd: "int8", yZp: -7 },
  { x: [2, 4, 13, 13], oc: 3, k: [3, 3], stride: [2, 2], padding: [1, 1], xd: "int8", xZp: 0, yd: "uint8", yZp: 10, perTensor: true },
  { x: [1, 2, 16, 19], oc: 9, k: [5, 5], stride: [3, 3], padding: [2, 0], xd: "uint8", xZp: 255, yd: "int8", yZp: 0, noBias: true },
  { x: [2, 7, 4, 5], oc: 1, k: [1, 1], xd: "uint8", xZp: 128, yd: "uint8", yZp: 128 },
  { x: [1, 3, 1, 1], oc: 4, k: [1, 1], xd: "int8", xZp: 127, yd: "int8", yZp: -128, clamp: [-128, 0] },
  { x: [2, 6, 9, 8], oc: 7, k: [3, 3], padding: [1, 1], xd: "uint8", xZp: 30, yd: "uint8", yZp: 5, huge: true },
  { x: [1, 4, 10, 10], oc: 8, k: [3, 3], xd: "int8", xZp: -128, yd: "int8", yZp: 3, huge: true, perTensor: true },
  // Large enough to split over the worker pool (≥ 2^22 flops).
  { x: [8, 16, 16, 16], oc: 32, k: [3, 3], padding: [1, 1], xd: "uint8", xZp: 12, yd: "uint8", yZp: 40 },
  { x: [2, 3, 15, 21], oc: 6, k: [3, 3], padding: [1, 1], xd: "int8", xZp: 2, yd: "int8", yZp: -20, clamp: [-20, 127] },
  { x: [2, 5, 9, 12], oc: 7, k: [3, 3], padding: [1, 1], xd: "uint8", xZp: 255, yd: "uint8", yZp: 30, wZp: true },
];

/** convAccRef with a weight zero point per output channel (the reference takes one per tensor). */
function convAccPerChannelZp(
  x: Uint8Array | Int8Array, xZp: number, xShape: number[], w: Int8Array, wZp: Int32Array | null, wShape: [number, number, number, number],
  stride: [number, number], padding: [number, number], dilation: [number, number], groups: number,
): { acc: Float64Array; shape: number[] } {
  const [oc, cg, kh, kw] = wShape;
  const k = cg * kh * kw;
  const centred = Float64Array.from(w, (v, i) => v - (wZp ? wZp[Math.floor(i / k)] : 0));
  return convAccRef({ x, xZp, xShape, w: centred, wZp: 0, wShape: [oc, cg, kh, kw], stride, padding, dilation, groups });
}

function multipliers(rng: Rng, channels: number, huge: boolean, perTensor: boolean): Float64Array {
  const n = perTensor ? 1 : channels;
  return Float64Array.from({ length: n }, () => (huge ? rng.uniform(300, 3e6) : rng.uniform(2e-5, 4e-3)));
}

describe.skipIf(!hasWasm)("wasm integer conv (transposed GEMM, fused requantization)", () => {
  CASES.forEach((cs, i) => test(`x ${cs.x.join("×")}, ${cs.oc} out, kernel ${cs.k.join("×")}, stride ${cs.stride ?? [1, 1]}, ${cs.xd}→${cs.yd}${cs.huge ? ", saturating multipliers" : ""}`, () => {
    const rng = new Rng(900 + i);
    const [n, c, h, w] = cs.x;
    const [kh, kw] = cs.k;
    const x = quant(rng, cs.xd, n * c * h * w);
    const wt = rng.fill(new Int8Array(cs.oc * c * kh * kw), -128, 127);
    const bias = cs.noBias ? null : rng.fill(new Int32Array(cs.oc), -40000, 40000);
    const [sh, sw] = cs.stride ?? [1, 1], [ph, pw] = cs.padding ?? [0, 0], [dh, dw] = cs.dilation ?? [1, 1];
    const wZp = cs.wZp ? rng.fill(new Int32Array(cs.oc), -127, 127) : null;
    const { acc, shape } = convAccPerChannelZp(x, cs.xZp, cs.x, wt, wZp, [cs.oc, c, kh, kw], [sh, sw], [ph, pw], [dh, dw], 1);
    const [, , oh, ow] = shape;
    const rq = quantizeMultipliers(multipliers(rng, cs.oc, cs.huge ?? false, cs.perTensor ?? false));
    const [lo, hi] = cs.clamp ?? range(cs.yd);
    const want = requantRef(acc, bias, rq.multiplier, rq.shift, cs.oc, oh * ow, cs.yZp, lo, hi);
    const fw = prepareConvWeights(wt, cs.oc, c * kh * kw, wZp);
    const y = qconv2dGemm(x, cs.xZp, { n, c, h, w, oc: cs.oc, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw }, fw, {
      bias, multiplier: rq.multiplier, shift: rq.shift, yZp: cs.yZp, lo, hi, outDType: cs.yd,
    });
    expect(y).toBeInstanceOf(cs.yd === "uint8" ? Uint8Array : Int8Array);
    expect(Array.from(y)).toEqual(want);
    if (cs.huge) expect(want.some((v) => v === lo || v === hi)).toBe(true);
    // The fused 2×2 stride-2 max pool equals the direct pooling of that output.
    if (oh >= 2 && ow >= 2) {
      const pooled = qconv2dGemm(x, cs.xZp, { n, c, h, w, oc: cs.oc, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw }, fw, {
        bias, multiplier: rq.multiplier, shift: rq.shift, yZp: cs.yZp, lo, hi, outDType: cs.yd,
      }, true);
      const direct = qmaxPool2d({ x: y, xShape: shape, kernelSize: 2, stride: 2 });
      expect(Array.from(pooled)).toEqual(Array.from(direct.data));
    }
  }));

  test("an accumulator that could overflow int32 is refused before any work", () => {
    const k = 70000; // 255 · 128 · 70 000 > 2^31
    const wt = new Int8Array(k).fill(-128);
    const fw = prepareConvWeights(wt, 1, k);
    const x = new Uint8Array(k);
    expect(() => qconv2dGemm(x, 255, { n: 1, c: k, h: 1, w: 1, oc: 1, kh: 1, kw: 1, oh: 1, ow: 1, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1 }, fw, {
      bias: null, multiplier: Int32Array.of(1 << 30), shift: Int32Array.of(-10), yZp: 0, lo: 0, hi: 255, outDType: "uint8",
    })).toThrow(/accumulator of output channel 0 could overflow/);
  });
});

describe.skipIf(!hasWasm)("wasm integer depthwise conv", () => {
  const cases: Case[] = [
    { x: [2, 8, 14, 14], oc: 8, k: [3, 3], padding: [1, 1], xd: "uint8", xZp: 0, yd: "uint8", yZp: 0, clamp: [0, 100] },
    { x: [1, 5, 11, 17], oc: 5, k: [3, 3], stride: [2, 2], padding: [1, 1], xd: "int8", xZp: -3, yd: "int8", yZp: 4 },
    { x: [3, 3, 9, 10], oc: 3, k: [5, 3], stride: [1, 3], padding: [2, 1], dilation: [1, 2], xd: "uint8", xZp: 200, yd: "uint8", yZp: 90, perTensor: true },
    { x: [2, 4, 7, 7], oc: 4, k: [3, 3], padding: [1, 1], xd: "uint8", xZp: 7, yd: "int8", yZp: 0, huge: true, noBias: true },
    { x: [16, 32, 16, 16], oc: 32, k: [3, 3], padding: [1, 1], xd: "uint8", xZp: 9, yd: "uint8", yZp: 3 },
    { x: [2, 6, 10, 10], oc: 6, k: [3, 3], stride: [2, 2], padding: [1, 1], xd: "uint8", xZp: 0, yd: "uint8", yZp: 0, wZp: true },
  ];
  cases.forEach((cs, i) => test(`x ${cs.x.join("×")}, kernel ${cs.k.join("×")}, stride ${cs.stride ?? [1, 1]}, ${cs.xd}→${cs.yd}${cs.huge ? ", saturating" : ""}`, () => {
    const rng = new Rng(1300 + i);
    const [n, c, h, w] = cs.x;
    const [kh, kw] = cs.k;
    const x = quant(rng, cs.xd, n * c * h * w);
    const wt = rng.fill(new Int8Array(c * kh * kw), -128, 127);
    const bias = cs.noBias ? null : rng.fill(new Int32Array(c), -4000, 4000);
    const [sh, sw] = cs.stride ?? [1, 1], [ph, pw] = cs.padding ?? [0, 0], [dh, dw] = cs.dilation ?? [1, 1];
    const wZp = cs.wZp ? rng.fill(new Int32Array(c), -127, 127) : null;
    const { acc, shape } = convAccPerChannelZp(x, cs.xZp, cs.x, wt, wZp, [c, 1, kh, kw], [sh, sw], [ph, pw], [dh, dw], c);
    const [, , oh, ow] = shape;
    const rq = quantizeMultipliers(cs.huge ? multipliers(rng, c, true, false) : multipliers(rng, c, false, cs.perTensor ?? false).map((m) => m * 30));
    const [lo, hi] = cs.clamp ?? range(cs.yd);
    const want = requantRef(acc, bias, rq.multiplier, rq.shift, c, oh * ow, cs.yZp, lo, hi);
    const y = qdepthwiseGemm(x, cs.xZp, { n, c, h, w, oc: c, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw }, prepareDepthwiseWeights(wt, c, kh * kw, wZp), {
      bias, multiplier: rq.multiplier, shift: rq.shift, yZp: cs.yZp, lo, hi, outDType: cs.yd,
    });
    expect(Array.from(y)).toEqual(want);
  }));
});

describe.skipIf(!hasWasm)("wasm integer linear (packed GEMM + requantization)", () => {
  const cases: [number, number, number, QuantDType, number, QuantDType, boolean, boolean][] = [
    [5, 37, 10, "uint8", 12, "uint8", false, false],
    [9, 64, 3, "int8", -20, "int8", true, false],
    [256, 300, 33, "uint8", 0, "uint8", false, false],
    [3, 129, 17, "int8", 100, "uint8", false, true],
    [1, 1, 1, "uint8", 255, "int8", true, true],
  ];
  cases.forEach(([m, k, o, xd, xZp, yd, perTensor, huge], i) => test(`${m}×${k} · ${o}, ${xd}→${yd}${huge ? ", saturating" : ""}`, () => {
    const rng = new Rng(700 + i);
    const x = quant(rng, xd, m * k);
    const wt = rng.fill(new Int8Array(o * k), -128, 127);
    const bias = rng.fill(new Int32Array(o), -9000, 9000);
    const acc = new Float64Array(m * o);
    for (let r = 0; r < m; r++) for (let j = 0; j < o; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (x[r * k + p] - xZp) * wt[j * k + p];
      acc[r * o + j] = s;
    }
    const rq = quantizeMultipliers(multipliers(rng, o, huge, perTensor));
    const [lo, hi] = range(yd);
    const want = requantRef(acc, bias, rq.multiplier, rq.shift, o, 1, 7, lo, hi);
    const y = qlinearGemm(x, xZp, m, k, prepareLinearWeights(wt, o, k), { bias, multiplier: rq.multiplier, shift: rq.shift, yZp: 7, lo, hi, outDType: yd });
    expect(Array.from(y)).toEqual(want);
  }));
});

describe.skipIf(!hasWasm)("wasm integer max pooling", () => {
  const cases: [number[], [number, number], [number, number], QuantDType][] = [
    [[2, 3, 28, 28], [2, 2], [2, 2], "uint8"],
    [[3, 5, 14, 14], [2, 2], [2, 2], "int8"],
    [[1, 2, 9, 11], [2, 2], [2, 2], "uint8"],
    [[2, 2, 7, 40], [2, 2], [2, 2], "int8"],
    [[1, 3, 8, 9], [3, 3], [1, 1], "int8"],
    [[2, 2, 10, 7], [3, 2], [2, 3], "uint8"],
  ];
  cases.forEach(([shape, kernel, stride, d], i) => test(`${shape.join("×")} kernel ${kernel} stride ${stride} ${d}`, () => {
    const x = quant(new Rng(500 + i), d, shape.reduce((a, b) => a * b));
    const fast = qmaxPool2dFast(x, shape, kernel, stride);
    const direct = qmaxPool2d({ x, xShape: shape, kernelSize: kernel, stride });
    expect(fast.shape).toEqual(direct.shape);
    expect(Array.from(fast.data)).toEqual(Array.from(direct.data));
  }));
});

describe.skipIf(!hasWasm)("wasm quantize / dequantize at the model boundary", () => {
  const rng = new Rng(42);
  const n = 4099; // not a multiple of 8: the scalar tail runs too
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rng.uniform();
    // Exact ties (k + 0.5)·S, values far outside the range, ±∞ and ordinary values.
    x[i] = r < 0.3 ? (rng.int(-300, 300) + 0.5) * 0.0625 : r < 0.35 ? rng.uniform(-1e9, 1e9) : r < 0.37 ? (r < 0.36 ? Infinity : -Infinity) : rng.uniform(-20, 20);
  }
  for (const [scale, zp, qmin, qmax] of [[0.0625, 0, 0, 255], [0.0625, 17, 0, 127], [0.1, -5, -128, 127], [0.0625, 255, 0, 255], [0.37, -128, -128, 127], [0.2, 3, 0, 15]] as const) {
    test(`scale ${scale}, zp ${zp}, range [${qmin}, ${qmax}] equals the reference loop (and dequantizes equally)`, () => {
      const fast = onBackend("wasm", () => quantizeTensor(x, scale, zp, qmin, qmax));
      const ref = onBackend("ref", () => quantizeTensor(x, scale, zp, qmin, qmax));
      expect(Array.from(fast)).toEqual(Array.from(ref));
      const dFast = onBackend("wasm", () => dequantizeTensor(fast, scale, zp));
      const dRef = onBackend("ref", () => dequantizeTensor(ref, scale, zp));
      expect(Array.from(dFast)).toEqual(Array.from(dRef));
    });
  }
  test("a NaN is reported with its index", () => {
    const y = new Float32Array(5000).fill(1);
    y[3333] = NaN;
    expect(() => onBackend("wasm", () => quantizeTensor(y, 0.1, 0, 0, 255))).toThrow(/NaN at index 3333/);
  });
});

describe.skipIf(!hasWasm)("wasm quantized add", () => {
  // Scales (a, b, out), dtypes, zero points, clamp, left shift; the last case has multipliers > 1.
  const cases: [number, number, number, QuantDType, QuantDType, QuantDType, number, number, number, [number, number] | null, number][] = [
    [0.05, 0.02, 0.06, "uint8", "uint8", "uint8", 3, 250, 128, null, 20],
    [0.1, 0.1, 0.1, "int8", "int8", "int8", -128, 127, 0, [0, 127], 20],
    [0.013, 0.31, 0.2, "uint8", "int8", "int8", 0, -7, -3, null, 22],
    [0.5, 0.25, 0.001, "int8", "uint8", "uint8", 11, 200, 255, [100, 255], 0],
  ];
  cases.forEach(([sa, sb, so, ad, bd, od, aZp, bZp, yZp, clamp, ls], i) => test(`Sa ${sa}, Sb ${sb}, Sout ${so}, ${ad}+${bd}→${od}, left shift ${ls}`, () => {
    const rng = new Rng(1700 + i);
    const n = 5003;
    const a = quant(rng, ad, n), b = quant(rng, bd, n);
    const p = qaddParams(sa, sb, so, ls);
    if (i === 3) p.aMultiplier = quantizeMultiplier(3.7); // > 1: left shift inside MBQM, saturation
    const args = {
      a, aZp, b, bZp, aMultiplier: p.aMultiplier, bMultiplier: p.bMultiplier, outMultiplier: p.outMultiplier, leftShift: ls,
      outZp: yZp, outDType: od, clampMin: clamp?.[0], clampMax: clamp?.[1],
    };
    const fast = onBackend("wasm", () => qadd(args));
    const ref = onBackend("ref", () => qadd(args));
    expect(Array.from(fast.data)).toEqual(Array.from(ref.data));
  }));
});

describe.skipIf(!hasWasm)("wasm requantize (tabulated)", () => {
  const cases: [QuantDType, number, QuantDType, number, number, [number, number] | null][] = [
    ["uint8", 3, "uint8", 0, 0.7, [0, 255]],
    ["int8", -10, "uint8", 5, 1.9, null],
    ["uint8", 200, "int8", -3, 0.05, [-3, 127]],
    ["int8", 0, "int8", 0, 400, null],
  ];
  cases.forEach(([xd, xZp, yd, yZp, m, clamp], i) => test(`${xd} → ${yd}, M = ${m}`, () => {
    const x = quant(new Rng(1900 + i), xd, 3001);
    const args = { x, xZp, multiplier: quantizeMultiplier(m), yZp, outDType: yd, clampMin: clamp?.[0], clampMax: clamp?.[1] };
    const fast = onBackend("wasm", () => qrequantize(args));
    const ref = onBackend("ref", () => qrequantize({ ...args, x: x.slice(0, 400) }));
    const refAll = onBackend("ref", () => {
      // The reference loop on short slices (below the table threshold) covers every element.
      const parts: number[] = [];
      for (let s = 0; s < x.length; s += 400) parts.push(...qrequantize({ ...args, x: x.slice(s, s + 400) }).data);
      return parts;
    });
    expect(Array.from(fast.data)).toEqual(refAll);
    expect(Array.from(fast.data.slice(0, 400))).toEqual(Array.from(ref.data));
  }));
});

describe("table lookup (Sigmoid as 256 entries)", () => {
  for (const [xd, yd] of [["uint8", "uint8"], ["int8", "int8"], ["int8", "uint8"]] as [QuantDType, QuantDType][]) {
    test(`${xd} → ${yd}: every entry is DequantizeLinear → sigmoid → QuantizeLinear, and both backends apply it alike`, () => {
      const xq = { scale: 0.05, zeroPoint: xd === "uint8" ? 128 : 0, dtype: xd };
      const yq = { scale: 1 / 255, zeroPoint: yd === "uint8" ? 0 : -128, dtype: yd };
      const [lo, hi] = range(yd);
      const sig = (v: Float32Array) => v.map((t) => 1 / (1 + Math.exp(-t)));
      const table = lutTable(xq, yq, [lo, hi], sig);
      const qmin = range(xd)[0];
      for (let i = 0; i < 256; i++) {
        const x = Math.fround((i + qmin - xq.zeroPoint) * xq.scale);
        const want = Math.min(hi, Math.max(lo, Math.round(Math.fround(1 / (1 + Math.exp(-x))) / yq.scale) + yq.zeroPoint));
        expect(Math.abs(table[i] - want)).toBeLessThanOrEqual(1); // round-half-even vs Math.round at exact ties only
      }
      const x = quant(new Rng(2100), xd, 4099);
      const fast = onBackend(hasWasm ? "wasm" : "ref", () => qlut({ x, table, outDType: yd }));
      const ref = onBackend("ref", () => qlut({ x, table, outDType: yd }));
      expect(Array.from(fast.data)).toEqual(Array.from(ref.data));
      expect(ref.data[0]).toBe(table[x[0] - qmin]);
    });
  }
  test("a table of the wrong size or range is refused", () => {
    expect(() => qlut({ x: new Uint8Array(4), table: new Int32Array(10), outDType: "uint8" })).toThrow(/256 entries/);
    expect(() => qlut({ x: new Uint8Array(4), table: new Int32Array(256).fill(300), outDType: "uint8" })).toThrow(/outside/);
  });
});
