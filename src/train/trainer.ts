/**
 * The training loop: `Trainer.fit()` runs epochs of forward → loss → backward → optimizer
 * step over a DataLoader, with loss/accuracy metrics, an injected progress reporter
 * (./progress.ts; the terminal bar is ./progress-node.ts), a JSON-lines metrics sink,
 * callbacks at step and epoch boundaries (the QAT schedule hooks in there), and checkpoints
 * that resume bit-identically (model, optimizer, scheduler, RNG, loader position).
 * `fitAsync()` runs the same loop, yielding to the event loop after every step
 * (./yield.ts), and stops at a step boundary when its AbortSignal fires.
 * Deterministic given a seed. Browser-safe; file output lives in ./fs.ts.
 * Called by user code, quant experiments and the CLI (`qat train`, `qat qat`).
 */
import { ValueError } from "../tensor/errors.js";
import { getRngState, setRngState } from "../tensor/random.js";
import { Tensor } from "../tensor/tensor.js";
import { crossEntropy } from "../ops/loss.js";
import type { Module } from "../nn/module.js";
import type { DataLoader, DataLoaderState } from "../data/loader.js";
import type { Checkpoint } from "./checkpoint.js";
import { RunningMetrics, countCorrect } from "./metrics.js";
import { evaluate } from "./evaluate.js";
import { type ProgressReporter, lineProgress, silentProgress } from "./progress.js";
import { yieldToEventLoop } from "./yield.js";

/** What the Trainer needs from an optimizer (src/optim's Optimizer satisfies it). */
export interface OptimizerLike {
  step(): void;
  zeroGrad(): void;
  stateDict(): unknown;
  loadStateDict(sd: never): void;
}

/** What the Trainer needs from an LR scheduler (src/optim's schedulers satisfy it). */
export interface SchedulerLike {
  step(): void;
  getLastLr(): number[];
  stateDict(): unknown;
  loadStateDict(sd: never): void;
}

export type LossFn = (logits: Tensor, target: Tensor) => Tensor;

/** Passed to callbacks: where the loop is. `step` counts optimizer steps since the start. */
export interface StepContext {
  trainer: Trainer;
  epoch: number;
  step: number;
}

export interface TrainerCallbacks {
  /** Before the forward pass of each training step (QAT schedules switch modes here). */
  onStepStart?(ctx: StepContext): void;
  /** After the optimizer step. */
  onStepEnd?(ctx: StepContext, loss: number): void;
  /** After each epoch's training (and evaluation, if a test loader was given). */
  onEpochEnd?(ctx: StepContext, record: EpochRecord): void;
}

/** A training-loss sample (every `logEvery` steps). */
/** A training step (one optimizer update); `step` counts updates since the start of this phase. */
export interface StepRecord {
  kind: "step";
  step: number;
  epoch: number;
  /** Mini-batch loss; NaN when the run wrote null (a diverged loss). */
  loss: number;
  lr: number;
}

/** The end of an epoch: training means over the epoch and, when evaluated, test metrics. */
export interface EpochRecord {
  kind: "epoch";
  epoch: number;
  /** Step count at the end of the epoch (the same counter as StepRecord.step). */
  step: number;
  lr: number;
  trainLoss: number;
  /** In [0, 1]. */
  trainAccuracy: number;
  testLoss?: number;
  /** In [0, 1]. */
  testAccuracy?: number;
  seconds: number;
  imagesPerSec: number;
}

/** One line of `metrics-float.jsonl` / `metrics-qat.jsonl`. */
export type MetricRecord = StepRecord | EpochRecord;

export interface TrainerOptions {
  model: Module;
  optimizer: OptimizerLike;
  scheduler?: SchedulerLike | null;
  /** When the scheduler steps (default "epoch", like most PyTorch recipes). */
  schedulerInterval?: "epoch" | "step";
  lossFn?: LossFn;
  /**
   * A reporter (e.g. `terminalProgress()` from `qat-ts/node`), true for one line per epoch on
   * the console (`lineProgress()`), false or absent for none.
   */
  progress?: boolean | ProgressReporter;
  /** Receives every epoch record, and step records when logEvery > 0 (e.g. a JSON-lines sink from ./fs.ts). */
  log?: (record: MetricRecord) => void;
  /** Log the training loss every this many steps (default 0: epoch records only). */
  logEvery?: number;
  callbacks?: TrainerCallbacks[];
  /** Label shown on the progress bar. */
  label?: string;
}

/** Options of `Trainer.fit` / `fitAsync`. */
export interface FitOptions {
  /** Train until this many epochs are complete in total (a resumed trainer continues). */
  epochs: number;
  /** Evaluated after every epoch (testLoss / testAccuracy in the epoch record). */
  test?: Iterable<{ x: Tensor; y: Tensor }>;
  /** Called after every epoch (e.g. to save a checkpoint). */
  onCheckpoint?: (t: Trainer) => void;
  /** Overrides the trainer's reporter for this call. */
  progress?: ProgressReporter;
  /** After every optimizer step, with the mini-batch loss. */
  onStep?: (ctx: StepContext, loss: number) => void;
  /** After every epoch, with its record. */
  onEpoch?: (record: EpochRecord, ctx: StepContext) => void;
}

