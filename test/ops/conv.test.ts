/**
 * conv2d: forward and backward against PyTorch 1.13 (golden file), against a naive
 * definition-level convolution on random geometries (including the chunked im2col path and
 * both fast paths), central-difference gradchecks, and input validation.
 */
import { describe, expect, it } from "vitest";
import { backward } from "../../src/autograd/backward.js";
import { conv2d, type Conv2dOptions } from "../../src/ops/conv.js";
import { randn, tensor, zeros } from "../../src/tensor/creation.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { expectClose, expectGrad, leaf } from "../core/helpers.js";
import { type GT, type GoldenCase, PRECISIONS, cases, expectMatches, forwardBackward, fromGolden, golden } from "./golden-helpers.js";

interface ConvCase extends GoldenCase {
  x: GT; w: GT; b: GT | null;
  opts: { stride?: number | number[]; padding?: number | number[] | string; dilation?: number | number[]; groups?: number };
  gx: GT; gw: GT; gb: GT | null;
}

function toOpts(o: ConvCase["opts"]): Conv2dOptions {
  const p2 = (v: number | number[] | undefined) => (Array.isArray(v) ? ([v[0], v[1]] as [number, number]) : v);
  const padding = typeof o.padding === "string" ? (o.padding as "same" | "valid") : p2(o.padding);
  return { stride: p2(o.stride), padding, dilation: p2(o.dilation), groups: o.groups };
}

describe("conv2d vs PyTorch golden", () => {
  it("records the torch version", () => {
    expect(golden().torch).toMatch(/^1\.13/);
  });
  for (const [dtype, tol] of PRECISIONS) {
    for (const c of cases<ConvCase>("conv2d")) {
      it(`${c.name} (${dtype})`, () => {
        const x = fromGolden(c.x, dtype, true);
        const w = fromGolden(c.w, dtype, true);
        const inputs = c.b ? [x, w, fromGolden(c.b, dtype, true)] : [x, w];
        const { y, grads } = forwardBackward((a, b, bias) => conv2d(a, b, bias ?? null, toOpts(c.opts)), inputs, c.gy);
        expectMatches(y, c.y, tol, "y");
        expectMatches(grads[0], c.gx, tol, "gx");
        expectMatches(grads[1], c.gw, tol, "gw");
        if (c.b) expectMatches(grads[2], c.gb, tol, "gb");
      });
    }
  }
});

interface Geo {
  n: number; c: number; h: number; w: number; oc: number; kh: number; kw: number;
  s: [number, number]; p: [number, number]; d: [number, number]; g: number;
}

/** Definition-level convolution and its two gradients, in float64 plain loops. */
function naive(x: Tensor, wt: Tensor, gy: Float64Array | null, q: Geo): { y: Float64Array; dx: Float64Array; dw: Float64Array } {
  const oh = Math.floor((q.h + 2 * q.p[0] - q.d[0] * (q.kh - 1) - 1) / q.s[0]) + 1;
  const ow = Math.floor((q.w + 2 * q.p[1] - q.d[1] * (q.kw - 1) - 1) / q.s[1]) + 1;
  const cg = q.c / q.g;
  const ocg = q.oc / q.g;
  const y = new Float64Array(q.n * q.oc * oh * ow);
  const dx = new Float64Array(x.size);
  const dw = new Float64Array(wt.size);
  for (let b = 0; b < q.n; b++) for (let o = 0; o < q.oc; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    const yi = ((b * q.oc + o) * oh + i) * ow + j;
    for (let ci = 0; ci < cg; ci++) for (let ky = 0; ky < q.kh; ky++) for (let kx = 0; kx < q.kw; kx++) {
      const iy = i * q.s[0] - q.p[0] + ky * q.d[0];
      const ix = j * q.s[1] - q.p[1] + kx * q.d[1];
      if (iy < 0 || iy >= q.h || ix < 0 || ix >= q.w) continue;
      const xi = ((b * q.c + Math.floor(o / ocg) * cg + ci) * q.h + iy) * q.w + ix;
      const wi = ((o * cg + ci) * q.kh + ky) * q.kw + kx;
      y[yi] += x.data[xi] * wt.data[wi];
      if (gy) {
        dx[xi] += gy[yi] * wt.data[wi];
        dw[wi] += gy[yi] * x.data[xi];
      }
    }
  }
  return { y, dx, dw };
}

