/**
 * Native copyStrided, reduce, softmax and maskMul (native/layout.c, softmax.c, elementwise.c via
 * src/backend/native/layout.ts) vs the reference kernels, on the AVX2 and the portable path and
 * at 1–3 threads: strided copies (permutes, broadcasts, slices, negative strides, 1-, 4- and 8-byte
 * elements) and reductions (leading, trailing, interleaved axes, NaN) must equal the reference bit
 * for bit; softmax and log-softmax within a few float32 ulps (exp in float32 instead of
 * float64), with the reference's NaN rows (NaN, +∞ or all −∞ inputs). Arrays inside wasm memory
 * and outside; out-of-range strides refused before any C runs. Skipped where the addon is not built.
 */
import { expect, it } from "vitest";
import { setNativeIsa } from "../../src/backend/native/index.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { setNumThreads } from "../../src/backend/wasm/index.js";
import { stridesOf } from "../../src/tensor/shape.js";
import { expectIdentical, expectNear, newGen, randomF32, wasmCopy } from "./helpers.js";
import { nativeSuite } from "./native-helpers.js";

const { native, d, ISAS, threadsBefore } = nativeSuite();

type Ctor = new (n: number) => Float32Array | Float64Array | Int32Array | Uint8Array | Int8Array;

/** The permutation `perm` of a tensor of `shape` as a strided copy (what ops/layout.ts's permute does). */
function permuteCase(shape: number[], perm: number[]): { srcStrides: number[]; outShape: number[] } {
  const st = stridesOf(shape);
  return { srcStrides: perm.map((p) => st[p]), outShape: perm.map((p) => shape[p]) };
}

d("native copyStrided vs reference (exact)", () => {
  const cases: [string, number[], number[]][] = [
    ["ViT head split [64,17,4,16] → [64,4,17,16]", [64, 17, 4, 16], [0, 2, 1, 3]],
    ["2-D transpose 37×53", [37, 53], [1, 0]],
    ["[3,5,7,11] → [3,11,7,5]", [3, 5, 7, 11], [0, 3, 2, 1]],
    ["contiguous (merged into one memcpy)", [8, 9, 10], [0, 1, 2]],
  ];
  for (const [name, shape, perm] of cases) {
    it(`${name}, every element size (1, 4, 8 bytes)`, () => {
      const { srcStrides, outShape } = permuteCase(shape, perm);
      const n = shape.reduce((a, b) => a * b, 1);
      for (const C of [Float32Array, Float64Array, Int32Array, Uint8Array, Int8Array] as Ctor[]) {
        const src = new C(n);
        for (let i = 0; i < n; i++) src[i] = (i * 7919) % 251 - 120;
        const got = new C(n), want = new C(n);
        native!.copyStrided(src, 0, srcStrides, got, 0, stridesOf(outShape), outShape);
        refKernels.copyStrided(src, 0, srcStrides, want, 0, stridesOf(outShape), outShape);
        expectIdentical(got, want, C.name);
      }
    });
  }

  it("broadcast (stride 0), offsets into a larger destination, negative strides, wasm memory", () => {
    const gen = newGen(3);
    const src = randomF32(gen, 64 * 5);
    for (const place of [(a: Float32Array) => a, wasmCopy]) {
      // broadcast [1,64] → [40,64] written at an offset into a bigger buffer with a row pitch of 70
      const got = place(new Float32Array(40 * 70 + 9)), want = new Float32Array(40 * 70 + 9);
      native!.copyStrided(place(src), 3, [0, 1], got, 9, [70, 1], [40, 64]);
      refKernels.copyStrided(src, 3, [0, 1], want, 9, [70, 1], [40, 64]);
      expectIdentical(got, want, "broadcast");
      // reversed rows and columns of a [5,64] block
      const rev = place(new Float32Array(320)), revWant = new Float32Array(320);
      native!.copyStrided(place(src), 319, [-64, -1], rev, 0, [64, 1], [5, 64]);
      refKernels.copyStrided(src, 319, [-64, -1], revWant, 0, [64, 1], [5, 64]);
      expectIdentical(rev, revWant, "negative strides");
    }
  });

  it("refuses indices outside either array before any C runs", () => {
    const src = new Float32Array(1000), dst = new Float32Array(1000);
    expect(() => native!.copyStrided(src, 1, [1], dst, 0, [1], [1000])).toThrow(/native copyStrided: source indices 1..1000 outside its 1000 elements/);
    expect(() => native!.copyStrided(src, 0, [1], dst, 0, [2], [600])).toThrow(/native copyStrided: destination/);
    expect(() => native!.copyStrided(src, 10, [-1], dst, 0, [1], [300])).toThrow(/source indices -289..10/);
  });
});

