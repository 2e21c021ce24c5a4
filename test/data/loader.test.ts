import { describe, expect, it } from "vitest";
import { type Batch, type Dataset, type Sample, TensorDataset } from "../../src/data/dataset.js";
import { DataLoader, type DataLoaderState } from "../../src/data/loader.js";
import { compose, randomCrop, randomHorizontalFlip } from "../../src/data/transforms.js";
import { randn, tensor } from "../../src/tensor/creation.js";
import { ValueError } from "../../src/tensor/errors.js";
import { Generator, manualSeed } from "../../src/tensor/random.js";
import { syntheticImages } from "./helpers.js";

/** 23 items whose label is their index. */
const ds = syntheticImages(23, 1, 4, 4, 23);

function labels(b: Batch): number[] {
  return Array.from(b.y.data);
}

function epochOrder(loader: DataLoader): number[] {
  return [...loader].flatMap(labels);
}

describe("DataLoader batching", () => {
  it("yields float32 [B, C, H, W] and int32 [B] batches in order without shuffle", () => {
    const loader = new DataLoader(ds, { batchSize: 5 });
    expect(loader.length).toBe(5);
    const batches = [...loader];
    expect(batches.map((b) => b.x.shape)).toEqual([...new Array(4).fill([5, 1, 4, 4]), [3, 1, 4, 4]]);
    expect(batches.every((b) => b.x.dtype === "float32" && b.y.dtype === "int32")).toBe(true);
    expect(batches.flatMap(labels)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(Array.from(batches[1].x.data.subarray(0, 16))).toEqual(Array.from(ds.get(5).x.data));
  });

  it("drops the last incomplete batch with dropLast", () => {
    const loader = new DataLoader(ds, { batchSize: 5, dropLast: true });
    expect(loader.length).toBe(4);
    const batches = [...loader];
    expect(batches.length).toBe(4);
    expect(batches.every((b) => b.x.shape[0] === 5)).toBe(true);
    expect(new DataLoader(ds, { batchSize: 23, dropLast: true }).length).toBe(1);
    expect(new DataLoader(ds, { batchSize: 24, dropLast: true }).length).toBe(0);
  });

  it("gives the same batches through get()+collate as through the fast path", () => {
    const plain: Dataset<Sample> = { length: ds.length, get: (i) => ds.get(i) };
    const fast = [...new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 3 })];
    const slow = [...new DataLoader(plain, { batchSize: 4, shuffle: true, seed: 3 })];
    expect(slow.length).toBe(fast.length);
    slow.forEach((b, k) => {
      expect(b.x.shape).toEqual(fast[k].x.shape);
      expect(Array.from(b.x.data)).toEqual(Array.from(fast[k].x.data));
      expect(labels(b)).toEqual(labels(fast[k]));
    });
  });

  it("batches a TensorDataset as [B, ...features]", () => {
    const x = randn([10, 3], { generator: new Generator(1) });
    const y = tensor(Array.from({ length: 10 }, (_, i) => i), { dtype: "int32" });
    const batches = [...new DataLoader(new TensorDataset(x, y), { batchSize: 4 })];
    expect(batches.map((b) => b.x.shape)).toEqual([[4, 3], [4, 3], [2, 3]]);
    expect(Array.from(batches[2].x.data)).toEqual(Array.from(x.data.subarray(24)));
  });

  it("validates options", () => {
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(ValueError);
    expect(() => new DataLoader(ds, { batchSize: 2.5 })).toThrow(ValueError);
  });
});

