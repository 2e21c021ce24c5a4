/**
 * The native u8 × s8 convolution's pairs of quads (native/int8-u8s8.c): two quads' 16-bit
 * vpmaddubsw sums added before widening, except in the pairs the packer marks (a lane's 4
 * weights with 127·max(Σ w⁺, Σ w⁻) > 32767), which run quad by quad. Checked bit for bit
 * against src/int8/kernels/qconv2d.ts on 7-bit uint8 activations (the path's domain), with
 * `kernelPaths()` asserting which variant ran: Gaussian weights (pairs), uniform ±128 weights
 * and planted heavy groups at the activation maximum 127 (marked pairs, where a 16-bit sum
 * would wrap), K up to 4800 in one block (several bitmap words) and beyond it in blocks of 128
 * quads, an odd last quad, 1–3 threads, and the portable
 * path (the int16 kernels) on the same inputs. Also the activation operand's packing
 * (native/int8-pack8.c): output rows of every width class (≤ 8, ≤ 16, ≤ 32, wider) at strides
 * 1, 2 and 3, chunks starting and ending inside a row, last panels of 1 or 2 columns (computed
 * column by column), and unpadded convs that read the input
 * itself up to its last byte. And the 32-output requantization step of native/int8.c (t = 31 − shift ≥ 33, in
 * 32-bit lanes) at its boundaries; the residual add's 128×128 table for 7-bit inputs (native/int8-elem.c) and
 * its fallback. Skipped where the addon is not built.
 */
import { afterAll, describe, expect, it } from "vitest";
import { addon } from "../../src/backend/native/addon.js";
import { nativeStatus, setNativeIsa } from "../../src/backend/native/index.js";
import { nativeInt8Available, packNativeWeights, qaddNative, qconv2dNative } from "../../src/backend/native/int8.js";
import { getNumThreads, setNumThreads } from "../../src/backend/wasm/index.js";
import { quantizeMultiplier, quantizeMultipliers } from "../../src/int8/fixed-point.js";
import { qadd, qrequantize } from "../../src/int8/kernels/elementwise.js";
import { qconv2d } from "../../src/int8/kernels/qconv2d.js";
import { expectIdentical, newGen } from "./helpers.js";

const threadsBefore = getNumThreads();
afterAll(() => {
  setNumThreads(threadsBefore);
  setNativeIsa("best");
});
if (!nativeInt8Available()) console.log(`native int8 pairs not tested: ${nativeStatus()}`);
const d = nativeInt8Available() ? describe : describe.skip;
const avx2 = nativeInt8Available() && addon!.info().isa !== "scalar";

const gen = newGen(11);
const randInt = (lo: number, hi: number) => lo + Math.floor(gen.uniform() * (hi - lo + 1));

/** Per output channel: Gaussian draws scaled so the largest |w| is 127 (per-channel symmetric weights). */
function gaussianWeights(oc: number, k: number): Int8Array {
  const w = new Int8Array(oc * k), z = new Float64Array(k);
  for (let o = 0; o < oc; o++) {
    let max = 0;
    for (let i = 0; i < k; i++) {
      z[i] = gen.normal();
      max = Math.max(max, Math.abs(z[i]));
    }
    for (let i = 0; i < k; i++) w[o * k + i] = Math.round((127 * z[i]) / max);
  }
  return w;
}

type Weights = "gaussian" | "uniform" | "planted";

/** Weights of one kind; "planted": Gaussian with some 8-weight runs (2 quads) of ±127 / −128 (unsafe pairs). */
function weightsOf(kind: Weights, oc: number, k: number): Int8Array {
  if (kind === "uniform") return Int8Array.from({ length: oc * k }, () => randInt(-128, 127));
  const w = gaussianWeights(oc, k);
  if (kind === "planted")
    for (let o = 0; o < oc; o += 3)
      for (let q = 8 * randInt(0, Math.floor(k / 8) - 1), t = 0; t < 8; t++) w[o * k + q + t] = o % 2 ? 127 : -128;
  return w;
}

interface Case {
  c: number; h: number; w: number; oc: number; k: number; stride: number; pad: number; n: number; xZp: number; extreme?: boolean;
  /** kernel height (default k: a k×k window) */
  kh?: number;
}

