/**
 * Wasm fused fake-quantize kernels vs the quantization code's own float32 kernels
 * (src/quant/fake-quantize.ts, PyTorch 1.13 semantics) run with the ref backend selected, so
 * they take their TypeScript loop and not the wasm kernel under test, exactly: per tensor and per channel,
 * uint8/int8/4-bit ranges, values at rounding ties, at qmin/qmax, NaN, ±∞ and huge.
 */
import { describe, it } from "vitest";
import { fakeQuantizePerChannelF32, fakeQuantizePerTensorF32, getNumThreads, setNumThreads } from "../../src/backend/wasm/index.js";
import { fakeQuantPerChannelKernel, fakeQuantPerTensorKernel } from "../../src/quant/fake-quantize.js";
import { expectIdentical, newGen, onBackend, randomF32, wasmCopy } from "./helpers.js";

function inputs(n: number, seed: number, scale: number): Float32Array {
  const x = randomF32(newGen(seed), n, 3);
  const specials = [NaN, Infinity, -Infinity, 1e30, -1e30, 0, -0, 2.5 * scale, 3.5 * scale, -2.5 * scale, 127.5 * scale, -128.5 * scale, 255.5 * scale];
  specials.forEach((v, i) => (x[i * 11] = v));
  return x;
}

const RANGES: [string, number, number, number, number][] = [
  ["uint8 affine", 0.037, 113, 0, 255],
  ["int8 symmetric", 0.021, 0, -128, 127],
  ["int8 narrow", 0.05, 0, -127, 127],
  ["4-bit", 0.4, 0, -8, 7],
  ["7-bit reduce_range", 0.1, 64, 0, 127],
];

describe("wasm fake quantization vs the reference kernels (exact)", () => {
  for (const [name, scale, zp, qmin, qmax] of RANGES) {
    it(`per tensor, ${name}`, () => {
      for (const n of [7, 1031, 600_001]) {
        const x = inputs(n, n, scale);
        const want = onBackend("ref", () => fakeQuantPerTensorKernel(x, scale, zp, qmin, qmax));
        const out = wasmCopy(new Float32Array(n)), mask = wasmCopy(new Uint8Array(n));
        fakeQuantizePerTensorF32(wasmCopy(x), scale, zp, qmin, qmax, out, mask);
        expectIdentical(out, want.out);
        expectIdentical(mask, want.mask);
        const out2 = new Float32Array(n), mask2 = new Uint8Array(n);
        fakeQuantizePerTensorF32(x, scale, zp, qmin, qmax, out2, mask2);
        expectIdentical(out2, want.out);
      }
    });

    it(`per channel (axis 0 and 1), ${name}`, () => {
      const shape = [6, 5, 3, 3];
      const x = inputs(270, 5, scale);
      for (const axis of [0, 1]) {
        const c = shape[axis];
        const scales = Array.from({ length: c }, (_, i) => scale * (1 + i / 7));
        const zps = Array.from({ length: c }, (_, i) => Math.min(qmax, zp + i));
        const want = onBackend("ref", () => fakeQuantPerChannelKernel(x, shape, axis, scales, zps, qmin, qmax));
        const out = new Float32Array(x.length), mask = new Uint8Array(x.length);
        fakeQuantizePerChannelF32(x, shape, axis, scales, zps, qmin, qmax, out, mask);
        expectIdentical(out, want.out);
        expectIdentical(mask, want.mask);
      }
    });
  }
});

describe("wasm fake quantization split across threads (from 2^17 elements)", () => {
  it("per tensor and per channel at 1, 2 and 3 threads equal the reference bit for bit", () => {
    const before = getNumThreads();
    const [scale, zp, qmin, qmax] = [0.037, 113, 0, 255];
    const n = 7 * 28_573; // 200,011: above the 2^17 threshold, below the former 2^19
    const x = wasmCopy(inputs(n, 17, scale));
    const shape = [7, 28573];
    const scales = Array.from({ length: 7 }, (_, i) => scale * (1 + i / 5));
    const zps = Array.from({ length: 7 }, (_, i) => zp + i);
    const wantT = onBackend("ref", () => fakeQuantPerTensorKernel(x, scale, zp, qmin, qmax));
    const xc = x;
    const wantC = onBackend("ref", () => fakeQuantPerChannelKernel(xc, shape, 0, scales, zps, qmin, qmax));
    try {
      for (const t of [1, 2, 3]) {
        setNumThreads(t);
        const out = wasmCopy(new Float32Array(n)), mask = wasmCopy(new Uint8Array(n));
        fakeQuantizePerTensorF32(x, scale, zp, qmin, qmax, out, mask);
        expectIdentical(out, wantT.out, `per tensor, ${t} threads`);
        expectIdentical(mask, wantT.mask, `per-tensor mask, ${t} threads`);
        const outC = wasmCopy(new Float32Array(xc.length)), maskC = wasmCopy(new Uint8Array(xc.length));
        fakeQuantizePerChannelF32(xc, shape, 0, scales, zps, qmin, qmax, outC, maskC);
        expectIdentical(outC, wantC.out, `per channel, ${t} threads`);
        expectIdentical(maskC, wantC.mask, `per-channel mask, ${t} threads`);
      }
    } finally {
      setNumThreads(before);
    }
  });
});
