/**
 * qadd, qrequantize, qconcat, the pools and the float boundary (quantize / dequantize /
 * parameter helpers) against BigInt pipelines (bit-exact) and float64 math (±1 quantum,
 * ≥ 99% exact), with the intermediate ranges of each kernel asserted.
 */
import { describe, expect, test } from "vitest";
import {
  type QuantDType, activationClamp, convRequant, dequantizePerChannel, dequantizeTensor, globalAvgPoolMultiplier,
  qadd, qaddParams, qavgPool2d, qconcat, qglobalAvgPool, qmaxPool2d, qrequantize, quantizeBias, quantizePerChannel,
  quantizeTensor, requantMultiplier, roundHalfEven,
} from "../../src/int8/index-kernels.js";
import { ValueError } from "../../src/tensor/errors.js";
import { Rng, agreement, mbqmRef } from "./reference.js";

const range = (d: QuantDType): [number, number] => (d === "uint8" ? [0, 255] : [-128, 127]);
const clamp = (v: number, [lo, hi]: [number, number]): number => Math.min(hi, Math.max(lo, v));
const roundAway = (v: number): number => Math.sign(v) * Math.floor(Math.abs(v) + 0.5);

function randomQuant(rng: Rng, d: QuantDType, n: number): Uint8Array | Int8Array {
  const [lo, hi] = range(d);
  return rng.fill(d === "uint8" ? new Uint8Array(n) : new Int8Array(n), lo, hi);
}

describe("qadd (TFLite Add)", () => {
  const cases: [QuantDType, number, number, QuantDType, number, number, QuantDType, number, number][] = [
    ["uint8", 128, 0.05, "uint8", 3, 0.02, "uint8", 100, 0.07],
    ["int8", -3, 0.1, "uint8", 200, 0.1, "int8", 0, 0.15],
    ["int8", 10, 0.01, "int8", -128, 0.3, "int8", -50, 0.25],
  ];
  cases.forEach(([ad, aZp, sa, bd, bZp, sb, od, oZp, so], ci) => test(`${ad}+${bd}→${od} (Sa ${sa}, Sb ${sb}, Sout ${so})`, () => {
    const rng = new Rng(400 + ci);
    const n = 4000;
    const a = randomQuant(rng, ad, n), b = randomQuant(rng, bd, n);
    const p = qaddParams(sa, sb, so);
    const y = qadd({ a, aZp, b, bZp, ...p, outZp: oZp, outDType: od, shape: [40, 100] });
    expect(y.shape).toEqual([40, 100]);
    const want: number[] = [], real: number[] = [];
    for (let i = 0; i < n; i++) {
      const as = (a[i] - aZp) * 2 ** 20, bs = (b[i] - bZp) * 2 ** 20;
      expect(Math.abs(as) < 2 ** 28 && Math.abs(bs) < 2 ** 28).toBe(true); // |(q − Z)·2^20| < 2^28
      const aS = mbqmRef(as, p.aMultiplier.multiplier, p.aMultiplier.shift);
      const bS = mbqmRef(bs, p.bMultiplier.multiplier, p.bMultiplier.shift);
      expect(Math.abs(aS) <= 2 ** 27 && Math.abs(bS) <= 2 ** 27).toBe(true); // M ≤ 1/2
      want.push(clamp(oZp + mbqmRef(aS + bS, p.outMultiplier.multiplier, p.outMultiplier.shift), range(od)));
      real.push(clamp(oZp + roundAway((sa * (a[i] - aZp) + sb * (b[i] - bZp)) / so), range(od)));
    }
    expect(Array.from(y.data)).toEqual(want);
    const { exact, maxDiff } = agreement(y.data, real);
    expect(maxDiff).toBeLessThanOrEqual(1);
    expect(exact).toBeGreaterThanOrEqual(0.99);
  }));

  test("clamps (ReLU after add)", () => {
    const a = Uint8Array.of(0, 50, 200), b = Uint8Array.of(0, 50, 200);
    const y = qadd({ a, aZp: 100, b, bZp: 100, ...qaddParams(0.1, 0.1, 0.2), outZp: 100, outDType: "uint8", clampMin: 100 });
    expect(Array.from(y.data)).toEqual([100, 100, 200]);
  });
});

