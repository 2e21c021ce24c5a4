/**
 * The reference conv2d kernels (src/backend/ref/conv.ts) against a float64 direct convolution
 * written from the definition, exactly: small-integer inputs make every sum exact, so each
 * path (pointwise GEMM, im2col GEMM over column chunks, direct depthwise loops) must give the
 * same bits as the six-loop formula. Geometries chosen to sit next to every path switch
 * (1×k and k×1 kernels, 1×1 with stride or padding in one direction only, Cg = 1 with OCg = 1,
 * 2, 3, Cg > 1 with OCg ≤ 2, column chunks that end mid-row), outputs pre-filled with NaN
 * (every kernel overwrites), and a freshly imported module (empty scratch) so a path that
 * reads the scratch without sizing it fails. Written from the mutants `npm run mutation` left
 * alive in conv.ts (docs/mutation-survivors.md); in TESTS of scripts/mutation.mjs.
 */
import { beforeAll, describe, expect, test, vi } from "vitest";
import type { Conv2dGeom } from "../../src/backend/kernels.js";
import { type ConvSpec, geomOf } from "./conv-geom.js";

type ConvModule = typeof import("../../src/backend/ref/conv.js");

/** Seeded integers in [−4, 4] (an LCG: no library code involved). */
function ints(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s >>> 28) % 9 - 4;
  }
  return a;
}

/** Calls f(b, oc, oy, ox, xIndex, wIndex) for every valid tap of the convolution (the definition). */
function eachTap(g: Conv2dGeom, f: (yi: number, xi: number, wi: number) => void): void {
  const cg = g.c / g.groups, ocg = g.oc / g.groups;
  for (let b = 0; b < g.n; b++) {
    for (let oc = 0; oc < g.oc; oc++) {
      const gi = Math.floor(oc / ocg);
      for (let oy = 0; oy < g.oh; oy++) {
        for (let ox = 0; ox < g.ow; ox++) {
          const yi = ((b * g.oc + oc) * g.oh + oy) * g.ow + ox;
          for (let ci = 0; ci < cg; ci++) {
            for (let ky = 0; ky < g.kh; ky++) {
              const iy = oy * g.strideH - g.padH + ky * g.dilationH;
              if (iy < 0 || iy >= g.h) continue;
              for (let kx = 0; kx < g.kw; kx++) {
                const ix = ox * g.strideW - g.padW + kx * g.dilationW;
                if (ix < 0 || ix >= g.w) continue;
                f(yi, ((b * g.c + gi * cg + ci) * g.h + iy) * g.w + ix, ((oc * cg + ci) * g.kh + ky) * g.kw + kx);
              }
            }
          }
        }
      }
    }
  }
}

function reference(g: Conv2dGeom, x: Float32Array, w: Float32Array, dy: Float32Array) {
  const y = new Float64Array(dy.length), dx = new Float64Array(x.length), dw = new Float64Array(w.length);
  eachTap(g, (yi, xi, wi) => {
    y[yi] += w[wi] * x[xi];
    dx[xi] += w[wi] * dy[yi];
    dw[wi] += dy[yi] * x[xi];
  });
  return { y, dx, dw };
}

/** Exact equality (±0 alike), naming the first differing index. */
function expectSame(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) throw new Error(`${what}: index ${i}: got ${got[i]}, expected ${want[i]}`);
  }
}

let conv: ConvModule;
beforeAll(async () => {
  // A fresh instance of the module: its scratch starts empty whatever ran before in this worker.
  vi.resetModules();
  conv = await import("../../src/backend/ref/conv.js");
});

function check(s: ConvSpec, seed: number, dtype: "float32" | "float64" = "float32"): void {
  const g = geomOf(s);
  const x = ints(g.n * g.c * g.h * g.w, seed), w = ints(g.oc * (g.c / g.groups) * g.kh * g.kw, seed + 1), dy = ints(g.n * g.oc * g.oh * g.ow, seed + 2);
  const want = reference(g, x, w, dy);
  const A = dtype === "float32" ? Float32Array : Float64Array;
  const [xs, ws, dys] = [A.from(x), A.from(w), A.from(dy)];
  const y = new A(dy.length).fill(NaN), dx = new A(x.length).fill(NaN), dw = new A(w.length).fill(NaN);
  const what = JSON.stringify(s);
  conv.conv2d(xs, ws, y, g);
  expectSame(y, want.y, `${what} y`);
  conv.conv2dBackwardInput(dys, ws, dx, g);
  expectSame(dx, want.dx, `${what} dx`);
  conv.conv2dBackwardWeight(xs, dys, dw, g);
  expectSame(dw, want.dw, `${what} dw`);
}

