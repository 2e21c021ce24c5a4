/**
 * qadd, qrequantize, qconcat and qlut (src/int8/kernels/elementwise.ts): the exact error of every
 * check (type and message naming the kernel and the argument), the result shapes, qconcat's axis
 * rules and clamps, and qlut's table rule — against the BigInt references of
 * test/int8/reference.ts and plain table lookups. Written to kill the mutants `npm run mutation`
 * left alive in elementwise.ts (docs/mutation-survivors.md); run by `npm test` and the mutation run.
 */
import { describe, expect, test } from "vitest";
import { qadd, qconcat, qlut, qrequantize, quantizeMultiplier } from "../../src/int8/index-kernels.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import { expectError } from "../expect-error.js";
import { mbqmRef, mbqmSingleRef } from "./reference.js";
import { describeEachBackend, expectIdentical } from "../backend/helpers.js";

const ONE = { multiplier: 2 ** 30, shift: 1 };
const HALF = { multiplier: 2 ** 30, shift: 0 };
const mMsg = (op: string, name: string, m: number, s: number) => `${op}: ${name} must have multiplier ∈ [0, 2^31 − 1] and shift ∈ [−31, 30], got ${m}, ${s}`;
const notQuant = (op: string, name: string, got: string) => `${op}: ${name} must be a Uint8Array or Int8Array, got ${got}`;
const zpMsg = (op: string, name: string, dtype: "uint8" | "int8", zp: number) => `${op}: ${name} must be an integer in [${dtype === "uint8" ? "0, 255" : "-128, 127"}] for ${dtype}, got ${zp}`;
const bad = <T>(v: unknown): T => v as T;

describe("qadd", () => {
  const a = Uint8Array.of(0, 100, 255), b = Int8Array.of(-128, 0, 127);
  const base = { a, aZp: 10, b, bZp: -5, aMultiplier: HALF, bMultiplier: HALF, outMultiplier: { multiplier: 2 ** 30, shift: -19 }, outZp: 3, outDType: "uint8" as const };

  test("every argument check, with its exact message", () => {
    expectError(() => qadd({ ...base, a: bad(new Float32Array(3)) }), DTypeError, notQuant("qadd", "a", "Float32Array"));
    expectError(() => qadd({ ...base, b: bad(new Int16Array(3)) }), DTypeError, notQuant("qadd", "b", "Int16Array"));
    expectError(() => qadd({ ...base, outDType: bad("int16") }), DTypeError, "qadd: outDType must be 'uint8' or 'int8', got 'int16'");
    expectError(() => qadd({ ...base, aZp: 256 }), ValueError, zpMsg("qadd", "aZp", "uint8", 256));
    expectError(() => qadd({ ...base, bZp: 128 }), ValueError, zpMsg("qadd", "bZp", "int8", 128));
    expectError(() => qadd({ ...base, outZp: -1 }), ValueError, zpMsg("qadd", "outZp", "uint8", -1));
    expectError(() => qadd({ ...base, outMultiplier: { multiplier: 1, shift: -32 } }), ValueError, mMsg("qadd", "outMultiplier", 1, -32));
    expectError(() => qadd({ ...base, clampMin: 9, clampMax: 8 }), ValueError, "qadd: clamp [9, 8] must be integers with 0 ≤ clampMin ≤ clampMax ≤ 255 (uint8)");
    expectError(() => qadd({ ...base, out: new Int8Array(3) }), DTypeError, "qadd: out must be uint8");
    expectError(() => qadd({ ...base, out: new Uint8Array(2) }), ShapeError, "qadd: out holds 2 elements, expected 3");
  });

  test("values follow the double-rounding input rescale and the single-rounding output, shape echoed or [n]", () => {
    for (const leftShift of [undefined, 0, 7]) {
      const ls = leftShift ?? 20;
      const outMultiplier = quantizeMultiplier(2 ** -ls * 0.8);
      const y = qadd({ ...base, outMultiplier, leftShift });
      const want = Array.from(a, (av, i) => {
        const s = mbqmRef((av - 10) * 2 ** ls, HALF.multiplier, HALF.shift) + mbqmRef((b[i] + 5) * 2 ** ls, HALF.multiplier, HALF.shift);
        return Math.min(255, Math.max(0, 3 + mbqmSingleRef(s, outMultiplier.multiplier, outMultiplier.shift)));
      });
      expect(Array.from(y.data), `leftShift ${leftShift}`).toEqual(want);
      expect(y.shape).toEqual([3]);
    }
    const shaped = qadd({ ...base, shape: [1, 3] });
    expect(shaped.shape).toEqual([1, 3]);
    const out = new Uint8Array(3);
    expect(qadd({ ...base, out }).data).toBe(out);
  });
});

