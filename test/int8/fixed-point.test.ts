/**
 * Property tests of src/int8/fixed-point.ts, bit-exact against the BigInt references of
 * ./reference.ts: SRDHM over random and edge int32 pairs (ties, saturation), RoundingDivideByPOT
 * for every exponent, MultiplyByQuantizedMultiplier over the whole shift range, and
 * QuantizeMultiplier's reconstruction error and ranges. Seeded; ~20k cases per property.
 */
import { describe, expect, test } from "vitest";
import {
  INT32_MAX, INT32_MIN, frexp, multiplyByQuantizedMultiplier, quantizeMultiplier, quantizeMultipliers,
  roundingDivideByPOT, saturatingLeftShift, saturatingRoundingDoublingHighMul,
} from "../../src/int8/fixed-point.js";
import { ValueError } from "../../src/tensor/errors.js";
import { I32_MAX, I32_MIN, Rng, mbqmRef, rdbpotRef, realProduct, srdhmRef } from "./reference.js";

const EDGES = [I32_MIN, I32_MIN + 1, -(2 ** 30) - 1, -(2 ** 30), -65537, -65536, -1, 0, 1, 65535, 65536, 2 ** 30, 2 ** 30 + 1, I32_MAX - 1, I32_MAX];
const CASES = 20000;

/** Fails with the first mismatching input, so a failure names its counterexample. */
function expectSame(name: string, got: number, want: number, ...inputs: number[]): void {
  if (got !== want || Object.is(got, -0)) throw new Error(`${name}(${inputs.join(", ")}) = ${got}, reference ${want}`);
}

describe("saturatingRoundingDoublingHighMul", () => {
  test("edge pairs match the BigInt reference", () => {
    for (const a of EDGES) for (const b of EDGES) expectSame("srdhm", saturatingRoundingDoublingHighMul(a, b), srdhmRef(a, b), a, b);
  });

  test("random int32 pairs (uniform and log-uniform magnitudes)", () => {
    const rng = new Rng(1);
    for (let i = 0; i < CASES; i++) {
      const a = i % 2 ? rng.int32() : rng.int32LogUniform();
      const b = i % 3 ? rng.int32() : rng.int32LogUniform();
      expectSame("srdhm", saturatingRoundingDoublingHighMul(a, b), srdhmRef(a, b), a, b);
    }
  });

  test("exact ties (a·b ≡ 2^30 mod 2^31) round toward +∞ (gemmlowp's nudge 1 − 2^30 for negatives)", () => {
    const rng = new Rng(2);
    for (let i = 0; i < 2000; i++) {
      // b = ±2^k, a = odd·2^(30−k) (|odd| < 2^(k+1), so a is an int32): a·b = ±odd·2^30, a tie.
      const k = rng.int(0, 30);
      const odd = 2 * rng.int(-(2 ** k), 2 ** k - 1) + 1;
      const a = odd * 2 ** (30 - k);
      const b = rng.int(0, 1) ? 2 ** k : -(2 ** k);
      expectSame("srdhm tie", saturatingRoundingDoublingHighMul(a, b), srdhmRef(a, b), a, b);
      expectSame("srdhm tie", saturatingRoundingDoublingHighMul(b, a), srdhmRef(b, a), b, a);
    }
    // Hand-checked: 0.5 → 1, −0.5 → 0 ((−2^30 + 1 − 2^30)/2^31 truncates to 0), 1.5 → 2, −1.5 → −1.
    expect(saturatingRoundingDoublingHighMul(1, 2 ** 30)).toBe(1);
    expect(saturatingRoundingDoublingHighMul(-1, 2 ** 30)).toBe(0);
    expect(saturatingRoundingDoublingHighMul(3, 2 ** 30)).toBe(2);
    expect(saturatingRoundingDoublingHighMul(-3, 2 ** 30)).toBe(-1);
    // Just off a tie, the nearest integer wins on both sides.
    expect(saturatingRoundingDoublingHighMul(-3, 2 ** 30 + 1)).toBe(-2);
    expect(saturatingRoundingDoublingHighMul(-3, 2 ** 30 - 1)).toBe(-1);
  });

  test("saturates only a = b = INT32_MIN; results stay int32", () => {
    expect(saturatingRoundingDoublingHighMul(INT32_MIN, INT32_MIN)).toBe(INT32_MAX);
    expect(saturatingRoundingDoublingHighMul(INT32_MIN, INT32_MIN + 1)).toBe(INT32_MAX);
    expect(saturatingRoundingDoublingHighMul(INT32_MIN, INT32_MAX)).toBe(INT32_MIN + 1);
    expect(saturatingRoundingDoublingHighMul(INT32_MAX, INT32_MAX)).toBe(INT32_MAX - 1);
    const rng = new Rng(3);
    for (let i = 0; i < 1000; i++) {
      const r = saturatingRoundingDoublingHighMul(rng.int32(), rng.int32());
      expect(r >= INT32_MIN && r <= INT32_MAX && Number.isInteger(r)).toBe(true);
    }
  });
});

