/**
 * The `data` namespace: datasets, the DataLoader, batch transforms, the IDX codec and the
 * Node file loaders (fashionMnist, mnist, readIdxFile: they look node:fs / node:zlib up when
 * called, so this index is browser-safe). Re-exports only. The embedded Fashion-MNIST sample
 * is the separate entry `qat-ts/datasets/fashion-mnist-sample` (src/datasets/).
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
  type ImageSplits, type MnistLikeOptions, type ReadIdxOptions, readIdxFile, fashionMnist, mnist,
} from "./fs.js";
