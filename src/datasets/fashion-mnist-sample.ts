/**
 * The `qat-ts/datasets/fashion-mnist-sample` entry: the class-balanced 6000/1000 Fashion-MNIST
 * subset shipped in the package's assets/ (made by scripts/make-embedded-dataset.ts; about
 * 3 MB of gzipped IDX files). A subpath of its own so that nothing reachable from the package
 * root refers to the data (a bundler never pulls it in). Node only: the files are read with
 * node:fs when called (looked up at call time, so importing this module is harmless).
 * Called by users, examples, the CLI (`--data embedded`, `qat demo`), tests and benchmarks.
 */
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD } from "../data/dataset.js";
import { type ImageSplits, type MnistLikeOptions, loadMnistLikeDir } from "../data/fs.js";
import { nodeBuiltin } from "../tensor/node-builtins.js";

export type { ImageSplits, MnistLikeOptions };

/**
 * Directory of the embedded Fashion-MNIST sample. This module is
 * src/datasets/fashion-mnist-sample.ts or dist/datasets/fashion-mnist-sample.js, both two
 * levels below the package root, where assets/ lives.
 */
export function embeddedSampleDir(): string {
  const { fileURLToPath } = nodeBuiltin("node:url", "embeddedSampleDir");
  return fileURLToPath(new URL("../../assets/fashion-mnist-sample/", import.meta.url));
}

/**
 * The Fashion-MNIST sample shipped with the package: 6000 training images (600 per class) and
 * 1000 test images (100 per class), chosen by scripts/make-embedded-dataset.ts (see the README
 * beside the files for provenance and licence). Works offline; loads in well under a second.
 */
export function loadEmbeddedFashionMnist(opts: MnistLikeOptions = {}): ImageSplits {
  return loadMnistLikeDir(embeddedSampleDir(), "fashionMnistSample", FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD, opts);
}

export { loadEmbeddedFashionMnist as fashionMnistSample };