describe("roundingDivideByPOT", () => {
  test("every exponent 0..31 over edges, random values and exact ties", () => {
    const rng = new Rng(4);
    for (let e = 0; e <= 31; e++) {
      for (const x of EDGES) expectSame("rdbpot", roundingDivideByPOT(x, e), rdbpotRef(x, e), x, e);
      for (let i = 0; i < CASES / 32; i++) {
        const x = i % 2 ? rng.int32() : rng.int32LogUniform();
        expectSame("rdbpot", roundingDivideByPOT(x, e), rdbpotRef(x, e), x, e);
      }
      if (e > 0) {
        for (let i = 0; i < 50; i++) {
          // x = (2m + 1)·2^(e−1): exactly half-way between two multiples of 2^e.
          const m = rng.int(-(2 ** (31 - e)), 2 ** (31 - e) - 1);
          const x = (2 * m + 1) * 2 ** (e - 1);
          if (x < I32_MIN || x > I32_MAX) continue;
          expectSame("rdbpot tie", roundingDivideByPOT(x, e), rdbpotRef(x, e), x, e);
        }
      }
    }
    expect(roundingDivideByPOT(-3, 1)).toBe(-2); // −1.5 → −2 (away from zero)
    expect(roundingDivideByPOT(3, 1)).toBe(2);
    expect(roundingDivideByPOT(-5, 2)).toBe(-1); // −1.25 → −1
    expect(roundingDivideByPOT(INT32_MIN, 31)).toBe(-1);
    expect(roundingDivideByPOT(INT32_MAX, 31)).toBe(1);
  });
});

describe("multiplyByQuantizedMultiplier", () => {
  test("bit-exact vs BigInt over shifts −31..30 and random multipliers", () => {
    const rng = new Rng(5);
    for (let i = 0; i < CASES; i++) {
      const shift = rng.int(-31, 30);
      const m0 = i % 7 === 0 ? EDGES[rng.int(0, EDGES.length - 1)] & 0x7fffffff : rng.int(2 ** 30, I32_MAX);
      const x = i % 2 ? rng.int32LogUniform() : rng.int(-(2 ** 24), 2 ** 24);
      expectSame("mbqm", multiplyByQuantizedMultiplier(x, m0, shift), mbqmRef(x, m0, shift), x, m0, shift);
    }
  });

  test("within ±1 of the exact real product; exact unless double rounding hits a tie", () => {
    // SRDHM rounds to an integer, then RoundingDivideByPOT rounds again: the result can differ
    // from round(real) only when the first rounding lands exactly on a tie of the second, which
    // has probability ≈ 2^-(right+1). Typical conv layers have right shifts ≥ 7.
    const rng = new Rng(6);
    let exact = 0, exactDeep = 0, deep = 0;
    for (let i = 0; i < CASES; i++) {
      const shift = rng.int(-31, 8);
      const m0 = rng.int(2 ** 30, I32_MAX);
      const x = rng.int(-(2 ** 22), 2 ** 22);
      const got = multiplyByQuantizedMultiplier(x, m0, shift);
      const real = realProduct(x, m0, shift);
      const nearest = Math.sign(real) * Math.round(Math.abs(real));
      expect(Math.abs(got - nearest)).toBeLessThanOrEqual(1);
      if (got === nearest) exact++;
      if (shift <= -10) {
        deep++;
        if (got === nearest) exactDeep++;
      }
    }
    expect(exact / CASES).toBeGreaterThan(0.98);
    expect(exactDeep / deep).toBeGreaterThan(0.999);
  });

  test("saturating left shift at the int32 limits", () => {
    expect(saturatingLeftShift(2 ** 20, 12)).toBe(INT32_MAX);
    expect(saturatingLeftShift(-(2 ** 20), 11)).toBe(INT32_MIN);
    expect(saturatingLeftShift(-(2 ** 20), 10)).toBe(-(2 ** 30));
    expect(multiplyByQuantizedMultiplier(INT32_MAX, INT32_MAX, 30)).toBe(INT32_MAX - 1);
    expect(multiplyByQuantizedMultiplier(INT32_MIN, 2 ** 30, 30)).toBe(mbqmRef(INT32_MIN, 2 ** 30, 30));
    expect(multiplyByQuantizedMultiplier(100, 2 ** 30, 1)).toBe(100); // M = 1 is the identity
  });
});

