/**
 * Numerics of the dynamic and grouped schemes: onnxruntime's dynamic quantization parameters
 * (hand-computed cases), dynamic fake quantization per tensor / per token with its
 * straight-through gradient, grouped weight fake quantization (symmetric / asymmetric, 2–8
 * bits, per row equal to PyTorch-style per-channel fake quantization), grouped LSQ gradients
 * against float64 central differences where the function is differentiable (clipped codes)
 * and against Esser's formula inside the range, and bad input.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { backward } from "../../src/autograd/backward.js";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { ShapeError, ValueError } from "../../src/tensor/errors.js";
import { DynamicFakeQuantize, dynamicQParams, fakeQuantizeDynamic, quantizeDynamic } from "../../src/quant/dynamic-fake-quant.js";
import { GroupwiseFakeQuantize, fakeQuantizeGroupedLsq, groupQParams } from "../../src/quant/groupwise.js";
import { fakeQuantizePerChannel } from "../../src/quant/fake-quantize.js";

const f32 = Math.fround;

describe("dynamic quantization parameters (onnxruntime GetQuantizationParameter)", () => {
  it("range [−1, 3] → S = fl(4/255), Z = 64 (63.75 rounded)", () => {
    const p = dynamicQParams(-1, 3, 0, 255);
    expect(p.scale).toBe(f32(4 / 255));
    expect(p.zeroPoint).toBe(64);
  });
  it("the range always includes 0; an all-zero tensor gets S = 1, Z = qmin", () => {
    expect(dynamicQParams(0.5, 2, 0, 255)).toEqual({ scale: f32(2 / 255), zeroPoint: 0 });
    expect(dynamicQParams(-2, -0.5, 0, 255)).toEqual({ scale: f32(2 / 255), zeroPoint: 255 });
    expect(dynamicQParams(0, 0, 0, 255)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(dynamicQParams(0, 0, -128, 127)).toEqual({ scale: 1, zeroPoint: -128 });
  });
  it("int8 [−128, 127]: [−1, 1] gives Z = −1 (fl(2/255) < 2/255, so −128 − fl(−1/S) is just below −0.5)", () => {
    const p = dynamicQParams(-1, 1, -128, 127);
    expect(p.scale).toBe(f32(2 / 255));
    expect(f32(-1 / p.scale)).toBeGreaterThan(-127.5);
    expect(p.zeroPoint).toBe(-1);
  });
  it("quantizeDynamic: codes x/S rounded half to even, per row; rejects NaN naming the index", () => {
    const x = Float32Array.of(-1, 0, 3, 1.5, 0, 0, 0, 0);
    const out = new Int32Array(8);
    const ps = quantizeDynamic(x, 4, 0, 255, out, "t");
    expect(ps[1]).toEqual({ scale: 1, zeroPoint: 0 });
    expect([...out.slice(0, 4)]).toEqual([0, 64, 255, Math.round(f32(1.5 / f32(4 / 255))) + 64]);
    expect([...out.slice(4)]).toEqual([0, 0, 0, 0]);
    expect(() => quantizeDynamic(Float32Array.of(1, NaN), 2, 0, 255, new Int32Array(2), "t")).toThrow(/index 1/);
  });
});

describe("dynamic fake quantization", () => {
  it("per token: each row on its own grid (extremes exact to S/2, error ≤ S/2); per tensor: one grid", () => {
    manualSeed(3);
    const x = randn([5, 16]);
    for (let r = 0; r < 5; r++) for (let k = 0; k < 16; k++) x.data[r * 16 + k] *= 10 ** (r - 2);
    const tok = fakeQuantizeDynamic(x, "per_token", -128, 127);
    const ten = fakeQuantizeDynamic(x, "per_tensor", 0, 255);
    expect(tok.params).toHaveLength(5);
    expect(ten.params).toHaveLength(1);
    for (let r = 0; r < 5; r++) {
      const s = tok.params[r].scale;
      for (let k = 0; k < 16; k++) expect(Math.abs(tok.output.data[r * 16 + k] - x.data[r * 16 + k])).toBeLessThanOrEqual(s / 2 + 1e-6 * s);
    }
    // the smallest row is flattened by the per-tensor grid but not per token
    const err = (o: Tensor) => Math.max(...Array.from({ length: 16 }, (_, k) => Math.abs(o.data[k] - x.data[k])));
    expect(err(tok.output)).toBeLessThan(err(ten.output) / 10);
  });
  it("straight-through gradient: dL/dx = dL/dx̂ (nothing is clipped by a range taken from the batch)", () => {
    manualSeed(4);
    const x = randn([3, 8], { dtype: "float64" }).requiresGrad_();
    const y = fakeQuantizeDynamic(x, "per_token", -128, 127).output;
    const g = randn([3, 8], { dtype: "float64" });
    backward(y, g);
    expect(Array.from(x.grad!.data)).toEqual(Array.from(g.data));
  });
  it("DynamicFakeQuantize follows fake_quant_enabled and checks its options", () => {
    const q = new DynamicFakeQuantize({ granularity: "per_token", dtype: "int8" });
    expect([q.quantMin, q.quantMax]).toEqual([-128, 127]);
    const x = new Tensor(Float32Array.of(0.1234, -0.5, 0.9), [1, 3]);
    expect(q.forward(x).data[0]).not.toBe(x.data[0]);
    q.disableFakeQuant();
    expect(q.forward(x)).toBe(x);
    expect(() => new DynamicFakeQuantize({ granularity: "per_row" as never })).toThrow(ValueError);
  });
});

describe("grouped weight fake quantization", () => {
  it("4-bit symmetric groups: S = amax/7.5, codes in [−8, 7], each group on its own scale", () => {
    manualSeed(5);
    const w = randn([4, 64]);
    for (let k = 32; k < 64; k++) w.data[k] *= 100; // row 0, second group: a large range
    const fq = new GroupwiseFakeQuantize({ bits: 4, groupSize: 32 });
    const c = fq.quantizeCodes(w);
    expect(c.groups).toBe(2);
    expect(Math.min(...c.codes)).toBeGreaterThanOrEqual(-8);
    expect(Math.max(...c.codes)).toBeLessThanOrEqual(7);
    let amax = 0;
    for (let k = 0; k < 32; k++) amax = Math.max(amax, Math.abs(w.data[k]));
    expect(c.scales[0]).toBe(f32(f32(amax) / 7.5));
    expect(c.scales[1] / c.scales[0]).toBeGreaterThan(20);
    const y = fq.forward(w);
    for (let i = 0; i < w.size; i++) {
      const j = Math.floor(i / 64) * 2 + Math.floor((i % 64) / 32);
      expect(y.data[i]).toBe(f32(c.codes[i] * c.scales[j]));
    }
  });
  it('groupSize "row" with 8 bits is PyTorch per-channel symmetric qint8 fake quantization (S = amax/127.5)', () => {
    manualSeed(6);
    const w = randn([6, 20]);
    const fq = new GroupwiseFakeQuantize({ bits: 8, groupSize: "row" });
    const p = fq.paramsFor(w);
    const ref = fakeQuantizePerChannel(w, p.scales, new Int32Array(6), 0, -128, 127);
    expect(Array.from(fq.forward(w).data)).toEqual(Array.from(ref.data));
  });
  it("asymmetric 2–8 bits: integer zero point, the range holds 0, error ≤ S/2", () => {
    manualSeed(7);
    const w = randn([3, 32]);
    for (let k = 0; k < 32; k++) w.data[k] = Math.abs(w.data[k]) + 0.5; // an all-positive row
    for (const bits of [2, 3, 4, 8]) {
      const fq = new GroupwiseFakeQuantize({ bits, groupSize: 16, symmetric: false });
      const c = fq.quantizeCodes(w);
      expect(Math.min(...c.codes)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...c.codes)).toBeLessThanOrEqual(2 ** bits - 1);
      expect(c.zeroPoints[0]).toBe(0);
      const y = fq.forward(w);
      for (let i = 0; i < w.size; i++) {
        const j = Math.floor(i / 32) * 2 + Math.floor((i % 32) / 16);
        expect(Math.abs(y.data[i] - w.data[i])).toBeLessThanOrEqual(c.scales[j] / 2 + 1e-6);
      }
    }
  });
  it("straight-through in w; bad shapes and options are refused", () => {
    const w = randn([2, 8], { dtype: "float64" }).requiresGrad_();
    const fq = new GroupwiseFakeQuantize({ bits: 4, groupSize: 4 });
    backward(fq.forward(w), new Tensor(new Float64Array(16).fill(1), [2, 8]));
    // as torchao's mask: 0 only where the unclamped code left [−8, 7] (a positive group maximum: amax/S = 7.5 → 8)
    const codes = new Float64Array(16);
    const p = fq.paramsFor(w);
    for (let i = 0; i < 16; i++) codes[i] = Math.round(Math.fround(w.data[i] * Math.fround(1 / p.scales[Math.floor(i / 4)])));
    const masked = Array.from(codes, (q) => (q > 7 ? 0 : 1));
    expect(Array.from(w.grad!.data)).toEqual(masked);
    expect(masked.filter((v) => v === 1).length).toBeGreaterThanOrEqual(12);
    expect(fq.quantizeCodes(randn([2, 6])).groups).toBe(2); // a shorter last group (MatMulNBits pads K)
    expect(() => fq.forward(randn([2, 2, 4]))).toThrow(ShapeError);
    expect(() => new GroupwiseFakeQuantize({ bits: 9 })).toThrow(ValueError);
    expect(() => new GroupwiseFakeQuantize({ groupSize: 0 })).toThrow(ValueError);
  });
});

describe("grouped LSQ", () => {
  it("scale gradients match float64 central differences where every code is clipped; ∂/∂Z = −S there (LSQ+)", () => {
    // tiny scales: every w/S is far outside [qmin, qmax], so ŵ = S·(bound − round(Z)) is smooth in S
    const w = new Tensor(Float64Array.of(5, -7, 9, -3, 4, 6, -8, 2), [2, 4]);
    const s = new Tensor(Float64Array.of(0.05, 0.07, 0.03, 0.04), [2, 2]).requiresGrad_();
    const z = new Tensor(Float64Array.of(3.2, 7.6, 1.1, 12.4), [2, 2]);
    const r = gradcheck((ss) => fakeQuantizeGroupedLsq(w, ss, z, 2, 0, 15, 1), [s], { eps: 1e-7 });
    expect(r.ok, JSON.stringify(r.failure)).toBe(true);
    const zg = new Tensor(z.data.slice(), [2, 2]).requiresGrad_();
    backward(fakeQuantizeGroupedLsq(w, s, zg, 2, 0, 15, 0.25), new Tensor(Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8), [2, 4]));
    expect(Array.from(zg.grad!.data)).toEqual([-(1 + 2) * 0.05 * 0.25, -(3 + 4) * 0.07 * 0.25, -(5 + 6) * 0.03 * 0.25, -(7 + 8) * 0.04 * 0.25].map((v) => expect.closeTo(v, 12)));
  });
  it("inside the range: ∂/∂S = Σ g·(ŵ − w)/S (Esser eq. 3), times the gradient scale; ∂/∂w = g", () => {
    const w = new Tensor(Float64Array.of(0.31, -0.52, 0.13, 0.77), [1, 4]).requiresGrad_();
    const s = new Tensor(Float64Array.of(0.1, 0.1), [1, 2]).requiresGrad_();
    const z = new Tensor(Float64Array.of(0, 0), [1, 2]);
    const y = fakeQuantizeGroupedLsq(w, s, z, 2, -8, 7, 0.5);
    const g = Float64Array.of(1, 2, -1, 0.5);
    backward(y, new Tensor(g.slice(), [1, 4]));
    const q = [3, -5, 1, 8].map((v) => Math.min(7, v)); // 0.77/0.1 → 8 → clipped to 7
    const e0 = g[0] * (q[0] * 0.1 - 0.31) / 0.1 + g[1] * (q[1] * 0.1 + 0.52) / 0.1;
    const e1 = g[2] * (q[2] * 0.1 - 0.13) / 0.1 + g[3] * (7 - 0);
    expect(s.grad!.data[0]).toBeCloseTo(0.5 * e0, 12);
    expect(s.grad!.data[1]).toBeCloseTo(0.5 * e1, 12);
    expect(Array.from(w.grad!.data)).toEqual([1, 2, -1, 0]);
  });
  it("the LSQ quantizer starts from the min/max scales and learns them as parameters", () => {
    manualSeed(8);
    const w = randn([4, 16]);
    const fq = new GroupwiseFakeQuantize({ bits: 4, groupSize: 8, scales: "lsq", symmetric: false });
    const y = fq.forward(w);
    const ref = groupQParams(w.data, 4, 16, 8, 0, 15, false);
    expect(Array.from(fq.group_scale!.data)).toEqual(Array.from(ref.scales));
    expect(fq.parameters().length).toBe(2);
    backward(y, new Tensor(new Float32Array(64).fill(1), [4, 16]));
    expect(fq.group_scale!.grad).not.toBeNull();
  });
});
