/** qparams math against PyTorch 1.13 goldens: ranges, observer qparams, fused qparams, scalar maps. */
import { describe, expect, test } from "vitest";
import { ValueError } from "../../src/tensor/errors.js";
import {
  chooseQParams,
  chooseQParamsFused,
  chooseQParamsPerChannel,
  dequantize,
  dequantizeArray,
  fakeQuantizeValue,
  quantize,
  quantizeArray,
  rint,
} from "../../src/quant/qparams.js";
import { calculateQminQmax, makeQuantSpec, normalizeDType, quantRange } from "../../src/quant/quant-spec.js";
import { type GNum, expectExact, expectUlps, f32, loadGolden, num } from "./helpers.js";

const G = loadGolden("qparams.json");
const FQ = loadGolden("fake_quant.json");

describe("golden file", () => {
  test("records the torch version", () => {
    expect(G.torch_version).toMatch(/^1\.13/);
  });
});

describe("quantization ranges (calculate_qmin_qmax)", () => {
  test("every golden range", () => {
    for (const r of G.ranges) {
      const got = calculateQminQmax(r.quantMin, r.quantMax, normalizeDType(r.dtype), r.reduceRange);
      expect([got.qmin, got.qmax], JSON.stringify(r)).toEqual([r.qmin, r.qmax]);
    }
  });

  test("reduce_range halves 8-bit ranges", () => {
    expect(calculateQminQmax(undefined, undefined, "uint8", true)).toMatchObject({ qmin: 0, qmax: 127 });
    expect(calculateQminQmax(undefined, undefined, "int8", true)).toMatchObject({ qmin: -64, qmax: 63 });
    expect(calculateQminQmax(0, 255, "uint8", true)).toMatchObject({ qmin: 0, qmax: 127, customRange: true });
  });

  test("quantRange for 2..8 bits", () => {
    for (let b = 2; b <= 8; b++) {
      expect(quantRange({ bits: b })).toEqual({ quantMin: -(2 ** (b - 1)), quantMax: 2 ** (b - 1) - 1 });
      expect(quantRange({ bits: b, signed: false })).toEqual({ quantMin: 0, quantMax: 2 ** b - 1 });
      expect(quantRange({ bits: b, narrow: true })).toEqual({ quantMin: -(2 ** (b - 1)) + 1, quantMax: 2 ** (b - 1) - 1 });
    }
    expect(quantRange({ bits: 8, reduceRange: true })).toEqual({ quantMin: -64, quantMax: 63 });
    expect(quantRange({ bits: 8, signed: false, reduceRange: true })).toEqual({ quantMin: 0, quantMax: 127 });
  });

  test("bad input throws ValueError naming the parameter", () => {
    for (const bits of [1, 9, 2.5, NaN]) expect(() => quantRange({ bits })).toThrow(/bits/);
    expect(() => quantRange({ bits: 1 })).toThrow(ValueError);
    expect(() => calculateQminQmax(5, 5, "int8", false)).toThrow(/quantMin \(5\) must be less than quantMax/);
    expect(() => calculateQminQmax(7, -8, "int8", false)).toThrow(ValueError);
    expect(() => calculateQminQmax(1, 255, "uint8", false)).toThrow(/include 0/);
    expect(() => calculateQminQmax(-200, 100, "int8", false)).toThrow(/int8/);
    expect(() => calculateQminQmax(0, undefined, "uint8", false)).toThrow(/together/);
    expect(() => calculateQminQmax(0.5, 10, "uint8", false)).toThrow(/quantMin must be an integer/);
    expect(() => makeQuantSpec({ dtype: "float" as never }, { qscheme: "per_tensor_affine" }, "t")).toThrow(/dtype/);
    expect(() => makeQuantSpec({ qscheme: "per_row" as never }, { qscheme: "per_tensor_affine" }, "t")).toThrow(/qscheme/);
    expect(() => makeQuantSpec({ eps: 0 }, { qscheme: "per_tensor_affine" }, "t")).toThrow(/eps/);
  });
});