describe("quantizeMultiplier", () => {
  test("M0 ∈ [2^30, 2^31 − 1], shift ∈ [−31, 30], relative error ≤ 2^-31", () => {
    const rng = new Rng(7);
    for (let i = 0; i < CASES; i++) {
      const real = Math.pow(2, rng.uniform(-31, 30)) * rng.uniform(0.5, 1);
      const { multiplier, shift } = quantizeMultiplier(real);
      const back = multiplier * Math.pow(2, shift - 31);
      const ok = multiplier === 0
        ? real < 2 ** -32
        : multiplier >= 2 ** 30 && multiplier <= I32_MAX && shift >= -31 && shift <= 30 &&
          Number.isInteger(multiplier) && Math.abs(back - real) / real <= 2 ** -31;
      if (!ok) throw new Error(`quantizeMultiplier(${real}) = (${multiplier}, ${shift}) reconstructs ${back}`);
    }
  });

  test("hand-checked values, the 2^31 rounding carry, flush and saturation", () => {
    expect(quantizeMultiplier(0)).toEqual({ multiplier: 0, shift: 0 });
    expect(quantizeMultiplier(0.5)).toEqual({ multiplier: 2 ** 30, shift: 0 });
    expect(quantizeMultiplier(1)).toEqual({ multiplier: 2 ** 30, shift: 1 });
    expect(quantizeMultiplier(0.75)).toEqual({ multiplier: 3 * 2 ** 29, shift: 0 });
    expect(quantizeMultiplier(3)).toEqual({ multiplier: 3 * 2 ** 29, shift: 2 });
    expect(quantizeMultiplier(1 - 2 ** -40)).toEqual({ multiplier: 2 ** 30, shift: 1 }); // round → 2^31 → halve
    expect(quantizeMultiplier(2 ** -32)).toEqual({ multiplier: 2 ** 30, shift: -31 });
    expect(quantizeMultiplier(2 ** -33)).toEqual({ multiplier: 0, shift: 0 });
    expect(quantizeMultiplier(2 ** 29)).toEqual({ multiplier: 2 ** 30, shift: 30 });
    expect(quantizeMultiplier(2 ** 31)).toEqual({ multiplier: I32_MAX, shift: 30 });
    expect(quantizeMultiplier(1e300)).toEqual({ multiplier: I32_MAX, shift: 30 });
    expect(quantizeMultiplier(5e-324)).toEqual({ multiplier: 0, shift: 0 });
    expect(() => quantizeMultiplier(-1)).toThrow(ValueError);
    expect(() => quantizeMultiplier(NaN)).toThrow(ValueError);
    const both = quantizeMultipliers([0.5, 3]);
    expect([...both.multiplier, ...both.shift]).toEqual([2 ** 30, 3 * 2 ** 29, 0, 2]);
  });

  test("frexp returns q ∈ [0.5, 1) with q·2^e exact", () => {
    const rng = new Rng(8);
    for (let i = 0; i < 2000; i++) {
      const x = Math.pow(2, rng.uniform(-60, 60));
      const [q, e] = frexp(x);
      expect(q >= 0.5 && q < 1).toBe(true);
      expect(q * Math.pow(2, e)).toBe(x);
    }
    expect(frexp(1)).toEqual([0.5, 1]);
    expect(frexp(0.5)).toEqual([0.5, 0]);
  });

  test("frexp at the ends of the double range: subnormals (2^-e alone would overflow) and near the maximum", () => {
    expect(frexp(5e-324)).toEqual([0.5, -1073]);
    expect(frexp(2.2250738585072014e-308)).toEqual([0.5, -1021]);
    for (const x of [1e-310, 3e-320, 1e300, 1.7976931348623157e308]) {
      const [q, e] = frexp(x);
      expect(q >= 0.5 && q < 1).toBe(true);
      expect(q * Math.pow(2, Math.trunc(e / 2)) * Math.pow(2, e - Math.trunc(e / 2))).toBe(x);
    }
  });

  test("requantizing with the quantized multiplier is the real product ±1", () => {
    const rng = new Rng(9);
    for (let i = 0; i < 5000; i++) {
      const real = Math.pow(2, rng.uniform(-20, 4));
      const { multiplier, shift } = quantizeMultiplier(real);
      const x = rng.int(-(2 ** 20), 2 ** 20);
      const want = real * x;
      expect(Math.abs(multiplyByQuantizedMultiplier(x, multiplier, shift) - want)).toBeLessThanOrEqual(1);
    }
  });
});

