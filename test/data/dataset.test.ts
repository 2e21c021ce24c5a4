import { describe, expect, it } from "vitest";
import { ImageDataset, TensorDataset, collate, isBatchSource, subset } from "../../src/data/dataset.js";
import { tensor } from "../../src/tensor/creation.js";
import { ShapeError, ValueError } from "../../src/tensor/errors.js";
import { syntheticImages } from "./helpers.js";

describe("ImageDataset", () => {
  it("normalises with the Fashion-MNIST defaults and per-channel statistics", () => {
    const images = Uint8Array.from([0, 255, 51, 102]);
    const ds = new ImageDataset({ images, labels: Uint8Array.from([3]), shape: [1, 2, 2] });
    expect(ds.itemShape).toEqual([1, 2, 2]);
    expect(ds.mean).toEqual([0.286]);
    const { x, y } = ds.get(0);
    expect(x.dtype).toBe("float32");
    expect(x.shape).toEqual([1, 2, 2]);
    expect(y).toBe(3);
    const expected = [0, 255, 51, 102].map((p) => Math.fround((p / 255 - 0.286) / 0.353));
    expect(Array.from(x.data)).toEqual(expected);

    const rgb = new ImageDataset({
      images: Uint8Array.from([255, 255, 0, 0]), labels: Int32Array.from([1]), shape: [1, 2, 1, 2],
      mean: [0.5, 0], std: [0.5, 2],
    });
    expect(Array.from(rgb.get(0).x.data)).toEqual([1, 1, 0, 0]);
    expect(Array.from(rgb.withNormalization(0, 1).get(0).x.data)).toEqual([1, 1, 0, 0]);
  });

  it("batches are bit-identical to per-item access", () => {
    const ds = syntheticImages(10, 3, 5, 4).withNormalization([0.1, 0.2, 0.3], [0.4, 0.5, 0.6]);
    const idx = [7, 2, 2, 9];
    const { x, y } = ds.getBatch(idx);
    expect(x.shape).toEqual([4, 3, 5, 4]);
    expect(y.dtype).toBe("int32");
    expect(Array.from(y.data)).toEqual([7, 2, 2, 9]);
    idx.forEach((i, b) => expect(Array.from(x.data.subarray(b * 60, (b + 1) * 60))).toEqual(Array.from(ds.get(i).x.data)));
  });

  it("selects compact copies and counts classes", () => {
    const ds = syntheticImages(20, 1, 2, 2, 4);
    const sel = ds.select([5, 1, 19]);
    expect(sel.length).toBe(3);
    expect(Array.from(sel.labels)).toEqual([1, 1, 3]);
    expect(Array.from(sel.rawImage(0))).toEqual(Array.from(ds.rawImage(5)));
    expect(sel.images.length).toBe(12);
    expect(ds.classCounts().slice(0, 4)).toEqual([5, 5, 5, 5]);
  });

  it("validates shapes, statistics and indices", () => {
    expect(() => new ImageDataset({ images: new Uint8Array(5), labels: new Uint8Array(1), shape: [1, 2, 2] })).toThrow(ShapeError);
    expect(() => new ImageDataset({ images: new Uint8Array(4), labels: new Uint8Array(2), shape: [1, 2, 2] })).toThrow(/1 images but 2 labels/);
    expect(() => new ImageDataset({ images: new Uint8Array(4), labels: new Uint8Array(1), shape: [4] })).toThrow(ShapeError);
    expect(() => new ImageDataset({ images: new Uint8Array(4), labels: new Uint8Array(1), shape: [1, 2, 2], std: 0 })).toThrow(ValueError);
    expect(() => new ImageDataset({ images: new Uint8Array(8), labels: new Uint8Array(1), shape: [1, 2, 2, 2], mean: [0.1] })).toThrow(/1 values for 2 channels/);
    const ds = syntheticImages(3);
    expect(() => ds.get(3)).toThrow(/index 3 out of range \[0, 3\)/);
    expect(() => ds.getBatch([0, -1])).toThrow(ValueError);
  });
});

describe("TensorDataset, subset and collate", () => {
  it("serves (x[i], y[i]) and batches of them", () => {
    const x = tensor([[1, 2], [3, 4], [5, 6]], { dtype: "float64" });
    const y = tensor([2, 0, 1], { dtype: "int32" });
    const ds = new TensorDataset(x, y);
    expect(ds.length).toBe(3);
    expect(isBatchSource(ds)).toBe(true);
    const item = ds.get(1);
    expect(item.x.dtype).toBe("float32");
    expect(item.x.toList()).toEqual([3, 4]);
    expect(item.y).toBe(0);
    expect(() => new TensorDataset(x, tensor([1, 2], { dtype: "int32" }))).toThrow(ShapeError);
    expect(() => ds.get(5)).toThrow(ValueError);
  });

  it("subset maps indices and keeps the batch fast path", () => {
    const base = syntheticImages(10);
    const sub = subset(base, [9, 4, 0]);
    expect(sub.length).toBe(3);
    expect(sub.get(0).y).toBe(9);
    expect(isBatchSource(sub)).toBe(true);
    const x = new Float32Array(2 * 16);
    const y = new Int32Array(2);
    sub.fillBatch!([1, 2], x, y);
    expect(Array.from(y)).toEqual([4, 0]);
    expect(Math.round(x[0] * 255)).toBe(28); // first pixel of item 4 = 4 * 7
    expect(() => sub.get(3)).toThrow(ValueError);
    expect(() => subset(base, [10])).toThrow(ValueError);
    const plain = { length: 2, get: (i: number) => ({ x: tensor([i, i]), y: i }) };
    expect(isBatchSource(subset(plain, [1]))).toBe(false);
  });

  it("collate stacks samples and rejects ragged shapes", () => {
    const b = collate([{ x: tensor([1, 2]), y: 1 }, { x: tensor([3, 4]), y: 0 }]);
    expect(b.x.shape).toEqual([2, 2]);
    expect(b.x.toList()).toEqual([1, 2, 3, 4]);
    expect(b.y.toList()).toEqual([1, 0]);
    expect(() => collate([{ x: tensor([1, 2]), y: 1 }, { x: tensor([3]), y: 0 }])).toThrow(ShapeError);
    expect(() => collate([])).toThrow(ValueError);
  });
});
