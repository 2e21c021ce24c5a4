/**
 * The fused conv/matmul epilogue (Kernels.epilogue: bias, then ReLU or clamp) on every
 * backend: the fused kernel equals the same backend's unfused chain (the product, then the
 * unit-scale channel affine that adds the bias, then the unary relu / clamp kernel) bit for
 * bit, including −0, NaN and ±∞; the ops conv2dAct / linearAct equal relu(conv2d(…)) /
 * hardtanh(linear(…)) in values and every gradient, bit for bit; maskMul (the activations'
 * gradient in one pass) equals the comparison and multiply kernels, and relu / hardtanh
 * gradients equal those formulas; and each fast backend's fused result is within the usual
 * tolerance of the reference's.
 */
import { describe, expect, it } from "vitest";
import { backward } from "../../src/autograd/backward.js";
import { kernels } from "../../src/backend/index.js";
import type { Conv2dGeom, Epilogue, MatmulGeom } from "../../src/backend/kernels.js";
import { conv2d, conv2dAct } from "../../src/ops/conv.js";
import type { FusedAct } from "../../src/ops/fused-act.js";
import { linear, linearAct } from "../../src/ops/matmul.js";
import { hardtanh, relu } from "../../src/ops/unary.js";
import { gt, lt, mul, sum } from "../../src/ops/index.js";
import { randn, tensor } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { backendsUnderTest, describeEachBackend, expectIdentical, expectNear, newGen, onBackend, randomF32 } from "./helpers.js";

const ACTS: [string, Epilogue["act"], number, number][] = [["none", "none", 0, 0], ["relu", "relu", 0, 0], ["clamp [−0.5, 0.75]", "clamp", -0.5, 0.75]];

/** The unfused chain on the active backend: bias through the unit-scale channel affine, then relu / clamp. */
function unfused(y: Float32Array, outer: number, c: number, inner: number, epi: Epilogue): Float32Array {
  const k = kernels();
  let v = Float32Array.from(y);
  if (epi.bias) {
    const out = new Float32Array(v.length);
    k.channelAffine(v, new Float32Array(c).fill(1), epi.bias, out, outer, c, inner);
    v = out;
  }
  const out = new Float32Array(v.length);
  if (epi.act === "relu") k.unary("relu", v, out);
  else if (epi.act === "clamp") k.clamp(v, epi.lo, epi.hi, out);
  else return v;
  return out;
}

function convGeom(n: number, c: number, h: number, oc: number, k: number, groups = 1, pad = 1): Conv2dGeom {
  const o = h + 2 * pad - k + 1;
  return { n, c, h, w: h, oc, kh: k, kw: k, oh: o, ow: o, strideH: 1, strideW: 1, padH: pad, padW: pad, dilationH: 1, dilationW: 1, groups };
}

const CONVS: [string, Conv2dGeom][] = [
  ["3×3 (SmallCNN conv2)", convGeom(3, 16, 14, 32, 3)],
  ["1-channel input", convGeom(2, 1, 28, 16, 3)],
  ["groups 2", convGeom(2, 4, 9, 6, 3, 2)],
  ["depthwise", convGeom(2, 8, 10, 8, 3, 8)],
  ["pointwise", convGeom(2, 12, 7, 10, 1, 1, 0)],
  ["large (threads split the batch)", convGeom(8, 32, 16, 64, 3)],
];

const MATMULS: [string, MatmulGeom][] = [
  ["linear 64×10 (k 128)", { batch: 1, m: 64, n: 10, k: 128, aBatchStride: 0, bBatchStride: 0, cBatchStride: 640, transA: false, transB: true, accumulate: false }],
  ["column split (n ≥ m, threads)", { batch: 1, m: 40, n: 600, k: 200, aBatchStride: 0, bBatchStride: 0, cBatchStride: 24000, transA: false, transB: true, accumulate: false }],
  ["row split (m > n, threads)", { batch: 1, m: 600, n: 36, k: 200, aBatchStride: 0, bBatchStride: 0, cBatchStride: 21600, transA: false, transB: true, accumulate: false }],
  ["batched, broadcast B", { batch: 3, m: 5, n: 13, k: 7, aBatchStride: 35, bBatchStride: 0, cBatchStride: 65, transA: false, transB: false, accumulate: false }],
];

