/**
 * Learning-rate schedulers, following torch.optim.lr_scheduler (1.13) step by step: each
 * step() advances lastEpoch and writes new `lr` values into the optimizer's groups, using
 * PyTorch's recursive ("chainable") formulas, so a schedule reproduces PyTorch's floats.
 * step(epoch) jumps with the closed form, as PyTorch does. Constructing a scheduler records
 * `initialLr` in each group and performs the initial step (lastEpoch 0).
 *   StepLR:            lr·γ every stepSize epochs
 *   MultiStepLR:       lr·γ^k at each milestone (k = times it is listed)
 *   ExponentialLR:     lr·γ every epoch
 *   CosineAnnealingLR: η_min + (η_0 − η_min)(1 + cos(π·t/T_max))/2
 *   LinearLR:          factor from startFactor to endFactor over totalIters (warm-up)
 *   SequentialLR:      one scheduler after another at the milestones (see sequential.ts)
 */
import { ValueError } from "../tensor/errors.js";

/** What a scheduler needs of an optimizer (any Optimizer fits). */
export interface OptimizerLike {
  paramGroups: { lr: number; initialLr?: number }[];
}

export interface SchedulerStateDict {
  last_epoch: number;
  base_lrs: number[];
  _step_count: number;
  _last_lr: number[];
  [hyperParameter: string]: unknown;
}

/** Number of sorted values ≤ x (Python's bisect.bisect_right). */
export function bisectRight(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < sorted[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Base class (torch _LRScheduler). Subclasses set their fields, then call initialStep() at
 * the end of their constructor (TypeScript cannot set fields before super()).
 */
export abstract class LRScheduler {
  readonly optimizer: OptimizerLike;
  lastEpoch: number;
  baseLrs: number[];
  protected stepCount = 0;
  protected lastLr: number[] = [];

  constructor(optimizer: OptimizerLike, lastEpoch = -1) {
    this.optimizer = optimizer;
    optimizer.paramGroups.forEach((g, i) => {
      if (lastEpoch === -1) g.initialLr ??= g.lr;
      else if (g.initialLr === undefined) throw new ValueError(`${new.target.name}: param 'initial_lr' is not specified in paramGroups[${i}] when resuming an optimizer`);
    });
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
    this.lastEpoch = lastEpoch;
  }

  /** The first step (lastEpoch -1 → 0), done at construction. */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** Learning rates for the current lastEpoch, computed from the groups' current lr. */
  abstract getLr(): number[];

  /** Learning rates for lastEpoch computed from baseLrs (used by step(epoch)). */
  closedFormLr(): number[] | null {
    return null;
  }

  /** Advances one epoch (or jumps to `epoch`) and writes the new rates into the optimizer. */
  step(epoch?: number): void {
    this.stepCount++;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch++;
      values = this.getLr();
    } else {
      this.lastEpoch = epoch;
      values = this.closedFormLr() ?? this.getLr();
    }
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = values[i]));
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The rates set by the last step. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  protected groupLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** Hyper-parameters recorded in the state dict (informational; the constructor sets them). */
  protected hyperParameters(): Record<string, unknown> {
    return {};
  }

  stateDict(): SchedulerStateDict {
    return { ...this.hyperParameters(), last_epoch: this.lastEpoch, base_lrs: [...this.baseLrs], _step_count: this.stepCount, _last_lr: [...this.lastLr] };
  }

  /** Restores the counters and rates saved by stateDict (the optimizer's lr is restored by its own state dict). */
  loadStateDict(sd: SchedulerStateDict): void {
    if (!sd || typeof sd.last_epoch !== "number" || !Array.isArray(sd.base_lrs)) throw new ValueError(`${this.constructor.name}.loadStateDict: not a scheduler state dict`);
    this.lastEpoch = sd.last_epoch;
    this.baseLrs = [...sd.base_lrs];
    this.stepCount = sd._step_count ?? 0;
    this.lastLr = [...(sd._last_lr ?? [])];
  }
}

function checkPositiveInt(v: number, name: string, who: string): void {
  if (!Number.isInteger(v) || v < 1) throw new ValueError(`${who}: ${name} must be a positive integer, got ${v}`);
}

export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: OptimizerLike, opts: { stepSize: number; gamma?: number; lastEpoch?: number }) {
    super(optimizer, opts.lastEpoch);
    checkPositiveInt(opts.stepSize, "stepSize", "StepLR");
    this.stepSize = opts.stepSize;
    this.gamma = opts.gamma ?? 0.1;
    this.initialStep();
  }

  getLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * this.gamma);
  }

  override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }

  protected override hyperParameters(): Record<string, unknown> {
    return { step_size: this.stepSize, gamma: this.gamma };
  }
}

