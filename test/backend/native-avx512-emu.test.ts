/**
 * The AVX-512 and AVX-512 VNNI kernels (native/sgemm-avx512.c, native/int8-vnni.c), run on a CPU
 * without AVX-512 through the emulation addon: `node scripts/build-native.mjs --emu512` compiles
 * native/ with -DQAT_EMULATE_AVX512, the kernels' _mm512_* intrinsics then being SIMDe's portable
 * implementations, and that build reports "avx512-vnni (emulated)". Checked against the reference
 * kernels: matmul within the native float tolerance (odd, blocked, transposed, batched,
 * accumulating shapes; the fused epilogue bit for bit against the unfused product; bitwise
 * independent of 1–3 threads); int8 conv / linear / raw GEMM bit for bit against the TypeScript
 * integer kernels (full uint8 range and int8 inputs on vpdpbusd, int16 pairs on vpdpwssd and on
 * AVX-512BW's vpmaddwd), with `kernelPaths()` asserting which variant ran. Also: the real addon's
 * ISA equals what /proc/cpuinfo's flags imply. Skipped, with the reason printed, without SIMDe's
 * headers, a C compiler or an AVX2 x86-64 CPU (the emulation build runs its AVX2 kernels natively).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import type { Conv2dGeom, MatmulGeom } from "../../src/backend/kernels.js";
import { addon as realAddon, loadNativeAddonFile, type NativeAddon } from "../../src/backend/native/addon.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { absOf, expectIdentical, expectNear, newGen, randomF32 } from "./helpers.js";
import { type ConvSpec, geomOf } from "./conv-geom.js";
import { checkConv, checkIgemmBench, checkLinear, type Layer } from "./int8-addon-checks.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// QAT_EMU512_ADDON=<path>: test that build instead of building one (e.g. a mutant compiled elsewhere).
const GIVEN = process.env.QAT_EMU512_ADDON;
const EMU = GIVEN ?? path.join(ROOT, `build/native/qat-native-emu512-${process.platform}-${process.arch}.node`);

function cpuFlags(): Set<string> | null {
  if (process.platform !== "linux") return null;
  const line = /^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
  return line ? new Set(line[1].trim().split(/\s+/)) : null;
}

/** Why the emulation addon cannot be built and run here, or null. */
function missingPrerequisite(): string | null {
  if (process.arch !== "x64") return `x86-64 only (this is ${process.arch})`;
  if (!["linux", "darwin", "freebsd"].includes(process.platform)) return `no native build on ${process.platform}`;
  const dirs = [process.env.SIMDE_INCLUDE, "/usr/include", "/usr/local/include", "/opt/homebrew/include"].filter((d): d is string => !!d);
  if (!dirs.some((d) => existsSync(path.join(d, "simde/x86/avx512.h")))) return "SIMDe headers not found (apt install libsimde-dev, or SIMDE_INCLUDE)";
  if (![process.env.CC, "cc", "gcc", "clang"].some((cc) => cc && spawnSync(cc, ["--version"]).status === 0)) return "no C compiler";
  const flags = cpuFlags();
  if (flags && !(flags.has("avx2") && flags.has("fma"))) return "the CPU lacks AVX2+FMA (the emulation build runs its AVX2 kernels natively)";
  return null;
}

const why = missingPrerequisite();
if (why) console.log(`AVX-512 emulation not tested: ${why}`);
const d = why ? describe.skip : describe;
let emu: NativeAddon;

function mm(batch: number, m: number, n: number, k: number, o: Partial<MatmulGeom> = {}): MatmulGeom {
  return { batch, m, n, k, aBatchStride: m * k, bBatchStride: k * n, cBatchStride: m * n, transA: false, transB: false, accumulate: false, ...o };
}

interface Epi { bias: Float32Array | null; act: number; lo: number; hi: number }

function runMatmul(a: Float32Array, b: Float32Array, c: Float32Array, g: MatmulGeom, epi?: Epi): void {
  const args = [g.batch, g.m, g.n, g.k, g.aBatchStride, g.bBatchStride, g.cBatchStride, +g.transA, +g.transB, +g.accumulate] as const;
  if (epi) emu.matmul(a, b, c, ...args, epi.bias, epi.act, epi.lo, epi.hi);
  else emu.matmul(a, b, c, ...args);
}

