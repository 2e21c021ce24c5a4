import { describe, expect, it } from "vitest";
import { type IdxData, type IdxDType, encodeIdx, expectIdx, parseIdx } from "../../src/data/idx.js";
import { FormatError } from "../../src/tensor/errors.js";

const SAMPLES: Record<IdxDType, IdxData> = {
  uint8: Uint8Array.from([0, 1, 127, 128, 255, 42]),
  int8: Int8Array.from([-128, -1, 0, 1, 127, 5]),
  int16: Int16Array.from([-32768, -2, 0, 300, 32767, 7]),
  int32: Int32Array.from([-2147483648, -70000, 0, 1, 2147483647, 65536]),
  float32: Float32Array.from([-1.5, 0, 3.25, 1e-20, Infinity, Math.fround(0.1)]),
  float64: Float64Array.from([-1.5, 0, Math.PI, 1e-300, -Infinity, 0.1]),
};

const CODES: Record<IdxDType, number> = { uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e };

describe("IDX codec", () => {
  for (const dtype of Object.keys(SAMPLES) as IdxDType[]) {
    it(`round-trips ${dtype}`, () => {
      const data = SAMPLES[dtype];
      const bytes = encodeIdx({ shape: [2, 3], data });
      expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0, CODES[dtype], 2]);
      expect(Array.from(bytes.subarray(4, 12))).toEqual([0, 0, 0, 2, 0, 0, 0, 3]);
      expect(bytes.length).toBe(12 + 6 * data.BYTES_PER_ELEMENT);
      const back = parseIdx(bytes, "x.idx");
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual([2, 3]);
      expect(back.data.constructor).toBe(data.constructor);
      expect(Array.from(back.data)).toEqual(Array.from(data));
    });
  }

  it("stores multi-byte elements big-endian", () => {
    const bytes = encodeIdx({ shape: [1], data: Int32Array.from([0x01020304]) });
    expect(Array.from(bytes.subarray(8))).toEqual([1, 2, 3, 4]);
    const f = encodeIdx({ shape: [1], data: Float32Array.from([1]) });
    expect(Array.from(f.subarray(8))).toEqual([0x3f, 0x80, 0, 0]);
  });

  it("handles 0-d, empty and 3-d arrays and unaligned input buffers", () => {
    expect(parseIdx(encodeIdx({ shape: [], data: Uint8Array.from([9]) })).data[0]).toBe(9);
    expect(parseIdx(encodeIdx({ shape: [0, 28, 28], data: new Uint8Array(0) })).shape).toEqual([0, 28, 28]);
    const enc = encodeIdx({ shape: [2, 1, 2], data: Float64Array.from([1, 2, 3, 4]) });
    const shifted = new Uint8Array(enc.length + 3);
    shifted.set(enc, 3);
    expect(Array.from(parseIdx(shifted.subarray(3)).data)).toEqual([1, 2, 3, 4]);
  });

  it("returns a copy, not a view of the input", () => {
    const enc = encodeIdx({ shape: [2], data: Uint8Array.from([5, 6]) });
    const arr = parseIdx(enc);
    enc[8] = 99;
    expect(Array.from(arr.data)).toEqual([5, 6]);
    expect(arr.data.buffer).not.toBe(enc.buffer);
  });

  it("converts when an explicit dtype differs from the array's", () => {
    const bytes = encodeIdx({ shape: [3], data: Float32Array.from([1, 2, 250]), dtype: "uint8" });
    expect(Array.from(parseIdx(bytes).data)).toEqual([1, 2, 250]);
  });

  it("rejects shape/data mismatches when encoding", () => {
    expect(() => encodeIdx({ shape: [2, 2], data: new Uint8Array(3) })).toThrow(FormatError);
    expect(() => encodeIdx({ shape: [-1], data: new Uint8Array(0) })).toThrow(FormatError);
  });
});

describe("IDX validation", () => {
  const good = encodeIdx({ shape: [2, 3], data: Int16Array.from([1, 2, 3, 4, 5, 6]) });

  function expectFormatError(bytes: Uint8Array, pattern: RegExp): void {
    let err: unknown;
    try {
      parseIdx(bytes, "data/bad-file.idx");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toContain("data/bad-file.idx");
    expect((err as Error).message).toMatch(pattern);
  }

  it("rejects truncated data", () => {
    expectFormatError(good.subarray(0, good.length - 1), /truncated.*needs 24 bytes, file has 23/);
  });

  it("rejects trailing bytes", () => {
    const longer = new Uint8Array(good.length + 2);
    longer.set(good);
    expectFormatError(longer, /trailing bytes.*needs 24 bytes, file has 26/);
  });

  it("rejects a wrong magic, naming gzip data", () => {
    const bad = good.slice();
    bad[0] = 1;
    expectFormatError(bad, /magic starts 0x01 0x00/);
    expectFormatError(Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0]), /gzip/);
  });

  it("rejects unknown dtype codes", () => {
    const bad = good.slice();
    bad[2] = 0x0a;
    expectFormatError(bad, /unknown IDX dtype code 0x0a/);
  });

  it("rejects files shorter than their header", () => {
    expectFormatError(good.subarray(0, 3), /header alone needs 4/);
    expectFormatError(good.subarray(0, 9), /truncated IDX header \(2 dims need 12/);
    const moreDims = good.slice();
    moreDims[3] = 200;
    expectFormatError(moreDims, /truncated IDX header \(200 dims/);
  });

  it("rejects a wrong number of dims or dtype for the expected kind of file", () => {
    const arr = parseIdx(good, "labels.idx");
    expect(() => expectIdx(arr, "labels.idx", "int16", 1)).toThrow(/labels\.idx: expected IDX int16 with 1 dim, got int16 of shape \[2, 3\]/);
    expect(() => expectIdx(arr, "labels.idx", "uint8", 2)).toThrow(FormatError);
    expect(() => expectIdx(arr, "labels.idx", "int16", 2)).not.toThrow();
  });
});
