/**
 * Outputs allocated without zero-fill (ops/util.ts `uninit`, dtype.ts allocArrayUninit): every
 * op switched to them must write each element of its output and gradients on every backend.
 * On the backends whose tensors live in wasm memory (wasm, native) each case runs twice after
 * its output/gradient blocks were filled with a poison value and released to the allocator
 * (NaN, then 0), so the second run's outputs reuse those blocks; both runs must agree bit for
 * bit (an element a kernel skipped would show the poison) and match the reference within
 * tolerance. The first test checks that the poison does reach an uninitialised allocation.
 */
import { describe, expect, it } from "vitest";
import { backward } from "../../src/autograd/backward.js";
import { getBackend, listBackends, setBackend } from "../../src/backend/index.js";
import { releaseArray } from "../../src/backend/wasm/index.js";
import { conv2dAct } from "../../src/ops/conv.js";
import * as ops from "../../src/ops/index.js";
import { fakeQuantizePerChannel, fakeQuantizePerTensor } from "../../src/quant/fake-quantize.js";
import { type AnyArray, allocArray, allocArrayUninit } from "../../src/tensor/dtype.js";
import { randn } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { expectIdentical, expectNear } from "../backend/helpers.js";

type Case = [string, number[][], (...xs: Tensor[]) => Tensor];

const CASES: Case[] = [
  ["conv2d + bias", [[2, 3, 9, 9], [8, 3, 3, 3], [8]], (x, w, b) => ops.conv2d(x, w, b, { padding: 1 })],
  ["conv2d + relu (fused)", [[2, 3, 9, 9], [8, 3, 3, 3], [8]], (x, w, b) => conv2dAct(x, w, b, { padding: 1 }, { kind: "relu" })],
  ["linear + bias", [[16, 24], [20, 24], [20]], (x, w, b) => ops.linear(x, w, b)],
  ["batched matmul", [[3, 10, 12], [3, 12, 9]], (a, b) => ops.matmul(a, b)],
  ["unary: relu, exp, neg, sqrt(abs)", [[8, 40]], (x) => ops.add(ops.add(ops.relu(x), ops.exp(x)), ops.sqrt(ops.abs(ops.neg(x))))],
  ["clamp, hardtanh", [[8, 40]], (x) => ops.add(ops.clamp(x, -0.5, 0.5), ops.hardtanh(x, -0.2, 0.3))],
  ["binary with broadcasting, comparison, where", [[8, 40], [40]], (a, b) => ops.where(ops.gt(a, b), ops.mul(a, b), ops.sub(a, b))],
  ["max pool", [[2, 4, 12, 12]], (x) => ops.maxPool2d(x, 2)],
  ["avg pool, padded", [[2, 4, 12, 12]], (x) => ops.avgPool2d(x, 3, { stride: 2, padding: 1 })],
  ["adaptive avg pool", [[2, 4, 12, 12]], (x) => ops.adaptiveAvgPool2d(x, [5, 4])],
  ["batch norm (batch statistics)", [[4, 6, 5, 5], [6], [6]], (x, g, b) => ops.batchNorm(x, null, null, g, b, { training: true })],
  ["channel affine", [[4, 6, 5, 5], [6], [6]], (x, s, b) => ops.channelAffine(x, s, b)],
  ["softmax, log-softmax", [[16, 30]], (x) => ops.add(ops.softmax(x), ops.logSoftmax(x))],
  ["gelu (erf and tanh forms)", [[16, 80]], (x) => ops.add(ops.gelu(x), ops.gelu(x, "tanh"))],
  ["layer norm (affine)", [[32, 40], [40], [40]], (x, w, b) => ops.layerNorm(x, 40, w, b)],
  ["fake-quant per tensor and per channel (x̂, mask, STE gradient)", [[6, 5, 7]], (x) =>
    ops.add(fakeQuantizePerTensor(x, 0.02, 3, -8, 7), fakeQuantizePerChannel(x, [0.01, 0.02, 0.03, 0.04, 0.05], [0, 1, -1, 2, 0], 1, -128, 127))],
];

/** Output and every gradient of fn on seeded inputs, as the tensors themselves. */
function run(shapes: number[][], fn: (...xs: Tensor[]) => Tensor): Tensor[] {
  manualSeed(9);
  const xs = shapes.map((s) => randn(s).requiresGrad_());
  const y = fn(...xs);
  manualSeed(10);
  backward(ops.sum(ops.mul(y, randn(y.shape))));
  return [y, ...xs.map((x) => x.grad!)];
}

const copy = (ts: Tensor[]): Float32Array[] => ts.map((t) => Float32Array.from(t.data as Float32Array));

/** Fills each tensor's storage with `value` and hands its block back to the allocator. */
function poisonAndRelease(ts: Tensor[], value: number): void {
  for (const t of ts) {
    (t.data as Float32Array).fill(value);
    releaseArray(t.data as AnyArray);
  }
}

const WASM_STORAGE = listBackends().filter((b) => b === "wasm" || b === "native");

describe("uninitialised outputs", () => {
  for (const backend of WASM_STORAGE) {
    it(`[${backend}] the poison reaches an uninitialised allocation (the check below can fail)`, () => {
      const before = getBackend();
      setBackend(backend);
      try {
        const a = allocArray("float32", 1000);
        a.fill(NaN);
        expect(releaseArray(a)).toBe(true);
        const b = allocArrayUninit("float32", 1000);
        expect(Number.isNaN(b[0]) && Number.isNaN(b[999])).toBe(true);
        releaseArray(b);
        const c = allocArray("float32", 1000);
        expect(c[0] === 0 && c[999] === 0).toBe(true);
      } finally {
        setBackend(before);
      }
    });
    for (const [name, shapes, fn] of CASES) {
      it(`[${backend}] ${name}: every output and gradient element is written`, () => {
        const before = getBackend();
        try {
          setBackend("ref");
          const want = copy(run(shapes, fn));
          setBackend(backend);
          poisonAndRelease(run(shapes, fn), NaN);
          const t1 = run(shapes, fn);
          const got1 = copy(t1);
          poisonAndRelease(t1, 0);
          const got2 = copy(run(shapes, fn));
          got1.forEach((g, i) => {
            expectIdentical(g, got2[i], `${i === 0 ? "output" : `gradient ${i - 1}`} after NaN vs 0 poison`);
            expectNear(g, want[i], want[i].map((v) => Math.max(Math.abs(v), 1)), 1e-5, 1e-5);
          });
        } finally {
          setBackend(before);
        }
      });
    }
  }
});
