/** optim: optimizers (SGD, Adam, AdamW) and learning-rate schedulers. Exported as `optim`. */
export {
  Optimizer, type BaseOptions, type ParamGroup, type ParamGroupSpec, type ParamsArg, type ParamState, type OptimizerStateDict,
} from "./optimizer.js";
export { SGD, type SGDOptions } from "./sgd.js";
export { Adam, AdamW, type AdamOptions } from "./adam.js";
export {
  LRScheduler, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, bisectRight, type OptimizerLike, type SchedulerStateDict,
} from "./lr-scheduler.js";
export { SequentialLR, linearWarmup, type SequentialStateDict } from "./sequential.js";
