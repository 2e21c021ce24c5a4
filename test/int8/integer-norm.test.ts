/**
 * The integer-only softmax and LayerNorm kernels (src/int8/kernels/softmax-int.ts,
 * layernorm-int.ts) against independent references: the node's integer definition evaluated in
 * BigInt (bit for bit: every intermediate of the float64 kernels must be exact), and the float64
 * softmax / LayerNorm of the dequantized input quantized to the output grid (the float island's
 * result; at most 1 quantum apart, measured and asserted). Rows of 1 to 1024 values, int8 and
 * uint8, constant rows, masked rows, the largest values the bounds allow.
 */
import { describe, expect, it } from "vitest";
import { NotSupportedError } from "../../src/tensor/errors.js";
import { floorDiv, qsoftmaxInt, softmaxIntParams } from "../../src/int8/kernels/softmax-int.js";
import { LAYERNORM_MAX_N, layerNormIntParams, layerNormW, qlayerNormInt } from "../../src/int8/kernels/layernorm-int.js";
import { Generator } from "../../src/tensor/random.js";

type D = "uint8" | "int8";
const range = (d: D): [number, number] => (d === "uint8" ? [0, 255] : [-128, 127]);

/** Round half to even, then clamp: the float island's QuantizeLinear. */
function quantize(v: number, s: number, z: number, lo: number, hi: number): number {
  const t = v / s;
  let r = Math.round(t);
  if (Math.abs(t - Math.trunc(t)) === 0.5) r = 2 * Math.round(t / 2);
  return Math.min(hi, Math.max(lo, r + z));
}

/** ⌊a / b⌋ in BigInt (b > 0). */
const floorBig = (a: bigint, b: bigint): bigint => (a >= 0n ? a / b : -((-a + b - 1n) / b));

/** Integer square root by Newton's method in BigInt. */
function isqrtBig(w: bigint): bigint {
  if (w < 2n) return w;
  let x = w, y = (x + 1n) / 2n;
  while (y < x) {
    x = y;
    y = (x + w / x) / 2n;
  }
  return x;
}

function randomRows(g: Generator, rows: number, n: number, d: D, spread: number): Int8Array | Uint8Array {
  const [lo, hi] = range(d);
  const x = d === "uint8" ? new Uint8Array(rows * n) : new Int8Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const c = lo + Math.floor(g.uniform() * (hi - lo + 1));
    for (let i = 0; i < n; i++) x[r * n + i] = Math.min(hi, Math.max(lo, c + Math.round((g.uniform() - 0.5) * 2 * spread)));
  }
  return x;
}

describe("floorDiv: exact ⌊a / b⌋ below 2^53", () => {
  it("matches BigInt on random and extreme operands, signed numerators", () => {
    const g = new Generator(3);
    const cases: [number, number][] = [[2 ** 53 - 1, 3], [-(2 ** 53 - 1), 7], [2 ** 53 - 2, 2 ** 26 + 1], [-1, 2 ** 52], [0, 5], [9007199254740990, 9007199254740991]];
    for (let i = 0; i < 2000; i++) cases.push([Math.floor((g.uniform() - 0.5) * 2 ** 53), 1 + Math.floor(g.uniform() * 2 ** (1 + Math.floor(g.uniform() * 51)))]);
    for (const [a, b] of cases) expect(floorDiv(a, b), `${a} / ${b}`).toBe(Number(floorBig(BigInt(a), BigInt(b))));
  });
});

