import { describe, expect, it } from "vitest";
import { compose, normalize, randomCrop, randomHorizontalFlip } from "../../src/data/transforms.js";
import { randn, tensor } from "../../src/tensor/creation.js";
import { ShapeError, ValueError } from "../../src/tensor/errors.js";
import { Generator } from "../../src/tensor/random.js";

/** [B, C, H, W] float32 with value = flat index. */
function ramp(b: number, c: number, h: number, w: number) {
  return tensor(Float32Array.from({ length: b * c * h * w }, (_, i) => i), { shape: [b, c, h, w] });
}

describe("normalize", () => {
  it("applies per-channel (x - mean) / std", () => {
    const x = tensor([1, 3, 10, 20], { shape: [1, 2, 1, 2] });
    expect(normalize([1, 10], [2, 5])(x).toList()).toEqual([0, 1, 0, 2]);
    expect(normalize(1, 2)(x).toList()).toEqual([0, 1, 4.5, 9.5]);
    expect(() => normalize([1], [1])(x)).toThrow(/1 means and 1 stds for 2 channels/);
    expect(() => normalize(0, 0)).toThrow(ValueError);
    expect(() => normalize(0, 1)(tensor([1, 2]))).toThrow(ShapeError);
  });
});

describe("randomCrop", () => {
  it("keeps the shape with padding and moves content by at most the padding", () => {
    const x = ramp(6, 2, 5, 5);
    const y = randomCrop(5, { padding: 2, fill: -1 })(x, new Generator(0));
    expect(y.shape).toEqual([6, 2, 5, 5]);
    // Each image is its source shifted by one (dy, dx) with |dy|, |dx| <= 2, the same in every channel.
    for (let n = 0; n < 6; n++) {
      const shifts = new Set<string>();
      for (let ch = 0; ch < 2; ch++) {
        const base = (n * 2 + ch) * 25;
        for (let k = 0; k < 25; k++) {
          const v = y.data[base + k];
          if (v === -1) continue;
          expect(v >= base && v < base + 25).toBe(true);
          const dy = Math.floor((v - base) / 5) - Math.floor(k / 5);
          const dx = ((v - base) % 5) - (k % 5);
          expect(Math.abs(dy) <= 2 && Math.abs(dx) <= 2).toBe(true);
          shifts.add(`${dy},${dx}`);
        }
      }
      expect(shifts.size).toBe(1);
    }
  });

  it("crops exactly at the drawn offset, filling outside with `fill`", () => {
    // Recreate the offsets the transform draws: top then left per sample.
    const g = new Generator(5);
    const top = g.int(0, 3 + 2 * 1 - 2 + 1) - 1;
    const left = g.int(0, 3 + 2 * 1 - 2 + 1) - 1;
    const x = ramp(1, 1, 3, 3);
    const y = randomCrop([2, 2], { padding: 1, fill: -9 })(x, new Generator(5));
    const expected: number[] = [];
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 2; j++) {
        const r = top + i;
        const c = left + j;
        expected.push(r >= 0 && r < 3 && c >= 0 && c < 3 ? r * 3 + c : -9);
      }
    }
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect(y.toList()).toEqual(expected);
  });

  it("without padding and full size is the identity", () => {
    const x = randn([3, 1, 4, 4]);
    expect(randomCrop(4)(x, new Generator(1)).toList()).toEqual(x.toList());
  });

  it("is deterministic for a seed and varies between samples", () => {
    const x = ramp(16, 1, 8, 8);
    const crop = randomCrop(8, { padding: 3 });
    const a = crop(x, new Generator(3));
    expect(crop(x, new Generator(3)).toList()).toEqual(a.toList());
    expect(crop(x, new Generator(4)).toList()).not.toEqual(a.toList());
    const firstPixels = new Set(Array.from({ length: 16 }, (_, n) => a.data[n * 64 + 27] - n * 64));
    expect(firstPixels.size).toBeGreaterThan(1);
  });

  it("validates sizes", () => {
    expect(() => randomCrop(0)).toThrow(ValueError);
    expect(() => randomCrop(3, { padding: -1 })).toThrow(ValueError);
    expect(() => randomCrop(6)(ramp(1, 1, 4, 4), new Generator(0))).toThrow(/larger than the padded image 4x4/);
  });
});

describe("randomHorizontalFlip", () => {
  it("p = 1 mirrors every row exactly; p = 0 is the identity", () => {
    const x = ramp(2, 3, 2, 4);
    const y = randomHorizontalFlip(1)(x, new Generator(0));
    expect(y.shape).toEqual(x.shape);
    for (let row = 0; row < 2 * 3 * 2; row++) {
      const src = Array.from(x.data.subarray(row * 4, row * 4 + 4));
      expect(Array.from(y.data.subarray(row * 4, row * 4 + 4))).toEqual(src.reverse());
    }
    expect(randomHorizontalFlip(0)(x, new Generator(0)).toList()).toEqual(x.toList());
    expect(randomHorizontalFlip(1)(y, new Generator(0)).toList()).toEqual(x.toList());
  });

  it("flips about half of the samples, reproducibly", () => {
    const x = ramp(200, 1, 1, 2);
    const y = randomHorizontalFlip(0.5)(x, new Generator(7));
    const flipped = Array.from({ length: 200 }, (_, n) => y.data[2 * n] > y.data[2 * n + 1]).filter(Boolean).length;
    expect(flipped).toBeGreaterThan(70);
    expect(flipped).toBeLessThan(130);
    expect(randomHorizontalFlip(0.5)(x, new Generator(7)).toList()).toEqual(y.toList());
    expect(() => randomHorizontalFlip(1.5)).toThrow(ValueError);
  });
});

describe("compose", () => {
  it("chains transforms with one generator, reproducibly", () => {
    const x = ramp(2, 1, 4, 4);
    const t = compose([randomCrop(4, { padding: 1 }), randomHorizontalFlip(), normalize(1, 2)]);
    const a = t(x, new Generator(1));
    expect(a.shape).toEqual([2, 1, 4, 4]);
    expect(t(x, new Generator(1)).toList()).toEqual(a.toList());
    const g = new Generator(1);
    const manual = normalize(1, 2)(randomHorizontalFlip()(randomCrop(4, { padding: 1 })(x, g), g));
    expect(manual.toList()).toEqual(a.toList());
  });
});