d("native reduce vs reference (exact)", () => {
  const cases: [string, number[], number[]][] = [
    ["bias gradient: [64,17,64] over (0,1)", [64, 17, 64], [0, 1]],
    ["trailing axis [100,37]", [100, 37], [1]],
    ["interleaved [6,5,7,4] over (0,2)", [6, 5, 7, 4], [0, 2]],
    ["interleaved [6,5,7,4] over (1,3)", [6, 5, 7, 4], [1, 3]],
    ["all axes [9,31]", [9, 31], [0, 1]],
    ["size-1 axes [1,300,1] over (0,1)", [1, 300, 1], [0, 1]],
  ];
  for (const isa of ISAS) {
    for (const [name, shape, axes] of cases) {
      it(`[${isa}] ${name}: sum, max, min (with NaN and ties)`, () => {
        setNativeIsa(isa);
        const gen = newGen(shape.length * 31 + axes[0]);
        const n = shape.reduce((a, b) => a * b, 1);
        const x = randomF32(gen, n).map((v) => Math.round(v * 8) / 8 + 1e-3 * v);
        const kept = shape.filter((_, i) => !axes.includes(i)).reduce((a, b) => a * b, 1);
        for (const withNaN of [false, true]) {
          if (withNaN) for (let i = 11; i < n; i += 173) x[i] = NaN;
          for (const op of ["sum", "max", "min"] as const) {
            for (const place of [(a: Float32Array) => a, wasmCopy]) {
              const got = place(new Float32Array(kept).fill(5)), want = new Float32Array(kept);
              native!.reduce(op, place(x), shape, axes, got);
              refKernels.reduce(op, x, shape, axes, want);
              expectIdentical(got, want, `${op}${withNaN ? " with NaN" : ""}`);
            }
          }
        }
      });
    }
  }
});

d("native softmax vs reference", () => {
  for (const isa of ISAS) {
    it(`[${isa}] softmax and log-softmax: attention rows [64·4·17, 17], wide rows, odd tails, 1–3 threads`, () => {
      setNativeIsa(isa);
      const gen = newGen(5);
      for (const [rows, cols] of [[64 * 4 * 17, 17], [30, 1000], [513, 7], [9, 129]]) {
        const x = randomF32(gen, rows * cols, 4);
        x[3] = -Infinity; // one −∞ among finite values gives exp 0
        x[cols + 1] = -95; // below float32 exp's range: exp underflows to 0 or a denormal
        for (const log of [false, true]) {
          const want = new Float32Array(rows * cols);
          refKernels.softmax(x, want, rows, cols, log);
          const outs = [1, 2, 3].map((t) => {
            setNumThreads(t);
            const got = new Float32Array(rows * cols);
            native!.softmax(x, got, rows, cols, log);
            return got;
          });
          setNumThreads(threadsBefore);
          // 4 float32 ulps of each value, and of the row's log-sum-exp for log-softmax
          expectNear(outs[0], want, log ? want.map((v) => Math.abs(v) + 8) : undefined, 5e-7, 1e-30);
          expectIdentical(outs[1], outs[0], "2 threads vs 1");
          expectIdentical(outs[2], outs[0], "3 threads vs 1");
        }
      }
    });

    it(`[${isa}] rows with NaN, +∞ or only −∞ are NaN, as in the reference`, () => {
      setNativeIsa(isa);
      const cols = 300;
      const x = randomF32(newGen(6), 4 * cols);
      x[5] = NaN;
      x[cols + 7] = Infinity;
      x.fill(-Infinity, 2 * cols, 3 * cols);
      for (const log of [false, true]) {
        const got = new Float32Array(4 * cols), want = new Float32Array(4 * cols);
        native!.softmax(x, got, 4, cols, log);
        refKernels.softmax(x, want, 4, cols, log);
        expect(want.subarray(0, 3 * cols).every(Number.isNaN)).toBe(true);
        expectNear(got, want, log ? want.map((v) => Math.abs(v) + 8) : undefined, 5e-7, 1e-30);
      }
    });
  }
});

d("native maskMul vs reference (exact)", () => {
  for (const isa of ISAS) {
    it(`[${isa}] relu and hardtanh bounds (float32 and not), −0, NaN, ±∞ in g and y, 1 and 3 threads`, () => {
      setNativeIsa(isa);
      const gen = newGen(9);
      const n = (1 << 17) + 37; // several tasks, and a tail
      const g = randomF32(gen, n), y = randomF32(gen, n);
      const specials = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 6];
      for (let i = 0; i < n; i += 97) y[i] = specials[(i / 97) % specials.length];
      for (let i = 5; i < n; i += 89) g[i] = specials[(i / 89 + 3) % specials.length];
      for (const [lo, hi] of [[0, Infinity], [-1, 1], [0, 6], [0.1, 6], [-Infinity, Infinity]]) {
        const want = new Float32Array(n);
        refKernels.maskMul(g, y, lo, hi, want);
        for (const t of [1, 3]) {
          setNumThreads(t);
          const got = new Float32Array(n).fill(7);
          native!.maskMul(g, y, lo, hi, got);
          expectIdentical(got, want, `(${lo}, ${hi}), ${t} thread(s)`);
        }
        setNumThreads(threadsBefore);
      }
    });
  }
});