describe("softmax_int", () => {
  function bigintRef(x: ArrayLike<number>, n: number, table: Int32Array, R: number, r: number, zy: number, lo: number, hi: number, mask?: Int32Array): number[] {
    const out: number[] = [];
    for (let row = 0; row < x.length; row += n) {
      const mrow = mask ? row % mask.length : 0;
      const on = (i: number) => !mask || mask[mrow + i] === 0;
      let m = -1000;
      for (let i = 0; i < n; i++) if (on(i)) m = Math.max(m, x[row + i]);
      const e = Array.from({ length: n }, (_, i) => (on(i) ? BigInt(table[m - x[row + i]]) : 0n));
      let s = e.reduce((a, b) => a + b, 0n);
      if (s < 1n) s = 1n;
      const den = s << BigInt(r);
      for (let i = 0; i < n; i++) out.push(Math.min(hi, Math.max(lo, zy + Number(floorBig(2n * e[i] * BigInt(R) + den, 2n * den)))));
    }
    return out;
  }

  for (const d of ["uint8", "int8"] as D[]) {
    it(`${d}: bit for bit with the BigInt definition, and within 1 quantum of the float64 softmax (rows of 1 to 1024)`, () => {
      const g = new Generator(d === "uint8" ? 11 : 12);
      const [lo, hi] = range(d);
      let worst = 0, off = 0, total = 0;
      for (const n of [1, 2, 7, 17, 64, 257, 1024]) {
        for (const [sx, spread] of [[0.05, 40], [0.2, 120], [0.01, 255], [1, 3]] as const) {
          const rows = n >= 257 ? 3 : 12;
          const x = randomRows(g, rows, n, d, spread);
          const sy = 1 / 255, zy = d === "uint8" ? 0 : -128;
          const p = softmaxIntParams(sx, sy, n);
          const [R, r] = p.outMultiplier;
          const got = qsoftmaxInt({ x, shape: [rows, n], table: p.table, outMultiplier: p.outMultiplier, yZp: zy, outDType: d, clampMin: lo, clampMax: hi });
          expect(Array.from(got.data), `n ${n} sx ${sx}`).toEqual(bigintRef(x, n, p.table, R, r, zy, lo, hi));
          for (let row = 0; row < rows * n; row += n) {
            const xs = Array.from(x.subarray(row, row + n), (q) => q * sx);
            const mx = Math.max(...xs);
            const ex = xs.map((v) => Math.exp(v - mx));
            const sum = ex.reduce((a, b) => a + b, 0);
            for (let i = 0; i < n; i++) {
              const dq = Math.abs(got.data[row + i] - quantize(ex[i] / sum, sy, zy, lo, hi));
              worst = Math.max(worst, dq);
              if (dq > 0) off++;
              total++;
            }
          }
        }
      }
      console.log(`[integer-norm] softmax_int ${d}: ${off} of ${total} outputs differ from the float64 softmax, by at most ${worst} quantum`);
      expect(worst).toBeLessThanOrEqual(1);
      expect(off / total).toBeLessThan(0.01);
    });
  }

  it("a constant −∞ mask: masked positions give Z_y and do not enter the max or the sum; a fully masked row gives Z_y", () => {
    const g = new Generator(5);
    const n = 6;
    const causal = Int32Array.from({ length: n * n }, (_, k) => (k % n > Math.floor(k / n) ? 1 : 0)); // 1 above the diagonal
    causal.fill(1, 5 * n, 6 * n); // the last row fully masked
    const x = randomRows(g, 2 * n, n, "int8", 100); // [2, 6, 6]
    const p = softmaxIntParams(0.1, 1 / 256, n);
    const got = qsoftmaxInt({ x, shape: [2, n, n], table: p.table, outMultiplier: p.outMultiplier, yZp: -128, outDType: "int8", clampMin: -128, clampMax: 127, mask: causal });
    expect(Array.from(got.data)).toEqual(bigintRef(x, n, p.table, p.outMultiplier[0], p.outMultiplier[1], -128, -128, 127, causal));
    for (let k = 0; k < got.data.length; k++) if (causal[k % (n * n)]) expect(got.data[k]).toBe(-128);
    // an unmasked row equals the softmax of its unmasked entries alone
    const row = 3 * n; // row 3 of the first sample: entries 0..3 attend
    const alone = qsoftmaxInt({ x: x.slice(row, row + 4), shape: [1, 4], table: p.table, outMultiplier: p.outMultiplier, yZp: -128, outDType: "int8", clampMin: -128, clampMax: 127 });
    expect(Array.from(got.data.subarray(row, row + 4))).toEqual(Array.from(alone.data));
  });

  it("parameters: the table falls from 2^22, the multiplier keeps every integer below 2^53; typed errors", () => {
    const p = softmaxIntParams(0.1, 1 / 255, 1024);
    expect(p.table[0]).toBe(2 ** 22);
    expect(p.table[256]).toBe(0);
    const [R, r] = p.outMultiplier;
    expect(2 * 1024 * 2 ** (22 + r)).toBeLessThan(2 ** 53);
    expect(2 * 2 ** 22 * R + 1024 * 2 ** (22 + r)).toBeLessThan(2 ** 53);
    expect(R).toBeGreaterThan(2 ** 20);
    expect(() => softmaxIntParams(0.1, 1 / 255, 2 ** 40)).toThrow(NotSupportedError);
    expect(() => softmaxIntParams(-1, 1, 4)).toThrow(/positive and finite/);
  });
});