/** Options of `Trainer.fitAsync`: those of fit plus an abort signal. */
export interface FitAsyncOptions extends FitOptions {
  /**
   * Stops training at the next step boundary: the last step is complete (parameters,
   * optimizer and BN/observer state consistent), the partial epoch gets no record, and the
   * next fit/fitAsync continues that epoch from the next batch. fitAsync then resolves with
   * the history of the completed epochs (check `signal.aborted`), as Keras's stop_training.
   */
  signal?: AbortSignal;
}

/** Everything needed to continue training exactly where it stopped. */
export interface TrainerState {
  epoch: number;
  step: number;
  rng: number[];
  loader: DataLoaderState | null;
  history: EpochRecord[];
}

/** Copies of every buffer by state-dict key, to undo a rejected step with loadStateDict (strict: false). */
function snapshotBuffers(model: Module): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of model.namedBuffers()) out[k] = new Tensor(t.data.slice(), [...t.shape]);
  return out;
}

function countNonFinite(a: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) n++;
  return n;
}

export { evaluate, evaluatePredictor, type EvalResult } from "./evaluate.js";

export class Trainer {
  readonly model: Module;
  readonly optimizer: OptimizerLike;
  readonly scheduler: SchedulerLike | null;
  /** Completed epochs. */
  epoch = 0;
  /** Completed optimizer steps. */
  step = 0;
  readonly history: EpochRecord[] = [];
  private readonly opts: TrainerOptions;
  private readonly lossFn: LossFn;
  private readonly progress: ProgressReporter;
  private resumeLoader: DataLoaderState | null = null;
  private pausing = false;
  private activeLoader: DataLoader | null = null;

  constructor(opts: TrainerOptions) {
    this.opts = opts;
    this.model = opts.model;
    this.optimizer = opts.optimizer;
    this.scheduler = opts.scheduler ?? null;
    this.lossFn = opts.lossFn ?? crossEntropy;
    const p = opts.progress;
    this.progress = p === true ? lineProgress() : p === undefined || p === false ? silentProgress : p;
  }

  /** Trains until `epochs` epochs are complete in total (a resumed trainer continues). */
  fit(train: DataLoader, opts: FitOptions): EpochRecord[] {
    const steps = this.fitSteps(train, opts, "Trainer.fit");
    while (!steps.next().done) {
      // one optimizer step (or epoch boundary) per iteration
    }
    return this.history;
  }

  /**
   * fit() that yields to the event loop after every step (scheduler.yield, setImmediate or a
   * MessageChannel), so a page stays responsive and callbacks can update it; `signal` stops
   * it at a step boundary (see FitAsyncOptions.signal). Resolves with the history.
   */
  async fitAsync(train: DataLoader, opts: FitAsyncOptions): Promise<EpochRecord[]> {
    const steps = this.fitSteps(train, opts, "Trainer.fitAsync");
    const { signal } = opts;
    if (signal?.aborted) return this.history;
    for (;;) {
      if (steps.next().done) break;
      await yieldToEventLoop();
      if (signal?.aborted) {
        this.pausing = true;
        try {
          steps.return(undefined);
        } finally {
          this.pausing = false;
        }
        break;
      }
    }
    return this.history;
  }

  /** The fit loop as a generator: yields after every step but an epoch's last, and after every epoch. */
  private *fitSteps(train: DataLoader, opts: FitOptions, op: string): Generator<void, void, void> {
    if (!Number.isInteger(opts.epochs) || opts.epochs < 0) throw new ValueError(`${op}: epochs must be a non-negative integer, got ${opts.epochs}`);
    while (this.epoch < opts.epochs) {
      const rec = yield* this.epochSteps(train, opts);
      if (opts.test) {
        const ev = evaluate(this.model, opts.test, this.lossFn);
        rec.testLoss = ev.loss;
        rec.testAccuracy = ev.accuracy;
      }
      if (this.scheduler && (this.opts.schedulerInterval ?? "epoch") === "epoch") this.scheduler.step();
      this.history.push(rec);
      this.opts.log?.(rec);
      for (const cb of this.opts.callbacks ?? []) cb.onEpochEnd?.(this.ctx(), rec);
      opts.onEpoch?.(rec, this.ctx());
      opts.onCheckpoint?.(this);
      yield;
    }
  }

  private ctx(): StepContext {
    return { trainer: this, epoch: this.epoch, step: this.step };
  }

