/**
 * qconv2d and qlinear against two independent references of the same pipeline: a naive
 * integer accumulator + BigInt requantization (must match bit for bit) and a float64 real
 * multiplier (must match round(real) within ±1 and exactly on ≥ 99% of elements). Covers
 * stride, padding, dilation, groups, depthwise, uint8/int8, nonzero zero points, per-channel
 * and per-tensor multipliers, clamps, pre-packed weights; asserts the accumulator bounds.
 */
import { describe, expect, test } from "vitest";
import {
  type QuantDType, activationClamp, packQConv2dWeights, packQLinearWeights, qconv2d, qlinear, quantizeMultipliers,
} from "../../src/int8/index-kernels.js";
import { I32_MAX, Rng, agreement, convAccRef, requantFloat, requantRef } from "./reference.js";

interface ConvCase {
  name: string;
  xShape: [number, number, number, number];
  wShape: [number, number, number, number];
  stride?: [number, number]; padding?: [number, number]; dilation?: [number, number]; groups?: number;
  xDType: QuantDType; xZp: number; wZp?: number; outDType: QuantDType; yZp: number;
  perTensor?: boolean; act?: "none" | "relu" | "relu6"; noBias?: boolean;
}

const range = (d: QuantDType): [number, number] => (d === "uint8" ? [0, 255] : [-128, 127]);

function randomQuant(rng: Rng, d: QuantDType, n: number): Uint8Array | Int8Array {
  const [lo, hi] = range(d);
  return rng.fill(d === "uint8" ? new Uint8Array(n) : new Int8Array(n), lo, hi);
}

/** Per-channel real multipliers that map the channel's largest |acc + bias| to ~±90 quanta. */
function pickMultipliers(rng: Rng, acc: Float64Array, bias: Int32Array | null, channels: number, inner: number, perTensor: boolean): Float64Array {
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < acc.length; i++) {
    const c = Math.floor(i / inner) % channels;
    maxAbs[c] = Math.max(maxAbs[c], Math.abs(acc[i] + (bias ? bias[c] : 0)));
  }
  if (perTensor) return Float64Array.of(90 / (Math.max(...maxAbs) + 1));
  return maxAbs.map((m) => (90 / (m + 1)) * rng.uniform(0.7, 1.3));
}

/** Asserts |acc + bias| ≤ maxDev·Σ|w − wZp| + |bias| ≤ 2^31 − 1 (the documented bound). */
function expectAccumulatorBound(acc: Float64Array, bias: Int32Array | null, w: Int8Array, wZp: number, channels: number, inner: number, maxDev: number): void {
  const K = w.length / channels;
  for (let c = 0; c < channels; c++) {
    let absSum = 0;
    for (let k = 0; k < K; k++) absSum += Math.abs(w[c * K + k] - wZp);
    const bound = maxDev * absSum + Math.abs(bias ? bias[c] : 0);
    expect(bound).toBeLessThanOrEqual(I32_MAX);
    for (let i = c * inner; i < acc.length; i += channels * inner) {
      for (let j = i; j < i + inner; j++) {
        if (Math.abs(acc[j] + (bias ? bias[c] : 0)) > bound) throw new Error(`acc ${acc[j]} beyond bound ${bound}`);
      }
    }
  }
}