describe("qrequantize", () => {
  const x = Int8Array.of(-128, -1, 0, 1, 127);
  const base = { x, xZp: 0, multiplier: HALF, yZp: 0, outDType: "int8" as const };

  test("every argument check, with its exact message", () => {
    expectError(() => qrequantize({ ...base, x: bad([1, 2]) }), DTypeError, notQuant("qrequantize", "x", "Array"));
    expectError(() => qrequantize({ ...base, outDType: bad("uint16") }), DTypeError, "qrequantize: outDType must be 'uint8' or 'int8', got 'uint16'");
    expectError(() => qrequantize({ ...base, xZp: -129 }), ValueError, zpMsg("qrequantize", "xZp", "int8", -129));
    expectError(() => qrequantize({ ...base, yZp: 0.5 }), ValueError, zpMsg("qrequantize", "yZp", "int8", 0.5));
    expectError(() => qrequantize({ ...base, multiplier: { multiplier: 2 ** 31, shift: 0 } }), ValueError, mMsg("qrequantize", "multiplier", 2 ** 31, 0));
    expectError(() => qrequantize({ ...base, clampMax: 128 }), ValueError, "qrequantize: clamp [-128, 128] must be integers with -128 ≤ clampMin ≤ clampMax ≤ 127 (int8)");
    expectError(() => qrequantize({ ...base, out: new Int8Array(4) }), ShapeError, "qrequantize: out holds 4 elements, expected 5");
  });

  test("M = 1.5 with equal zero points is not a copy; shape echoed or [n]", () => {
    const m = { multiplier: 3 * 2 ** 29, shift: 1 }; // 1.5
    const y = qrequantize({ ...base, multiplier: m, shape: [5, 1] });
    expect(Array.from(y.data)).toEqual(Array.from(x, (v) => Math.min(127, Math.max(-128, mbqmSingleRef(v, m.multiplier, m.shift)))));
    expect(y.shape).toEqual([5, 1]);
    expect(qrequantize(base).shape).toEqual([5]);
  });

  test("identity map into a preallocated output with an offset-free copy", () => {
    const out = new Int8Array(5);
    const y = qrequantize({ ...base, multiplier: ONE, out });
    expect(y.data).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(x));
  });
});