describeEachBackend("fused epilogue kernels", () => {
  for (const [aname, act, lo, hi] of ACTS) {
    for (const withBias of [true, false]) {
      if (act === "none" && !withBias) continue;
      const label = `${withBias ? "bias + " : ""}${aname}`;
      for (const [name, g] of CONVS) {
        it(`conv2d ${name}, ${label}: ≡ conv2d then the unfused ops`, () => {
          const gen = newGen(7);
          const x = randomF32(gen, g.n * g.c * g.h * g.w);
          const w = randomF32(gen, g.oc * (g.c / g.groups) * g.kh * g.kw, 0.3);
          const epi: Epilogue = { bias: withBias ? randomF32(gen, g.oc) : null, act, lo, hi };
          const P = g.oh * g.ow;
          const plain = new Float32Array(g.n * g.oc * P);
          kernels().conv2d(x, w, plain, g);
          const fused = new Float32Array(plain.length).fill(NaN);
          kernels().conv2d(x, w, fused, g, epi);
          expectIdentical(fused, unfused(plain, g.n, g.oc, P, epi), "conv2d + epilogue");
        });
      }
      for (const [name, g] of MATMULS) {
        it(`matmul ${name}, ${label}: ≡ matmul then the unfused ops`, () => {
          const gen = newGen(11);
          const a = randomF32(gen, g.batch * g.m * g.k);
          const b = randomF32(gen, (g.bBatchStride ? g.batch : 1) * g.k * g.n, 0.2);
          const epi: Epilogue = { bias: withBias ? randomF32(gen, g.n) : null, act, lo, hi };
          const plain = new Float32Array(g.batch * g.m * g.n);
          kernels().matmul(a, b, plain, g);
          const fused = new Float32Array(plain.length).fill(NaN);
          kernels().matmul(a, b, fused, g, epi);
          expectIdentical(fused, unfused(plain, g.batch * g.m, g.n, 1, epi), "matmul + epilogue");
        });
      }
    }
  }

  it("epilogue on special values (−0, NaN, ±∞, the clamp bounds) ≡ the unfused ops", () => {
    const special = [-0, 0, NaN, Infinity, -Infinity, -0.5, 0.75, 1e-40, -1e-40, 3, -3, 0.5];
    for (const [shape, c, inner] of [[[4, 3, 700], 3, 700], [[5, 300], 300, 1], [[2, 3, 5], 3, 5]] as const) {
      const n = shape.reduce((p, q) => p * q, 1);
      const y = new Float32Array(n).map((_, i) => special[i % special.length] * (i % 7 === 0 ? 1 : 1 + i / n));
      const outer = n / (c * inner);
      for (const [, act, lo, hi] of ACTS) {
        for (const bias of [null, new Float32Array(c).map((_, i) => [0, -0, 0.5, -1, NaN][i % 5])]) {
          if (act === "none" && !bias) continue;
          const epi: Epilogue = { bias, act, lo, hi };
          const fused = Float32Array.from(y);
          kernels().epilogue(fused, outer, c, inner, epi);
          expectIdentical(fused, unfused(y, outer, c, inner, epi), `epilogue ${act} ${bias ? "bias" : ""} [${shape.join(", ")}]`);
        }
      }
    }
  });
});

