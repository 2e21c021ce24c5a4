/**
 * Native unary and binary (native/elementwise.c via src/backend/native/elementwise.ts) vs the
 * reference kernels, bit for bit, on the AVX2 and the portable path and at 1, 2 and 3 threads
 * (sizes above the 2^17-element threading floor, with a tail): every unary op native takes,
 * with −0, NaN, ±∞ and halfway values; every binary op with b full, one value, per channel
 * (leading, middle and trailing blocks of axes) and a Uint8Array mask on either side; in place,
 * and in wasm memory. Ops, dtypes and broadcasts native leaves alone still give the
 * reference's result (the fallback). Gradients summed over several paths (autograd's addInto,
 * which now calls the add kernel) equal the reference backend's at 1 and 2 threads.
 * Skipped where the addon is not built.
 */
import { expect, it } from "vitest";
import type { BinaryOp, UnaryOp } from "../../src/backend/kernels.js";
import { setNativeIsa } from "../../src/backend/native/index.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { tensor } from "../../src/tensor/creation.js";
import "../../src/index.js";
import { setNumThreads } from "../../src/backend/wasm/index.js";
import { expectIdentical, newGen, onBackend, randomF32, wasmCopy } from "./helpers.js";
import { nativeSuite } from "./native-helpers.js";

const { native, d, ISAS, threadsBefore } = nativeSuite();

const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 0.5, -0.5, 1.5, -2.5, 2.5, 1e-40, -3e38];
const N = (1 << 17) + 37; // several tasks, threaded, and a tail

/** Random values in [−4, 4) with the specials sprinkled in. */
function data(seed: number, n = N): Float32Array {
  const x = randomF32(newGen(seed), n, 4);
  for (let i = seed % 7; i < n; i += 53) x[i] = SPECIALS[(i / 53) % SPECIALS.length | 0];
  return x;
}

d("native unary vs reference (exact)", () => {
  const ops: UnaryOp[] = ["neg", "abs", "relu", "square", "sqrt", "reciprocal", "floor", "ceil", "round", "sign"];
  for (const isa of ISAS) {
    it(`[${isa}] ${ops.join(", ")} at 1–3 threads`, () => {
      setNativeIsa(isa);
      const x = data(1);
      for (const op of ops) {
        const want = new Float32Array(N);
        refKernels.unary(op, x, want);
        for (const t of [1, 2, 3]) {
          setNumThreads(t);
          const got = new Float32Array(N).fill(7);
          native!.unary(op, x, got);
          expectIdentical(got, want, `${op}, ${t} thread(s)`);
        }
      }
      setNumThreads(threadsBefore);
    });
  }

  it("in place and in wasm memory; exp (not native) and float64 still the reference's", () => {
    const x = data(2), want = new Float32Array(N);
    refKernels.unary("relu", x, want);
    const inPlace = wasmCopy(x);
    native!.unary("relu", inPlace, inPlace);
    expectIdentical(inPlace, want, "relu in place, wasm memory");
    for (const [op, arr] of [["exp", data(3)], ["relu", Float64Array.from(data(4))]] as const) {
      const w = new (arr.constructor as new (n: number) => Float32Array | Float64Array)(arr.length);
      const g = new (arr.constructor as new (n: number) => Float32Array | Float64Array)(arr.length);
      refKernels.unary(op, arr, w);
      native!.unary(op, arr, g);
      expectIdentical(g, w, `${op} ${arr.constructor.name}`);
    }
  });
});