/** Conv on 7-bit uint8 input (all 127 and 0 when extreme) against the TypeScript kernel; returns kernelPaths(). */
function check(cs: Case, kind: Weights): string[] {
  const { c, h, w: wd, oc, k, stride, pad, n, xZp } = cs;
  const kh = cs.kh ?? k;
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1, ow = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const x = Uint8Array.from({ length: n * c * h * wd }, () => (cs.extreme ? (gen.uniform() < 0.8 ? 127 : 0) : randInt(0, 127)));
  const K = c * kh * k, wt = weightsOf(kind, oc, K);
  const bias = Int32Array.from({ length: oc }, () => randInt(-20000, 20000));
  const { multiplier, shift } = quantizeMultipliers(Array.from({ length: oc }, (_, i) => 2e-4 * (1 + (i % 7))));
  const want = qconv2d({
    x, xZp, xShape: [n, c, h, wd], w: wt, wShape: [oc, c, kh, k], bias, geometry: { stride: [stride, stride], padding: [pad, pad], dilation: [1, 1] },
    requant: { multiplier, shift }, yZp: 3, clampMin: 0, clampMax: 255, outDType: "uint8",
  });
  const y = new Uint8Array(want.data.length);
  addon!.kernelPaths();
  qconv2dNative(x, xZp, packNativeWeights(wt, oc, K), { n, c, h, w: wd, oc, kh, kw: k, oh, ow, sh: stride, sw: stride, ph: pad, pw: pad, dh: 1, dw: 1 },
    { bias, multiplier, shift, yZp: 3, lo: 0, hi: 255, ySigned: false }, y);
  expectIdentical(y, want.data, `qconv2d ${kind} ${JSON.stringify(cs)}`);
  return addon!.kernelPaths();
}

const RESNET: Case = { c: 64, h: 14, w: 14, oc: 24, k: 3, stride: 1, pad: 1, n: 1, xZp: 0 }; // K = 576: 144 quads, 2 k blocks
const BIG_K: Case = { c: 130, h: 6, w: 7, oc: 9, k: 3, stride: 2, pad: 1, n: 2, xZp: 5 }; // K = 1170: 293 quads (odd), 3 blocks
const SMALL: Case = { c: 3, h: 10, w: 9, oc: 5, k: 3, stride: 1, pad: 1, n: 1, xZp: 127 }; // K = 27: 7 quads, 3 pairs + 1
const LONG_K: Case = { c: 540, h: 5, w: 4, oc: 6, k: 3, stride: 1, pad: 1, n: 1, xZp: 2 }; // K = 4860: 1215 quads, k blocks of 128

d("native u8 × s8 conv: quads summed in pairs where 16 bits hold them, bit-identical", () => {
  it.skipIf(!avx2)("[avx2] Gaussian weights take the pairs; the results equal the TypeScript kernel", () => {
    setNativeIsa("best");
    for (const cs of [RESNET, BIG_K, SMALL, LONG_K, { ...RESNET, stride: 2, xZp: 9 }, { ...RESNET, k: 1, pad: 0, c: 200 }]) {
      expect(check(cs, "gaussian")).toContain("conv8-avx2-pairs");
    }
    expect(check({ ...RESNET, extreme: true }, "gaussian")).toContain("conv8-avx2-pairs");
  });

  it.skipIf(!avx2)("[avx2] uniform ±128 weights at activations 127: every pair is marked and runs quad by quad", () => {
    setNativeIsa("best");
    for (const cs of [RESNET, BIG_K, SMALL]) {
      const paths = check({ ...cs, extreme: true }, "uniform");
      expect(paths).toContain("conv8-avx2-marked");
      expect(paths).toContain("conv8-avx2");
    }
  });

  it.skipIf(!avx2)("[avx2] planted runs of ±127 / −128 (4·127·127 wraps int16): marked pairs beside summed ones", () => {
    setNativeIsa("best");
    for (const cs of [RESNET, BIG_K, LONG_K, { ...RESNET, oc: 7, xZp: 64 }]) {
      const paths = check({ ...cs, extreme: true }, "planted");
      expect(paths).toContain("conv8-avx2-pairs");
      expect(paths).toContain("conv8-avx2-marked");
    }
  });

  it("[scalar] the same inputs on the portable path (no u8 × s8 kernel runs)", () => {
    setNativeIsa("scalar");
    for (const kind of ["gaussian", "uniform", "planted"] as const) {
      const paths = check({ ...RESNET, extreme: true }, kind);
      expect(paths.filter((p) => p.startsWith("conv8"))).toEqual([]);
    }
    check(BIG_K, "planted");
    setNativeIsa("best");
  });

  it("threads 1–3: images and pixels split, identical results", () => {
    setNativeIsa("best");
    for (const t of [1, 2, 3]) {
      setNumThreads(t);
      check({ ...RESNET, n: 3 }, "planted");
      check({ ...RESNET, h: 20, w: 20 }, "gaussian");
      check({ ...BIG_K, n: 1 }, "uniform");
    }
    setNumThreads(threadsBefore);
  });
});