export class MultiStepLR extends LRScheduler {
  /** Sorted milestones, repeated ones kept (each repeat multiplies by γ once more). */
  readonly milestones: number[];
  readonly gamma: number;

  constructor(optimizer: OptimizerLike, opts: { milestones: readonly number[]; gamma?: number; lastEpoch?: number }) {
    super(optimizer, opts.lastEpoch);
    for (const m of opts.milestones) if (!Number.isInteger(m)) throw new ValueError(`MultiStepLR: milestones must be integers, got ${m}`);
    this.milestones = [...opts.milestones].sort((a, b) => a - b);
    this.gamma = opts.gamma ?? 0.1;
    this.initialStep();
  }

  getLr(): number[] {
    const hits = this.milestones.filter((m) => m === this.lastEpoch).length;
    if (hits === 0) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * this.gamma ** hits);
  }

  override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** bisectRight(this.milestones, this.lastEpoch));
  }

  protected override hyperParameters(): Record<string, unknown> {
    return { milestones: [...this.milestones], gamma: this.gamma };
  }
}

export class ExponentialLR extends LRScheduler {
  readonly gamma: number;

  constructor(optimizer: OptimizerLike, opts: { gamma: number; lastEpoch?: number }) {
    super(optimizer, opts.lastEpoch);
    this.gamma = opts.gamma;
    this.initialStep();
  }

  getLr(): number[] {
    if (this.lastEpoch === 0) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * this.gamma);
  }

  override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** this.lastEpoch);
  }

  protected override hyperParameters(): Record<string, unknown> {
    return { gamma: this.gamma };
  }
}

/** Python's modulo (result has the divisor's sign). */
function pyMod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: OptimizerLike, opts: { tMax: number; etaMin?: number; lastEpoch?: number }) {
    super(optimizer, opts.lastEpoch);
    checkPositiveInt(opts.tMax, "tMax", "CosineAnnealingLR");
    this.tMax = opts.tMax;
    this.etaMin = opts.etaMin ?? 0;
    this.initialStep();
  }

  getLr(): number[] {
    const { lastEpoch: t, tMax: T, etaMin } = this;
    if (t === 0) return this.groupLrs();
    if (this.stepCount === 1 && t > 0) return this.closedFormLr();
    if (pyMod(t - 1 - T, 2 * T) === 0) {
      return this.groupLrs().map((lr, i) => lr + ((this.baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    const ratio = (1 + Math.cos((Math.PI * t) / T)) / (1 + Math.cos((Math.PI * (t - 1)) / T));
    return this.groupLrs().map((lr) => ratio * (lr - etaMin) + etaMin);
  }

  override closedFormLr(): number[] {
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax))) / 2);
  }

  protected override hyperParameters(): Record<string, unknown> {
    return { T_max: this.tMax, eta_min: this.etaMin };
  }
}

export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;

  constructor(optimizer: OptimizerLike, opts: { startFactor?: number; endFactor?: number; totalIters?: number; lastEpoch?: number } = {}) {
    super(optimizer, opts.lastEpoch);
    const start = opts.startFactor ?? 1 / 3;
    const end = opts.endFactor ?? 1;
    if (!(start > 0 && start <= 1)) throw new ValueError(`LinearLR: startFactor must be in (0, 1], got ${start}`);
    if (!(end >= 0 && end <= 1)) throw new ValueError(`LinearLR: endFactor must be in [0, 1], got ${end}`);
    this.startFactor = start;
    this.endFactor = end;
    this.totalIters = opts.totalIters ?? 5;
    checkPositiveInt(this.totalIters, "totalIters", "LinearLR");
    this.initialStep();
  }

  getLr(): number[] {
    const { lastEpoch: t, startFactor: s, endFactor: e, totalIters: n } = this;
    if (t === 0) return this.groupLrs().map((lr) => lr * s);
    if (t > n) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * (1 + (e - s) / (n * s + (t - 1) * (e - s))));
  }

  override closedFormLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: n } = this;
    return this.baseLrs.map((b) => b * (s + ((e - s) * Math.min(n, this.lastEpoch)) / n));
  }

  protected override hyperParameters(): Record<string, unknown> {
    return { start_factor: this.startFactor, end_factor: this.endFactor, total_iters: this.totalIters };
  }
}
