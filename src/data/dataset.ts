/**
 * Datasets: the `Dataset<T>` interface (length + get), `ImageDataset` (uint8 images [N, C, H, W]
 * and integer labels kept compactly, normalised to float32 on access), `TensorDataset` (x, y
 * tensors) and `subset`. Datasets that implement `BatchSource` let the DataLoader gather a whole
 * batch straight into one Float32Array without a Tensor per item. Browser-safe.
 * Called by src/data/fs.ts (loaders), src/data/loader.ts and users.
 */
import { type AnyArray } from "../tensor/dtype.js";
import { ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";

/** Anything indexable with a length (PyTorch's map-style Dataset). */
export interface Dataset<T> {
  readonly length: number;
  get(i: number): T;
}

/** One example: input tensor (without the batch dim) and integer class label. */
export interface Sample {
  x: Tensor;
  y: number;
}

/** A batch: x float32 [B, ...itemShape], y int32 [B]. */
export interface Batch {
  x: Tensor;
  y: Tensor;
}

/** A dataset that can write a batch of items into preallocated arrays (the loader's fast path). */
export interface BatchSource {
  /** Shape of one item's x (e.g. [C, H, W]). */
  readonly itemShape: readonly number[];
  /** Writes items `indices` into x (length B·prod(itemShape), row-major) and y (length B). */
  fillBatch(indices: ArrayLike<number>, x: Float32Array, y: Int32Array): void;
}

export function isBatchSource(ds: unknown): ds is BatchSource {
  return typeof (ds as Partial<BatchSource>).fillBatch === "function" && Array.isArray((ds as Partial<BatchSource>).itemShape);
}

/** Fashion-MNIST class names, index = label (as torchvision.datasets.FashionMNIST.classes). */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]);

/** MNIST class names (the digits). */
export const MNIST_CLASSES: readonly string[] = Object.freeze(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);

/** Mean and std of Fashion-MNIST training pixels scaled to [0, 1] (the usual constants). */
export const FASHION_MNIST_MEAN = 0.286;
export const FASHION_MNIST_STD = 0.353;
/** Mean and std of MNIST training pixels scaled to [0, 1]. */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;

export interface ImageDatasetOptions {
  /** uint8 pixels, row-major [N, C, H, W]. Not copied. */
  images: Uint8Array;
  /** Integer class labels, length N. Not copied. */
  labels: Uint8Array | Int32Array;
  /** [N, C, H, W], or [N, H, W] for one channel. */
  shape: readonly number[];
  /** Per-channel (or one shared) mean of pixel/255; default Fashion-MNIST's 0.2860. */
  mean?: number | readonly number[];
  /** Per-channel (or one shared) std of pixel/255; default Fashion-MNIST's 0.3530. */
  std?: number | readonly number[];
  /** Class names, index = label. Default: Fashion-MNIST's. */
  classes?: readonly string[];
}

function perChannel(v: number | readonly number[], c: number, what: string): number[] {
  const arr = typeof v === "number" ? new Array<number>(c).fill(v) : [...v];
  if (arr.length !== c) throw new ValueError(`ImageDataset: ${what} has ${arr.length} values for ${c} channels`);
  if (arr.some((x) => !Number.isFinite(x))) throw new ValueError(`ImageDataset: ${what} must be finite, got [${arr.join(", ")}]`);
  return arr;
}

/**
 * uint8 images with integer labels. Access normalises each pixel as
 * `x = (p / 255 - mean[c]) / std[c]` through a 256-entry float32 table per channel, so the
 * value for a given pixel is bit-identical whichever path (get, getBatch, DataLoader) reads it.
 */
export class ImageDataset implements Dataset<Sample>, BatchSource {
  readonly images: Uint8Array;
  readonly labels: Uint8Array | Int32Array;
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly classes: readonly string[];
  readonly itemShape: readonly number[];
  /** lut[c * 256 + p] = normalised value of pixel p in channel c. */
  private readonly lut: Float32Array;