describe("qrequantize and qconcat", () => {
  test("scale change matches BigInt and float (±1, ≥ 99% exact), incl. M > 1", () => {
    const rng = new Rng(500);
    for (const [sx, sy, xd, yd] of [[0.05, 0.07, "uint8", "uint8"], [0.05, 0.021, "int8", "uint8"], [0.3, 0.011, "uint8", "int8"]] as const) {
      const x = randomQuant(rng, xd, 3000);
      const xZp = xd === "uint8" ? 120 : -4, yZp = yd === "uint8" ? 130 : 2;
      const m = requantMultiplier(sx, sy);
      const y = qrequantize({ x, xZp, multiplier: m, yZp, outDType: yd });
      const want = Array.from(x, (v) => clamp(yZp + mbqmRef(v - xZp, m.multiplier, m.shift), range(yd)));
      expect(Array.from(y.data)).toEqual(want);
      const { exact, maxDiff } = agreement(y.data, Array.from(x, (v) => clamp(yZp + roundAway((sx * (v - xZp)) / sy), range(yd))));
      expect(maxDiff).toBeLessThanOrEqual(1);
      expect(exact).toBeGreaterThanOrEqual(0.99);
    }
  });

  test("exact ties of a dyadic M round toward +∞ (single rounding), unlike round-half-away", () => {
    const half = requantMultiplier(0.05, 0.1); // M = 1/2 exactly: (2^30, 0), SRDHM only
    expect(half).toEqual({ multiplier: 2 ** 30, shift: 0 });
    const x = Int8Array.of(-3, -1, 1, 3);
    const y = qrequantize({ x, xZp: 0, multiplier: half, yZp: 0, outDType: "int8" });
    expect(Array.from(y.data)).toEqual([-1, 0, 1, 2]); // −1.5 → −1, −0.5 → 0, 0.5 → 1, 1.5 → 2
    const quarter = requantMultiplier(0.025, 0.1); // M = 1/4: (2^30, −1), SRDHM then RoundingDivideByPOT
    const z = qrequantize({ x: Int8Array.of(-6, -2, 2, 6), xZp: 0, multiplier: quarter, yZp: 0, outDType: "int8" });
    expect(Array.from(z.data)).toEqual([-1, 0, 1, 2]); // −1.5 → −1, −0.5 → 0: one rounding, ties up
  });

  test("M = 1 with a zero-point change converts uint8 ↔ int8 exactly; identity is a copy", () => {
    const x = Uint8Array.from({ length: 256 }, (_, i) => i);
    const one = requantMultiplier(0.1, 0.1);
    expect(one).toEqual({ multiplier: 2 ** 30, shift: 1 });
    const y = qrequantize({ x, xZp: 128, multiplier: one, yZp: 0, outDType: "int8" });
    expect(Array.from(y.data)).toEqual(Array.from(x, (v) => v - 128));
    const same = qrequantize({ x, xZp: 7, multiplier: one, yZp: 7, outDType: "uint8" });
    expect(Array.from(same.data)).toEqual(Array.from(x));
  });

  test("qconcat along axis 1: requantizes each input, copies identities", () => {
    const rng = new Rng(501);
    const a = randomQuant(rng, "uint8", 2 * 3 * 4), b = randomQuant(rng, "uint8", 2 * 1 * 4), c = randomQuant(rng, "int8", 2 * 2 * 4);
    const outS = 0.1, outZp = 100;
    const mb = requantMultiplier(0.05, outS), mc = requantMultiplier(0.2, outS);
    const y = qconcat({
      inputs: [{ x: a, shape: [2, 3, 4], zp: outZp }, { x: b, shape: [2, 1, 4], zp: 10, multiplier: mb }, { x: c, shape: [2, 2, 4], zp: 0, multiplier: mc }],
      axis: 1, outZp, outDType: "uint8",
    });
    expect(y.shape).toEqual([2, 6, 4]);
    const want: number[] = [];
    for (let n = 0; n < 2; n++) {
      for (let i = 0; i < 12; i++) want.push(a[n * 12 + i]);
      for (let i = 0; i < 4; i++) want.push(clamp(outZp + mbqmRef(b[n * 4 + i] - 10, mb.multiplier, mb.shift), [0, 255]));
      for (let i = 0; i < 8; i++) want.push(clamp(outZp + mbqmRef(c[n * 8 + i], mc.multiplier, mc.shift), [0, 255]));
    }
    expect(Array.from(y.data)).toEqual(want);
  });
});