describeEachBackend("maskMul (relu / hardtanh gradient in one pass)", () => {
  const special = [-0, 0, NaN, Infinity, -Infinity, -0.5, 0.75, 6, 1e-40, -1e-40, 3, -3, 0.5, 7];
  const n = 3001;
  const y = new Float32Array(n).map((_, i) => special[i % special.length] * (i % 5 === 0 ? 1 : 1 + i / n));
  const g = new Float32Array(n).map((_, i) => [1.5, -2, -0, NaN, Infinity, -Infinity, 0.25][i % 7]);
  for (const [lo, hi] of [[0, Infinity], [-0.5, 0.75], [0, 6], [0.5, 0.5], [-Infinity, 3]] as const) {
    it(`(${lo}, ${hi}) ≡ g·(y > lo)[·(y < hi)] with the comparison and multiply kernels`, () => {
      const k = kernels();
      const gtMask = new Uint8Array(n);
      k.binary("gt", y, [n], new Float32Array([lo]), [], gtMask, [n]);
      let mask: Uint8Array = gtMask;
      if (hi !== Infinity) {
        const ltMask = new Uint8Array(n);
        k.binary("lt", y, [n], new Float32Array([hi]), [], ltMask, [n]);
        mask = new Uint8Array(n);
        k.binary("mul", gtMask, [n], ltMask, [n], mask, [n]);
      }
      const want = new Float32Array(n);
      k.binary("mul", g, [n], mask, [n], want, [n]);
      const got = new Float32Array(n).fill(NaN);
      k.maskMul(g, y, lo, hi, got);
      expectIdentical(got, want, "maskMul");
    });
  }
  it("bounds float32 cannot hold (0.3, −0.3, 0.4): the kernel compares with them as given (float64)", () => {
    const f = Math.fround;
    const yb = new Float32Array(n).map((_, i) => [f(0.3), f(-0.3), f(0.4), 0.3000000417232513, -0.2999999821186066, 0.39999997615814, 0, 1][i % 8]);
    for (const [lo, hi] of [[0.3, Infinity], [-0.3, 0.4]] as const) {
      const got = new Float32Array(n).fill(NaN);
      kernels().maskMul(g, yb, lo, hi, got);
      const want = g.map((v, i) => v * (yb[i] > lo && (hi === Infinity || yb[i] < hi) ? 1 : 0));
      expectIdentical(got, want, `maskMul (${lo}, ${hi})`);
    }
  });
  it("relu and hardtanh gradients (ops) ≡ the comparison-and-multiply formulas, +∞ and non-float32 bounds included", () => {
    const x = tensor(Float32Array.from(y).map((v, i) => (i % 11 === 0 ? Math.fround(-0.7) : i % 13 === 0 ? Math.fround(0.7) : v)), { shape: [n] }).requiresGrad_();
    const gt0 = tensor(Float32Array.from(g), { shape: [n] });
    const cases: [(t: Tensor) => Tensor, (t: Tensor) => Tensor][] = [
      [relu, (t) => gt(t, 0)],
      [(t) => hardtanh(t, -0.5, 0.75), (t) => mul(gt(t, -0.5), lt(t, 0.75))],
      [(t) => hardtanh(t, 0, Infinity), (t) => mul(gt(t, 0), lt(t, Infinity))],
      [(t) => hardtanh(t, -0.7, 0.7), (t) => mul(gt(t, -0.7), lt(t, 0.7))],
    ];
    for (const [f, maskOf] of cases) {
      x.grad = null;
      backward(sum(mul(f(x), gt0)));
      expectIdentical(x.grad!.data, mul(gt0, maskOf(x)).data, "gradient");
    }
  });
});

/** Output and every gradient of fn on seeded inputs (a weighted sum as the loss). */
function run(shapes: number[][], fn: (...xs: Tensor[]) => Tensor): Float32Array[] {
  manualSeed(5);
  const xs = shapes.map((s) => randn(s).requiresGrad_());
  const y = fn(...xs);
  backward(sum(mul(y, randn(y.shape))));
  return [y, ...xs.map((x) => x.grad!)].map((t) => Float32Array.from(t.data as Float32Array));
}

const FUSED_ACTS: [string, FusedAct, (t: Tensor) => Tensor][] = [
  ["relu", { kind: "relu" }, relu],
  ["relu6", { kind: "hardtanh", min: 0, max: 6 }, (t) => hardtanh(t, 0, 6)],
  ["hardtanh(−0.7, 0.7) (bounds float32 rounds inwards)", { kind: "hardtanh", min: -0.7, max: 0.7 }, (t) => hardtanh(t, -0.7, 0.7)],
];

