/**
 * The native direct convolution kernels (native/conv-direct.c: forward, backward input;
 * conv-wgrad.c: backward weight — no column matrix) vs the reference kernels called directly, on the
 * AVX2 and the portable path, at 1, 2 and 3 threads: ResNet-20's geometries (3×3 at 3–64
 * channels, stride 1 and 2, 32/16/8 planes) and the edges of each kernel — output rows that are
 * not a multiple of 8 (masked tail runs), stride 2 and 3 (phase-split rows; the strided backward
 * input by phases of dx, one of them reached by no tap), dilation,
 * asymmetric kernels and padding, channel counts that fill tiles partly, taps not a multiple
 * of 6, one image on several threads, NaN / ±∞ in the inputs. `convDirectPaths` is asserted
 * for every geometry, so a case can never pass on the GEMM path by accident; results are
 * bitwise independent of the thread count and of where the arrays live (wasm memory or not),
 * and the fused epilogue equals the unfused one bit for bit. Skipped where the addon is not built.
 */
import { expect, it } from "vitest";
import type { Conv2dGeom, Epilogue } from "../../src/backend/kernels.js";
import { nativeAddon, setNativeIsa } from "../../src/backend/native/index.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { setNumThreads } from "../../src/backend/wasm/index.js";
import { absOf, expectIdentical, expectNear, newGen, randomF32, wasmCopy } from "./helpers.js";
import { nativeSuite } from "./native-helpers.js";
import { type ConvSpec, geomOf } from "./conv-geom.js";

const { native, d, ISAS, threadsBefore } = nativeSuite();

function paths(g: Conv2dGeom): number {
  return nativeAddon!.convDirectPaths(Int32Array.from([g.n, g.c, g.h, g.w, g.oc, g.kh, g.kw, g.oh, g.ow, g.strideH, g.strideW, g.padH, g.padW,
    g.dilationH, g.dilationW, g.groups]));
}

const FWD = 1, BIN = 2, BW = 4;
/** [name, geometry, the passes that must run the direct kernels] */
const CASES: [string, ConvSpec, number][] = [
  ["ResNet-20 conv1 3→16 @32", { n: 3, c: 3, h: 32, w: 32, oc: 16, k: [3, 3], pad: [1, 1] }, FWD | BIN | BW],
  ["ResNet-20 16→16 @32", { n: 4, c: 16, h: 32, w: 32, oc: 16, k: [3, 3], pad: [1, 1] }, FWD | BIN | BW],
  ["ResNet-20 16→32 stride 2", { n: 3, c: 16, h: 32, w: 32, oc: 32, k: [3, 3], stride: [2, 2], pad: [1, 1] }, FWD | BIN | BW],
  ["ResNet-20 32→64 stride 2 @16 (dx phases of 8 columns)", { n: 2, c: 32, h: 16, w: 16, oc: 64, k: [3, 3], stride: [2, 2], pad: [1, 1] }, FWD | BIN | BW],
  ["stride 3, 2×2 kernel (a dx phase no tap reaches), oc 8", { n: 2, c: 5, h: 12, w: 48, oc: 8, k: [2, 2], stride: [3, 3] }, FWD | BIN],
  ["stride 1 × 2, 5×3 kernel, padding 2 × 1, odd height", { n: 2, c: 3, h: 13, w: 32, oc: 16, k: [5, 3], stride: [1, 2], pad: [2, 1] }, FWD | BIN | BW],
  ["ResNet-20 32→32 @16", { n: 3, c: 32, h: 16, w: 16, oc: 32, k: [3, 3], pad: [1, 1] }, FWD | BIN | BW],
  ["ResNet-20 64→64 @8", { n: 2, c: 64, h: 8, w: 8, oc: 64, k: [3, 3], pad: [1, 1] }, FWD | BIN | BW],
  ["rows of 28 and 14 (tail runs of 4 and 6), oc 13", { n: 2, c: 5, h: 14, w: 28, oc: 13, k: [3, 3], pad: [1, 1] }, FWD | BIN | BW],
  ["rows of 7, 5×3 kernel, asymmetric padding, taps % 6 ≠ 0", { n: 2, c: 3, h: 9, w: 7, oc: 12, k: [5, 3], pad: [2, 1] }, FWD | BIN | BW],
  ["unpadded 3×3 (valid), oc 18 (weight tiles too empty)", { n: 2, c: 4, h: 12, w: 18, oc: 18, k: [3, 3] }, FWD | BIN],
  ["dilation 2, padding 2", { n: 2, c: 6, h: 12, w: 20, oc: 16, k: [3, 3], pad: [2, 2], dil: [2, 2] }, FWD | BIN | BW],
  ["stride 3 × 2, dilation 2 (phase-split rows)", { n: 2, c: 3, h: 31, w: 33, oc: 16, k: [3, 3], stride: [3, 2], pad: [2, 1], dil: [2, 2] }, FWD | BW],
  ["stride 2, 2×2 kernel, no padding", { n: 2, c: 7, h: 16, w: 30, oc: 15, k: [2, 2], stride: [2, 2] }, FWD | BIN | BW],
  ["stride 2, 5×5 kernel, padding 2, rows of 45 (prepared rows 16 columns a step, masked at both ends; dx rows woven with an odd tail)",
    { n: 2, c: 3, h: 11, w: 45, oc: 16, k: [5, 5], stride: [2, 2], pad: [2, 2] }, FWD | BIN | BW],
  ["stride 2 × 1 (dx phases by rows only), odd height", { n: 2, c: 3, h: 15, w: 24, oc: 14, k: [3, 3], stride: [2, 1], pad: [1, 1] }, FWD | BIN | BW],
  ["padding beyond d(k−1): backward input on the GEMM path", { n: 2, c: 4, h: 8, w: 16, oc: 16, k: [1, 2], pad: [1, 2] }, FWD | BW],
  ["1×1 and groups stay on the GEMM path", { n: 2, c: 8, h: 8, w: 16, oc: 16, k: [1, 1] }, 0],
  ["grouped 3×3", { n: 2, c: 8, h: 8, w: 16, oc: 16, k: [3, 3], pad: [1, 1], groups: 2 }, 0],
  ["1×1 stride 2 (ResNet's downsample): GEMM path, im2col rows split 8 at a time", { n: 2, c: 16, h: 32, w: 32, oc: 32, k: [1, 1], stride: [2, 2] }, 0],
  ["grouped 3×3 stride 2, padding 1, rows of 41: strided im2col with both borders", { n: 2, c: 8, h: 9, w: 41, oc: 16, k: [3, 3], stride: [2, 2], pad: [1, 1], groups: 2 }, 0],
  ["rows of 4 (half-empty runs) stay on the GEMM path except backward weight", { n: 2, c: 8, h: 4, w: 4, oc: 16, k: [3, 3], pad: [1, 1] }, BW],
];