d("native u8 × s8 conv: the activation operand's packing (whole-step row copies), bit-identical", () => {
  it("rows of 1–40 bytes at strides 1, 2 and 3, padded and not, the last quad partial; 1–3 threads", () => {
    setNativeIsa("best");
    for (const t of [1, 2, 3]) {
      setNumThreads(t);
      for (const w of [1, 5, 7, 8, 9, 14, 16, 17, 28, 32, 33, 40]) {
        check({ c: 5, h: 9, w, oc: 6, k: Math.min(3, w), stride: 2, pad: 1, n: 1, xZp: 3 }, "gaussian"); // padded, stride 2
        check({ c: 3, h: 7, w, oc: 4, k: 1, stride: 2, pad: 0, n: 2, xZp: 0, extreme: true }, "gaussian"); // the input itself
        check({ c: 4, h: 8, w, oc: 5, k: 1, stride: 1, pad: 0, n: 1, xZp: 7, kh: 3 }, "planted"); // 3×1: unpadded, stride 1, not wide
      }
      check({ c: 6, h: 11, w: 40, oc: 5, k: 3, stride: 3, pad: 1, n: 1, xZp: 2 }, "gaussian"); // stride 3: element by element
      check({ c: 7, h: 13, w: 21, oc: 8, k: 1, stride: 3, pad: 0, n: 2, xZp: 0 }, "uniform");
    }
    setNumThreads(threadsBefore);
  });

  it("chunks that start and end inside an output row (one image split into 16-pixel tiles by the column-panel bound)", () => {
    setNativeIsa("best");
    for (const t of [1, 2, 3]) {
      setNumThreads(t);
      check({ c: 128, h: 30, w: 30, oc: 16, k: 3, stride: 1, pad: 1, n: 1, xZp: 4 }, "gaussian"); // K = 1152: 28×28 in two chunks
      check({ c: 64, h: 28, w: 28, oc: 8, k: 3, stride: 2, pad: 1, n: 1, xZp: 0, extreme: true }, "planted");
      check({ c: 256, h: 14, w: 14, oc: 12, k: 3, stride: 1, pad: 1, n: 2, xZp: 1 }, "gaussian"); // ResNet layer 3's 14-wide rows
      check({ c: 512, h: 7, w: 7, oc: 12, k: 3, stride: 1, pad: 1, n: 1, xZp: 0 }, "gaussian"); // layer 4: 7-wide rows, 49 pixels
      // a panel's last 1 or 2 columns run per column: 17, 18, 1 and 2 pixels, 7 quads (odd), uniform weights
      for (const [h, w] of [[1, 17], [3, 6], [1, 1], [2, 1]]) {
        check({ c: 40, h, w, oc: 9, k: 1, stride: 1, pad: 0, n: 1, xZp: 6, extreme: true }, "planted");
        check({ c: 3, h: h + 2, w: w + 2, oc: 5, k: 3, stride: 1, pad: 0, n: 2, xZp: 0 }, "uniform");
      }
      check({ ...LONG_K, h: 1, w: 17 }, "planted"); // a last column over k blocks of 128 quads (accumulated)
      check({ ...LONG_K, c: 400, h: 2, w: 9 }, "gaussian"); // K = 3600 in one block, 18 pixels: 2 last columns
    }
    setNumThreads(threadsBefore);
  });
});