function runConvCase(cs: ConvCase, seed: number): void {
  const rng = new Rng(seed);
  const oc = cs.wShape[0];
  const x = randomQuant(rng, cs.xDType, cs.xShape.reduce((a, b) => a * b));
  const w = rng.fill(new Int8Array(cs.wShape.reduce((a, b) => a * b)), -128, 127);
  const wZp = cs.wZp ?? 0;
  const bias = cs.noBias ? null : rng.fill(new Int32Array(oc), -3000, 3000);
  const geom = { stride: cs.stride ?? [1, 1] as [number, number], padding: cs.padding ?? [0, 0] as [number, number], dilation: cs.dilation ?? [1, 1] as [number, number], groups: cs.groups ?? 1 };
  const { acc, shape } = convAccRef({ x, xZp: cs.xZp, xShape: cs.xShape, w, wZp, wShape: cs.wShape, ...geom });
  const inner = shape[2] * shape[3];
  const maxDev = Math.max(cs.xZp - range(cs.xDType)[0], range(cs.xDType)[1] - cs.xZp);
  expectAccumulatorBound(acc, bias, w, wZp, oc, inner, maxDev);
  const realM = pickMultipliers(rng, acc, bias, oc, inner, cs.perTensor ?? false);
  const requant = quantizeMultipliers(realM);
  const [lo, hi] = activationClamp(cs.act ?? "none", 0.1, cs.yZp, cs.outDType);
  const args = { x, xZp: cs.xZp, xShape: cs.xShape, w, wShape: cs.wShape, wZp, bias, geometry: geom, requant, yZp: cs.yZp, clampMin: lo, clampMax: hi, outDType: cs.outDType };
  const y = qconv2d(args);
  expect(y.shape).toEqual(shape);
  expect(y.data).toBeInstanceOf(cs.outDType === "uint8" ? Uint8Array : Int8Array);
  const exact = requantRef(acc, bias, requant.multiplier, requant.shift, oc, inner, cs.yZp, lo, hi);
  expect(Array.from(y.data)).toEqual(exact);
  const { exact: frac, maxDiff } = agreement(y.data, requantFloat(acc, bias, realM, oc, inner, cs.yZp, lo, hi));
  expect(maxDiff).toBeLessThanOrEqual(1);
  expect(frac).toBeGreaterThanOrEqual(0.99);
  // Pre-packed weights and a caller-provided output give the same bytes.
  const out = cs.outDType === "uint8" ? new Uint8Array(y.data.length) : new Int8Array(y.data.length);
  const packed = packQConv2dWeights(w, cs.wShape, geom.groups, wZp);
  qconv2d({ ...args, w: packed, out });
  expect(Array.from(out)).toEqual(exact);
}

const CONV_CASES: ConvCase[] = [
  { name: "3×3 pad 1, uint8, per-channel, zp 3", xShape: [2, 5, 7, 6], wShape: [6, 5, 3, 3], padding: [1, 1], xDType: "uint8", xZp: 3, outDType: "uint8", yZp: 100 },
  { name: "SmallCNN conv2 shape (16→32, 14×14, p1), ReLU", xShape: [1, 16, 14, 14], wShape: [32, 16, 3, 3], padding: [1, 1], xDType: "uint8", xZp: 0, outDType: "uint8", yZp: 60, act: "relu" },
  { name: "stride 2, asymmetric padding, dilation 2, int8 → int8", xShape: [2, 3, 11, 9], wShape: [5, 3, 3, 2], stride: [2, 1], padding: [2, 1], dilation: [2, 3], xDType: "int8", xZp: -5, outDType: "int8", yZp: -7 },
  { name: "groups 2, per-tensor, no bias", xShape: [1, 4, 6, 6], wShape: [6, 2, 3, 3], padding: [1, 1], groups: 2, xDType: "uint8", xZp: 128, outDType: "uint8", yZp: 128, perTensor: true, noBias: true },
  { name: "depthwise (groups = C = OC), ReLU6", xShape: [2, 8, 9, 9], wShape: [8, 1, 3, 3], padding: [1, 1], groups: 8, xDType: "uint8", xZp: 17, outDType: "uint8", yZp: 20, act: "relu6" },
  { name: "depthwise, no bias, per-tensor", xShape: [2, 4, 6, 6], wShape: [4, 1, 3, 3], padding: [1, 1], groups: 4, xDType: "uint8", xZp: 5, outDType: "uint8", yZp: 9, perTensor: true, noBias: true },
  { name: "depthwise, multiplier 2, stride 2", xShape: [1, 3, 10, 10], wShape: [6, 1, 5, 5], stride: [2, 2], padding: [2, 2], groups: 3, xDType: "int8", xZp: 0, outDType: "int8", yZp: 0 },
  { name: "grouped, 4 outputs per group (general path)", xShape: [1, 4, 5, 5], wShape: [8, 2, 3, 3], padding: [1, 1], groups: 2, xDType: "int8", xZp: 9, outDType: "uint8", yZp: 33 },
  { name: "1×1 pointwise, nonzero weight zp", xShape: [3, 7, 4, 5], wShape: [9, 7, 1, 1], xDType: "uint8", xZp: 250, wZp: 7, outDType: "int8", yZp: 0 },
  { name: "single input channel (conv1-like), big kernel, no padding", xShape: [2, 1, 12, 12], wShape: [16, 1, 5, 5], xDType: "uint8", xZp: 0, wZp: -3, outDType: "uint8", yZp: 0, act: "relu" },
  { name: "extreme zero points", xShape: [1, 3, 4, 4], wShape: [3, 3, 3, 3], padding: [1, 1], xDType: "int8", xZp: 127, outDType: "int8", yZp: -128, act: "relu" },
];

