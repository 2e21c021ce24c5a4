/** Training loop, metrics and checkpoints. Re-exports only. */
export { Trainer, evaluate, evaluatePredictor, type TrainerOptions, type TrainerState, type TrainerCallbacks, type StepContext, type EpochRecord, type StepRecord, type MetricRecord, type EvalResult, type LossFn } from "./trainer.js";
export { RunningMetrics, countCorrect } from "./metrics.js";
export { type ProgressReporter, autoProgress, terminalProgress, silentProgress } from "./progress.js";
export { type Checkpoint, encodeCheckpoint, decodeCheckpoint, requireResumable } from "./checkpoint.js";
export { saveCheckpoint, loadCheckpoint, jsonlSink } from "./fs.js";