describe("layernorm_int", () => {
  function bigintRef(x: ArrayLike<number>, n: number, p: ReturnType<typeof layerNormIntParams>, zy: number, lo: number, hi: number): number[] {
    const out: number[] = [];
    const N = BigInt(n);
    for (let row = 0; row < x.length; row += n) {
      const q = Array.from({ length: n }, (_, i) => BigInt(x[row + i]));
      const s = q.reduce((a, b) => a + b, 0n);
      const d = q.map((v) => N * v - s);
      const V = d.reduce((a, b) => a + b * b, 0n);
      const W = (V * 4n ** BigInt(p.p) + BigInt(p.epsTerm)) / N;
      expect(W < 2n ** 52n).toBe(true);
      let sigma = isqrtBig(W);
      if (sigma < 1n) sigma = 1n;
      const den = sigma << BigInt(p.g);
      for (let i = 0; i < n; i++) {
        const num = d[i] * (1n << BigInt(p.p)) * BigInt(p.gamma[i]) + BigInt(p.beta[i]) * sigma;
        expect(2n * (num < 0n ? -num : num) + den < 2n ** 53n).toBe(true);
        out.push(Math.min(hi, Math.max(lo, zy + Number(floorBig(2n * num + den, 2n * den)))));
      }
    }
    return out;
  }

  /** The float64 LayerNorm of the dequantized row, quantized (the float island). */
  function floatRef(x: ArrayLike<number>, n: number, sx: number, zx: number, gamma: number[], beta: number[], eps: number, sy: number, zy: number, lo: number, hi: number): number[] {
    const out: number[] = [];
    for (let row = 0; row < x.length; row += n) {
      const v = Array.from({ length: n }, (_, i) => sx * (x[row + i] - zx));
      const mu = v.reduce((a, b) => a + b, 0) / n;
      const va = v.reduce((a, b) => a + (b - mu) ** 2, 0) / n;
      // a constant row without eps is 0/0 in float (NaN); the integer LayerNorm gives β there
      for (let i = 0; i < n; i++) out.push(quantize((va + eps === 0 ? 0 : (v[i] - mu) / Math.sqrt(va + eps)) * gamma[i] + beta[i], sy, zy, lo, hi));
    }
    return out;
  }

  for (const d of ["uint8", "int8"] as D[]) {
    it(`${d}: bit for bit with the BigInt definition (exact √), within 1 quantum of the float64 LayerNorm (rows of 1 to 1024)`, () => {
      const g = new Generator(d === "uint8" ? 21 : 22);
      const [lo, hi] = range(d);
      let worst = 0, off = 0, total = 0;
      for (const n of [1, 2, 16, 64, 384, 1024]) {
        for (const [sx, spread, eps] of [[0.05, 60, 1e-5], [0.02, 255, 1e-5], [0.1, 2, 1e-5], [0.003, 20, 1e-3], [0.5, 128, 0]] as const) {
          const rows = n >= 384 ? 3 : 10;
          const x = randomRows(g, rows, n, d, spread);
          const gamma = Array.from({ length: n }, () => 0.2 + 1.6 * g.uniform());
          const beta = Array.from({ length: n }, () => g.uniform() - 0.5);
          const sy = 0.03, zy = d === "uint8" ? 128 : 0;
          const p = layerNormIntParams(n, sx, sy, gamma, beta, eps);
          const got = qlayerNormInt({ x, shape: [rows, n], ...p, yZp: zy, outDType: d, clampMin: lo, clampMax: hi });
          expect(Array.from(got.data), `n ${n} sx ${sx}`).toEqual(bigintRef(x, n, p, zy, lo, hi));
          const want = floatRef(x, n, sx, d === "uint8" ? 128 : 0, gamma, beta, eps, sy, zy, lo, hi);
          for (let i = 0; i < want.length; i++) {
            const dq = Math.abs(got.data[i] - want[i]);
            worst = Math.max(worst, dq);
            if (dq > 0) off++;
            total++;
          }
        }
      }
      console.log(`[integer-norm] layernorm_int ${d}: ${off} of ${total} outputs differ from the float64 LayerNorm, by at most ${worst} quantum`);
      expect(worst).toBeLessThanOrEqual(1);
      expect(off / total).toBeLessThan(0.01);
    });
  }

  it("rows of constants (σ' from eps alone, d = 0) give β; without eps σ' = 0 is taken as 1 and still gives β", () => {
    for (const eps of [1e-5, 0]) {
      const n = 64;
      const beta = Array.from({ length: n }, (_, i) => (i - 32) / 40);
      const p = layerNormIntParams(n, 0.05, 0.02, null, beta, eps);
      const x = new Uint8Array(3 * n).fill(200, n, 2 * n).fill(255, 2 * n);
      const got = qlayerNormInt({ x, shape: [3, n], ...p, yZp: 100, outDType: "uint8", clampMin: 0, clampMax: 255 });
      for (let i = 0; i < 3 * n; i++) expect(got.data[i]).toBe(100 + Math.round(beta[i % n] / 0.02));
    }
  });

  it("the largest variance a row of 1024 can have (half 0, half 255) and the largest row length stay exact", () => {
    for (const n of [1024, LAYERNORM_MAX_N]) {
      const x = Uint8Array.from({ length: n }, (_, i) => (i % 2 ? 255 : 0));
      const gamma = Array.from({ length: n }, (_, i) => (i % 3 ? 4 : -4));
      const p = layerNormIntParams(n, 1 / 255, 0.01, gamma, null, 1e-5);
      const got = qlayerNormInt({ x, shape: [1, n], ...p, yZp: 128, outDType: "uint8", clampMin: 0, clampMax: 255 });
      expect(Array.from(got.data)).toEqual(bigintRef(x, n, p, 128, 0, 255));
      expect(layerNormW(n ** 3 * 16256.25, p.p, p.epsTerm, n)).toBe(Number((BigInt(n ** 3 * 16256.25) * 4n ** BigInt(p.p) + BigInt(p.epsTerm)) / BigInt(n)));
    }
    expect(() => layerNormIntParams(LAYERNORM_MAX_N + 1, 0.1, 0.1, null, null, 1e-5)).toThrow(NotSupportedError);
    expect(() => layerNormIntParams(8, 0.1, 0.1, [1, 2], null, 1e-5)).toThrow(/γ and β must have 8/);
  });
});
