/**
 * Native backend kernels (src/backend/native, native/*.c) vs the reference, on every ISA
 * path this CPU can run (AVX2+FMA and the portable C path): matmul over odd, blocked
 * (k > KC, m > MC, n > NC) and batched/transposed/accumulating shapes; conv2d forward and
 * both backward passes on the conv suite's geometries; pooling and the elementwise parts of
 * batch norm and the channel affine, which follow the reference's arithmetic and must equal it
 * bit for bit, and their per-channel sums (float64, other order) within float32 rounding.
 * Also: results independent of the thread count, arrays inside wasm memory (shared) and
 * outside it, float64 falling back, and lengths too short refused before any C runs.
 * Skipped, with the reason printed, where the addon is not built.
 */
import { expect, it } from "vitest";
import type { Conv2dGeom, Kernels, MatmulGeom, Pool2dGeom } from "../../src/backend/kernels.js";
import { nativeAddon, setNativeIsa } from "../../src/backend/native/index.js";
import { nativeKernelTable } from "../../src/backend/native/kernels.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { setNumThreads } from "../../src/backend/wasm/index.js";
import { absOf, expectIdentical, expectNear, newGen, randomF32, wasmCopy } from "./helpers.js";
import { nativeSuite } from "./native-helpers.js";
import { type ConvSpec, geomOf } from "./conv-geom.js";

const { native, d, ISAS, threadsBefore } = nativeSuite();

function mm(batch: number, m: number, n: number, k: number, o: Partial<MatmulGeom> = {}): MatmulGeom {
  return { batch, m, n, k, aBatchStride: m * k, bBatchStride: k * n, cBatchStride: m * n, transA: false, transB: false, accumulate: false, ...o };
}

function checkMatmul(t: Kernels, g: MatmulGeom, seed: number, place = (a: Float32Array) => a): void {
  const gen = newGen(seed);
  const aLen = (g.batch - 1) * g.aBatchStride + g.m * g.k, bLen = (g.batch - 1) * g.bBatchStride + g.k * g.n;
  const cLen = (g.batch - 1) * g.cBatchStride + g.m * g.n;
  const a = randomF32(gen, aLen), b = randomF32(gen, bLen), c0 = randomF32(gen, cLen);
  const got = place(c0.slice()), want = c0.slice(), scale = absOf(c0);
  t.matmul(place(a), place(b), got, g);
  refKernels.matmul(a, b, want, g);
  refKernels.matmul(absOf(a), absOf(b), scale, { ...g, accumulate: true });
  expectNear(got, want, g.accumulate ? scale : scale.map((v, i) => v - Math.abs(c0[i])));
}

d("native matmul vs reference", () => {
  for (const isa of ISAS) {
    it(`[${isa}] odd and blocked shapes, transposes, batches, accumulate`, () => {
      setNativeIsa(isa);
      const t = native!;
      checkMatmul(t, mm(1, 1, 1, 1), 1);
      checkMatmul(t, mm(1, 7, 19, 5), 2);
      checkMatmul(t, mm(1, 37, 45, 29), 3);
      checkMatmul(t, mm(1, 130, 33, 600), 4); // m > MC, k > 2·KC
      checkMatmul(t, mm(1, 5, 2100, 17), 5); // n > NC
      checkMatmul(t, mm(1, 13, 21, 300, { transA: true }), 6);
      checkMatmul(t, mm(1, 13, 21, 300, { transB: true }), 7);
      checkMatmul(t, mm(1, 17, 23, 9, { transA: true, transB: true, accumulate: true }), 8);
      checkMatmul(t, mm(3, 9, 31, 40), 9);
      checkMatmul(t, mm(4, 6, 16, 8, { aBatchStride: 0 }), 10); // broadcast A
      checkMatmul(t, mm(2, 64, 157, 130, { transB: true, accumulate: true }), 11);
      checkMatmul(t, mm(1, 8, 8, 0), 12); // empty sum: C = 0
    });
  }

  it("arrays inside wasm memory (shared) give the same results", () => {
    setNativeIsa("best");
    checkMatmul(native!, mm(2, 33, 70, 65), 13, wasmCopy);
  });

  it("results are bitwise independent of the thread count (batch, column and row splits)", () => {
    setNativeIsa("best");
    const cases = [mm(8, 64, 64, 64), mm(1, 40, 1500, 200), mm(1, 1500, 40, 200, { transA: true })];
    for (const g of cases) {
      const gen = newGen(14);
      const a = randomF32(gen, g.batch * g.m * g.k), b = randomF32(gen, g.batch * g.k * g.n);
      const outs = [1, 2, 3].map((n) => {
        setNumThreads(n);
        const c = new Float32Array(g.batch * g.m * g.n);
        native!.matmul(a, b, c, g);
        return c;
      });
      expectIdentical(outs[1], outs[0], "2 threads vs 1");
      expectIdentical(outs[2], outs[0], "3 threads vs 1");
    }
    setNumThreads(threadsBefore);
  });

  it("float64 falls back to the reference; short arrays are refused with a RangeError", () => {
    const g = mm(1, 3, 4, 5);
    const a = Float64Array.from({ length: 15 }, (_, i) => i / 7), b = Float64Array.from({ length: 20 }, (_, i) => i / 3);
    const got = new Float64Array(12), want = new Float64Array(12);
    native!.matmul(a, b, got, g);
    refKernels.matmul(a, b, want, g);
    expectIdentical(got, want);
    expect(() => native!.matmul(new Float32Array(14), new Float32Array(20), new Float32Array(12), g)).toThrow(/native matmul: A has 14 elements, needs 15/);
    expect(() => native!.conv2d(new Float32Array(3), new Float32Array(9), new Float32Array(9), geomOf({ n: 1, c: 1, h: 5, w: 5, oc: 1, k: [3, 3] })))
      .toThrow(RangeError);
  });
});