describe("qconv2d", () => {
  CONV_CASES.forEach((cs, i) => test(cs.name, () => runConvCase(cs, 100 + i)));

  test("padded cells are real zero: all-zp input gives exactly yZp + requant(bias)", () => {
    const x = new Uint8Array(2 * 3 * 4 * 4).fill(77);
    const w = new Rng(1).fill(new Int8Array(4 * 3 * 3 * 3), -128, 127);
    const bias = Int32Array.of(0, 1000, -1000, 5);
    const requant = quantizeMultipliers([0.01, 0.01, 0.01, 0.01]);
    const y = qconv2d({ x, xZp: 77, xShape: [2, 3, 4, 4], w, wShape: [4, 3, 3, 3], bias, geometry: { padding: 2, stride: 1 }, requant, yZp: 50, outDType: "uint8" });
    const perChannel = [50, 60, 40, 50];
    y.data.forEach((v, i) => expect(v).toBe(perChannel[Math.floor(i / 36) % 4]));
  });
});

function linearAcc(x: ArrayLike<number>, xZp: number, w: Int8Array, wZp: number, N: number, K: number, O: number): Float64Array {
  const acc = new Float64Array(N * O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (x[n * K + k] - xZp) * (w[o * K + k] - wZp);
      acc[n * O + o] = s;
    }
  }
  return acc;
}

describe("qlinear", () => {
  const cases: [string, number, number, number, QuantDType, number, number, QuantDType, boolean, "none" | "relu"][] = [
    ["uint8 rows not a multiple of 4, outputs not a multiple of 4", 5, 37, 10, "uint8", 12, 0, "uint8", false, "none"],
    ["int8 activations, weight zp, per-tensor, ReLU", 8, 64, 12, "int8", -20, 5, "int8", true, "relu"],
    ["SmallCNN fc1-like (K = 1568)", 3, 1568, 16, "uint8", 0, 0, "uint8", false, "relu"],
    ["single row, single output", 1, 3, 1, "uint8", 255, 0, "int8", false, "none"],
  ];
  cases.forEach(([name, N, K, O, xd, xZp, wZp, od, perTensor, act], i) => test(name, () => {
    const rng = new Rng(300 + i);
    const x = randomQuant(rng, xd, N * K);
    const w = rng.fill(new Int8Array(O * K), -128, 127);
    const bias = rng.fill(new Int32Array(O), -5000, 5000);
    const acc = linearAcc(x, xZp, w, wZp, N, K, O);
    expectAccumulatorBound(acc, bias, w, wZp, O, 1, 255);
    const realM = pickMultipliers(rng, acc, bias, O, 1, perTensor);
    const requant = quantizeMultipliers(realM);
    const yZp = od === "uint8" ? 90 : -10;
    const [lo, hi] = activationClamp(act, 0.1, yZp, od);
    const args = { x, xZp, xShape: [N, K], w, wShape: [O, K], wZp, bias, requant, yZp, clampMin: lo, clampMax: hi, outDType: od };
    const y = qlinear(args);
    expect(y.shape).toEqual([N, O]);
    const exact = requantRef(acc, bias, requant.multiplier, requant.shift, O, 1, yZp, lo, hi);
    expect(Array.from(y.data)).toEqual(exact);
    const { exact: frac, maxDiff } = agreement(y.data, requantFloat(acc, bias, realM, O, 1, yZp, lo, hi));
    expect(maxDiff).toBeLessThanOrEqual(1);
    expect(frac).toBeGreaterThanOrEqual(0.99);
    expect(Array.from(qlinear({ ...args, w: packQLinearWeights(w, [O, K], wZp) }).data)).toEqual(exact);
  }));
});
