/**
 * SequentialLR (torch.optim.lr_scheduler.SequentialLR, 1.13): runs schedulers[0] until
 * milestones[0], then schedulers[1] (restarted at epoch 0 through its closed form), and so
 * on. The usual use is a warm-up: `linearWarmup(opt, iters, main)` = SequentialLR of a
 * LinearLR and `main`.
 */
import { ValueError } from "../tensor/errors.js";
import { LRScheduler, LinearLR, type OptimizerLike, type SchedulerStateDict, bisectRight } from "./lr-scheduler.js";

export interface SequentialStateDict {
  last_epoch: number;
  _milestones: number[];
  _last_lr: number[];
  _schedulers: SchedulerStateDict[];
}

export class SequentialLR {
  readonly optimizer: OptimizerLike;
  readonly schedulers: readonly LRScheduler[];
  readonly milestones: readonly number[];
  lastEpoch: number;
  private lastLr: number[];

  constructor(optimizer: OptimizerLike, schedulers: readonly LRScheduler[], milestones: readonly number[], lastEpoch = -1) {
    if (schedulers.length < 1) throw new ValueError("SequentialLR: expects at least one scheduler");
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer) throw new ValueError(`SequentialLR: scheduler at index ${i} uses a different optimizer than the one given`);
    });
    if (milestones.length !== schedulers.length - 1) {
      throw new ValueError(`SequentialLR: expects ${schedulers.length - 1} milestones for ${schedulers.length} schedulers, got ${milestones.length}`);
    }
    this.optimizer = optimizer;
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    this.lastEpoch = lastEpoch + 1;
    // Undo the schedulers' own initial steps, then redo only the first one (as PyTorch).
    for (const g of optimizer.paramGroups) g.lr = g.initialLr ?? g.lr;
    for (const s of schedulers) s.lastEpoch -= 1;
    schedulers[0].initialStep();
    this.lastLr = schedulers[0].getLastLr();
  }

  step(): void {
    this.lastEpoch += 1;
    const idx = bisectRight(this.milestones, this.lastEpoch);
    const scheduler = this.schedulers[idx];
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) scheduler.step(0);
    else scheduler.step();
    this.lastLr = scheduler.getLastLr();
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): SequentialStateDict {
    return { last_epoch: this.lastEpoch, _milestones: [...this.milestones], _last_lr: [...this.lastLr], _schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  loadStateDict(sd: SequentialStateDict): void {
    if (!sd || !Array.isArray(sd._schedulers) || sd._schedulers.length !== this.schedulers.length) {
      throw new ValueError(`SequentialLR.loadStateDict: expected state for ${this.schedulers.length} schedulers`);
    }
    this.lastEpoch = sd.last_epoch;
    this.lastLr = [...sd._last_lr];
    sd._schedulers.forEach((s, i) => this.schedulers[i].loadStateDict(s));
  }
}

/**
 * Linear warm-up from startFactor·lr to lr over `iters` steps, then `main` (which should be
 * constructed on the same optimizer just before this call).
 */
export function linearWarmup(optimizer: OptimizerLike, iters: number, main: LRScheduler, startFactor = 0.1): SequentialLR {
  // LinearLR must be built before `main` in PyTorch; here main already ran its initial step,
  // which SequentialLR undoes, so the order of construction does not matter.
  const warm = new LinearLR(optimizer, { startFactor, endFactor: 1, totalIters: iters });
  return new SequentialLR(optimizer, [warm, main], [iters]);
}