/** Naive pooling over one plane with explicit bounds: PyTorch window and divisor rules. */
function poolRef(x: ArrayLike<number>, shape: number[], k: number, s: number, p: number, ceil: boolean, kind: "max" | "avg", zp: number, includePad = true): number[] {
  const [N, C, H, W] = shape;
  const osz = (n: number): number => {
    let o = Math.floor((n + 2 * p - k + (ceil ? s - 1 : 0)) / s) + 1;
    if (ceil && (o - 1) * s >= n + p) o--;
    return o;
  };
  const OH = osz(H), OW = osz(W);
  const out: number[] = [];
  for (let pl = 0; pl < N * C; pl++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let best = -Infinity, sum = 0, cnt = 0, padCnt = 0;
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const iy = oy * s - p + ky, ix = ox * s - p + kx;
            if (iy < H + p && ix < W + p) padCnt++;
            if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue;
            const v = x[pl * H * W + iy * W + ix];
            best = Math.max(best, v);
            sum += v - zp;
            cnt++;
          }
        }
        out.push(kind === "max" ? best : zp + roundAway(sum / (includePad ? padCnt : cnt)));
      }
    }
  }
  return out;
}

describe("pooling", () => {
  const configs: [number, number, number, boolean][] = [[2, 2, 0, false], [3, 2, 1, false], [3, 2, 1, true], [2, 3, 1, true]];
  configs.forEach(([k, s, p, ceil]) => test(`max / avg pool k${k} s${s} p${p}${ceil ? " ceil" : ""}`, () => {
    const rng = new Rng(600 + k * 10 + s);
    for (const d of ["uint8", "int8"] as const) {
      const shape = [2, 3, 7, 6];
      const x = randomQuant(rng, d, 2 * 3 * 7 * 6);
      const zp = d === "uint8" ? 37 : -9;
      const mx = qmaxPool2d({ x, xShape: shape, kernelSize: k, stride: s, padding: p, ceilMode: ceil });
      expect(Array.from(mx.data)).toEqual(poolRef(x, shape, k, s, p, ceil, "max", zp));
      for (const includePad of [true, false]) {
        const av = qavgPool2d({ x, xZp: zp, xShape: shape, kernelSize: k, stride: s, padding: p, ceilMode: ceil, countIncludePad: includePad });
        expect(av.shape).toEqual(mx.shape);
        expect(Array.from(av.data)).toEqual(poolRef(x, shape, k, s, p, ceil, "avg", zp, includePad));
      }
    }
  }));

  test("avg pool ties round away from zero on the centered sum; divisorOverride", () => {
    const x = Uint8Array.of(10, 11, 10, 11, 9, 8, 9, 8); // two 2×2 windows: sums (zp 10) +2 and −6
    const av = qavgPool2d({ x, xZp: 10, xShape: [1, 2, 2, 2], kernelSize: 2 });
    expect(Array.from(av.data)).toEqual([11, 8]); // +0.5 → +1, −1.5 → −2
    const ov = qavgPool2d({ x, xZp: 10, xShape: [1, 2, 2, 2], kernelSize: 2, divisorOverride: 3 });
    expect(Array.from(ov.data)).toEqual([11, 8]); // 0.67 → 1, −2
  });

  test("max pool with dilation", () => {
    const x = Int8Array.from({ length: 25 }, (_, i) => (i * 37) % 256 - 128);
    const y = qmaxPool2d({ x, xShape: [1, 1, 5, 5], kernelSize: 2, stride: 1, dilation: 2 });
    expect(y.shape).toEqual([1, 1, 3, 3]);
    for (let oy = 0; oy < 3; oy++) for (let ox = 0; ox < 3; ox++) {
      const taps = [x[oy * 5 + ox], x[oy * 5 + ox + 2], x[(oy + 2) * 5 + ox], x[(oy + 2) * 5 + ox + 2]];
      expect(y.data[oy * 3 + ox]).toBe(Math.max(...taps));
    }
  });

  test("global average: same scale (rounded division) and own scale (multiplier)", () => {
    const rng = new Rng(700);
    const x = randomQuant(rng, "uint8", 4 * 5 * 7 * 7);
    const g = qglobalAvgPool({ x, xZp: 100, xShape: [4, 5, 7, 7] });
    expect(g.shape).toEqual([4, 5, 1, 1]);
    const sums = Array.from({ length: 20 }, (_, pl) => Array.from(x.subarray(pl * 49, pl * 49 + 49)).reduce((s, v) => s + v - 100, 0));
    sums.forEach((s) => expect(Math.abs(s)).toBeLessThanOrEqual(255 * 49));
    expect(Array.from(g.data)).toEqual(sums.map((s) => 100 + roundAway(s / 49)));
    const m = globalAvgPoolMultiplier(0.1, 0.03, 49);
    const o = qglobalAvgPool({ x, xZp: 100, xShape: [4, 5, 7, 7], multiplier: m, yZp: -3, outDType: "int8" });
    expect(Array.from(o.data)).toEqual(sums.map((s) => clamp(-3 + mbqmRef(s, m.multiplier, m.shift), [-128, 127])));
    const { maxDiff } = agreement(o.data, sums.map((s) => clamp(-3 + roundAway((0.1 * s) / 49 / 0.03), [-128, 127])));
    expect(maxDiff).toBeLessThanOrEqual(1);
  });
});

