/**
 * File-system dataset loaders (Node only: node:fs, node:zlib, looked up at call time through
 * ../tensor/node-builtins.ts so importing this stays browser-safe). readIdxFile reads an IDX
 * file, gunzipping it when it starts with the gzip magic 1f 8b; fashionMnist/mnist load the
 * four standard files of a directory (gzipped or raw); loadMnistLikeDir is the loader the
 * embedded sample (src/datasets/fashion-mnist-sample.ts) uses. Called by users, the CLI and tests.
 */
import { FormatError, ValueError } from "../tensor/errors.js";
import { nodeBuiltin } from "../tensor/node-builtins.js";
import {
  FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD, ImageDataset, MNIST_CLASSES, MNIST_MEAN, MNIST_STD,
} from "./dataset.js";
import { type IdxArray, expectIdx, idxDeclaredSize, parseIdx } from "./idx.js";

/** Default cap on the decoded size of one IDX file (the Fashion-MNIST training images are 47 MB). */
export const IDX_MAX_BYTES_DEFAULT = 512 * 1024 * 1024;

/** Deflate cannot expand more than 1032:1; a header declaring more than that is a lie. */
const DEFLATE_MAX_RATIO = 1032;

export interface ReadIdxOptions {
  /** Largest decoded file accepted, in bytes (default IDX_MAX_BYTES_DEFAULT = 512 MiB). */
  maxBytes?: number;
}

/**
 * The size an IDX header declares (header + elements), read from the first bytes only: the
 * gzip stream is inflated piecewise with a sync flush until the header is complete, so a
 * hostile file never inflates more than a few hundred kilobytes here.
 */
function declaredGzipIdxSize(bytes: Uint8Array, path: string): number {
  const { constants: zlibConstants, gunzipSync } = nodeBuiltin("node:zlib", "readIdxFile");
  // Each round at most doubles the compressed prefix, so the round that first completes the
  // header (≤ 1,024 bytes) inflates at most 1032 × 2 × (gzip header + ~1.1 KB) bytes.
  for (let take = 64; ; take *= 2) {
    const prefix = bytes.subarray(0, Math.min(bytes.length, take));
    let head: Uint8Array;
    try {
      head = gunzipSync(prefix, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: HEADER_PROBE_MAX });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
        throw new FormatError(`${path}: corrupt gzip data: more than ${HEADER_PROBE_MAX} bytes inflate from its first ${take} bytes`);
      }
      throw new FormatError(`${path}: corrupt gzip data: ${(e as Error).message}`);
    }
    const size = idxDeclaredSize(head, path);
    if (size !== undefined) return size;
    if (prefix.length === bytes.length) return idxDeclaredSize(head, path, true)!;
  }
}

/** Output limit while probing for the IDX header inside a gzip stream. */
const HEADER_PROBE_MAX = 16 << 20;

/**
 * Reads and decodes an IDX file, gzipped (detected by its magic bytes) or raw. A gzipped file
 * is inflated with a hard output limit taken from its header's declared size (and never more
 * than `maxBytes`): a decompression bomb stops at that limit with a FormatError.
 */
