/**
 * Training loop, metrics and checkpoints. Re-exports only; browser-safe (the terminal
 * progress bar is in ./progress-node.ts, exported from `qat-ts/node`).
 */
export {
  Trainer, evaluate, evaluatePredictor, type TrainerOptions, type TrainerState, type TrainerCallbacks, type StepContext,
  type EpochRecord, type StepRecord, type MetricRecord, type EvalResult, type LossFn, type FitOptions, type FitAsyncOptions,
} from "./trainer.js";
export { RunningMetrics, countCorrect } from "./metrics.js";
export { type ProgressReporter, silentProgress, lineProgress } from "./progress.js";
export { yieldToEventLoop } from "./yield.js";
export { type Checkpoint, encodeCheckpoint, decodeCheckpoint, requireResumable } from "./checkpoint.js";
export { saveCheckpoint, loadCheckpoint, jsonlSink } from "./fs.js";