function operands(g: MatmulGeom, seed: number) {
  const gen = newGen(seed);
  const a = randomF32(gen, (g.batch - 1) * g.aBatchStride + g.m * g.k), b = randomF32(gen, (g.batch - 1) * g.bBatchStride + g.k * g.n);
  return { a, b, c0: randomF32(gen, (g.batch - 1) * g.cBatchStride + g.m * g.n) };
}

/** The emulated AVX-512 matmul vs the reference, within ≤ 1e-5·Σ|a||b| (the native tolerance), on the AVX-512 path. */
function checkMatmul(g: MatmulGeom, seed: number): void {
  const { a, b, c0 } = operands(g, seed);
  const got = c0.slice(), want = c0.slice(), scale = absOf(c0);
  emu.kernelPaths();
  runMatmul(a, b, got, g);
  if (g.k > 0) expect(emu.kernelPaths()).toContain("sgemm-avx512");
  refKernels.matmul(a, b, want, g);
  refKernels.matmul(absOf(a), absOf(b), scale, { ...g, accumulate: true });
  expectNear(got, want, g.accumulate ? scale : scale.map((v, i) => v - Math.abs(c0[i])));
}

/** The three float conv passes on the emulation addon vs the reference (the native tolerance); returns them. */
function checkFloatConv(g: Conv2dGeom, seed: number): Float32Array[] {
  const gen = newGen(seed);
  const x = randomF32(gen, g.n * g.c * g.h * g.w), w = randomF32(gen, g.oc * (g.c / g.groups) * g.kh * g.kw);
  const dy = randomF32(gen, g.n * g.oc * g.oh * g.ow);
  const geom = Int32Array.of(g.n, g.c, g.h, g.w, g.oc, g.kh, g.kw, g.oh, g.ow, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.groups);
  const run = (len: number, f: (o: Float32Array) => void, r: (o: Float32Array) => void, s: (o: Float32Array) => void) => {
    const got = new Float32Array(len).fill(7), want = new Float32Array(len), scale = new Float32Array(len);
    f(got);
    r(want);
    s(scale);
    expectNear(got, want, scale);
    return got;
  };
  return [
    run(dy.length, (o) => emu.conv2d(x, w, o, geom), (o) => refKernels.conv2d(x, w, o, g), (o) => refKernels.conv2d(absOf(x), absOf(w), o, g)),
    run(x.length, (o) => emu.conv2dBackwardInput(dy, w, o, geom), (o) => refKernels.conv2dBackwardInput(dy, w, o, g),
      (o) => refKernels.conv2dBackwardInput(absOf(dy), absOf(w), o, g)),
    run(w.length, (o) => emu.conv2dBackwardWeight(x, dy, o, geom), (o) => refKernels.conv2dBackwardWeight(x, dy, o, g),
      (o) => refKernels.conv2dBackwardWeight(absOf(x), absOf(dy), o, g)),
  ];
}

const U8: Layer = { xType: "uint8", yType: "uint8", xZp: 3, yZp: 7, wZp: 0, perChannel: true, scale: 2e-3 };
const S8: Layer = { xType: "int8", yType: "int8", xZp: -5, yZp: 2, wZp: 0, perChannel: false, scale: 5e-3 };

/** Runs body, then asserts the kernel variants that ran include `want` and none of `not`. */
function ran(body: () => void, want: string, not: string[] = []): void {
  emu.kernelPaths();
  body();
  const paths = emu.kernelPaths();
  expect(paths, `paths ${paths.join(", ")}`).toContain(want);
  for (const p of not) expect(paths, `paths ${paths.join(", ")}`).not.toContain(p);
}