describe("quantize / dequantize and offline parameters", () => {
  test("round half to even, saturation, NaN rejected", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, -2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, -2, 2, -3]);
    const q = quantizeTensor(Float32Array.of(1.25, 1.75, -1.25, 0, 1000, -Infinity, Infinity), 0.5, 3, 0, 255);
    expect(q).toBeInstanceOf(Uint8Array);
    expect(Array.from(q)).toEqual([5, 7, 1, 3, 255, 0, 255]); // 2.5→2, 3.5→4, −2.5→−2
    const s = quantizeTensor([0.3, -0.3], 0.2, 0, -127, 127);
    expect(s).toBeInstanceOf(Int8Array);
    expect(Array.from(s)).toEqual([2, -2]); // 1.5 → 2, −1.5 → −2
    expect(() => quantizeTensor([NaN], 0.1, 0, 0, 255)).toThrow(ValueError);
    expect(() => quantizeTensor([1], 0.1, 300, 0, 255)).toThrow(ValueError);
    expect(() => quantizeTensor([1], 0, 0, 0, 255)).toThrow(ValueError);
  });

  test("divides in float32 like onnxruntime; dequantize is the float32 product", () => {
    const rng = new Rng(800);
    const x = Float32Array.from({ length: 2000 }, () => rng.uniform(-3, 2.9)); // inside [(0 − 131)S, (255 − 131)S]
    const scale = 0.0237, zp = 131;
    const q = quantizeTensor(x, scale, zp, 0, 255);
    const s32 = Math.fround(scale);
    x.forEach((v, i) => expect(q[i]).toBe(clamp(roundHalfEven(Math.fround(v / s32)) + zp, [0, 255])));
    const r = dequantizeTensor(q, scale, zp);
    r.forEach((v, i) => {
      expect(v).toBe(Math.fround((q[i] - zp) * s32));
      expect(Math.abs(v - x[i])).toBeLessThanOrEqual(s32 / 2 + 1e-6);
    });
  });

  test("per-channel quantize / dequantize along axis 0", () => {
    const w = Float32Array.of(0.1, -0.2, 0.3, 1, -2, 3);
    const q = quantizePerChannel(w, [2, 3], 0, [0.01, 0.1], [0, 0], -127, 127, "int8");
    expect(Array.from(q)).toEqual([10, -20, 30, 10, -20, 30]);
    const r = dequantizePerChannel(q, [2, 3], 0, [0.01, 0.1], [0, 0]);
    r.forEach((v, i) => expect(v).toBe(Math.fround(q[i] * Math.fround(i < 3 ? 0.01 : 0.1))));
  });

  test("bias, conv multipliers and activation clamps", () => {
    expect(Array.from(quantizeBias([0.5, -0.25, 1e12], 0.5, [0.01, 0.02, 0.01]))).toEqual([100, -25, 2147483647]);
    const r = convRequant(0.02, [0.004, 0.008], 0.05);
    expect(Array.from(r.multiplier)).toEqual([Math.round(0.0016 * 2 ** 40), Math.round(0.0032 * 2 ** 39)]);
    expect(Array.from(r.shift)).toEqual([-9, -8]);
    expect(activationClamp("relu", 0.1, 20, "uint8")).toEqual([20, 255]);
    expect(activationClamp("relu6", 0.1, 20, "uint8")).toEqual([20, 80]);
    expect(activationClamp("relu6", 0.01, -128, "int8")).toEqual([-128, 127]);
    expect(activationClamp("none", 0.1, 3, "int8")).toEqual([-128, 127]);
  });
});
