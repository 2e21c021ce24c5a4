/**
 * DataLoader: iterates a dataset in batches {x: float32 [B, ...], y: int32 [B]}, optionally
 * shuffled by a seeded Generator and passed through a batch transform. Datasets that are
 * BatchSources (ImageDataset, TensorDataset, their subsets) are gathered straight into the
 * batch array; others go through get(i) + collate.
 *
 * Randomness and resume: each epoch starts from the loader's generator state S_e; it draws the
 * permutation from it, then one uint32 seeding the epoch's augmentation generator (handed to
 * the transform). `state()` records (epoch, batches done, S_e, augmentation state), so a
 * loader restored with `setState()` — even in a fresh process — yields exactly the remaining
 * batches of that epoch, then the same later epochs. One iteration at a time per loader.
 * Browser-safe. Called by training loops, quant.calibrate and the CLI.
 */
import { ValueError } from "../tensor/errors.js";
import { Generator, defaultGenerator } from "../tensor/random.js";
import { type Batch, type Dataset, type Sample, collate, gatherBatch, isBatchSource } from "./dataset.js";
import type { BatchTransform } from "./transforms.js";

export interface DataLoaderOptions {
  /** Items per batch (default 1, as PyTorch). */
  batchSize?: number;
  /** Reshuffle at every epoch (default false). */
  shuffle?: boolean;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Generator driving shuffling and augmentation; advanced by the loader. */
  generator?: Generator;
  /** Seed for a private generator (ignored if `generator` is given). Without either, the
   *  seed is drawn from the default generator at construction (so manualSeed() fixes it). */
  seed?: number;
  /** Applied to each batch's x with the epoch's augmentation generator. */
  transform?: BatchTransform;
}

/** A resumable position: see the header comment. Plain JSON. */
export interface DataLoaderState {
  /** Index of the epoch in progress, or of the next one if none is. */
  epoch: number;
  /** Batches of that epoch already yielded. */
  batch: number;
  /** Loader generator state at the start of that epoch. */
  generator: number[];
  /** Augmentation generator state after `batch` batches (null when batch = 0). */
  augmentation: number[] | null;
}

export class DataLoader implements Iterable<Batch> {
  readonly dataset: Dataset<Sample>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly transform: BatchTransform | undefined;
  private readonly gen: Generator;
  private epochIndex = 0;
  private batchesDone = 0;
  private epochStart: number[];
  private inProgress = false;
  private resumePending = false;
  private savedAug: number[] | null = null;
  private augGen: Generator | null = null;

  constructor(dataset: Dataset<Sample>, opts: DataLoaderOptions = {}) {
    const bs = opts.batchSize ?? 1;
    if (!Number.isInteger(bs) || bs < 1) throw new ValueError(`DataLoader: batchSize must be a positive integer, got ${bs}`);
    this.dataset = dataset;
    this.batchSize = bs;
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.transform = opts.transform;
    this.gen = opts.generator ?? new Generator(opts.seed ?? defaultGenerator.nextU32());
    this.epochStart = this.gen.getState();
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Index of the epoch in progress (or the next to start); equals epochs completed between epochs. */
  get epoch(): number {
    return this.epochIndex;
  }

  state(): DataLoaderState {
    const mid = this.inProgress && this.batchesDone > 0;
    return {
      epoch: this.epochIndex,
      batch: mid ? this.batchesDone : 0,
      generator: [...(this.inProgress ? this.epochStart : this.gen.getState())],
      augmentation: mid && this.augGen ? this.augGen.getState() : null,
    };
  }

  setState(s: DataLoaderState): void {
    if (!Number.isInteger(s.epoch) || s.epoch < 0 || !Number.isInteger(s.batch) || s.batch < 0 || s.batch > this.length) {
      throw new ValueError(`DataLoader.setState: bad epoch/batch (${s.epoch}, ${s.batch}) for a loader of ${this.length} batches`);
    }
    this.gen.setState(s.generator);
    this.epochIndex = s.epoch;
    this.epochStart = [...s.generator];
    this.batchesDone = s.batch;
    this.savedAug = s.augmentation ? [...s.augmentation] : null;
    this.inProgress = s.batch > 0;
    this.resumePending = s.batch > 0;
  }

  /** Starts (or resumes) an epoch: returns its order and augmentation generator. */
  private beginEpoch(): { order: Int32Array; aug: Generator } {
    if (this.inProgress && !this.resumePending) {
      // The previous iteration was abandoned: it counts as a finished epoch.
      this.epochIndex++;
      this.batchesDone = 0;
      this.epochStart = this.gen.getState();
    }
    if (!this.inProgress) this.epochStart = this.gen.getState();
    this.gen.setState(this.epochStart);
    const n = this.dataset.length;
    const order = this.shuffle ? this.gen.permutation(n) : Int32Array.from({ length: n }, (_, i) => i);
    const aug = new Generator(this.gen.nextU32());
    if (this.resumePending && this.savedAug) aug.setState(this.savedAug);
    if (!this.resumePending) this.batchesDone = 0;
    this.resumePending = false;
    this.savedAug = null;
    this.inProgress = true;
    this.augGen = aug;
    return { order, aug };
  }

  private makeBatch(indices: Int32Array): Batch {
    if (isBatchSource(this.dataset)) return gatherBatch(this.dataset, indices);
    const items: Sample[] = [];
    for (const i of indices) items.push(this.dataset.get(i));
    return collate(items);
  }

  *[Symbol.iterator](): Iterator<Batch> {
    const { order, aug } = this.beginEpoch();
    const nb = this.length;
    while (this.batchesDone < nb) {
      const start = this.batchesDone * this.batchSize;
      const idx = order.subarray(start, Math.min(start + this.batchSize, order.length));
      const batch = this.makeBatch(idx);
      if (this.transform) batch.x = this.transform(batch.x, aug);
      this.batchesDone++;
      yield batch;
    }
    this.epochIndex++;
    this.batchesDone = 0;
    this.inProgress = false;
    this.augGen = null;
    this.epochStart = this.gen.getState();
  }
}