describe("single-rounding requantization", () => {
  test("bit-exact against BigInt floor((x·M0 + 2^(t−1)) / 2^t) for every shift, random and edge x", async () => {
    const { multiplyByQuantizedMultiplierSingleRounding } = await import("../../src/int8/fixed-point.js");
    const { mbqmSingleRef } = await import("./reference.js");
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const edges = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 255, -255, 65536, -65536, 12345678];
    for (let shift = -31; shift <= 30; shift++) {
      for (let k = 0; k < 300; k++) {
        const x = k < edges.length ? edges[k] : Math.floor((rnd() - 0.5) * (k % 3 === 0 ? 2 ** 32 : k % 3 === 1 ? 2 ** 20 : 600));
        const m0 = k % 7 === 0 ? 2 ** 30 : Math.floor(2 ** 30 + rnd() * (2 ** 30 - 1));
        expect(multiplyByQuantizedMultiplierSingleRounding(x, m0, shift)).toBe(mbqmSingleRef(x, m0, shift));
      }
    }
  });
});

/** b⁻¹ mod 2^n for odd b (Newton iteration over BigInt). */
function inverseMod2n(b: bigint, n: bigint): bigint {
  const m = 1n << n;
  let inv = 1n;
  for (let i = 0; i < 7; i++) inv = (inv * (2n - ((b * inv) % m))) % m;
  return ((inv % m) + m) % m;
}

/** C frexp of a normal double from its IEEE-754 bits (independent of Math.log2): x = q·2^e, q ∈ [0.5, 1). */
function frexpBits(x: number): [number, number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const e = ((view.getUint16(0) >> 4) & 0x7ff) - 1022;
  return [x / 2 ** e, e];
}