  constructor(opts: ImageDatasetOptions) {
    const s = opts.shape.length === 3 ? [opts.shape[0], 1, opts.shape[1], opts.shape[2]] : [...opts.shape];
    if (s.length !== 4 || s.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new ShapeError(`ImageDataset: shape must be [N, C, H, W] or [N, H, W], got ${fmtShape(opts.shape)}`);
    }
    const [n, c, h, w] = s;
    if (opts.images.length !== n * c * h * w) {
      throw new ShapeError(`ImageDataset: shape ${fmtShape(s)} needs ${n * c * h * w} pixels, images has ${opts.images.length}`);
    }
    if (opts.labels.length !== n) throw new ShapeError(`ImageDataset: ${n} images but ${opts.labels.length} labels`);
    this.images = opts.images;
    this.labels = opts.labels;
    this.length = n;
    this.channels = c;
    this.height = h;
    this.width = w;
    this.itemShape = Object.freeze([c, h, w]);
    this.mean = Object.freeze(perChannel(opts.mean ?? FASHION_MNIST_MEAN, c, "mean"));
    this.std = Object.freeze(perChannel(opts.std ?? FASHION_MNIST_STD, c, "std"));
    if (this.std.some((v) => v <= 0)) throw new ValueError(`ImageDataset: std must be positive, got [${this.std.join(", ")}]`);
    this.classes = Object.freeze([...(opts.classes ?? FASHION_MNIST_CLASSES)]);
    this.lut = new Float32Array(256 * c);
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < 256; p++) this.lut[ch * 256 + p] = (p / 255 - this.mean[ch]) / this.std[ch];
    }
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new ValueError(`ImageDataset: index ${i} out of range [0, ${this.length})`);
    }
  }

  /** Item i: x float32 [C, H, W] normalised, y its label. */
  get(i: number): Sample {
    this.checkIndex(i);
    const x = new Float32Array(this.channels * this.height * this.width);
    this.writeImage(i, x, 0);
    return { x: new Tensor(x, this.itemShape), y: this.labels[i] };
  }

  /** The raw uint8 pixels of item i (a view, not a copy), [C·H·W]. */
  rawImage(i: number): Uint8Array {
    this.checkIndex(i);
    const size = this.channels * this.height * this.width;
    return this.images.subarray(i * size, (i + 1) * size);
  }

  /** Normalised pixels of image i written into out[offset ...]. */
  private writeImage(i: number, out: Float32Array, offset: number): void {
    const hw = this.height * this.width;
    const size = this.channels * hw;
    const src = i * size;
    const lut = this.lut;
    const px = this.images;
    for (let ch = 0; ch < this.channels; ch++) {
      const base = ch * 256;
      const s = src + ch * hw;
      const d = offset + ch * hw;
      for (let k = 0; k < hw; k++) out[d + k] = lut[base + px[s + k]];
    }
  }

  fillBatch(indices: ArrayLike<number>, x: Float32Array, y: Int32Array): void {
    const size = this.channels * this.height * this.width;
    for (let b = 0; b < indices.length; b++) {
      const i = indices[b];
      this.checkIndex(i);
      this.writeImage(i, x, b * size);
      y[b] = this.labels[i];
    }
  }

  /** Items `indices` as one batch: x float32 [B, C, H, W], y int32 [B]. */
  getBatch(indices: ArrayLike<number>): Batch {
    return gatherBatch(this, indices);
  }

  /** A compact copy holding only `indices` (in that order), same normalisation and classes. */
  select(indices: ArrayLike<number>): ImageDataset {
    const size = this.channels * this.height * this.width;
    const images = new Uint8Array(indices.length * size);
    const labels = new (this.labels.constructor as Uint8ArrayConstructor | Int32ArrayConstructor)(indices.length);
    for (let b = 0; b < indices.length; b++) {
      const i = indices[b];
      this.checkIndex(i);
      images.set(this.images.subarray(i * size, (i + 1) * size), b * size);
      labels[b] = this.labels[i];
    }
    return new ImageDataset({ ...this.options(), images, labels, shape: [indices.length, ...this.itemShape] });
  }

  /** The same images with another normalisation (storage shared). */
  withNormalization(mean: number | readonly number[], std: number | readonly number[]): ImageDataset {
    return new ImageDataset({ ...this.options(), mean, std });
  }

  /** Number of items per label, index = label (length = number of classes). */
  classCounts(): number[] {
    const counts = new Array<number>(this.classes.length).fill(0);
    for (let i = 0; i < this.length; i++) counts[this.labels[i]] = (counts[this.labels[i]] ?? 0) + 1;
    return counts;
  }

  private options(): ImageDatasetOptions {
    return {
      images: this.images, labels: this.labels, mean: this.mean, std: this.std, classes: this.classes,
      shape: [this.length, ...this.itemShape],
    };
  }
}

/** Gathers `indices` of a BatchSource into a fresh float32/int32 batch. */
export function gatherBatch(ds: BatchSource, indices: ArrayLike<number>): Batch {
  let size = 1;
  for (const d of ds.itemShape) size *= d;
  const x = new Float32Array(indices.length * size);
  const y = new Int32Array(indices.length);
  ds.fillBatch(indices, x, y);
  return { x: new Tensor(x, [indices.length, ...ds.itemShape]), y: new Tensor(y, [indices.length]) };
}