const OP_CASES: [string, number[][], (act: FusedAct | null) => (...xs: Tensor[]) => Tensor][] = [
  ["conv2d 3×3 p1 with bias", [[2, 3, 9, 9], [5, 3, 3, 3], [5]], (a) => (x, w, b) => conv2dAct(x, w, b, { padding: 1 }, a)],
  ["conv2d \"same\" (extra pad), no bias", [[2, 2, 8, 8], [4, 2, 2, 2]], (a) => (x, w) => conv2dAct(x, w, null, { padding: "same" }, a)],
  ["conv2d unbatched, stride 2, groups 2", [[4, 9, 9], [6, 2, 3, 3], [6]], (a) => (x, w, b) => conv2dAct(x, w, b, { stride: 2, groups: 2 }, a)],
  ["linear with bias", [[7, 12], [9, 12], [9]], (a) => (x, w, b) => linearAct(x, w, b, a)],
  ["linear 3-D input, no bias", [[2, 5, 12], [9, 12]], (a) => (x, w) => linearAct(x, w, null, a)],
];

describeEachBackend("conv2dAct / linearAct", () => {
  for (const [name, shapes, make] of OP_CASES) {
    for (const [aname, act, unfusedAct] of FUSED_ACTS) {
      it(`${name} + ${aname}: values and gradients ≡ the unfused ops`, () => {
        const base = make(null);
        const want = run(shapes, (...xs) => unfusedAct(base(...xs)));
        const got = run(shapes, make(act));
        want.forEach((w, i) => expectIdentical(got[i], w, i === 0 ? "output" : `gradient ${i - 1}`));
      });
    }
  }
  it("conv2d / linear with bias (epilogue) ≡ their results without bias plus the bias", () => {
    manualSeed(3);
    const x = randn([2, 3, 6, 6]);
    const w = randn([4, 3, 3, 3]);
    const b = randn([4]);
    const want = unfused(conv2d(x, w).data as Float32Array, 2, 4, 16, { bias: b.data as Float32Array, act: "none", lo: 0, hi: 0 });
    expectIdentical(conv2d(x, w, b).data, want, "conv2d bias");
    const xl = randn([6, 5]);
    const wl = randn([3, 5]);
    const bl = randn([3]);
    const wantL = unfused(linear(xl, wl).data as Float32Array, 6, 3, 1, { bias: bl.data as Float32Array, act: "none", lo: 0, hi: 0 });
    expectIdentical(linear(xl, wl, bl).data, wantL, "linear bias");
  });
  it("conv2dAct hardtanh(−0.7, 0.7) input gradient ≡ the unfused op's formula mul(g, gt(x, lo)·lt(x, hi)) on the pre-activation", () => {
    manualSeed(21);
    const x = randn([2, 3, 7, 7]).requiresGrad_();
    const w = randn([4, 3, 3, 3]);
    const gy = randn([2, 4, 7, 7]);
    const yAct = conv2dAct(x, w, null, { padding: 1 }, { kind: "hardtanh", min: -0.7, max: 0.7 });
    backward(sum(mul(yAct, gy)));
    const pre = conv2d(x.detach(), w, null, { padding: 1 });
    const gPre = mul(gy, mul(gt(pre, -0.7), lt(pre, 0.7)));
    const xx = x.detach().requiresGrad_();
    backward(sum(mul(conv2d(xx, w, null, { padding: 1 }), gPre)));
    expectIdentical(x.grad!.data, xx.grad!.data, "input gradient");
  });
  it("rejects a hardtanh with min > max", () => {
    expect(() => linearAct(randn([2, 3]), randn([4, 3]), null, { kind: "hardtanh", min: 1, max: 0 })).toThrow(/min ≤ max/);
  });
});

describe("fused ops on each fast backend vs the reference", () => {
  for (const backend of backendsUnderTest().filter((b) => b !== "ref")) {
    for (const [name, shapes, make] of OP_CASES) {
      it(`${name} + relu [${backend}] within tolerance of ref`, () => {
        const f = make({ kind: "relu" });
        const want = onBackend("ref", () => run(shapes, f));
        const got = onBackend(backend, () => run(shapes, f));
        want.forEach((w, i) => expectNear(got[i], w, w.map(Math.abs).map((v) => Math.max(v, 10)), 1e-5, 1e-5));
      });
    }
  }
});