function randomGeo(r: () => number): Geo {
  const pick = (a: number, b: number) => a + Math.floor(r() * (b - a + 1));
  const g = pick(1, 3);
  const q: Geo = {
    n: pick(1, 3), c: g * pick(1, 3), oc: g * pick(1, 3), g,
    kh: pick(1, 4), kw: pick(1, 4), h: 0, w: 0,
    s: [pick(1, 3), pick(1, 3)], p: [pick(0, 2), pick(0, 2)], d: [pick(1, 2), pick(1, 2)],
  };
  q.h = q.d[0] * (q.kh - 1) + 1 + pick(0, 6);
  q.w = q.d[1] * (q.kw - 1) + 1 + pick(0, 6);
  return q;
}

function runAgainstNaive(q: Geo, dtype: "float64" | "float32", tol: number): void {
  const x = randn([q.n, q.c, q.h, q.w], { dtype });
  const w = randn([q.oc, q.c / q.g, q.kh, q.kw], { dtype });
  x.requiresGrad = true;
  w.requiresGrad = true;
  const y = conv2d(x, w, null, { stride: q.s, padding: q.p, dilation: q.d, groups: q.g });
  const gy = Float64Array.from(randn(y.shape, { dtype: "float64" }).data);
  const ref = naive(x, w, gy, q);
  expectClose(y.data, ref.y, tol, tol);
  backward(y, tensor(dtype === "float64" ? gy : Float32Array.from(gy), { shape: y.shape }));
  expectClose(x.grad!.data, ref.dx, tol, tol);
  expectClose(w.grad!.data, ref.dw, tol, tol);
}

describe("conv2d vs a naive convolution", () => {
  it("matches on 40 random geometries (float64 and float32)", () => {
    manualSeed(11);
    let seed = 12345;
    const r = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let t = 0; t < 40; t++) {
      const q = randomGeo(r);
      runAgainstNaive(q, "float64", 1e-10);
      runAgainstNaive(q, "float32", 1e-4);
    }
  });

  it("matches when the im2col scratch is split into column chunks (K·P > 2^19)", () => {
    manualSeed(12);
    runAgainstNaive({ n: 1, c: 64, h: 32, w: 33, oc: 5, kh: 3, kw: 3, s: [1, 1], p: [1, 1], d: [1, 1], g: 1 }, "float64", 1e-9);
  });

  it("matches on the fast paths: 1×1 pointwise (grouped) and depthwise", () => {
    manualSeed(13);
    runAgainstNaive({ n: 2, c: 6, h: 5, w: 4, oc: 9, kh: 1, kw: 1, s: [1, 1], p: [0, 0], d: [1, 1], g: 3 }, "float64", 1e-10);
    runAgainstNaive({ n: 2, c: 4, h: 9, w: 8, oc: 8, kh: 3, kw: 3, s: [2, 1], p: [1, 1], d: [1, 2], g: 4 }, "float64", 1e-10);
    runAgainstNaive({ n: 1, c: 1, h: 6, w: 6, oc: 3, kh: 5, kw: 5, s: [1, 1], p: [2, 2], d: [1, 1], g: 1 }, "float64", 1e-10);
  });
});