describe("chooseQParams (UniformQuantizationObserverBase._calculate_qparams)", () => {
  test("every golden config and range: scale within 1 ulp, zero point exact", () => {
    let exact = 0;
    let total = 0;
    for (const c of G.cases) {
      const spec = makeQuantSpec(c.config, { qscheme: "per_tensor_affine" }, "test");
      expect([spec.qmin, spec.qmax]).toEqual([c.qmin, c.qmax]);
      for (const [lo, hi, scale, zp] of c.results as [GNum, GNum, GNum, number][]) {
        const q = chooseQParams(num(lo), num(hi), spec);
        const what = `${JSON.stringify(c.config)} [${lo}, ${hi}]`;
        expectUlps([q.scale], [num(scale)], 1, what);
        expect(q.zeroPoint, what).toBe(zp);
        total++;
        if (q.scale === num(scale)) exact++;
      }
    }
    expect(exact).toBe(total);
  });

  test("per channel, and the unobserved default", () => {
    for (const c of G.per_channel) {
      const spec = makeQuantSpec(c.config, { qscheme: "per_channel_affine" }, "test");
      const q = chooseQParamsPerChannel(f32(c.mins), f32(c.maxs), spec);
      expectExact(q.scales, f32(c.scales), "scales");
      expect(Array.from(q.zeroPoints)).toEqual(c.zero_points.data);
      const empty = chooseQParamsPerChannel([], [], spec);
      expect([empty.scales[0], empty.zeroPoints[0]]).toEqual([num(c.empty[0]), c.empty[1]]);
    }
  });

  test("min > max is a ValueError", () => {
    const spec = makeQuantSpec({}, { qscheme: "per_tensor_affine" }, "test");
    expect(() => chooseQParams(1, 0, spec)).toThrow(ValueError);
    expect(() => chooseQParams(NaN, 0, spec)).toThrow(/min NaN/);
  });
});

describe("chooseQParamsFused (quant_utils::ChooseQuantizationParams)", () => {
  test("matches torch.fused_moving_avg_obs_fake_quant's qparams", () => {
    for (const c of G.fused) {
      for (const [lo, hi, scale, zp] of c.results as [GNum, GNum, GNum, number][]) {
        const q = chooseQParamsFused(num(lo), num(hi), c.qmin, c.qmax, c.symmetric);
        const what = `[${c.qmin}, ${c.qmax}] sym=${c.symmetric} [${lo}, ${hi}]`;
        expectUlps([q.scale], [num(scale)], 0, what);
        expect(q.zeroPoint, what).toBe(zp);
      }
    }
  });
});

describe("scalar maps", () => {
  test("rint rounds half to even", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 3.5000001].map(rint)).toEqual([0, 2, 2, -0, -2, -2, 2, 4]);
    expect(rint(2 ** 40 + 0.5)).toBe(2 ** 40);
    expect(rint(2 ** 40 + 1.5)).toBe(2 ** 40 + 2);
  });

  test("fakeQuantizeValue equals torch.fake_quantize_per_tensor_affine on every golden input", () => {
    for (const c of FQ.per_tensor) {
      const x = f32(c.x);
      const y = x.map((v) => fakeQuantizeValue(v, num(c.scale), c.zero_point, c.qmin, c.qmax));
      expectExact(y, f32(c.y), `scale ${c.scale}`);
    }
  });

  test("quantize / dequantize round trip and saturation", () => {
    const s = 0.1;
    expect(quantize(0.25, s, 10, 0, 255)).toBe(12); // 2.5 → 2 (even) + 10
    expect(quantize(0.35, s, 10, 0, 255)).toBe(14); // fl(0.35·fl(1/0.1)) = 3.5000002 → 4
    expect(quantize(1e9, s, 10, 0, 255)).toBe(255);
    expect(quantize(-1e9, s, 10, 0, 255)).toBe(0);
    expect(quantize(NaN, s, 10, 0, 255)).toBe(0);
    expect(dequantize(12, s, 10)).toBe(Math.fround(2 * Math.fround(0.1)));
    const codes = quantizeArray([0, 0.1, -0.1, 12.8, -12.9], s, 0, -128, 127, new Int8Array(5));
    expect(Array.from(codes)).toEqual([0, 1, -1, 127, -128]);
    expect(Array.from(dequantizeArray(codes, 0.5, 0))).toEqual([0, 0.5, -0.5, 63.5, -64]);
    expect(() => quantizeArray([1, 2], s, 0, 0, 1, new Uint8Array(1))).toThrow(ValueError);
  });
});

