/**
 * The native backend's fused epilogue (native/sgemm.c qat_epi_apply, run on each GEMM output
 * tile after its last k block): conv2d and matmul with a bias and none / ReLU / clamp equal the
 * native product followed by the reference epilogue bit for bit — on the AVX2 and the portable
 * path, at 1 and 3 threads (batch, channel, column and row splits), with several k blocks,
 * groups, the 1×1 direct path, an accumulating matmul, k = 0, and NaN / −0 / ±∞ in the
 * products. Also the standalone Kernels.epilogue entry, and a short bias refused before C runs.
 * Skipped where the addon is not built.
 */
import { expect, it } from "vitest";
import type { Conv2dGeom, Epilogue, MatmulGeom } from "../../src/backend/kernels.js";
import { setNativeIsa } from "../../src/backend/native/index.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { setNumThreads } from "../../src/backend/wasm/index.js";
import { expectIdentical, newGen, randomF32 } from "./helpers.js";
import { nativeSuite } from "./native-helpers.js";

const { native, d, threadsBefore } = nativeSuite();

const gen = newGen(77);
function epis(c: number): [string, Epilogue][] {
  const bias = randomF32(gen, c);
  bias[0] = NaN;
  if (c > 2) bias[2] = -Infinity;
  return [
    ["bias only", { bias, act: "none", lo: 0, hi: 0 }],
    ["bias + relu", { bias, act: "relu", lo: 0, hi: 0 }],
    ["relu, no bias", { bias: null, act: "relu", lo: 0, hi: 0 }],
    ["bias + clamp [−0.3, 0.1]", { bias, act: "clamp", lo: -0.3, hi: 0.1 }],
    ["clamp [0, 6]", { bias: null, act: "clamp", lo: 0, hi: 6 }],
  ];
}

function conv(n: number, c: number, h: number, oc: number, k: number, pad: number, groups = 1): Conv2dGeom {
  const o = h + 2 * pad - k + 1;
  return { n, c, h, w: h, oc, kh: k, kw: k, oh: o, ow: o, strideH: 1, strideW: 1, padH: pad, padW: pad, dilationH: 1, dilationW: 1, groups };
}

/** Inputs whose products include ±0, NaN and ±∞ now and then. */
function special(n: number): Float32Array {
  const a = randomF32(gen, n);
  for (let i = 13; i < n; i += 211) a[i] = [NaN, Infinity, -Infinity, 0, -0][i % 5];
  return a;
}

d("native fused epilogue ≡ the native product then the reference epilogue, bit for bit", () => {
  for (const isa of ["best", "scalar"] as const) {
    it(`[${isa}] conv2d: SmallCNN conv1/conv2, groups, 1×1, K over one k block, 1 and 3 threads`, () => {
      setNativeIsa(isa);
      const geoms = [conv(3, 1, 28, 16, 3, 1), conv(4, 16, 14, 32, 3, 1), conv(2, 6, 9, 9, 3, 1, 3), conv(3, 12, 7, 10, 1, 0), conv(1, 40, 9, 13, 3, 1)];
      for (const g of geoms) {
        const x = special(g.n * g.c * g.h * g.w), w = randomF32(gen, g.oc * (g.c / g.groups) * g.kh * g.kw);
        for (const [name, epi] of epis(g.oc)) {
          const want = new Float32Array(g.n * g.oc * g.oh * g.ow);
          native!.conv2d(x, w, want, g);
          refKernels.epilogue(want, g.n, g.oc, g.oh * g.ow, epi);
          for (const t of [1, 3]) {
            setNumThreads(t);
            const got = new Float32Array(want.length).fill(9);
            native!.conv2d(x, w, got, g, epi);
            expectIdentical(got, want, `${name}, ${t} thread(s), c ${g.c} → ${g.oc}`);
          }
          setNumThreads(threadsBefore);
        }
      }
    });

    it(`[${isa}] matmul: bias per column, batches, transposes, accumulate, k = 0 and k > 256, 1 and 3 threads`, () => {
      setNativeIsa(isa);
      const mm = (batch: number, m: number, n: number, k: number, o: Partial<MatmulGeom> = {}): MatmulGeom =>
        ({ batch, m, n, k, aBatchStride: m * k, bBatchStride: k * n, cBatchStride: m * n, transA: false, transB: false, accumulate: false, ...o });
      const geoms = [mm(1, 64, 128, 1568, { transB: true }), mm(3, 17, 40, 33), mm(1, 300, 21, 9, { transA: true }), mm(2, 7, 19, 5, { accumulate: true }), mm(1, 5, 6, 0)];
      for (const g of geoms) {
        const a = special(g.batch * g.m * g.k), b = randomF32(gen, g.batch * g.k * g.n), c0 = randomF32(gen, g.batch * g.m * g.n);
        for (const [name, epi] of epis(g.n)) {
          const want = c0.slice();
          native!.matmul(a, b, want, g);
          for (let i = 0; i < g.batch; i++) refKernels.epilogue(want.subarray(i * g.m * g.n, (i + 1) * g.m * g.n), g.m, g.n, 1, epi);
          for (const t of [1, 3]) {
            setNumThreads(t);
            const got = c0.slice();
            native!.matmul(a, b, got, g, epi);
            expectIdentical(got, want, `${name}, ${t} thread(s), ${g.batch}×${g.m}×${g.n}×${g.k}`);
          }
          setNumThreads(threadsBefore);
        }
      }
    });
  }

  it("the standalone epilogue entry equals the reference's; a short bias is refused", () => {
    setNativeIsa("best");
    for (const [name, epi] of epis(24)) {
      const y = special(5 * 24 * 49), want = y.slice();
      native!.epilogue(y, 5, 24, 49, epi);
      refKernels.epilogue(want, 5, 24, 49, epi);
      expectIdentical(y, want, name);
    }
    const g = conv(1, 2, 5, 4, 3, 1);
    expect(() => native!.conv2d(new Float32Array(50), new Float32Array(72), new Float32Array(100), g, { bias: new Float32Array(3), act: "relu", lo: 0, hi: 0 }))
      .toThrow(/native conv2d: bias has 3 values, needs 4/);
  });
});
