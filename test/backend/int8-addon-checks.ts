/**
 * Int8 conv / linear checks against the TypeScript integer kernels (src/int8/kernels/qconv2d.ts,
 * qlinear.ts), on any loaded build of the native addon through its raw entry points (weights
 * packed by that addon's qpackWeights): outputs must equal the reference bit for bit. Used by
 * test/backend/native-avx512-emu.test.ts on the AVX-512 emulation addon; its data helpers
 * (randomQ, Layer, requantFor, maxPool2x2) also serve native-int8.test.ts.
 */
import { expect } from "vitest";
import type { NativeAddon } from "../../src/backend/native/addon.js";
import { quantizeMultipliers } from "../../src/int8/fixed-point.js";
import { qconv2d } from "../../src/int8/kernels/qconv2d.js";
import { qlinear } from "../../src/int8/kernels/qlinear.js";
import { expectIdentical, newGen } from "./helpers.js";

export type QT = "uint8" | "int8";

export interface Layer {
  xType: QT; yType: QT; xZp: number; yZp: number; wZp: number; perChannel: boolean; scale: number;
  /** every value at its range's ends */
  extreme?: boolean;
  lo?: number; hi?: number;
  /** uint8 inputs in [0, 127] (the AVX2 u8 × s8 path's condition) */
  bits7?: boolean;
  /** weights drawn from [−w, w − 1] (default 128) */
  wRange?: number;
}

export interface ConvGeo { stride?: [number, number]; padding?: [number, number]; dilation?: [number, number] }

const gen = newGen(20);
const randInt = (lo: number, hi: number) => lo + Math.floor(gen.uniform() * (hi - lo + 1));

export function randomQ(dtype: QT, n: number, extreme = false, bits7 = false): Uint8Array | Int8Array {
  const [lo, hi] = dtype === "uint8" ? [0, bits7 ? 127 : 255] : [-128, 127];
  const a = dtype === "uint8" ? new Uint8Array(n) : new Int8Array(n);
  for (let i = 0; i < n; i++) a[i] = extreme ? (gen.uniform() < 0.5 ? lo : hi) : randInt(lo, hi);
  return a;
}

export function requantFor(l: Layer, oc: number) {
  const reals = Array.from({ length: l.perChannel ? oc : 1 }, (_, i) => l.scale * (0.5 + ((i * 37) % 11) / 10));
  const { multiplier, shift } = quantizeMultipliers(reals);
  const [qlo, qhi] = l.yType === "uint8" ? [0, 255] : [-128, 127];
  return { multiplier, shift, lo: l.lo ?? qlo, hi: l.hi ?? qhi };
}

function ints(l: Layer, rq: { lo: number; hi: number }): Int32Array {
  return Int32Array.of(l.perChannel ? 1 : 0, l.yZp, rq.lo, rq.hi, l.yType === "int8" ? 1 : 0);
}

function pack(addon: NativeAddon, w: Int8Array, oc: number, k: number, wZp: number): Int32Array {
  const out = new Int32Array(addon.qpackWords(oc, k));
  addon.qpackWeights(w, oc, k, wZp ? Int32Array.of(wZp) : null, out);
  return out;
}

/** 2×2 stride-2 max pool of NCHW data (an odd last row or column dropped), in plain JavaScript. */
export function maxPool2x2(a: ArrayLike<number>, n: number, c: number, h: number, w: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < n * c; p++)
    for (let y = 0; y + 1 < h; y += 2)
      for (let x = 0; x + 1 < w; x += 2) {
        const at = (dy: number, dx: number) => a[(p * h + y + dy) * w + x + dx];
        out.push(Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1)));
      }
  return out;
}

/** addon.qconv2d (or qconv2dPool2) on random data ≡ the TypeScript qconv2d (then a 2×2 max pool). */
export function checkConv(addon: NativeAddon, c: number, h: number, w: number, oc: number, k: [number, number], n: number, geo: ConvGeo,
  l: Layer, pool2 = false): void {
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
  expect(want.shape).toEqual([n, oc, oh, ow]);
  const expected = pool2 ? maxPool2x2(want.data, n, oc, oh, ow) : want.data;
  const y = l.yType === "uint8" ? new Uint8Array(expected.length) : new Int8Array(expected.length);
  const geom = Int32Array.of(n, c, h, w, oc, k[0], k[1], oh, ow, sh, sw, ph, pw, dh, dw, 1);
  (pool2 ? addon.qconv2dPool2 : addon.qconv2d)(x, l.xZp, pack(addon, wt, oc, c * k[0] * k[1], l.wZp), geom, bias, rq.multiplier, rq.shift, ints(l, rq), y);
  expectIdentical(y, expected, `qconv2d${pool2 ? " + 2×2 max pool" : ""} ${n}×${c}×${h}×${w} → ${oc}, ${k.join("×")}`);
}

/** addon.qlinear on random data ≡ the TypeScript qlinear. */
export function checkLinear(addon: NativeAddon, m: number, k: number, o: number, l: Layer): void {
  const x = randomQ(l.xType, m * k, l.extreme), wt = randomQ("int8", o * k, l.extreme) as Int8Array;
  const bias = Int32Array.from({ length: o }, () => randInt(-5000, 5000));
  const rq = requantFor(l, o);
  const want = qlinear({
    x, xZp: l.xZp, xShape: [m, k], w: wt, wShape: [o, k], bias, requant: { multiplier: rq.multiplier, shift: rq.shift },
    yZp: l.yZp, clampMin: rq.lo, clampMax: rq.hi, outDType: l.yType,
  });
  const y = l.yType === "uint8" ? new Uint8Array(m * o) : new Int8Array(m * o);
  addon.qlinear(x, l.xZp, m, k, pack(addon, wt, o, k, 0), o, bias, rq.multiplier, rq.shift, ints(l, rq), y);
  expectIdentical(y, want.data, `qlinear ${m}×${k} → ${o}`);
}

/** addon.igemmBench (raw int16-pair GEMM, m off the 6-row tile allowed) ≡ the word-by-word product; nothing written past c. */
export function checkIgemmBench(addon: NativeAddon, m: number, n: number, k: number): void {
  const lo = (w: number) => (w << 16) >> 16, hi = (w: number) => w >> 16;
  const kp = Math.ceil(k / 2);
  const wp = new Int32Array(addon.qpackWords(m, k));
  addon.qpackWeights(Int8Array.from({ length: m * k }, () => randInt(-128, 127)), m, k, null, wp);
  const bp = Int32Array.from({ length: n * kp }, () => (randInt(-255, 255) & 0xffff) | (randInt(-255, 255) << 16));
  const buf = new Int32Array(m * n + 64).fill(0x5a5a5a5a);
  addon.igemmBench(m, n, k, wp, bp, buf.subarray(0, m * n));
  const want = new Int32Array(m * n);
  for (let o = 0; o < m; o++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < kp; p++) {
        const w = wp[(Math.floor(o / 6) * kp + p) * 6 + (o % 6)], b = bp[Math.floor(j / 16) * kp * 16 + p * 16 + (j % 16)];
        s += lo(w) * lo(b) + hi(w) * hi(b);
      }
      want[o * n + j] = s;
    }
  expectIdentical(buf.subarray(0, m * n), want, `igemmBench ${m}×${n}×${k}`);
  expectIdentical(buf.subarray(m * n), new Int32Array(64).fill(0x5a5a5a5a), `igemmBench ${m}×${n}×${k}: ints past c`);
}
