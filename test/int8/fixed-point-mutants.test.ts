/**
 * Single-rounding requantization (src/int8/fixed-point.ts) just below a tie with |x| ≥ 2^26,
 * against the BigInt reference: x·M0 ≡ 2^(t−1) − d (mod 2^t) with |x·M0| ≥ 2^56, so the double
 * product rounds onto the tie and only the exact (split-multiplier) path rounds down as it must.
 * Pins the |x| < 2^21 bound of the fast path (written from the mutants `npm run mutation` left
 * alive; the random properties of fixed-point.test.ts almost never land this close to a tie).
 * In TESTS of scripts/mutation.mjs for fixed-point.ts.
 */
import { expect, test } from "vitest";
import { multiplyByQuantizedMultiplierSingleRounding as single } from "../../src/int8/fixed-point.js";
import { I32_MAX, Rng, mbqmSingleRef } from "./reference.js";

/** b⁻¹ mod 2^n for odd b (Newton iteration over BigInt). */
function inverseMod2n(b: bigint, n: bigint): bigint {
  const m = 1n << n;
  let inv = 1n;
  for (let i = 0; i < 7; i++) inv = (inv * (2n - ((b * inv) % m))) % m;
  return ((inv % m) + m) % m;
}

test("|x| ≥ 2^26 one to three below a tie: rounds down (the double product would round onto the tie)", () => {
  const rng = new Rng(31);
  let cases = 0;
  let doubleWouldMiss = 0;
  for (let i = 0; cases < 400; i++) {
    const t = rng.int(30, 50);
    const d = rng.int(1, 3);
    const sign = i % 2 ? 1 : -1;
    const x = sign * (2 * rng.int(2 ** 25, 2 ** 30 - 1) + 1); // |x·M0| ≥ 2^56: a double ulp of ≥ 16 > 2d
    const T = 1n << BigInt(t);
    // M0 ≡ (2^(t−1) − d)·x⁻¹ (mod 2^t), lifted into [2^30, 2^31) when t < 31.
    const r = ((((T / 2n - BigInt(d)) * inverseMod2n(BigInt(x), BigInt(t))) % T) + T) % T;
    let m0 = Number(r);
    if (t < 31) m0 += 2 ** t * rng.int(Math.ceil((2 ** 30 - m0) / 2 ** t), Math.floor((I32_MAX - m0) / 2 ** t));
    if (m0 < 2 ** 30 || m0 > I32_MAX) continue;
    const P = BigInt(x) * BigInt(m0);
    expect(((P % T) + T) % T).toBe(T / 2n - BigInt(d));
    const shift = 31 - t;
    const want = mbqmSingleRef(x, m0, shift);
    const got = single(x, m0, shift);
    if (got !== want) throw new Error(`single(${x}, ${m0}, ${shift}) = ${got}, reference ${want}`);
    // The naive double formula lands on the tie and rounds up: these inputs do separate the paths.
    const y = x * m0 * 2 ** -t;
    if (Math.floor(y) + (y - Math.floor(y) >= 0.5 ? 1 : 0) !== want) doubleWouldMiss++;
    cases++;
  }
  expect(doubleWouldMiss).toBe(cases);
});