d("native int8 requantization in 32-bit lanes (shift ≤ −2), bit-identical", () => {
  it("shifts −1 to −31, M0 up to 2^31 − 1, biases near the accumulator bound, both dtypes, narrow clamps, 1–2 threads", () => {
    for (const t of [1, 2]) {
      setNumThreads(t);
      for (const isa of ["best", "scalar"] as const) {
        setNativeIsa(isa);
        const shifts = [-1, -2, -3, -8, -15, -20, -30, -31];
        for (const ySigned of [false, true]) {
          const oc = shifts.length * 2, c = 9, h = 11, w = 13, n = oc * h * w; // 1×1: one row of 143 per channel (4 steps + 15)
          const x = Uint8Array.from({ length: c * h * w }, () => randInt(0, 255));
          const wt = Int8Array.from({ length: oc * c }, () => randInt(-128, 127));
          const multiplier = Int32Array.from({ length: oc }, (_, i) => (i % 2 ? 2147483647 : randInt(1 << 30, 2147483647)));
          const shift = Int32Array.from({ length: oc }, (_, i) => shifts[i >> 1]);
          const bias = Int32Array.from({ length: oc }, (_, i) => (i % 3 === 0 ? randInt(-(2 ** 30), 2 ** 30) : randInt(-2000, 2000)));
          const [lo, hi, yZp] = ySigned ? [-100, 90, -7] : [3, 250, 128];
          const want = qconv2d({
            x, xZp: 131, xShape: [1, c, h, w], w: wt, wShape: [oc, c, 1, 1], bias, geometry: { stride: [1, 1], padding: [0, 0], dilation: [1, 1] },
            requant: { multiplier, shift }, yZp, clampMin: lo, clampMax: hi, outDType: ySigned ? "int8" : "uint8",
          });
          const y = ySigned ? new Int8Array(n) : new Uint8Array(n);
          qconv2dNative(x, 131, packNativeWeights(wt, oc, c), { n: 1, c, h, w, oc, kh: 1, kw: 1, oh: h, ow: w, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1 },
            { bias, multiplier, shift, yZp, lo, hi, ySigned }, y);
          expectIdentical(y, want.data, `requantization ${isa} ${ySigned ? "int8" : "uint8"}`);
          expect(new Set(y).size).toBeGreaterThan(20); // not all clamped
        }
      }
    }
    setNumThreads(threadsBefore);
    setNativeIsa("best");
  });
});

d("native int8 add: 7-bit inputs through one 128×128 table, bit-identical", () => {
  const m = (r: number): [number, number] => { const q = quantizeMultiplier(r); return [q.multiplier, q.shift]; };
  /** a + b (TFLite's add, left shift 20) then optionally the next requantization, native against the TypeScript kernels. */
  function checkAdd(n: number, t: { a: "uint8" | "int8"; y: "uint8" | "int8"; post: boolean; extreme?: boolean; over?: boolean }): void {
    const byte = () => (t.extreme ? (gen.uniform() < 0.5 ? 0 : 127) : randInt(0, 127));
    const mk = () => (t.a === "uint8" ? Uint8Array.from({ length: n }, byte) : Int8Array.from({ length: n }, byte));
    const a = mk(), b = mk();
    if (t.over) a[randInt(0, n - 1)] = t.a === "uint8" ? 200 : -3; // a byte ≥ 128: the per-element tables
    const [yLo, yHi] = t.y === "uint8" ? [0, 255] : [-128, 127];
    const ma = m(0.4), mb = m(0.5), mo = m(1 / (2 ** 20 * 0.37)), mp = m(1.7);
    const sum = qadd({
      a, aZp: 9, b, bZp: 40, aMultiplier: { multiplier: ma[0], shift: ma[1] }, bMultiplier: { multiplier: mb[0], shift: mb[1] },
      outMultiplier: { multiplier: mo[0], shift: mo[1] }, outZp: t.y === "uint8" ? 60 : -20, outDType: t.y, leftShift: 20, clampMin: yLo, clampMax: yHi,
    }).data;
    const want = t.post
      ? qrequantize({ x: sum, xZp: t.y === "uint8" ? 60 : -20, multiplier: { multiplier: mp[0], shift: mp[1] }, yZp: 3, outDType: "uint8", clampMin: 3, clampMax: 127 }).data
      : sum;
    const y = t.post || t.y === "uint8" ? new Uint8Array(n) : new Int8Array(n);
    qaddNative(a, 9, b, 40, ma, mb, 20, { m0: mo[0], shift: mo[1], yZp: t.y === "uint8" ? 60 : -20, lo: yLo, hi: yHi }, t.y === "int8",
      t.post ? { m0: mp[0], shift: mp[1], yZp: 3, lo: 3, hi: 127, xZp: t.y === "uint8" ? 60 : -20 } : null, y);
    expectIdentical(y, want, `add ${n} ${JSON.stringify(t)}`);
  }

  it("sizes at and above the table's threshold, with and without the next requantization, both dtypes, a byte ≥ 128, 1–3 threads", () => {
    for (const isa of ["best", "scalar"] as const) {
      setNativeIsa(isa);
      for (const th of [1, 2, 3]) {
        setNumThreads(th);
        for (const n of [8191, 8192, 20011, 200704]) {
          checkAdd(n, { a: "uint8", y: "uint8", post: true });
          checkAdd(n, { a: "uint8", y: "int8", post: false, extreme: true });
          checkAdd(n, { a: "int8", y: "uint8", post: false });
          checkAdd(n, { a: "uint8", y: "uint8", post: true, over: true });
          checkAdd(n, { a: "int8", y: "int8", post: true, over: true });
        }
      }
    }
    setNumThreads(threadsBefore);
    setNativeIsa("best");
  });
});