export function readIdxFile(path: string, opts: ReadIdxOptions = {}): IdxArray {
  const maxBytes = opts.maxBytes ?? IDX_MAX_BYTES_DEFAULT;
  if (!(maxBytes > 0)) throw new ValueError(`readIdxFile: maxBytes must be positive, got ${maxBytes}`);
  const { readFileSync } = nodeBuiltin("node:fs", "readIdxFile");
  const { gunzipSync } = nodeBuiltin("node:zlib", "readIdxFile");
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ValueError(`readIdxFile: cannot read ${path}: ${(e as Error).message}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const declared = declaredGzipIdxSize(bytes, path);
    checkDeclared(declared, maxBytes, path);
    if (declared > bytes.length * DEFLATE_MAX_RATIO + 1024) {
      throw new FormatError(`${path}: truncated: its IDX header declares ${declared} bytes, more than ${bytes.length} gzip bytes can hold`);
    }
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: declared + 1 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
        throw new FormatError(`${path}: has trailing bytes: the gzip data inflates past the ${declared} bytes its IDX header declares`);
      }
      throw new FormatError(`${path}: corrupt gzip data: ${(e as Error).message}`);
    }
  } else if (bytes.length > maxBytes) {
    checkDeclared(bytes.length, maxBytes, path);
  }
  return parseIdx(bytes, path);
}

function checkDeclared(size: number, maxBytes: number, path: string): void {
  if (size > maxBytes) {
    throw new FormatError(`${path}: IDX data of ${size} bytes exceeds the limit of ${maxBytes} bytes (raise it with readIdxFile(path, { maxBytes }))`);
  }
}

export interface MnistLikeOptions {
  /** Normalisation of pixel/255 (defaults: the dataset's own mean and std). */
  mean?: number | readonly number[];
  std?: number | readonly number[];
}

/** Train and test splits of an MNIST-format dataset. */
export interface ImageSplits {
  train: ImageDataset;
  test: ImageDataset;
}

interface DatasetSpec {
  op: string;
  classes: readonly string[];
  mean: number;
  std: number;
}

/** Names tried for one standard file, in order: raw, gzipped, and the `name.idx3-ubyte` variant. */
function candidates(base: string): string[] {
  const dotted = base.replace(/-(idx\d-ubyte)$/, ".$1");
  return [base, `${base}.gz`, dotted, `${dotted}.gz`];
}

function findFile(dir: string, base: string, op: string): string {
  const { existsSync, readdirSync } = nodeBuiltin("node:fs", op);
  const { join } = nodeBuiltin("node:path", op);
  const names = candidates(base);
  for (const name of names) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  let why = "";
  try {
    readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    why = code === "ENOENT" ? " (the directory does not exist)" : code === "ENOTDIR" ? " (it is not a directory)" : code === "EACCES" || code === "EPERM" ? " (the directory cannot be read: permission denied)" : ` (${(e as Error).message})`;
  }
  throw new ValueError(`${op}: no ${base} file in ${dir}${why}; looked for ${names.join(", ")}`);
}

function loadSplit(dir: string, prefix: "train" | "t10k", spec: DatasetSpec, opts: MnistLikeOptions): ImageDataset {
  const imagesPath = findFile(dir, `${prefix}-images-idx3-ubyte`, spec.op);
  const labelsPath = findFile(dir, `${prefix}-labels-idx1-ubyte`, spec.op);
  const images = readIdxFile(imagesPath);
  expectIdx(images, imagesPath, "uint8", 3);
  const labels = readIdxFile(labelsPath);
  expectIdx(labels, labelsPath, "uint8", 1);
  if (images.shape[0] !== labels.shape[0]) {
    throw new FormatError(`${spec.op}: ${imagesPath} has ${images.shape[0]} images but ${labelsPath} has ${labels.shape[0]} labels`);
  }
  const y = labels.data as Uint8Array;
  const bad = y.findIndex((v) => v >= spec.classes.length);
  if (bad >= 0) {
    throw new FormatError(`${labelsPath}: label ${y[bad]} at index ${bad} is not a class (0..${spec.classes.length - 1})`);
  }
  return new ImageDataset({
    images: images.data as Uint8Array,
    labels: y,
    shape: images.shape,
    mean: opts.mean ?? spec.mean,
    std: opts.std ?? spec.std,
    classes: spec.classes,
  });
}

function loadSplits(dir: string, spec: DatasetSpec, opts: MnistLikeOptions): ImageSplits {
  return { train: loadSplit(dir, "train", spec, opts), test: loadSplit(dir, "t10k", spec, opts) };
}

/**
 * Fashion-MNIST from `dir` holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or .gz (Debian package
 * dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist). Normalised with
 * mean 0.2860, std 0.3530 unless told otherwise.
 */
export function fashionMnist(dir: string, opts: MnistLikeOptions = {}): ImageSplits {
  return loadSplits(dir, { op: "fashionMnist", classes: FASHION_MNIST_CLASSES, mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD }, opts);
}

/** MNIST digits from `dir` (same four file names as Fashion-MNIST); mean 0.1307, std 0.3081. */
export function mnist(dir: string, opts: MnistLikeOptions = {}): ImageSplits {
  return loadSplits(dir, { op: "mnist", classes: MNIST_CLASSES, mean: MNIST_MEAN, std: MNIST_STD }, opts);
}

/** Train and test splits of a directory in the MNIST layout, as `op` (the loader named in errors). */
export function loadMnistLikeDir(dir: string, op: string, classes: readonly string[], mean: number, std: number, opts: MnistLikeOptions = {}): ImageSplits {
  return loadSplits(dir, { op, classes, mean, std }, opts);
}
