/**
 * The `qat-ts/datasets/fashion-mnist-sample` entry: the class-balanced 6000/1000 Fashion-MNIST
 * subset shipped in the package's assets/ (made by scripts/make-embedded-dataset.ts; about
 * 3 MB of gzipped IDX files). A subpath of its own so that nothing reachable from the package
 * root refers to the data (a bundler never pulls it in). In Node, `fashionMnistSample()` reads
 * the files with node:fs (looked up at call time, so importing this module is harmless); in a
 * browser, `fetchFashionMnistSample(url)` fetches the same four .gz files from wherever the page
 * serves them and gunzips them with DecompressionStream. Called by users, examples (also
 * examples/browser), the CLI (`--data embedded`, `qat demo`), tests and benchmarks.
 */
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD, ImageDataset } from "../data/dataset.js";
import { type ImageSplits, type MnistLikeOptions, loadMnistLikeDir } from "../data/fs.js";
import { expectIdx, parseIdx } from "../data/idx.js";
import { FormatError, NotSupportedError } from "../tensor/errors.js";
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

/** The sample's file names (the standard MNIST layout, gzipped). */
export const SAMPLE_FILES = {
  trainImages: "train-images-idx3-ubyte.gz",
  trainLabels: "train-labels-idx1-ubyte.gz",
  testImages: "t10k-images-idx3-ubyte.gz",
  testLabels: "t10k-labels-idx1-ubyte.gz",
} as const;

interface Fetch {
  (url: string): Promise<{ ok: boolean; status: number; body: unknown; arrayBuffer(): Promise<ArrayBuffer> }>;
}
type Decompressor = new (format: "gzip") => { readable: unknown; writable: unknown };

async function gunzip(bytes: ArrayBuffer, url: string): Promise<Uint8Array> {
  const g = globalThis as unknown as { DecompressionStream?: Decompressor; Response: new (body: unknown) => { arrayBuffer(): Promise<ArrayBuffer> }; Blob: new (p: ArrayBuffer[]) => { stream(): { pipeThrough(t: unknown): unknown } } };
  if (typeof g.DecompressionStream !== "function") throw new NotSupportedError(`fetchFashionMnistSample: this host has no DecompressionStream (needed to gunzip ${url})`);
  try {
    const stream = new g.Blob([bytes]).stream().pipeThrough(new g.DecompressionStream("gzip"));
    return new Uint8Array(await new g.Response(stream).arrayBuffer());
  } catch (e) {
    throw new FormatError(`${url}: corrupt gzip data: ${(e as Error).message}`);
  }
}

async function fetchIdx(base: string, name: string): Promise<ReturnType<typeof parseIdx>> {
  const url = new URL(name, base).href;
  const f = (globalThis as unknown as { fetch?: Fetch }).fetch;
  if (typeof f !== "function") throw new NotSupportedError("fetchFashionMnistSample: this host has no fetch()");
  const r = await f(url);
  if (!r.ok) throw new FormatError(`fetchFashionMnistSample: GET ${url} answered HTTP ${r.status}`);
  return parseIdx(await gunzip(await r.arrayBuffer(), url), url);
}

async function fetchSplit(base: string, images: string, labels: string, opts: MnistLikeOptions): Promise<ImageDataset> {
  const [x, y] = await Promise.all([fetchIdx(base, images), fetchIdx(base, labels)]);
  expectIdx(x, images, "uint8", 3);
  expectIdx(y, labels, "uint8", 1);
  if (x.shape[0] !== y.shape[0]) throw new FormatError(`fetchFashionMnistSample: ${images} has ${x.shape[0]} images but ${labels} has ${y.shape[0]} labels`);
  const l = y.data as Uint8Array;
  const bad = l.findIndex((v) => v >= FASHION_MNIST_CLASSES.length);
  if (bad >= 0) throw new FormatError(`${labels}: label ${l[bad]} at index ${bad} is not a class (0..9)`);
  return new ImageDataset({
    images: x.data as Uint8Array, labels: l, shape: x.shape,
    mean: opts.mean ?? FASHION_MNIST_MEAN, std: opts.std ?? FASHION_MNIST_STD, classes: FASHION_MNIST_CLASSES,
  });
}

/**
 * The same sample in a browser (or any host with fetch and DecompressionStream): fetches the
 * four .gz files (SAMPLE_FILES) from `baseUrl` — serve the package's
 * assets/fashion-mnist-sample/ directory there — and decodes them. Errors name the URL.
 */
export async function fetchFashionMnistSample(baseUrl: string | URL, opts: MnistLikeOptions = {}): Promise<ImageSplits> {
  const here = (globalThis as { location?: { href: string } }).location?.href;
  let base = here ? new URL(String(baseUrl), here).href : String(baseUrl); // relative to the page
  if (!base.endsWith("/")) base += "/";
  const [train, test] = await Promise.all([
    fetchSplit(base, SAMPLE_FILES.trainImages, SAMPLE_FILES.trainLabels, opts),
    fetchSplit(base, SAMPLE_FILES.testImages, SAMPLE_FILES.testLabels, opts),
  ]);
  return { train, test };
}