const CONVS: [string, ConvSpec][] = [
  ["SmallCNN conv1 (1→16, 3×3 p1)", { n: 3, c: 1, h: 28, w: 28, oc: 16, k: [3, 3], pad: [1, 1] }],
  ["SmallCNN conv2 (16→32, 3×3 p1), parallel", { n: 8, c: 16, h: 14, w: 14, oc: 32, k: [3, 3], pad: [1, 1] }],
  ["odd sizes, stride 2, asymmetric pad", { n: 3, c: 5, h: 11, w: 9, oc: 7, k: [3, 2], stride: [2, 1], pad: [1, 0] }],
  ["dilation 2, stride 3", { n: 2, c: 3, h: 13, w: 17, oc: 4, k: [3, 3], stride: [3, 2], pad: [2, 1], dil: [2, 2] }],
  ["groups 3", { n: 2, c: 6, h: 9, w: 7, oc: 9, k: [3, 3], pad: [1, 1], groups: 3 }],
  ["depthwise", { n: 2, c: 8, h: 10, w: 10, oc: 8, k: [3, 3], pad: [1, 1], groups: 8 }],
  ["pointwise 1×1", { n: 3, c: 12, h: 5, w: 7, oc: 10, k: [1, 1] }],
  ["1×1 stride 2", { n: 2, c: 4, h: 7, w: 7, oc: 3, k: [1, 1], stride: [2, 2] }],
  ["kernel larger than padded input rows", { n: 1, c: 2, h: 3, w: 12, oc: 3, k: [5, 3], pad: [2, 0] }],
  ["large K (several column tasks), ResNet-like 64→64", { n: 2, c: 64, h: 16, w: 16, oc: 64, k: [3, 3], pad: [1, 1] }],
];

function checkConv(t: Kernels, g: Conv2dGeom, seed: number, place: (a: Float32Array) => Float32Array): Float32Array[] {
  const gen = newGen(seed);
  const x = randomF32(gen, g.n * g.c * g.h * g.w), w = randomF32(gen, g.oc * (g.c / g.groups) * g.kh * g.kw);
  const dy = randomF32(gen, g.n * g.oc * g.oh * g.ow);
  const run = (len: number, f: (out: Float32Array) => void, r: (out: Float32Array) => void, s: (out: Float32Array) => void) => {
    const got = place(new Float32Array(len).fill(7)), want = new Float32Array(len), scale = new Float32Array(len);
    f(got);
    r(want);
    s(scale);
    expectNear(got, want, scale);
    return got;
  };
  return [
    run(dy.length, (o) => t.conv2d(place(x), place(w), o, g), (o) => refKernels.conv2d(x, w, o, g), (o) => refKernels.conv2d(absOf(x), absOf(w), o, g)),
    run(x.length, (o) => t.conv2dBackwardInput(place(dy), place(w), o, g), (o) => refKernels.conv2dBackwardInput(dy, w, o, g),
      (o) => refKernels.conv2dBackwardInput(absOf(dy), absOf(w), o, g)),
    run(w.length, (o) => t.conv2dBackwardWeight(place(x), place(dy), o, g), (o) => refKernels.conv2dBackwardWeight(x, dy, o, g),
      (o) => refKernels.conv2dBackwardWeight(absOf(x), absOf(dy), o, g)),
  ];
}