describe("reference conv2d kernels = the float64 definition, exactly (integer data)", () => {
  test("1×1 stride 1 unpadded (x is the column matrix), first on an empty scratch; plain, grouped, depthwise", () => {
    check({ n: 2, c: 24, h: 16, w: 16, oc: 40, k: [1, 1] }, 1);
    check({ n: 2, c: 6, h: 5, w: 7, oc: 4, k: [1, 1], groups: 2 }, 2);
    check({ n: 2, c: 5, h: 4, w: 3, oc: 10, k: [1, 1], groups: 5 }, 3);
    check({ n: 2, c: 3, h: 4, w: 3, oc: 3, k: [1, 1], groups: 3 }, 4);
  });

  test("one-dimensional kernels and 1×1 kernels with stride or padding in one direction only", () => {
    check({ n: 2, c: 3, h: 5, w: 7, oc: 4, k: [1, 3] }, 11);
    check({ n: 2, c: 3, h: 7, w: 5, oc: 4, k: [3, 1] }, 12);
    check({ n: 2, c: 3, h: 7, w: 6, oc: 4, k: [1, 1], stride: [2, 1] }, 13);
    check({ n: 2, c: 3, h: 6, w: 7, oc: 4, k: [1, 1], stride: [1, 2] }, 14);
    check({ n: 2, c: 3, h: 5, w: 6, oc: 4, k: [1, 1], pad: [1, 0] }, 15);
    check({ n: 2, c: 3, h: 6, w: 5, oc: 4, k: [1, 1], pad: [0, 1] }, 16);
    check({ n: 2, c: 2, h: 5, w: 5, oc: 2, k: [1, 1], dil: [2, 3] }, 17);
  });

  test("one input channel per group with 1, 2 and 3 output channels each; several input channels with 1 and 2", () => {
    const base = { n: 2, h: 9, w: 8, k: [3, 3] as [number, number], stride: [2, 1] as [number, number], pad: [1, 2] as [number, number], dil: [2, 1] as [number, number] };
    check({ ...base, c: 4, oc: 4, groups: 4 }, 21);
    check({ ...base, c: 4, oc: 8, groups: 4 }, 22);
    check({ ...base, c: 4, oc: 12, groups: 4 }, 23);
    check({ ...base, c: 1, oc: 2 }, 24);
    check({ ...base, c: 4, oc: 2, groups: 2 }, 25);
    check({ ...base, c: 4, oc: 4, groups: 2 }, 26);
    check({ ...base, c: 3, oc: 1 }, 27);
    check({ n: 1, c: 2, h: 4, w: 4, oc: 2, k: [3, 3], pad: [0, 0], groups: 2 }, 28);
  });

  test("one input channel per group with stride and dilation along the width", () => {
    check({ n: 2, c: 3, h: 7, w: 11, oc: 3, k: [2, 3], stride: [1, 2], pad: [1, 2], dil: [1, 2], groups: 3 }, 61);
    check({ n: 1, c: 2, h: 6, w: 12, oc: 4, k: [3, 2], stride: [2, 3], pad: [0, 1], dil: [2, 3], groups: 2 }, 62);
  });

  test("either backward kernel first in a fresh module sizes the scratch itself", async () => {
    const s: ConvSpec = { n: 2, c: 6, h: 9, w: 8, oc: 4, k: [3, 3], pad: [1, 1] };
    const g = geomOf(s);
    const x = ints(g.n * g.c * g.h * g.w, 71), w = ints(g.oc * g.c * 9, 72), dy = ints(g.n * g.oc * g.oh * g.ow, 73);
    const want = reference(g, x, w, dy);
    for (const which of ["input", "weight"] as const) {
      vi.resetModules();
      const fresh: ConvModule = await import("../../src/backend/ref/conv.js");
      const out = new Float32Array(which === "input" ? x.length : w.length).fill(NaN);
      if (which === "input") fresh.conv2dBackwardInput(dy, w, out, g);
      else fresh.conv2dBackwardWeight(x, dy, out, g);
      expectSame(out, which === "input" ? want.dx : want.dw, `backward ${which} first`);
    }
  });

  test("kernels wider than the padded input in one direction (taps with no valid output)", () => {
    check({ n: 2, c: 2, h: 3, w: 12, oc: 2, k: [5, 3], pad: [1, 0], groups: 2 }, 31);
    check({ n: 2, c: 2, h: 12, w: 3, oc: 3, k: [3, 5], pad: [0, 1] }, 32);
    check({ n: 2, c: 1, h: 6, w: 9, oc: 1, k: [3, 3], pad: [1, 1], dil: [3, 1] }, 33);
  });

  test("the epilogue (bias per output channel, then clamp) follows the products on every path", () => {
    for (const [s, seed] of [[{ n: 2, c: 3, h: 5, w: 4, oc: 4, k: [3, 3], pad: [1, 1] }, 51], [{ n: 2, c: 3, h: 5, w: 4, oc: 2, k: [1, 1] }, 52], [{ n: 2, c: 2, h: 5, w: 4, oc: 4, k: [3, 3], groups: 2 }, 53]] as [ConvSpec, number][]) {
      const g = geomOf(s);
      const x = ints(g.n * g.c * g.h * g.w, seed), w = ints(g.oc * (g.c / g.groups) * g.kh * g.kw, seed + 1);
      const bias = Float32Array.from({ length: g.oc }, (_, i) => i - 1.5);
      const { y: plain } = reference(g, x, w, new Float32Array(g.n * g.oc * g.oh * g.ow));
      const P = g.oh * g.ow;
      const want = Float64Array.from(plain, (v, i) => Math.min(6, Math.max(-2, v + bias[Math.floor(i / P) % g.oc])));
      const y = new Float32Array(plain.length).fill(NaN);
      conv.conv2d(x, w, y, g, { bias, act: "clamp", lo: -2, hi: 6 });
      expectSame(y, want, `${JSON.stringify(s)} with epilogue`);
    }
  });

  test("column chunks that end mid-row (K·P above the scratch limit), then a small call reusing the scratch", () => {
    // K = 32·9 = 288 → 1820 columns per chunk; P = 45·45 = 2025: two chunks, the first ending inside row 40.
    check({ n: 1, c: 32, h: 45, w: 45, oc: 2, k: [3, 3], pad: [1, 1] }, 41);
    check({ n: 1, c: 2, h: 4, w: 5, oc: 3, k: [2, 2] }, 42);
    check({ n: 2, c: 3, h: 6, w: 6, oc: 5, k: [3, 3], stride: [2, 2], pad: [1, 1] }, 43, "float64");
  });
});
