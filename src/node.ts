/**
 * The `qat-ts/node` entry: everything that needs Node.js in one place — file I/O (IDX
 * datasets, checkpoints, safetensors, Int8Model files, JSON-lines metrics, run reports) and
 * the terminal progress bar (cli-progress, reachable only from here). The file functions are
 * also in the root namespaces (they look node:fs up when called, so the root stays
 * browser-safe); the progress bar and the report writer are not. Re-exports only; see
 * docs/ARCHITECTURE.md ("Entry points"). Called by the CLI and Node users.
 */
export {
  type ImageSplits, type MnistLikeOptions, type ReadIdxOptions, readIdxFile, fashionMnist, mnist,
} from "./data/fs.js";
export { saveCheckpoint, loadCheckpoint, jsonlSink, truncateJsonl, truncateMetricsTo } from "./train/fs.js";
export { terminalProgress, autoProgress } from "./train/progress-node.js";
export { type ProgressReporter, lineProgress, silentProgress } from "./train/progress.js";
export { saveInt8Model, loadInt8Model } from "./int8/fs.js";
export {
  saveSafetensors, loadSafetensors, loadSafetensorsWithMetadata, writeFileAtomic, type AtomicWriteOptions,
} from "./nn/fs.js";
export { loadRunDir, writeReport } from "./report/fs.js";
// PyTorch round trip (docs/SCALING.md): a prepared model → a torchrun/DDP project, and back
export { exportTorch, importTorch, type ExportTorchOptions, type ImportTorchResult, type TorchRecipe } from "./interop/torch/index.js";