function data(g: Conv2dGeom, seed: number, specials: boolean) {
  const gen = newGen(seed);
  const x = randomF32(gen, g.n * g.c * g.h * g.w), w = randomF32(gen, g.oc * (g.c / g.groups) * g.kh * g.kw);
  const dy = randomF32(gen, g.n * g.oc * g.oh * g.ow);
  if (specials) {
    for (let i = 17; i < x.length; i += 389) x[i] = [NaN, Infinity, -Infinity][i % 3];
    dy[dy.length - 1] = NaN;
  }
  return { x, w, dy };
}

/** The three passes against the reference (|error| ≤ 1e-5 · Σ|a||b| + 1e-6); returns the outputs. */
function check(g: Conv2dGeom, seed: number, place: (a: Float32Array) => Float32Array = (a) => a, specials = false): Float32Array[] {
  const { x, w, dy } = data(g, seed, specials);
  const run = (len: number, f: (o: Float32Array) => void, r: (o: Float32Array) => void, s: (o: Float32Array) => void, what: string) => {
    const got = place(new Float32Array(len).fill(7)), want = new Float32Array(len), scale = new Float32Array(len);
    f(got);
    r(want);
    s(scale);
    try {
      expectNear(got, want, scale);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
    return got;
  };
  return [
    run(dy.length, (o) => native!.conv2d(place(x), place(w), o, g), (o) => refKernels.conv2d(x, w, o, g), (o) => refKernels.conv2d(absOf(x), absOf(w), o, g), "forward"),
    run(x.length, (o) => native!.conv2dBackwardInput(place(dy), place(w), o, g), (o) => refKernels.conv2dBackwardInput(dy, w, o, g),
      (o) => refKernels.conv2dBackwardInput(absOf(dy), absOf(w), o, g), "backward input"),
    run(w.length, (o) => native!.conv2dBackwardWeight(place(x), place(dy), o, g), (o) => refKernels.conv2dBackwardWeight(x, dy, o, g),
      (o) => refKernels.conv2dBackwardWeight(absOf(x), absOf(dy), o, g), "backward weight"),
  ];
}

d("native direct convolution vs the reference kernels", () => {
  it("takes the direct kernels exactly where documented", () => {
    for (const [name, spec, want] of CASES) expect(paths(geomOf(spec)), name).toBe(want);
    expect(paths(geomOf({ ...CASES[1][1], n: 0 }))).toBe(0);
    expect(paths(geomOf({ n: 2, c: 4, h: 2, w: 16, oc: 16, k: [3, 3] })), "no output rows").toBe(0);
    const narrow = geomOf({ n: 2, c: 4, h: 16, w: 2, oc: 16, k: [3, 3] });
    expect(paths(narrow), "no output columns").toBe(0);
    const dw = new Float32Array(16 * 4 * 9).fill(5);
    native!.conv2dBackwardWeight(new Float32Array(2 * 4 * 16 * 2).fill(1), new Float32Array(0), dw, narrow);
    expect(dw.every((v) => v === 0)).toBe(true);
    expect(paths(geomOf({ n: 1, c: 256, h: 2048, w: 2048, oc: 16, k: [3, 3], pad: [1, 1] })), "planes past 2^30 floats").toBe(0);
  });

  for (const isa of ISAS) {
    CASES.forEach(([name, spec], i) => {
      it(`[${isa}] ${name}: forward, backward input, backward weight at 1, 2 and 3 threads, bitwise equal`, () => {
        setNativeIsa(isa);
        const g = geomOf(spec);
        const outs = [1, 2, 3].map((t) => {
          setNumThreads(t);
          return check(g, 300 + i);
        });
        setNumThreads(threadsBefore);
        for (const o of outs.slice(1)) o.forEach((a, p) => expectIdentical(a, outs[0][p], `${name} pass ${p}`));
      });
    });

    it(`[${isa}] one image on 3 threads (forward split by channel panels), NaN and ±∞ inputs, arrays in wasm memory`, () => {
      setNativeIsa(isa);
      const g = geomOf({ n: 1, c: 16, h: 20, w: 24, oc: 45, k: [3, 3], pad: [1, 1] });
      expect(paths(g)).toBe(FWD | BIN | BW);
      setNumThreads(1);
      const one = check(g, 9, (a) => a, true);
      setNumThreads(3);
      const three = check(g, 9, wasmCopy, true);
      setNumThreads(threadsBefore);
      one.forEach((o, p) => expectIdentical(three[p], o, `pass ${p}`));
    });

    it(`[${isa}] fused bias + ReLU / clamp ≡ the direct forward then the reference epilogue, bit for bit`, () => {
      setNativeIsa(isa);
      const gen = newGen(31);
      const named = (prefix: string): ConvSpec => CASES.find(([name]) => name.startsWith(prefix))![1];
      for (const spec of [named("ResNet-20 16→16"), named("rows of 28"), named("stride 3 × 2")]) {
        const g = geomOf(spec);
        const { x, w } = data(g, 5, true);
        const bias = randomF32(gen, g.oc);
        bias[1] = NaN;
        const epis: Epilogue[] = [{ bias, act: "relu", lo: 0, hi: 0 }, { bias, act: "clamp", lo: -0.25, hi: 0.5 }, { bias: null, act: "clamp", lo: 0, hi: 6 }];
        for (const epi of epis) {
          const want = new Float32Array(g.n * g.oc * g.oh * g.ow);
          native!.conv2d(x, w, want, g);
          refKernels.epilogue(want, g.n, g.oc, g.oh * g.ow, epi);
          for (const t of [1, 3]) {
            setNumThreads(t);
            const got = new Float32Array(want.length).fill(3);
            native!.conv2d(x, w, got, g, epi);
            expectIdentical(got, want, `${epi.act} at ${t} threads`);
          }
        }
      }
      setNumThreads(threadsBefore);
    });
  }

  it("backward weight over several groups of images (more than 2 M floats of prepared images)", () => {
    setNativeIsa("best");
    // 64 × 66 × 66 prepared floats per image plus 16 × 64 × 64 of dy: five images per group, two groups.
    const g = geomOf({ n: 7, c: 64, h: 64, w: 64, oc: 16, k: [3, 3], pad: [1, 1] });
    expect(paths(g) & BW).toBe(BW);
    const { x, dy } = data(g, 11, false);
    const got = new Float32Array(g.oc * g.c * 9), want = new Float32Array(got.length), scale = new Float32Array(got.length);
    native!.conv2dBackwardWeight(x, dy, got, g);
    refKernels.conv2dBackwardWeight(x, dy, want, g);
    refKernels.conv2dBackwardWeight(absOf(x), absOf(dy), scale, g);
    expectNear(got, want, scale);
  });
});