describe("DataLoader shuffling", () => {
  it("visits every index exactly once per epoch, in a new order each epoch", () => {
    const loader = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 11 });
    const orders = [epochOrder(loader), epochOrder(loader), epochOrder(loader)];
    for (const order of orders) expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(orders[0]).not.toEqual(orders[1]);
    expect(orders[1]).not.toEqual(orders[2]);
    expect(loader.epoch).toBe(3);
  });

  it("is reproducible from a seed, a generator or manualSeed", () => {
    const run = (l: DataLoader) => [epochOrder(l), epochOrder(l)];
    expect(run(new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 7 }))).toEqual(run(new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 7 })));
    expect(run(new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 7 }))).not.toEqual(run(new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 8 })));
    const g = () => new Generator(99);
    expect(run(new DataLoader(ds, { shuffle: true, generator: g() }))).toEqual(run(new DataLoader(ds, { shuffle: true, generator: g() })));
    manualSeed(5);
    const a = run(new DataLoader(ds, { shuffle: true }));
    manualSeed(5);
    expect(run(new DataLoader(ds, { shuffle: true }))).toEqual(a);
  });

  it("counts an abandoned iteration as an epoch and reshuffles", () => {
    const loader = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 2 });
    const reference = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 2 });
    const first = epochOrder(reference);
    const second = epochOrder(reference);
    for (const b of loader) {
      expect(labels(b)).toEqual(first.slice(0, 4));
      break;
    }
    expect(loader.epoch).toBe(0);
    expect(epochOrder(loader)).toEqual(second);
    expect(loader.epoch).toBe(2);
  });
});

describe("DataLoader state / setState", () => {
  const transform = compose([randomCrop(4, { padding: 1 }), randomHorizontalFlip()]);
  const make = (seed: number) => new DataLoader(ds, { batchSize: 4, shuffle: true, seed, transform });

  function snapshot(b: Batch): [number[], number[]] {
    return [labels(b), Array.from(b.x.data)];
  }

  it("resumes mid-epoch, in a fresh loader, with identical batches and augmentation", () => {
    const a = make(42);
    expect([...a].length).toBe(6); // epoch 0
    let saved: DataLoaderState | null = null;
    const rest: [number[], number[]][] = [];
    let k = 0;
    for (const b of a) {
      if (saved) rest.push(snapshot(b));
      if (++k === 2) saved = JSON.parse(JSON.stringify(a.state())) as DataLoaderState;
    }
    for (const b of a) rest.push(snapshot(b)); // epoch 2
    expect(saved).toMatchObject({ epoch: 1, batch: 2 });
    expect(saved!.augmentation).not.toBeNull();

    const b = make(1234); // a different seed: everything comes from the state
    b.setState(saved!);
    expect(b.epoch).toBe(1);
    const resumed: [number[], number[]][] = [];
    for (const batch of b) resumed.push(snapshot(batch));
    expect(b.epoch).toBe(2);
    for (const batch of b) resumed.push(snapshot(batch));
    expect(resumed).toEqual(rest);
    expect(resumed.length).toBe(4 + 6);
  });

  it("resumes between epochs", () => {
    const a = make(5);
    expect([...a].length).toBe(6);
    const saved = a.state();
    expect(saved).toMatchObject({ epoch: 1, batch: 0, augmentation: null });
    const next = [...a].map(snapshot);
    const b = make(6);
    b.setState(saved);
    expect([...b].map(snapshot)).toEqual(next);
    expect(b.epoch).toBe(2);
  });

  it("resumes after the last batch of an epoch has been consumed", () => {
    const a = make(8);
    let saved: DataLoaderState | null = null;
    for (const _ of a) saved = a.state();
    expect(saved).toMatchObject({ epoch: 0, batch: 6 });
    const next = [...a].map(snapshot);
    const b = make(9);
    b.setState(saved!);
    expect([...b]).toEqual([]);
    expect(b.epoch).toBe(1);
    expect([...b].map(snapshot)).toEqual(next);
  });

  it("rejects impossible states", () => {
    const a = make(1);
    expect(() => a.setState({ ...a.state(), batch: 99 })).toThrow(ValueError);
    expect(() => a.setState({ ...a.state(), epoch: -1 })).toThrow(ValueError);
    expect(() => a.setState({ ...a.state(), generator: [1, 2] })).toThrow(ValueError);
  });
});
