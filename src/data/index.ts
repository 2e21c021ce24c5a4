/**
 * The `data` namespace: datasets, the DataLoader, batch transforms, the IDX codec and the
 * Node file loaders (fashionMnist, mnist, fashionMnistSample). Re-exports only. Everything
 * except ./fs.js is browser-safe; this index imports ./fs.js (node:fs, node:zlib).
 */
export {
  type Dataset, type Sample, type Batch, type BatchSource, type ImageDatasetOptions,
  ImageDataset, TensorDataset, Subset, subset, collate, gatherBatch, isBatchSource,
  FASHION_MNIST_CLASSES, MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD, MNIST_MEAN, MNIST_STD,
} from "./dataset.js";
export { DataLoader, type DataLoaderOptions, type DataLoaderState } from "./loader.js";
export {
  type BatchTransform, type RandomCropOptions, compose, normalize, randomCrop, randomHorizontalFlip,
} from "./transforms.js";
export { type IdxArray, type IdxData, type IdxDType, parseIdx, encodeIdx, expectIdx } from "./idx.js";
export {
  type ImageSplits, type MnistLikeOptions, readIdxFile, fashionMnist, mnist, fashionMnistSample,
  loadEmbeddedFashionMnist, embeddedSampleDir,
} from "./fs.js";