d("native conv2d vs reference", () => {
  for (const isa of ISAS) {
    CONVS.forEach(([name, spec], i) => {
      it(`[${isa}] ${name}: forward, backward input, backward weight`, () => {
        setNativeIsa(isa);
        checkConv(native!, geomOf(spec), 100 + i, (a) => a);
      });
    });
  }

  it("inside wasm memory, and bitwise independent of the thread count", () => {
    setNativeIsa("best");
    const g = geomOf(CONVS[9][1]);
    setNumThreads(1);
    const one = checkConv(native!, g, 7, wasmCopy);
    setNumThreads(3);
    const three = checkConv(native!, g, 7, (a) => a);
    setNumThreads(threadsBefore);
    one.forEach((o, i) => expectIdentical(three[i], o, `pass ${i}`));
    // one image, more threads than images: the forward splits output channels
    const g1 = geomOf({ n: 1, c: 32, h: 20, w: 20, oc: 45, k: [3, 3], pad: [1, 1] });
    setNumThreads(1);
    const single = checkConv(native!, g1, 8, (a) => a);
    setNumThreads(4);
    const split = checkConv(native!, g1, 8, (a) => a);
    setNumThreads(threadsBefore);
    single.forEach((o, i) => expectIdentical(split[i], o, `batch-1 pass ${i}`));
  });
});

function poolGeom(n: number, c: number, h: number, w: number, k: number, s: number, p: number, dil = 1, countIncludePad = true): Pool2dGeom {
  const oh = Math.floor((h + 2 * p - dil * (k - 1) - 1) / s) + 1, ow = Math.floor((w + 2 * p - dil * (k - 1) - 1) / s) + 1;
  return { n, c, h, w, oh, ow, kh: k, kw: k, strideH: s, strideW: s, padH: p, padW: p, dilationH: dil, dilationW: dil, countIncludePad };
}