/**
 * Stacks samples into a batch (the generic path, for datasets without fillBatch). Every x
 * must have the same shape; values are converted to float32, labels to int32.
 */
export function collate(samples: readonly Sample[]): Batch {
  if (samples.length === 0) throw new ValueError("collate: empty batch");
  const itemShape = samples[0].x.shape;
  const size = samples[0].x.size;
  const x = new Float32Array(samples.length * size);
  const y = new Int32Array(samples.length);
  samples.forEach((s, b) => {
    if (s.x.size !== size || s.x.shape.length !== itemShape.length || s.x.shape.some((d, k) => d !== itemShape[k])) {
      throw new ShapeError(`collate: item ${b} has shape ${fmtShape(s.x.shape)}, item 0 has ${fmtShape(itemShape)}`);
    }
    x.set(s.x.data as ArrayLike<number>, b * size);
    y[b] = s.y;
  });
  return { x: new Tensor(x, [samples.length, ...itemShape]), y: new Tensor(y, [samples.length]) };
}

/**
 * (x, y) tensors sharing the first dimension, as torch.utils.data.TensorDataset with two
 * tensors: item i is x[i] (float32 copy) and the integer y[i].
 */
export class TensorDataset implements Dataset<Sample>, BatchSource {
  readonly x: Tensor;
  readonly y: Tensor;
  readonly length: number;
  readonly itemShape: readonly number[];
  private readonly itemSize: number;

  constructor(x: Tensor, y: Tensor) {
    if (x.ndim < 1 || y.ndim !== 1 || x.shape[0] !== y.shape[0]) {
      throw new ShapeError(`TensorDataset: need x [N, ...] and y [N] with the same N, got x ${fmtShape(x.shape)}, y ${fmtShape(y.shape)}`);
    }
    this.x = x;
    this.y = y;
    this.length = x.shape[0];
    this.itemShape = Object.freeze(x.shape.slice(1));
    this.itemSize = this.length === 0 ? 0 : x.size / this.length;
  }

  private slice(i: number): AnyArray {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new ValueError(`TensorDataset: index ${i} out of range [0, ${this.length})`);
    }
    return this.x.data.subarray(i * this.itemSize, (i + 1) * this.itemSize);
  }

  get(i: number): Sample {
    const x = Float32Array.from(this.slice(i) as ArrayLike<number>);
    return { x: new Tensor(x, this.itemShape), y: this.y.data[i] };
  }

  fillBatch(indices: ArrayLike<number>, x: Float32Array, y: Int32Array): void {
    for (let b = 0; b < indices.length; b++) {
      x.set(this.slice(indices[b]) as ArrayLike<number>, b * this.itemSize);
      y[b] = this.y.data[indices[b]];
    }
  }
}

/** A view of `base` restricted to `indices` (torch.utils.data.Subset). Keeps the fast path. */
export class Subset<T> implements Dataset<T> {
  readonly base: Dataset<T>;
  readonly indices: Int32Array;
  /** Present when the base dataset is a BatchSource. */
  readonly itemShape?: readonly number[];
  readonly fillBatch?: (indices: ArrayLike<number>, x: Float32Array, y: Int32Array) => void;

  constructor(base: Dataset<T>, indices: ArrayLike<number>) {
    this.base = base;
    this.indices = Int32Array.from(indices);
    for (const i of this.indices) {
      if (i < 0 || i >= base.length) throw new ValueError(`subset: index ${i} out of range [0, ${base.length})`);
    }
    if (isBatchSource(base)) {
      this.itemShape = base.itemShape;
      this.fillBatch = (idx, x, y) => {
        const mapped = new Int32Array(idx.length);
        for (let b = 0; b < idx.length; b++) mapped[b] = this.indices[this.checkIndex(idx[b])];
        base.fillBatch(mapped, x, y);
      };
    }
  }

  get length(): number {
    return this.indices.length;
  }

  private checkIndex(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.indices.length) {
      throw new ValueError(`Subset: index ${i} out of range [0, ${this.indices.length})`);
    }
    return i;
  }

  get(i: number): T {
    return this.base.get(this.indices[this.checkIndex(i)]);
  }
}

/** The items `indices` of `ds`, without copying. */
export function subset<T>(ds: Dataset<T>, indices: ArrayLike<number>): Subset<T> {
  return new Subset(ds, indices);
}
