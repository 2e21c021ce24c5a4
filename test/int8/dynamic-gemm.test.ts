/**
 * dynamic_linear's two integer-GEMM routes (src/int8/kernels/dynamic.ts): the static path's
 * wasm int8 kernel (dynamic-gemm.ts) and the exact float32-GEMM chunks give the same outputs
 * bit for bit — per-tensor uint8 and per-token int8 activations (per-row zero points applied
 * after the kernel), K above one 256-column chunk and not a multiple of the kernel's panels,
 * one row and many, per-tensor and per-row weight scales, with and without bias — and both equal
 * an independent BigInt evaluation of Σ (q_x − Z_x)·q_w.
 */
import { describe, expect, it } from "vitest";
import "../../src/ops/index.js";
import { type DynamicLinearNode, f32Bits } from "../../src/int8/graph-dynamic.js";
import { dynamicLinear, quantizeRows, quantizeRows8 } from "../../src/int8/kernels/dynamic.js";
import { dynamicIgemmAvailable } from "../../src/int8/kernels/dynamic-gemm.js";
import type { QuantArray } from "../../src/int8/kernels/common.js";
import { manualSeed, randn } from "../../src/index.js";

function layer(n: number, k: number, act: DynamicLinearNode["act"], perRow: boolean, bias: boolean): { node: DynamicLinearNode; t: Map<string, Int8Array | Int32Array> } {
  const w = Int8Array.from({ length: n * k }, (_, i) => ((i * 7919 + 13) % 256) - 128);
  const t = new Map<string, Int8Array | Int32Array>([["w", w], ["s", f32Bits(Array.from({ length: perRow ? n : 1 }, (_, c) => 0.01 + 0.001 * c))]]);
  if (bias) t.set("b", f32Bits(Array.from({ length: n }, (_, c) => Math.sin(c))));
  return { node: { op: "dynamic_linear", name: "l", inputs: ["x"], output: "y", wInt8: "w", wShape: [n, k], wScales: "s", bias: bias ? "b" : null, act, weightBits: 8 }, t };
}

describe("dynamic_linear integer GEMM routes", () => {
  it("the wasm int8 kernel is available here (else only the float route is checked)", () => {
    expect(dynamicIgemmAvailable()).toBe(true);
  });
  const cases = [
    { m: 1, n: 10, k: 7, act: { granularity: "per_tensor", dtype: "uint8" }, perRow: true, bias: true },
    { m: 64, n: 33, k: 600, act: { granularity: "per_tensor", dtype: "uint8" }, perRow: false, bias: false },
    { m: 17, n: 8, k: 257, act: { granularity: "per_token", dtype: "int8" }, perRow: true, bias: true },
    { m: 5, n: 3, k: 64, act: { granularity: "per_token", dtype: "uint8" }, perRow: true, bias: false },
  ] as const;
  for (const c of cases) {
    it(`m ${c.m}, n ${c.n}, k ${c.k}, ${c.act.granularity} ${c.act.dtype}: routes agree bit for bit and equal the BigInt sums`, () => {
      manualSeed(c.k);
      const x = randn([c.m, c.k]);
      const xd = x.data as Float32Array;
      xd[0] = 40; // a loud value: wide ranges on row 0
      const { node, t } = layer(c.n, c.k, { ...c.act }, c.perRow, c.bias);
      const input = { data: xd as unknown as QuantArray, shape: [c.m, c.k] };
      const a = dynamicLinear(node, input, t, "auto").data as unknown as Float32Array;
      const b = dynamicLinear(node, input, t, "float-gemm").data as unknown as Float32Array;
      expect(Array.from(a)).toEqual(Array.from(b));
      const { q, scales, zps } = quantizeRows(xd, c.m, c.k, node.act, "test");
      const w = t.get("w") as Int8Array;
      const ws = new Float32Array((t.get("s") as Int32Array).buffer);
      const bias = c.bias ? new Float32Array((t.get("b") as Int32Array).buffer) : null;
      const fr = Math.fround;
      for (let r = 0; r < c.m; r++) {
        for (let o = 0; o < c.n; o++) {
          let acc = 0n;
          for (let j = 0; j < c.k; j++) acc += BigInt(q[r * c.k + j] - zps[r]) * BigInt(w[o * c.k + j]);
          const prod = fr(fr(Number(acc)) * fr(scales[r] * ws[c.perRow ? o : 0]));
          expect(a[r * c.n + o]).toBe(bias ? fr(prod + bias[o]) : prod);
        }
      }
    });
  }
});

describe("run-time quantization rounds exact halves to even", () => {
  it("uint8 (scale 1, zero point 0) and int8 (scale 1, zero point 0)", () => {
    const u = Float32Array.from([0, 255, 0.5, 1.5, 2.5, 3.5, 254.5, 100.5]);
    const ru = quantizeRows(u, 1, u.length, { granularity: "per_tensor", dtype: "uint8" }, "t");
    expect([ru.scales[0], ru.zps[0]]).toEqual([1, 0]);
    expect(Array.from(ru.q)).toEqual([0, 255, 0, 2, 2, 4, 254, 100]);
    const s = Float32Array.from([-128, 127, -0.5, -1.5, -2.5, 0.5, 1.5, 126.5]);
    const rs = quantizeRows(s, 1, s.length, { granularity: "per_tensor", dtype: "int8" }, "t");
    expect([rs.scales[0], rs.zps[0]]).toEqual([1, 0]);
    expect(Array.from(rs.q)).toEqual([-128, 127, 0, -2, -2, 0, 2, 126]);
    const r8 = quantizeRows8(s, 1, s.length, { granularity: "per_tensor", dtype: "int8" }, "t");
    expect(Array.from(r8.q)).toEqual([-128, 127, 0, -2, -2, 0, 2, 126]);
  });
});