d("AVX-512 / VNNI kernels on the emulation addon (SIMDe)", () => {
  beforeAll(async () => {
    if (!GIVEN) {
      const r = spawnSync(process.execPath, [path.join(ROOT, "scripts/build-native.mjs"), "--emu512", "--strict", "--quiet"], { cwd: ROOT, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`the emulation build failed: ${r.stdout}${r.stderr}`);
    }
    emu = await loadNativeAddonFile(EMU);
    emu.setThreads(1);
  }, 600_000);

  it("reports the emulated VNNI level; setIsa only lowers it", () => {
    expect(emu.setIsa(99)).toBe("avx512-vnni (emulated)");
    expect(emu.info().isa).toBe("avx512-vnni (emulated)");
    expect(emu.setIsa(2)).toBe("avx512 (emulated)");
    expect(emu.setIsa(3)).toBe("avx512-vnni (emulated)");
    expect(emu.setIsa(1)).toBe("avx2-fma");
    expect(emu.setIsa(0)).toBe("scalar");
    expect(emu.setIsa(5)).toBe("avx512-vnni (emulated)");
  });

  for (const [isa, name] of [[3, "vnni"], [2, "avx512"]] as const) {
    it(`[${name}] matmul: odd and blocked shapes (m > MC, k > 2·KC, n > NC), transposes, batches, accumulate`, () => {
      emu.setIsa(isa);
      checkMatmul(mm(1, 1, 1, 1), 1);
      checkMatmul(mm(1, 7, 19, 5), 2);
      checkMatmul(mm(1, 37, 45, 29), 3);
      checkMatmul(mm(1, 130, 33, 600), 4);
      checkMatmul(mm(1, 5, 2100, 17), 5);
      checkMatmul(mm(1, 13, 21, 300, { transA: true }), 6);
      checkMatmul(mm(1, 13, 21, 300, { transB: true }), 7);
      checkMatmul(mm(1, 17, 23, 9, { transA: true, transB: true, accumulate: true }), 8);
      checkMatmul(mm(3, 9, 31, 40), 9);
      checkMatmul(mm(4, 6, 16, 8, { aBatchStride: 0 }), 10);
      checkMatmul(mm(2, 64, 157, 130, { transB: true, accumulate: true }), 11);
      checkMatmul(mm(1, 12, 32, 64), 12); // exactly one 12×32 tile
      checkMatmul(mm(1, 25, 65, 257), 13); // one past the tile and the k block
      checkMatmul(mm(1, 8, 8, 0), 14); // empty sum: C = 0
    });
  }

  it("sgemm with general strides (neither operand contiguous along a row or column), offsets, accumulate", () => {
    emu.setIsa(99);
    const gen = newGen(40);
    for (const [m, n, k, acc] of [[13, 37, 21, 0], [30, 70, 300, 1]] as const) {
      const [ars, acs, brs, bcs, ldc] = [2 * k + 1, 2, 3 * n + 2, 3, n + 5];
      const a = randomF32(gen, 3 + m * ars), b = randomF32(gen, 5 + k * brs), c = randomF32(gen, 2 + m * ldc);
      const want = c.slice(), scale = absOf(c);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let sum = 0, mag = 0;
          for (let p = 0; p < k; p++) {
            const t = a[3 + i * ars + p * acs] * b[5 + p * brs + j * bcs];
            sum += t;
            mag += Math.abs(t);
          }
          const at = 2 + i * ldc + j;
          want[at] = acc ? want[at] + sum : sum;
          scale[at] = acc ? scale[at] + mag : mag;
        }
      emu.kernelPaths();
      emu.sgemm(m, n, k, a, 3, ars, acs, b, 5, brs, bcs, c, 2, ldc, acc);
      expect(emu.kernelPaths()).toContain("sgemm-avx512");
      expectNear(c, want, scale);
    }
  });

  it("matmul: the fused epilogue equals the unfused product then bias + ReLU / clamp, bit for bit", () => {
    emu.setIsa(99);
    for (const [act, lo, hi] of [[1, 0, 0], [2, -0.5, 0.75]] as const) {
      const g = mm(2, 29, 50, 300);
      const { a, b } = operands(g, 20 + act);
      const bias = randomF32(newGen(30), g.n);
      const fused = new Float32Array(2 * g.m * g.n), plain = fused.slice();
      runMatmul(a, b, fused, g, { bias, act, lo, hi });
      runMatmul(a, b, plain, g);
      const want = plain.map((v, i) => {
        const s = Math.fround(v + bias[i % g.n]);
        return act === 1 ? (s > 0 ? s : 0) : s < Math.fround(lo) ? Math.fround(lo) : s > Math.fround(hi) ? Math.fround(hi) : s;
      });
      expectIdentical(fused, want, `epilogue act ${act}`);
    }
  });

  it("matmul: bitwise independent of 1–3 threads (batch, column and row splits)", () => {
    emu.setIsa(99);
    for (const g of [mm(8, 64, 64, 64), mm(1, 40, 1500, 200), mm(1, 1500, 40, 200, { transA: true })]) {
      const { a, b } = operands(g, 15);
      const outs = [1, 2, 3].map((t) => {
        emu.setThreads(t);
        const c = new Float32Array(g.batch * g.m * g.n);
        runMatmul(a, b, c, g);
        return c;
      });
      expectIdentical(outs[1], outs[0], "2 threads vs 1");
      expectIdentical(outs[2], outs[0], "3 threads vs 1");
    }
    emu.setThreads(1);
  });

  it("float conv passes through the AVX-512 GEMM (im2col, col2im, dWᵀ): odd geometries, groups, 1–3 threads bitwise", () => {
    emu.setIsa(99);
    const specs: ConvSpec[] = [
      { n: 3, c: 12, h: 5, w: 7, oc: 10, k: [1, 1] },
      { n: 2, c: 4, h: 7, w: 7, oc: 3, k: [1, 1], stride: [2, 2] },
      { n: 2, c: 3, h: 13, w: 17, oc: 4, k: [3, 3], stride: [3, 2], pad: [2, 1], dil: [2, 2] },
      { n: 2, c: 6, h: 9, w: 7, oc: 9, k: [3, 3], pad: [1, 1], groups: 3 },
      { n: 1, c: 40, h: 9, w: 11, oc: 37, k: [3, 3], stride: [2, 2], pad: [1, 1] },
    ];
    specs.forEach((spec, i) => ran(() => checkFloatConv(geomOf(spec), 50 + i), "sgemm-avx512"));
    const g = geomOf(specs[4]);
    const one = checkFloatConv(g, 60);
    emu.setThreads(3);
    const three = checkFloatConv(g, 60);
    emu.setThreads(1);
    one.forEach((o, i) => expectIdentical(three[i], o, `pass ${i}: 3 threads vs 1`));
  });

  it("[vnni] int8 conv on vpdpbusd: the full uint8 range, int8 inputs (+128 shift), extremes, pool, odd tiles", () => {
    emu.setIsa(99);
    const v = (f: () => void) => ran(f, "conv8-vnni", ["igemm-vnni", "conv8-avx2"]);
    v(() => checkConv(emu, 1, 28, 28, 16, [3, 3], 3, { padding: [1, 1] }, U8));
    v(() => checkConv(emu, 16, 14, 14, 32, [3, 3], 2, { padding: [1, 1] }, { ...S8, lo: 2 }));
    v(() => checkConv(emu, 5, 11, 9, 7, [3, 2], 2, { stride: [2, 1], padding: [1, 0] }, { ...U8, xType: "int8", xZp: 0 }));
    v(() => checkConv(emu, 3, 13, 17, 6, [3, 3], 1, { stride: [3, 2], padding: [2, 1], dilation: [2, 2] }, { ...S8, yType: "uint8", yZp: 128 }));
    v(() => checkConv(emu, 64, 8, 8, 64, [3, 3], 1, { stride: [2, 2], padding: [1, 1] }, { ...U8, xZp: 200 }));
    v(() => checkConv(emu, 3, 9, 62, 8, [3, 3], 2, { padding: [1, 1] }, { ...S8, perChannel: true })); // wide rows
    v(() => checkConv(emu, 9, 7, 7, 20, [3, 3], 1, { padding: [1, 1] }, U8)); // 49 pixels: a lone last panel
    v(() => checkConv(emu, 64, 10, 10, 16, [3, 3], 1, { padding: [1, 1] }, { ...S8, xZp: 9 })); // K = 576: two k blocks of 128 quads on 32-column tiles
    v(() => checkConv(emu, 3, 30, 29, 8, [7, 7], 2, { stride: [2, 2], padding: [3, 3] }, { ...U8, xZp: 255 })); // the stem, padding 255
    // every product at its extreme (255·(−128) and (−128 + 128)·127 …), zero points at the ends
    v(() => checkConv(emu, 32, 6, 6, 8, [3, 3], 2, { padding: [1, 1] }, { ...U8, extreme: true, xZp: 0, scale: 0.5 }));
    v(() => checkConv(emu, 8, 6, 6, 8, [3, 3], 2, { padding: [1, 1] }, { ...S8, extreme: true, xZp: 127, scale: 64 }));
    v(() => checkConv(emu, 8, 6, 6, 8, [3, 3], 2, { padding: [1, 1] }, { ...S8, extreme: true, xZp: -128, scale: 1e-3 }));
    v(() => checkConv(emu, 4, 10, 64, 6, [3, 3], 1, { padding: [1, 1] }, { ...U8, xZp: 5 }, true)); // fused pool, wide
    v(() => checkConv(emu, 16, 14, 14, 32, [3, 3], 3, { padding: [1, 1] }, { ...S8, lo: 2 }, true));
    v(() => checkConv(emu, 6, 7, 9, 5, [3, 3], 2, { padding: [1, 1] }, { ...U8, wZp: -3, wRange: 100, perChannel: false })); // w − wZp fits int8
  });

  it("[vnni] int8 linear and convs whose weights do not fit int8 on vpdpwssd (int16 pairs)", () => {
    emu.setIsa(99);
    const v = (f: () => void) => ran(f, "igemm-vnni", ["conv8-vnni"]);
    v(() => checkConv(emu, 6, 7, 9, 5, [3, 3], 2, { padding: [1, 1] }, { ...U8, wZp: -3, perChannel: false }));
    v(() => checkConv(emu, 8, 6, 6, 8, [3, 3], 2, { padding: [1, 1] }, { ...S8, wZp: 5, extreme: true, scale: 0.5 }));
    v(() => checkLinear(emu, 37, 157, 33, U8));
    v(() => checkLinear(emu, 64, 1568, 128, { ...S8, perChannel: true }));
    v(() => checkLinear(emu, 5, 300, 9, { ...S8, extreme: true, xZp: -128, scale: 40 }));
    v(() => checkLinear(emu, 256, 300, 10, { ...U8, yType: "int8", yZp: -3 }));
    v(() => checkIgemmBench(emu, 20, 32, 10));
    v(() => checkIgemmBench(emu, 7, 48, 33));
  });

  it("[avx512] without VNNI: int16 pairs on AVX-512BW vpmaddwd; 7-bit uint8 convs stay on AVX2's u8 × s8 kernel", () => {
    emu.setIsa(2);
    const bw = (f: () => void) => ran(f, "igemm-avx512bw", ["igemm-vnni", "conv8-vnni"]);
    bw(() => checkConv(emu, 1, 28, 28, 16, [3, 3], 3, { padding: [1, 1] }, U8));
    bw(() => checkConv(emu, 16, 14, 14, 32, [3, 3], 2, { padding: [1, 1] }, { ...S8, lo: 2 }, true));
    bw(() => checkConv(emu, 8, 6, 6, 8, [3, 3], 2, { padding: [1, 1] }, { ...U8, extreme: true, xZp: 255, scale: 0.5 }));
    bw(() => checkLinear(emu, 37, 157, 33, U8));
    bw(() => checkLinear(emu, 5, 300, 9, { ...S8, extreme: true, xZp: -128, scale: 40 }));
    bw(() => checkIgemmBench(emu, 7, 48, 33));
    ran(() => checkConv(emu, 16, 12, 60, 10, [3, 3], 1, { padding: [1, 1] }, { ...U8, bits7: true }), "conv8-avx2", ["conv8-vnni"]);
  });

  it("[vnni] int8: images split, one image split by pixels, linear rows split — 1–3 threads, identical to the reference", () => {
    emu.setIsa(99);
    for (const t of [1, 2, 3]) {
      emu.setThreads(t);
      ran(() => checkConv(emu, 16, 16, 16, 32, [3, 3], 4, { padding: [1, 1] }, U8), "conv8-vnni");
      ran(() => checkConv(emu, 32, 24, 24, 32, [3, 3], 1, { padding: [1, 1] }, S8), "conv8-vnni");
      ran(() => checkConv(emu, 16, 14, 14, 32, [3, 3], 1, { padding: [1, 1] }, U8, true), "conv8-vnni");
      ran(() => checkLinear(emu, 200, 512, 64, U8), "igemm-vnni");
    }
    emu.setThreads(1);
  });
});

describe("the native addon's ISA", () => {
  const flags = cpuFlags();
  const dd = realAddon && flags && process.arch === "x64" ? it : it.skip;
  dd("is the best level /proc/cpuinfo's flags allow (avx2+fma, avx512f/bw/dq/vl, avx512_vnni)", () => {
    const f = flags!;
    const want = !(f.has("avx2") && f.has("fma")) ? "scalar"
      : !["avx512f", "avx512bw", "avx512dq", "avx512vl"].every((x) => f.has(x)) ? "avx2-fma"
        : f.has("avx512_vnni") ? "avx512-vnni" : "avx512";
    const before = realAddon!.info().isa;
    expect(realAddon!.setIsa(99)).toBe(want);
    realAddon!.setIsa(["scalar", "avx2-fma", "avx512", "avx512-vnni"].indexOf(before));
  });
});