describe("conv2d gradcheck (float64)", () => {
  const configs: [string, number[], number[], Conv2dOptions, boolean][] = [
    ["batch 1, pad 1, bias", [1, 2, 5, 4], [3, 2, 3, 3], { padding: 1 }, true],
    ["stride 2, odd sizes", [2, 2, 7, 5], [2, 2, 3, 2], { stride: 2, padding: [1, 0] }, true],
    ["dilation 2", [1, 2, 6, 6], [2, 2, 2, 3], { dilation: 2, padding: 1 }, false],
    ["groups 2", [2, 4, 4, 4], [4, 2, 2, 2], { groups: 2, stride: [1, 2] }, true],
    ["depthwise", [2, 3, 5, 5], [3, 1, 3, 3], { groups: 3, padding: 1, stride: 2 }, true],
    ["1×1", [2, 3, 3, 2], [2, 3, 1, 1], {}, true],
    ["same, even kernel", [1, 2, 4, 5], [2, 2, 2, 2], { padding: "same" }, true],
  ];
  for (const [name, xs, ws, opts, bias] of configs) {
    it(name, () => {
      manualSeed(21);
      const inputs = [leaf(xs), leaf(ws), ...(bias ? [leaf([ws[0]])] : [])];
      expectGrad((x, w, b) => conv2d(x, w, b ?? null, opts), inputs);
    });
  }

  it("unbatched [C, H, W] input", () => {
    manualSeed(22);
    const x = leaf([2, 4, 4]);
    const w = leaf([3, 2, 2, 2]);
    expect(conv2d(x, w).shape).toEqual([3, 3, 3]);
    expectGrad((a, b) => conv2d(a, b, null, { padding: 1 }), [x, w]);
  });
});

describe("conv2d validation", () => {
  const x = zeros([2, 4, 6, 6]);
  const w = zeros([6, 2, 3, 3]);
  it("rejects bad ranks", () => {
    expect(() => conv2d(zeros([4, 6]), w)).toThrow(ShapeError);
    expect(() => conv2d(zeros([4, 6]), w)).toThrow(/conv2d.*\[4, 6\]/);
    expect(() => conv2d(x, zeros([6, 4, 3]))).toThrow(/conv2d: weight.*\[6, 4, 3\]/);
  });
  it("rejects channel counts that do not divide by groups or do not match the weight", () => {
    expect(() => conv2d(x, zeros([6, 4, 3, 3]), null, { groups: 3 })).toThrow(ValueError);
    expect(() => conv2d(x, zeros([6, 4, 3, 3]), null, { groups: 3 })).toThrow(/conv2d: input channels 4 .*groups 3.*\[2, 4, 6, 6\].*\[6, 4, 3, 3\]/);
    expect(() => conv2d(x, zeros([5, 2, 3, 3]), null, { groups: 2 })).toThrow(/output channels 5/);
    expect(() => conv2d(x, w)).toThrow(ShapeError);
    expect(() => conv2d(x, w)).toThrow(/conv2d: weight expects 2 channels per group.*\[2, 4, 6, 6\]/);
    expect(() => conv2d(x, w, null, { groups: 0 })).toThrow(ValueError);
  });
  it("rejects outputs smaller than 1×1 and bad options", () => {
    expect(() => conv2d(zeros([1, 2, 2, 2]), zeros([1, 2, 3, 3]))).toThrow(ShapeError);
    expect(() => conv2d(zeros([1, 2, 2, 2]), zeros([1, 2, 3, 3]))).toThrow(/conv2d: output size 0×0 .*\[1, 2, 2, 2\].*\[1, 2, 3, 3\]/);
    expect(() => conv2d(x, w, null, { groups: 2, stride: 0 })).toThrow(/conv2d: stride/);
    expect(() => conv2d(x, w, null, { groups: 2, padding: -1 })).toThrow(/conv2d: padding/);
    expect(() => conv2d(x, w, null, { groups: 2, padding: "same", stride: 2 })).toThrow(/conv2d: padding "same" needs stride 1/);
  });
  it("rejects bad bias and dtypes", () => {
    expect(() => conv2d(x, w, zeros([5]), { groups: 2 })).toThrow(/conv2d: bias must be \[6\], got \[5\]/);
    expect(() => conv2d(x, zeros([6, 2, 3, 3], { dtype: "float64" }), null, { groups: 2 })).toThrow(DTypeError);
    expect(() => conv2d(zeros([2, 4, 6, 6], { dtype: "int32" }), w, null, { groups: 2 })).toThrow(/conv2d: input must be float32 or float64/);
  });
  it("keeps H×W with padding 'same' and shrinks with 'valid'", () => {
    expect(conv2d(x, w, null, { groups: 2, padding: "same", dilation: 2 }).shape).toEqual([2, 6, 6, 6]);
    expect(conv2d(x, w, null, { groups: 2, padding: "valid" }).shape).toEqual([2, 6, 4, 4]);
  });
});