d("native binary vs reference (exact)", () => {
  const ops: BinaryOp[] = ["add", "sub", "mul", "div", "maximum", "minimum"];
  // [a shape, b shape]: full, one value, per channel on leading / middle / trailing axes (and a block of two)
  const shapes: [string, number[], number[]][] = [
    ["full", [16, 8193], [16, 8193]],
    ["one value", [16, 8193], [1]],
    ["per channel [1,C,1,1]", [4, 32, 33, 33], [1, 32, 1, 1]],
    ["per channel [C,1,1,1] (BN-folded weights)", [64, 64, 3, 3 * 11], [64, 1, 1, 1]],
    ["per column [C]", [1031, 131], [131]],
    ["block of two axes [1,4,8,1]", [32, 4, 8, 129], [1, 4, 8, 1]],
  ];
  for (const isa of ISAS) {
    it(`[${isa}] ${ops.join(", ")}: ${shapes.map((s) => s[0]).join(", ")} at 1–3 threads`, () => {
      setNativeIsa(isa);
      for (const [name, as, bs] of shapes) {
        const n = as.reduce((p, v) => p * v, 1), m = bs.reduce((p, v) => p * v, 1);
        const a = data(5, n), b = data(6, m);
        for (const op of ops) {
          const want = new Float32Array(n);
          refKernels.binary(op, a, as, b, bs, want, as);
          for (const t of [1, 2, 3]) {
            setNumThreads(t);
            const got = new Float32Array(n).fill(7);
            native!.binary(op, a, as, b, bs, got, as);
            expectIdentical(got, want, `${op} ${name}, ${t} thread(s)`);
          }
        }
      }
      setNumThreads(threadsBefore);
    });
  }

  it("a Uint8Array mask on either side of mul (QAT's straight-through gradient), and of sub/div", () => {
    const g = data(7), mask = new Uint8Array(N);
    for (let i = 0; i < N; i++) mask[i] = (i * 7919) % 3 === 0 ? 0 : i % 11 === 0 ? 200 : 1;
    for (const [op, a, b] of [["mul", g, mask], ["mul", mask, g], ["sub", g, mask], ["div", g, mask]] as const) {
      const want = new Float32Array(N), got = new Float32Array(N);
      refKernels.binary(op, a, [N], b, [N], want, [N]);
      for (const t of [1, 2]) {
        setNumThreads(t);
        native!.binary(op, a, [N], b, [N], got, [N]);
        expectIdentical(got, want, `${op} ${a.constructor.name}·${b.constructor.name}, ${t} thread(s)`);
      }
    }
    setNumThreads(threadsBefore);
  });

  it("in place, in wasm memory, a broadcast left operand of add (swapped) — and the fallback for what native leaves alone", () => {
    const a = data(8), b = data(9), want = new Float32Array(N);
    refKernels.binary("add", a, [N], b, [N], want, [N]);
    const wa = wasmCopy(a);
    native!.binary("add", wa, [N], wasmCopy(b), [N], wa, [N]);
    expectIdentical(wa, want, "add in place, wasm memory");
    const bias = data(10, 131), rows = data(11, 1031 * 131);
    const w2 = new Float32Array(rows.length), g2 = new Float32Array(rows.length);
    refKernels.binary("add", bias, [131], rows, [1031, 131], w2, [1031, 131]);
    native!.binary("add", bias, [131], rows, [1031, 131], g2, [1031, 131]);
    expectIdentical(g2, w2, "bias + rows");
    // sub with a broadcast left operand, a column broadcast [C,1] on the right, pow, a comparison, float64: the reference's values
    const col = data(12, 1031);
    const cases: [BinaryOp, Float32Array | Float64Array, number[], Float32Array | Float64Array, number[], number[], "f32" | "u8" | "f64"][] = [
      ["sub", bias, [131], rows, [1031, 131], [1031, 131], "f32"],
      ["mul", rows, [1031, 131], col, [1031, 1], [1031, 131], "f32"],
      ["pow", rows, [1031, 131], bias, [131], [1031, 131], "f32"],
      ["gt", rows, [1031, 131], bias, [131], [1031, 131], "u8"],
      ["add", Float64Array.from(rows), [1031, 131], Float64Array.from(bias), [131], [1031, 131], "f64"],
    ];
    for (const [op, x, xs, y, ys, os, kind] of cases) {
      const make = (): Float32Array | Uint8Array | Float64Array => (kind === "u8" ? new Uint8Array(rows.length) : kind === "f64" ? new Float64Array(rows.length) : new Float32Array(rows.length));
      const w = make(), g = make();
      refKernels.binary(op, x, xs, y, ys, w, os);
      native!.binary(op, x, xs, y, ys, g, os);
      expectIdentical(g, w, `${op} ${kind} fallback`);
    }
  });

  it("leaves a shifted view of the output's buffer to the fallback (element order matters there)", () => {
    const buf = data(13, N + 8);
    const want = buf.slice();
    refKernels.binary("add", want.subarray(0, N), [N], want.subarray(1, N + 1), [N], want.subarray(0, N), [N]);
    native!.binary("add", buf.subarray(0, N), [N], buf.subarray(1, N + 1), [N], buf.subarray(0, N), [N]);
    expectIdentical(buf, want, "overlapping views");
    expect(buf[0]).not.toBe(data(13, N + 8)[0]);
  });
});

d("gradients summed over several paths (autograd addInto → the add kernel)", () => {
  it("x used four times: native at 1 and 2 threads equals the reference backend bit for bit", () => {
    const x0 = data(14), w = data(15);
    const grad = (): Float32Array => {
      const x = tensor(x0.slice(), { shape: [N], requiresGrad: true });
      const c = tensor(w.slice(), { shape: [N] });
      x.mul(c).add(x.mul(x)).add(x.relu()).sub(x.div(c)).sum().backward();
      return Float32Array.from(x.grad!.toFloat32Array());
    };
    const want = onBackend("ref", grad);
    for (const t of [1, 2]) {
      setNumThreads(t);
      expectIdentical(onBackend("native", grad), want, `${t} thread(s)`);
    }
    setNumThreads(threadsBefore);
  });
});

d("the native pool under back-to-back regions", () => {
  it("600 regions of varying size at 2 and 3 threads, JavaScript work between some: every result the one-thread result", () => {
    const big = randomF32(newGen(16), (1 << 18) + 5), other = randomF32(newGen(17), (1 << 18) + 5); // finite: !== compares them
    const sizes = [1 << 17, (1 << 17) + 16385, (1 << 18) + 5];
    const want = sizes.map((n) => {
      const w = new Float32Array(n);
      refKernels.binary("mul", big.subarray(0, n), [n], other.subarray(0, n), [n], w, [n]);
      return w;
    });
    for (const t of [2, 3]) {
      setNumThreads(t);
      let busy = 0;
      for (let r = 0; r < 300; r++) {
        const k = r % sizes.length, n = sizes[k];
        const got = new Float32Array(n);
        native!.binary("mul", big.subarray(0, n), [n], other.subarray(0, n), [n], got, [n]);
        if (r % 7 === 0) for (let i = 0; i < 20000 * (r % 3); i++) busy += Math.sqrt(i); // gaps long and short
        for (let i = 0; i < n; i++) if (got[i] !== want[k][i]) expectIdentical(got, want[k], `region ${r}, ${t} threads`);
      }
      expect(busy).toBeGreaterThan(0);
    }
    setNumThreads(threadsBefore);
  });
});