describe("qconcat", () => {
  const a = Uint8Array.of(1, 2, 3, 4, 5, 6), b = Uint8Array.of(7, 8, 9);

  test("every argument check, with its exact message", () => {
    const two = [{ x: a, shape: [2, 3], zp: 0 }, { x: b, shape: [1, 3], zp: 0 }];
    expectError(() => qconcat({ inputs: [], axis: 0, outZp: 0, outDType: "uint8" }), ValueError, "qconcat: needs at least one input");
    expectError(() => qconcat({ inputs: two, axis: 0, outZp: 0, outDType: bad("f32") }), DTypeError, "qconcat: outDType must be 'uint8' or 'int8', got 'f32'");
    expectError(() => qconcat({ inputs: two, axis: 0, outZp: 300, outDType: "uint8" }), ValueError, zpMsg("qconcat", "outZp", "uint8", 300));
    for (const axis of [2, -3, 0.5]) expectError(() => qconcat({ inputs: two, axis, outZp: 0, outDType: "uint8" }), ValueError, `qconcat: axis ${axis} out of range for rank 2`);
    expectError(() => qconcat({ inputs: [two[0], { ...two[1], x: bad(new Float64Array(3)) }], axis: 0, outZp: 0, outDType: "uint8" }), DTypeError, notQuant("qconcat", "inputs[1].x", "Float64Array"));
    expectError(() => qconcat({ inputs: [two[0], { ...two[1], zp: 256 }], axis: 0, outZp: 0, outDType: "uint8" }), ValueError, zpMsg("qconcat", "inputs[1].zp", "uint8", 256));
    expectError(() => qconcat({ inputs: [two[0], { ...two[1], multiplier: { multiplier: -1, shift: 0 } }], axis: 0, outZp: 0, outDType: "uint8" }), ValueError, mMsg("qconcat", "inputs[1].multiplier", -1, 0));
    // Same element count, other dims differ / other rank / wrong length.
    expectError(() => qconcat({ inputs: [{ x: a, shape: [2, 3], zp: 0 }, { x: a, shape: [3, 2], zp: 0 }], axis: 0, outZp: 0, outDType: "uint8" }), ShapeError, "qconcat: inputs[1] shape [3, 2] (6 elements) does not fit [2, 3] along axis 0");
    expectError(() => qconcat({ inputs: [{ x: a, shape: [2, 3], zp: 0 }, { x: a, shape: [2, 3, 1], zp: 0 }], axis: 1, outZp: 0, outDType: "uint8" }), ShapeError, "qconcat: inputs[1] shape [2, 3, 1] (6 elements) does not fit [2, 3] along axis 1");
    expectError(() => qconcat({ inputs: [{ x: a, shape: [2, 3], zp: 0 }, { x: b, shape: [2, 3], zp: 0 }], axis: 1, outZp: 0, outDType: "uint8" }), ShapeError, "qconcat: inputs[1] shape [2, 3] (3 elements) does not fit [2, 3] along axis 1");
    // Lower rank whose dims all match the first input's leading ones.
    expectError(() => qconcat({ inputs: [{ x: a, shape: [2, 3, 1], zp: 0 }, { x: a, shape: [2, 3], zp: 0 }], axis: 1, outZp: 0, outDType: "uint8" }), ShapeError, "qconcat: inputs[1] shape [2, 3] (6 elements) does not fit [2, 3, 1] along axis 1");
    expectError(() => qconcat({ inputs: two, axis: 0, outZp: 0, outDType: "uint8", out: new Uint8Array(8) }), ShapeError, "qconcat: out holds 8 elements, expected 9");
  });

  test("axis 0 and axis −1 on rank 1, into a preallocated output", () => {
    const y0 = qconcat({ inputs: [{ x: a, shape: [2, 3], zp: 0 }, { x: b, shape: [1, 3], zp: 0 }], axis: 0, outZp: 0, outDType: "uint8" });
    expect(y0.shape).toEqual([3, 3]);
    expect(Array.from(y0.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const out = new Uint8Array(9);
    const y1 = qconcat({ inputs: [{ x: a, shape: [6], zp: 0 }, { x: b, shape: [3], zp: 0 }], axis: -1, outZp: 0, outDType: "uint8", out });
    expect(y1.data).toBe(out);
    expect(y1.shape).toEqual([9]);
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("requantized inputs saturate at the output dtype's limits (uint8 and int8)", () => {
    const m = quantizeMultiplier(3);
    const x = Uint8Array.of(0, 40, 100, 200, 255);
    const u = qconcat({ inputs: [{ x, shape: [5], zp: 100, multiplier: m }], axis: 0, outZp: 128, outDType: "uint8" });
    expect(Array.from(u.data)).toEqual([0, 0, 128, 255, 255]);
    const s = qconcat({ inputs: [{ x, shape: [5], zp: 100, multiplier: m }], axis: 0, outZp: 0, outDType: "int8" });
    expect(Array.from(s.data)).toEqual([-128, -128, 0, 127, 127]);
  });
});

describe("qlut", () => {
  const ramp = Int32Array.from({ length: 256 }, (_, i) => 255 - i);

  test("every argument check, with its exact message", () => {
    expectError(() => qlut({ x: bad(new Uint16Array(2)), table: ramp, outDType: "uint8" }), DTypeError, notQuant("qlut", "x", "Uint16Array"));
    expectError(() => qlut({ x: new Uint8Array(2), table: ramp, outDType: bad("int4") }), DTypeError, "qlut: outDType must be 'uint8' or 'int8', got 'int4'");
    expectError(() => qlut({ x: new Uint8Array(2), table: bad(Array.from(ramp)), outDType: "uint8" }), ShapeError, "qlut: table must be an Int32Array of 256 entries");
    expectError(() => qlut({ x: new Uint8Array(2), table: ramp.subarray(1), outDType: "uint8" }), ShapeError, "qlut: table must be an Int32Array of 256 entries");
    expectError(() => qlut({ x: new Uint8Array(2), table: ramp, outDType: "int8" }), ValueError, "qlut: table entry 255 outside the int8 range");
    const low = Int32Array.from(ramp, (v) => v - 128);
    low[7] = -129;
    expectError(() => qlut({ x: new Uint8Array(2), table: low, outDType: "int8" }), ValueError, "qlut: table entry -129 outside the int8 range");
    const neg = ramp.slice();
    neg[255] = -1;
    expectError(() => qlut({ x: new Uint8Array(2), table: neg, outDType: "uint8" }), ValueError, "qlut: table entry -1 outside the uint8 range");
  });

  test("entry x − qmin(x dtype), tables reaching both ends of the range, shape echoed or [n]", () => {
    const x8 = Int8Array.of(-128, -1, 0, 127);
    const t = Int32Array.from({ length: 256 }, (_, i) => i - 128); // identity on int8, [-128, 127]
    const y = qlut({ x: x8, table: t, outDType: "int8", shape: [2, 2] });
    expect(y.data).toBeInstanceOf(Int8Array);
    expect(Array.from(y.data)).toEqual([-128, -1, 0, 127]);
    expect(y.shape).toEqual([2, 2]);
    const u = qlut({ x: Uint8Array.of(0, 1, 254, 255), table: ramp, outDType: "uint8" });
    expect(Array.from(u.data)).toEqual([255, 254, 1, 0]);
    expect(u.shape).toEqual([4]);
  });
});

describeEachBackend("long arrays (the wasm routes where that backend is active)", () => {
  const n = 1030;
  const a = Uint8Array.from({ length: n }, (_, i) => (i * 37) % 256), b = Int8Array.from({ length: n }, (_, i) => ((i * 91) % 256) - 128);

  test("qadd: values and the result shape, echoed or [n]", () => {
    const outMultiplier = quantizeMultiplier(2 ** -20 * 0.7);
    const args = { a, aZp: 3, b, bZp: -4, aMultiplier: HALF, bMultiplier: quantizeMultiplier(0.3), outMultiplier, outZp: 9, outDType: "int8" as const };
    const want = Array.from(a, (av, i) => {
      const s = mbqmRef((av - 3) * 2 ** 20, HALF.multiplier, HALF.shift) + mbqmRef((b[i] + 4) * 2 ** 20, args.bMultiplier.multiplier, args.bMultiplier.shift);
      return Math.min(127, Math.max(-128, 9 + mbqmSingleRef(s, outMultiplier.multiplier, outMultiplier.shift)));
    });
    const y = qadd(args);
    expectIdentical(y.data, want, "qadd");
    expect(y.shape).toEqual([n]);
    expect(qadd({ ...args, shape: [2, 515] }).shape).toEqual([2, 515]);
  });

  test("qconcat along axis 0 of long requantized inputs: each lands at its own offset", () => {
    // One outer block: each input is a whole array (start 0, its full length) written at offset > 0
    // for the second; only the whole output may take the wasm table route.
    const x1 = a.subarray(0, 600), x2 = Uint8Array.from(b.subarray(0, 700), (v) => v + 128);
    const m1 = quantizeMultiplier(0.75), m2 = quantizeMultiplier(1.25);
    const y = qconcat({ inputs: [{ x: x1, shape: [600], zp: 10, multiplier: m1 }, { x: x2, shape: [700], zp: 128, multiplier: m2 }], axis: 0, outZp: 5, outDType: "uint8" });
    const want = [
      ...Array.from(x1, (v) => Math.min(255, Math.max(0, 5 + mbqmSingleRef(v - 10, m1.multiplier, m1.shift)))),
      ...Array.from(x2, (v) => Math.min(255, Math.max(0, 5 + mbqmSingleRef(v - 128, m2.multiplier, m2.shift)))),
    ];
    expectIdentical(y.data, want, "qconcat");
    expect(y.shape).toEqual([1300]);
  });

  test("qlut: values and the result shape, echoed or [n]", () => {
    const table = Int32Array.from({ length: 256 }, (_, i) => (i * 7) % 256);
    const y = qlut({ x: b, table, outDType: "uint8" });
    expectIdentical(y.data, Array.from(b, (v) => table[v + 128]), "qlut");
    expect(y.shape).toEqual([n]);
    expect(qlut({ x: b, table, outDType: "uint8", shape: [515, 2] }).shape).toEqual([515, 2]);
  });
});