// Cases found open by mutation testing (docs/TESTING.md).
describe("fixed point: paths the random properties rarely reach", () => {
  test("frexp next to every power of two (where Math.log2 rounds to the integer)", () => {
    // Normal doubles only: frexp's 2^−e overflows for subnormal x (never reached: quantizeMultiplier
    // handles x < 2^−40 before calling it).
    for (let k = -1000; k <= 1000; k++) {
      for (const x of [2 ** k, 2 ** k * (1 - 2 ** -53), 2 ** k * (1 + 2 ** -52), 2 ** k * 0.75]) {
        if (!(x > 0) || !Number.isFinite(x)) continue;
        const [q, e] = frexp(x);
        const [wq, we] = frexpBits(x);
        if (q !== wq || e !== we) throw new Error(`frexp(${x}) = [${q}, ${e}], expected [${wq}, ${we}]`);
      }
    }
  });

  test("quantizeMultiplier names itself and the bad value", () => {
    expect(() => quantizeMultiplier(-2)).toThrow(/^quantizeMultiplier: real multiplier must be finite and ≥ 0, got -2$/);
  });

  test("SRDHM when a·b + nudge is an exact negative multiple of 2^31 (no truncation correction)", () => {
    const rng = new Rng(21);
    let n = 0;
    for (let i = 0; n < 300; i++) {
      // a·b ≡ 2^30 − 1 (mod 2^31) and a·b ≤ −2^52: (a·b + 1 − 2^30) / 2^31 is an exact negative integer.
      const b = -((2 * rng.int(2 ** 24, 2 ** 29)) + 1);
      const a = Number(((2n ** 30n - 1n) * inverseMod2n(BigInt(b), 31n)) % 2n ** 31n);
      if (a * -b < 2 ** 52 || a > I32_MAX) continue;
      expect(BigInt(a) * BigInt(b) % 2n ** 31n).toBe(-(2n ** 30n) - 1n);
      expectSame("srdhm exact", saturatingRoundingDoublingHighMul(a, b), srdhmRef(a, b), a, b);
      expectSame("srdhm exact", saturatingRoundingDoublingHighMul(b, a), srdhmRef(b, a), b, a);
      n++;
    }
  });

  test("single rounding at exact ties with |x| ≥ 2^21 (where x·M0 is no longer exact in a double)", async () => {
    const { multiplyByQuantizedMultiplierSingleRounding: single } = await import("../../src/int8/fixed-point.js");
    const { mbqmSingleRef } = await import("./reference.js");
    const rng = new Rng(22);
    let cases = 0;
    for (let i = 0; cases < 2000; i++) {
      const t = rng.int(25, 30);
      const x = (2 * rng.int(2 ** 22, 2 ** (t - 1) - 1) + 1) * (rng.int(0, 1) ? 1 : -1);
      // M0 ≡ 2^(t−1)·x⁻¹ (mod 2^t), lifted into [2^30, 2^31): x·M0·2^−t is exactly k + ½.
      const r = Number(((2n ** BigInt(t - 1)) * inverseMod2n(BigInt(x), BigInt(t))) % 2n ** BigInt(t));
      const m0 = r + 2 ** t * rng.int(Math.ceil((2 ** 30 - r) / 2 ** t), Math.floor((I32_MAX - r) / 2 ** t));
      if (m0 < 2 ** 30 || m0 > I32_MAX) continue;
      expect((BigInt(x) * BigInt(m0)) % 2n ** BigInt(t)).toBe(x > 0 ? 2n ** BigInt(t - 1) : -(2n ** BigInt(t - 1)));
      expectSame("single tie", single(x, m0, 31 - t), mbqmSingleRef(x, m0, 31 - t), x, m0, 31 - t);
      cases++;
    }
  });

  test("single rounding for any multiplier 1 … 2^31 − 1 and every shift (the t ≤ 16 branches stay in range)", async () => {
    const { multiplyByQuantizedMultiplierSingleRounding: single } = await import("../../src/int8/fixed-point.js");
    const { mbqmSingleRef } = await import("./reference.js");
    const rng = new Rng(23);
    for (let shift = -31; shift <= 30; shift++) {
      for (let k = 0; k < 200; k++) {
        const m0 = Math.min(I32_MAX, Math.floor(2 ** rng.uniform(0, 31)));
        const x = (k % 2 ? rng.int32() : rng.int32LogUniform()) | 0;
        expectSame("single", single(x, m0, shift), mbqmSingleRef(x, m0, shift), x, m0, shift);
      }
    }
  });
});
