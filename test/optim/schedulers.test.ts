/** LR schedulers against torch.optim.lr_scheduler over 30 steps (test/golden/optim/optim.json), state dicts. */
import { describe, expect, it } from "vitest";
import { zeros } from "../../src/tensor/creation.js";
import * as optim from "../../src/optim/index.js";
import { readGolden } from "../nn/golden.js";

interface SchedCase {
  name: string;
  options: Record<string, any>;
  group_lrs: number[];
  lrs: number[][];
}
const G = readGolden<{ torch_version: string; schedulers: SchedCase[] }>("optim/optim.json");

function makeOptimizer(groupLrs: number[]): optim.SGD {
  return new optim.SGD(groupLrs.map((lr) => ({ params: [zeros([2], { requiresGrad: true })], lr })), { lr: groupLrs[0], momentum: 0.9 });
}

type Sched = { step(): void; getLastLr(): number[]; stateDict(): any; loadStateDict(sd: any): void };

function build(c: SchedCase, opt: optim.SGD): Sched {
  const o = c.options;
  switch (c.name) {
    case "step":
      return new optim.StepLR(opt, { stepSize: o.stepSize, gamma: o.gamma });
    case "multistep":
      return new optim.MultiStepLR(opt, { milestones: o.milestones, gamma: o.gamma });
    case "exponential":
      return new optim.ExponentialLR(opt, { gamma: o.gamma });
    case "cosine":
      return new optim.CosineAnnealingLR(opt, { tMax: o.tMax, etaMin: o.etaMin });
    case "linear":
      return new optim.LinearLR(opt, o);
    case "warmup_cosine": {
      const warm = new optim.LinearLR(opt, o.warmup);
      return new optim.SequentialLR(opt, [warm, new optim.CosineAnnealingLR(opt, { tMax: o.tMax })], [o.milestone]);
    }
    case "warmup_step": {
      const warm = new optim.LinearLR(opt, o.warmup);
      return new optim.SequentialLR(opt, [warm, new optim.StepLR(opt, { stepSize: o.stepSize, gamma: o.gamma })], [o.milestone]);
    }
    default:
      throw new Error(`unknown schedule ${c.name}`);
  }
}

function expectLrs(actual: number[], expected: number[], where: string): void {
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]) <= 1e-12 + 1e-9 * Math.abs(expected[i]))) throw new Error(`${where}: group ${i} lr ${a}, torch ${expected[i]}`);
  });
}

describe(`LR schedulers vs torch ${G.torch_version}`, () => {
  it("covers every golden schedule", () => expect(G.schedulers.map((c) => c.name)).toEqual(["step", "multistep", "exponential", "cosine", "linear", "warmup_cosine", "warmup_step"]));

  for (const c of G.schedulers) {
    it(`${c.name}: ${c.lrs.length - 1} steps match PyTorch's learning rates`, () => {
      const opt = makeOptimizer(c.group_lrs);
      const sched = build(c, opt);
      c.lrs.forEach((expected, step) => {
        if (step > 0) sched.step();
        expectLrs(sched.getLastLr(), expected, `${c.name} step ${step}`);
        expectLrs(opt.paramGroups.map((g) => g.lr), expected, `${c.name} optimizer lr at step ${step}`);
      });
    });

    it(`${c.name}: stateDict mid-way resumes the same schedule`, () => {
      const opt = makeOptimizer(c.group_lrs);
      const sched = build(c, opt);
      for (let s = 0; s < 12; s++) sched.step();
      const sd = JSON.parse(JSON.stringify(sched.stateDict()));
      const optSd = opt.stateDict();
      const opt2 = makeOptimizer(c.group_lrs);
      const sched2 = build(c, opt2);
      opt2.loadStateDict(optSd);
      sched2.loadStateDict(sd);
      expect(sched2.getLastLr()).toEqual(sched.getLastLr());
      for (let s = 13; s < c.lrs.length; s++) {
        sched2.step();
        expectLrs(sched2.getLastLr(), c.lrs[s], `${c.name} resumed step ${s}`);
      }
    });
  }
});

describe("scheduler API", () => {
  it("step(epoch) jumps with the closed form; initialLr is recorded", () => {
    const opt = makeOptimizer([0.1]);
    const s = new optim.StepLR(opt, { stepSize: 3, gamma: 0.5 });
    expect(opt.paramGroups[0].initialLr).toBe(0.1);
    s.step(7);
    expect(s.getLastLr()).toEqual([0.1 * 0.25]);
    expect(s.stateDict()).toMatchObject({ last_epoch: 7, base_lrs: [0.1], step_size: 3, gamma: 0.5 });
  });

  it("linearWarmup ramps then hands over to the main schedule", () => {
    const opt = makeOptimizer([1]);
    const sched = optim.linearWarmup(opt, 4, new optim.CosineAnnealingLR(opt, { tMax: 10 }), 0.25);
    const lrs = [sched.getLastLr()[0]];
    for (let i = 0; i < 6; i++) {
      sched.step();
      lrs.push(sched.getLastLr()[0]);
    }
    expect(lrs.slice(0, 5).map((v) => +v.toFixed(6))).toEqual([0.25, 0.4375, 0.625, 0.8125, 1]);
    expect(lrs[5]).toBeCloseTo((1 + Math.cos(Math.PI / 10)) / 2, 12);
  });

  it("validates arguments", () => {
    const opt = makeOptimizer([0.1]);
    expect(() => new optim.StepLR(opt, { stepSize: 0 })).toThrow(/stepSize must be a positive integer/);
    expect(() => new optim.LinearLR(opt, { startFactor: 0 })).toThrow(/startFactor/);
    const other = makeOptimizer([0.1]);
    expect(() => new optim.SequentialLR(opt, [new optim.StepLR(other, { stepSize: 2 })], [])).toThrow(/different optimizer/);
    expect(() => new optim.SequentialLR(opt, [new optim.StepLR(opt, { stepSize: 2 })], [3])).toThrow(/expects 0 milestones/);
    const fresh = makeOptimizer([0.1]);
    expect(() => new optim.StepLR(fresh, { stepSize: 2, lastEpoch: 5 })).toThrow(/initial_lr/);
  });
});