/** Cases mutation testing found open (scripts/golden/qparams_edges.py; docs/TESTING.md). */
describe("edges (qparams_edges.json)", () => {
  const E = loadGolden("qparams_edges.json");

  test("int32 affine ranges: PyTorch's float → int32 overflow of round(min/S) (INT32_MIN, wrapping)", () => {
    const spec = makeQuantSpec({ dtype: "int32" } as never, { qscheme: "per_tensor_affine" }, "test");
    expect([spec.qmin, spec.qmax]).toEqual([-(2 ** 31), 2 ** 31 - 1]);
    for (const [lo, hi, scale, zp] of E.int32_affine as [number, number, number, number][]) {
      const q = chooseQParams(lo, hi, spec);
      expect([q.scale, q.zeroPoint], `[${lo}, ${hi}]`).toEqual([scale, zp]);
    }
  });

  test("ChooseQuantizationParams on tiny ranges touching zero", () => {
    for (const c of E.fused) {
      for (const [lo, hi, scale, zp] of c.results as [number, number, number, number][]) {
        const q = chooseQParamsFused(lo, hi, c.qmin, c.qmax, c.symmetric);
        expect([q.scale, q.zeroPoint], `[${c.qmin}, ${c.qmax}] sym=${c.symmetric} [${lo}, ${hi}]`).toEqual([scale, zp]);
      }
    }
  });

  test("fake quantization at the int64 limit |x/S| = 2^63", () => {
    for (const c of E.fake_quant_int64_limit) {
      const y = (c.x as number[]).map((v) => fakeQuantizeValue(v, c.scale, c.zero_point, c.qmin, c.qmax));
      expect(y, JSON.stringify(c)).toEqual(c.y);
    }
  });

  test("errors name the function, the channel and the sizes", () => {
    const spec = makeQuantSpec({}, { qscheme: "per_tensor_affine" }, "test");
    expect(() => chooseQParams(0, -Infinity, spec)).toThrow(/^chooseQParams: min 0 should be less than max -Infinity/);
    expect(() => chooseQParams(Infinity, 5, spec)).toThrow(/^chooseQParams: min Infinity/);
    expect(chooseQParams(Infinity, -Infinity, spec)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(() => chooseQParamsPerChannel([0, 1], [1], spec)).toThrow(/^chooseQParamsPerChannel: 2 minimums but 1 maximums/);
    expect(() => chooseQParamsPerChannel([0, 2], [1, 1], spec)).toThrow(/^chooseQParamsPerChannel \(channel 1\): min 2 should be less than max 1/);
    expect(() => chooseQParamsFused(1, 0, 0, 255, false)).toThrow(/^chooseQParamsFused: min 1/);
    expect(() => quantizeArray([1, 2], 0.1, 0, 0, 1, new Uint8Array(1))).toThrow(/^quantizeArray: output holds 1 values, input 2$/);
    expect(() => dequantizeArray([1, 2], 0.1, 0, new Float32Array(1))).toThrow(/^dequantizeArray: output holds 1 values, input 2$/);
  });

  test("dequantizeArray subtracts the zero point", () => {
    expect(Array.from(dequantizeArray(Int8Array.of(3, -2), 0.5, 1))).toEqual([1, -1.5]);
  });
});
