/**
 * Integer pooling against a naive loop written from PyTorch's rules (output size with
 * ceil_mode's last-window rule, dilation with padding, count_include_pad's default true,
 * divisor_override), including the clamp an override can hit, and qglobalAvgPool's multiplier
 * checks one bound at a time. Written to kill the mutants `npm run mutation` found surviving
 * (docs/TESTING.md).
 */
import { describe, expect, test } from "vitest";
import { qavgPool2d, qglobalAvgPool, qmaxPool2d } from "../../src/int8/index-kernels.js";
import { expectIdentical } from "../backend/helpers.js";

/** PyTorch pooling_output_shape. */
function outSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const num = size + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0);
  let o = Math.floor(num / s) + 1;
  if (ceil && (o - 1) * s >= size + p) o -= 1;
  return o;
}

interface Geo { k: number; s: number; p: number; d: number; ceil: boolean }

function naivePool(x: ArrayLike<number>, [n, c, h, w]: number[], g: Geo, reduce: (vals: number[], padded: number) => number): { data: number[]; shape: number[] } {
  const oh = outSize(h, g.k, g.s, g.p, g.d, g.ceil), ow = outSize(w, g.k, g.s, g.p, g.d, g.ceil);
  const data: number[] = [];
  for (let pl = 0; pl < n * c; pl++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const vals: number[] = [];
        let padded = 0; // window cells inside the padded input
        for (let ky = 0; ky < g.k; ky++) {
          for (let kx = 0; kx < g.k; kx++) {
            const iy = oy * g.s - g.p + ky * g.d, ix = ox * g.s - g.p + kx * g.d;
            if (iy < h + g.p && ix < w + g.p) padded++;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) vals.push(x[pl * h * w + iy * w + ix]);
          }
        }
        data.push(reduce(vals, padded));
      }
    }
  }
  return { data, shape: [n, c, oh, ow] };
}

const roundAway = (s: number, d: number) => Math.sign(s) * Math.floor((Math.abs(s) + Math.floor(d / 2)) / d);

describe("qmaxPool2d", () => {
  const shape = [2, 3, 9, 8];
  const x = Int8Array.from({ length: 2 * 3 * 9 * 8 }, (_, i) => ((i * 53) % 256) - 128);
  const geos: Geo[] = [
    { k: 3, s: 2, p: 0, d: 1, ceil: true },
    { k: 2, s: 2, p: 1, d: 1, ceil: true },
    { k: 3, s: 2, p: 1, d: 2, ceil: false },
    { k: 3, s: 1, p: 1, d: 3, ceil: false },
    { k: 3, s: 3, p: 1, d: 2, ceil: true },
  ];
  for (const g of geos) {
    test(`kernel ${g.k}, stride ${g.s}, padding ${g.p}, dilation ${g.d}, ceil ${g.ceil}`, () => {
      const want = naivePool(x, shape, g, (v) => Math.max(...v));
      const y = qmaxPool2d({ x, xShape: shape, kernelSize: g.k, stride: g.s, padding: g.p, dilation: g.d, ceilMode: g.ceil });
      expect(y.shape).toEqual(want.shape);
      expectIdentical(y.data, want.data, "max pool");
    });
  }
});

describe("qavgPool2d", () => {
  const shape = [1, 2, 7, 7];
  const x = Uint8Array.from({ length: 98 }, (_, i) => (i * 97) % 256);
  const xZp = 100;
  test("count_include_pad defaults to true; false divides by the valid cells; ceil mode", () => {
    for (const ceil of [false, true]) {
      const g = { k: 3, s: 2, p: 1, d: 1, ceil };
      const incl = naivePool(x, shape, g, (v, padded) => Math.min(255, Math.max(0, xZp + roundAway(v.reduce((a, b) => a + b - xZp, 0), padded))));
      const excl = naivePool(x, shape, g, (v) => Math.min(255, Math.max(0, xZp + roundAway(v.reduce((a, b) => a + b - xZp, 0), v.length))));
      expectIdentical(qavgPool2d({ x, xZp, xShape: shape, kernelSize: 3, stride: 2, padding: 1, ceilMode: ceil }).data, incl.data, "default");
      expectIdentical(qavgPool2d({ x, xZp, xShape: shape, kernelSize: 3, stride: 2, padding: 1, ceilMode: ceil, countIncludePad: false }).data, excl.data, "exclude pad");
    }
  });

  test("divisor_override can push the average past the dtype: clamped, uint8 and int8", () => {
    const g = { k: 2, s: 2, p: 0, d: 1, ceil: false };
    const u = Uint8Array.from({ length: 16 }, (_, i) => (i % 2 ? 250 : 5));
    const wantU = naivePool(u, [1, 1, 4, 4], g, (v) => Math.min(255, Math.max(0, 128 + roundAway(v.reduce((a, b) => a + b - 128, 0), 1))));
    expectIdentical(qavgPool2d({ x: u, xZp: 128, xShape: [1, 1, 4, 4], kernelSize: 2, divisorOverride: 1 }).data, wantU.data, "uint8");
    const s = Int8Array.from({ length: 16 }, (_, i) => (i < 8 ? 120 : -120));
    const wantS = naivePool(s, [1, 1, 4, 4], g, (v) => Math.min(127, Math.max(-128, roundAway(v.reduce((a, b) => a + b, 0), 1))));
    expect(wantS.data).toEqual([127, 127, -128, -128]);
    expectIdentical(qavgPool2d({ x: s, xZp: 0, xShape: [1, 1, 4, 4], kernelSize: 2, divisorOverride: 1 }).data, wantS.data, "int8");
  });
});

describe("qglobalAvgPool multiplier checks", () => {
  const x = Uint8Array.of(1, 2, 3, 4);
  const msg = "qglobalAvgPool: multiplier must have multiplier ∈ [0, 2^31 − 1] and shift ∈ [−31, 30]";
  test("each bound alone; the bounds accepted", () => {
    for (const [m, s] of [[-1, 0], [2 ** 31, 0], [0.5, 0], [2 ** 30, -32], [2 ** 30, 31], [2 ** 30, 1.5]]) {
      expect(() => qglobalAvgPool({ x, xZp: 0, xShape: [1, 1, 2, 2], multiplier: { multiplier: m, shift: s } }), `${m}, ${s}`).toThrow(msg);
    }
    for (const [m, s] of [[0, -31], [2 ** 31 - 1, 30]]) expect(() => qglobalAvgPool({ x, xZp: 0, xShape: [1, 1, 2, 2], multiplier: { multiplier: m, shift: s } })).not.toThrow();
  });
});