/** |got − want| ≤ 1e-6·max|want| + 1e-7, per array (sums taken in another float64 order, then rounded to float32). */
function expectClose(got: Float32Array | Float64Array, want: Float32Array | Float64Array, what: string): void {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  try {
    expectNear(got, want, new Float32Array(want.length).fill(scale), 1e-6, 1e-7);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
}

d("native pooling, batch norm and channel affine vs the reference", () => {
  const gen = newGen(21);
  it.each(ISAS)("[%s] max pool (ties, NaN, padding, dilation) and its backward", (isa) => {
    setNativeIsa(isa);
    for (const g of [poolGeom(4, 5, 28, 28, 2, 2, 0), poolGeom(3, 2, 37, 35, 2, 2, 0), poolGeom(3, 4, 11, 9, 3, 2, 1), poolGeom(2, 3, 13, 13, 3, 1, 2, 2), poolGeom(64, 32, 14, 14, 2, 2, 0)]) {
      const x = randomF32(gen, g.n * g.c * g.h * g.w).map((v) => Math.round(v * 2) / 2); // many ties
      for (let i = 5; i < x.length; i += 997) x[i] = NaN;
      x[x.length - 3] = NaN;
      const outLen = g.n * g.c * g.oh * g.ow;
      const [y, am, y2, am2] = [new Float32Array(outLen), new Int32Array(outLen), new Float32Array(outLen), new Int32Array(outLen)];
      native!.maxPool2d(x, y, am, g);
      refKernels.maxPool2d(x, y2, am2, g);
      expectIdentical(y, y2, "max");
      expectIdentical(am, am2, "argmax");
      const dy = randomF32(gen, outLen), dx = new Float32Array(x.length).fill(3), dx2 = new Float32Array(x.length);
      native!.maxPool2dBackward(dy, am, dx, g);
      refKernels.maxPool2dBackward(dy, am2, dx2, g);
      expectIdentical(dx, dx2, "max backward");
    }
  });

  it("average pool (count_include_pad both ways) and its backward", () => {
    for (const g of [poolGeom(3, 4, 11, 9, 3, 2, 1, 1, true), poolGeom(3, 4, 11, 9, 3, 2, 1, 1, false), poolGeom(2, 2, 8, 8, 2, 2, 0)]) {
      const x = randomF32(gen, g.n * g.c * g.h * g.w), outLen = g.n * g.c * g.oh * g.ow;
      const y = new Float32Array(outLen), y2 = new Float32Array(outLen);
      native!.avgPool2d(wasmCopy(x), y, g);
      refKernels.avgPool2d(x, y2, g);
      expectIdentical(y, y2, "avg");
      const dy = randomF32(gen, outLen), dx = new Float32Array(x.length).fill(3), dx2 = new Float32Array(x.length);
      native!.avgPool2dBackward(dy, dx, g);
      refKernels.avgPool2dBackward(dy, dx2, g);
      expectIdentical(dx, dx2, "avg backward");
    }
  });

  it.each([["best", "float64", Float64Array], ["best", "float32", Float32Array], ["scalar", "float64", Float64Array]] as const)("[%s] batch norm stats, apply, backward (training and eval, with and without affine), %s statistics", (isa, _, S) => {
    setNativeIsa(isa);
    for (const [n, c, hw] of [[8, 16, 196], [5, 3, 1], [64, 32, 49], [3, 4, 37]]) {
      const x = randomF32(gen, n * c * hw, 3).map((v) => v + 1.5), dy = randomF32(gen, n * c * hw);
      const stats = (t: Kernels) => {
        const m = new S(c), v = new S(c);
        t.batchNormStats(x, n, c, hw, m, v);
        return [m, v];
      };
      const [m, v] = stats(native!), [m2, v2] = stats(refKernels);
      expectClose(m, m2, "mean");
      expectClose(v, v2, "variance");
      const invStd = v.map((q) => 1 / Math.sqrt(q + 1e-5)), gamma = randomF32(gen, c), beta = randomF32(gen, c);
      for (const affine of [true, false]) {
        const [ga, be] = affine ? [gamma, beta] : [null, null];
        const y = new Float32Array(x.length), y2 = new Float32Array(x.length);
        native!.batchNormApply(x, m, invStd, ga, be, y, n, c, hw);
        refKernels.batchNormApply(x, m, invStd, ga, be, y2, n, c, hw);
        expectIdentical(y, y2, "apply");
        for (const training of [true, false]) {
          const out = (t: Kernels) => {
            const dx = new Float32Array(x.length), dg = affine ? new Float32Array(c) : null, db = affine ? new Float32Array(c) : null;
            t.batchNormBackward(dy, x, m, invStd, ga, dx, dg, db, n, c, hw, training);
            return [dx, dg ?? new Float32Array(0), db ?? new Float32Array(0)];
          };
          const a = out(native!), b = out(refKernels);
          a.forEach((arr, i) => expectClose(arr, b[i], `backward ${i} (training ${training})`));
        }
      }
    }
  });

  it("batch norm with the op's float64 statistics runs in C (no fallback)", () => {
    const refuse = new Proxy(refKernels, {
      get(target, key: string) {
        if (key.startsWith("batchNorm")) throw new Error(`fell back to ${key}`);
        return target[key as keyof Kernels];
      },
    });
    const t = nativeKernelTable(nativeAddon!, refuse);
    const [n, c, hw] = [4, 8, 49];
    const x = randomF32(gen, n * c * hw), m = new Float64Array(c), v = new Float64Array(c);
    t.batchNormStats!(x, n, c, hw, m, v);
    const invStd = v.map((q) => 1 / Math.sqrt(q + 1e-5)), y = new Float32Array(x.length), dx = new Float32Array(x.length);
    t.batchNormApply!(x, m, invStd, null, null, y, n, c, hw);
    t.batchNormBackward!(x, x, m, invStd, null, dx, null, null, n, c, hw, true);
    expect(Number.isFinite(y[0]) && Number.isFinite(dx[0])).toBe(true);
  });

  it("channel affine and its backward", () => {
    for (const [n, c, inner] of [[4, 8, 100], [3, 5, 1], [64, 32, 196]]) {
      const x = randomF32(gen, n * c * inner), g = randomF32(gen, n * c * inner), s = randomF32(gen, c), b = randomF32(gen, c);
      for (const bias of [b, null]) {
        const y = new Float32Array(x.length), y2 = new Float32Array(x.length);
        native!.channelAffine(x, s, bias, y, n, c, inner);
        refKernels.channelAffine(x, s, bias, y2, n, c, inner);
        expectIdentical(y, y2, "affine");
      }
      const out = (t: Kernels, all: boolean) => {
        const dx = all ? new Float32Array(x.length) : null, ds = new Float32Array(c), db = all ? new Float32Array(c) : null;
        t.channelAffineBackward(g, x, s, dx, ds, db, n, c, inner);
        return [dx ?? new Float32Array(0), ds, db ?? new Float32Array(0)];
      };
      for (const all of [true, false]) {
        const a = out(native!, all), r = out(refKernels, all);
        expectIdentical(a[0], r[0], "affine backward dx");
        expectClose(a[1], r[1], "affine backward dscale");
        expectClose(a[2], r[2], "affine backward dbias");
      }
    }
  });
});