  /** One pass over `loader` (or the rest of it, after a mid-epoch resume). */
  trainEpoch(loader: DataLoader): EpochRecord {
    const steps = this.epochSteps(loader, {});
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /** trainEpoch as a generator: yields after every step but the last (the epoch then ends first), returns the epoch record. */
  private *epochSteps(loader: DataLoader, opts: Pick<FitOptions, "progress" | "onStep">): Generator<void, EpochRecord, void> {
    if (loader.length === 0) throw new ValueError("Trainer: the training loader has no batches (is the dataset empty?)");
    if (this.resumeLoader) {
      loader.setState(this.resumeLoader);
      this.resumeLoader = null;
    }
    this.model.train();
    const metrics = new RunningMetrics();
    const lr = this.currentLr();
    const t0 = performance.now();
    const progress = opts.progress ?? this.progress;
    progress.start(this.opts.label ?? `epoch ${this.epoch + 1}`, loader.length);
    this.activeLoader = loader;
    let done = loader.state().batch;
    try {
      for (const { x, y } of loader) {
        const loss = this.trainStep(x, y, metrics);
        done++;
        const every = this.opts.logEvery ?? 0;
        if (every > 0 && this.step % every === 0) this.opts.log?.({ kind: "step", step: this.step, epoch: this.epoch + 1, loss, lr });
        const secs = (performance.now() - t0) / 1e3;
        progress.update(done, { loss, imagesPerSec: metrics.count / Math.max(secs, 1e-9) });
        opts.onStep?.(this.ctx(), loss);
        // The epoch's last step runs on to the epoch's end (record, evaluation) first.
        if (done < loader.length) yield;
      }
    } finally {
      // Paused by fitAsync's signal: the next fit continues this epoch after the last step.
      if (this.pausing) this.resumeLoader = loader.state();
      progress.stop();
      this.activeLoader = null;
    }
    this.epoch++;
    const seconds = (performance.now() - t0) / 1e3;
    return {
      kind: "epoch", epoch: this.epoch, step: this.step, lr,
      trainLoss: metrics.loss, trainAccuracy: metrics.accuracy,
      seconds, imagesPerSec: metrics.count / Math.max(seconds, 1e-9),
    };
  }

  /** forward → loss → backward → step; returns the batch loss. */
  trainStep(x: Tensor, y: Tensor, metrics?: RunningMetrics): number {
    for (const cb of this.opts.callbacks ?? []) cb.onStepStart?.(this.ctx());
    const bad = countNonFinite(x.data);
    if (bad > 0) {
      throw new ValueError(`Trainer: the batch at step ${this.step + 1} (epoch ${this.epoch + 1}) holds ${bad} NaN/Infinity input value${bad === 1 ? "" : "s"}; the step was not applied (parameters, BN statistics and observers unchanged)`);
    }
    this.optimizer.zeroGrad();
    // A diverged step must not change the model either: buffers (BN running statistics,
    // observer ranges) are restored and no parameter is updated when the loss is not finite.
    const buffers = snapshotBuffers(this.model);
    let value = NaN;
    let logits: Tensor;
    let loss: Tensor;
    try {
      logits = this.model.forward(x);
      loss = this.lossFn(logits, y);
      value = loss.item();
    } finally {
      if (!Number.isFinite(value)) this.model.loadStateDict(buffers, { strict: false });
    }
    if (!Number.isFinite(value)) {
      throw new ValueError(`Trainer: loss became ${value} at step ${this.step + 1} (epoch ${this.epoch + 1}); lower the learning rate. The step was not applied (parameters, BN statistics and observers unchanged)`);
    }
    loss.backward();
    this.optimizer.step();
    this.step++;
    if (this.scheduler && this.opts.schedulerInterval === "step") this.scheduler.step();
    metrics?.add(value, countCorrect(logits, y), y.shape[0]);
    for (const cb of this.opts.callbacks ?? []) cb.onStepEnd?.(this.ctx(), value);
    return value;
  }

  private currentLr(): number {
    if (this.scheduler) return this.scheduler.getLastLr()[0];
    const sd = this.optimizer.stateDict() as { param_groups?: { lr?: number }[] };
    return sd.param_groups?.[0]?.lr ?? NaN;
  }

  /** The loop's position, for checkpoints (model/optimizer/scheduler state are saved beside it). */
  state(loader?: DataLoader): TrainerState {
    const l = loader ?? this.activeLoader;
    return { epoch: this.epoch, step: this.step, rng: getRngState(), loader: l ? l.state() : null, history: [...this.history] };
  }

  /** Restores a position saved by state(); the next fit/trainEpoch continues from it. */
  loadState(s: TrainerState): void {
    this.epoch = s.epoch;
    this.step = s.step;
    setRngState(s.rng);
    this.resumeLoader = s.loader;
    this.history.length = 0;
    this.history.push(...s.history);
  }

  /** Everything needed to resume: model, optimizer, scheduler, position, plus `config`. */
  toCheckpoint(loader?: DataLoader, config: Record<string, unknown> = {}): Checkpoint {
    return {
      model: this.model.stateDict(),
      optimizer: this.optimizer.stateDict() as Checkpoint["optimizer"],
      scheduler: this.scheduler ? this.scheduler.stateDict() : null,
      trainer: this.state(loader),
      config,
    };
  }

  /** Restores model, optimizer, scheduler and position from a checkpoint (strict keys). */
  restore(c: Checkpoint): void {
    this.model.loadStateDict(c.model, { strict: true });
    if (c.optimizer) this.optimizer.loadStateDict(c.optimizer as never);
    if (this.scheduler && c.scheduler) this.scheduler.loadStateDict(c.scheduler as never);
    if (c.trainer) this.loadState(c.trainer);
  }
}
