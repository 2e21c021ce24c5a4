/** SGD / Adam / AdamW against torch.optim (test/golden/optim/optim.json), state-dict round trips, validation. */
import { describe, expect, it } from "vitest";
import "../../src/index.js";
import { randn, tensor, zeros } from "../../src/tensor/creation.js";
import { manualSeed } from "../../src/tensor/random.js";
import { listBackends } from "../../src/backend/index.js";
import { SGD, type SGDOptions } from "../../src/optim/sgd.js";
import { onBackend } from "../backend/helpers.js";
import { ShapeError, ValueError } from "../../src/tensor/errors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import * as optim from "../../src/optim/index.js";
import type { Optimizer } from "../../src/optim/index.js";
import { readGolden } from "../nn/golden.js";

interface OptCase {
  name: string;
  optimizer: "SGD" | "Adam" | "AdamW";
  options: Record<string, unknown>;
  groups: { second_lr: number } | null;
  params_after_each_step: number[][][];
}
interface OptimGolden {
  torch_version: string;
  optimizers: { shapes: number[][]; params0: number[][]; grads: number[][][]; cases: OptCase[] };
}
const G = readGolden<OptimGolden>("optim/optim.json");
const { shapes, params0, grads, cases } = G.optimizers;

const snakeToCamel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function makeParams(): Tensor[] {
  return shapes.map((s, i) => tensor(Float32Array.from(params0[i]), { shape: s, requiresGrad: true }));
}

function build(c: OptCase, params: Tensor[]): Optimizer<any> {
  const opts = Object.fromEntries(Object.entries(c.options).map(([k, v]) => [snakeToCamel(k), v])) as any;
  const arg = c.groups ? [{ params: [params[0]] }, { params: [params[1]], lr: c.groups.second_lr }] : params;
  if (c.optimizer === "SGD") return new optim.SGD(arg as any, opts);
  if (c.optimizer === "Adam") return new optim.Adam(arg as any, opts);
  return new optim.AdamW(arg as any, opts);
}

function setGrads(params: Tensor[], step: number): void {
  params.forEach((p, i) => (p.grad = tensor(Float32Array.from(grads[step][i]), { shape: p.shape })));
}

/** |a − e| ≤ 1e-7 + 1e-6·|e| elementwise (float32 rounding order differs from PyTorch's). */
function expectParams(params: Tensor[], expected: number[][], where: string): void {
  params.forEach((p, i) => {
    p.toList().forEach((a, j) => {
      const e = expected[i][j];
      if (!(Math.abs(a - e) <= 1e-7 + 1e-6 * Math.abs(e))) throw new Error(`${where}: param ${i}[${j}] = ${a}, torch ${e}`);
    });
  });
}

describe(`optimizers vs torch.optim ${G.torch_version}`, () => {
  it("covers every golden case", () => expect(cases.length).toBe(12));

  for (const c of cases) {
    it(`${c.name}: ${c.params_after_each_step.length} steps match`, () => {
      const params = makeParams();
      const opt = build(c, params);
      c.params_after_each_step.forEach((expected, step) => {
        setGrads(params, step);
        opt.step();
        expectParams(params, expected, `${c.name} step ${step + 1}`);
      });
    });

    it(`${c.name}: stateDict after 2 steps, loaded into a fresh optimizer, continues identically`, () => {
      const params = makeParams();
      const opt = build(c, params);
      for (let s = 0; s < 2; s++) {
        setGrads(params, s);
        opt.step();
      }
      const sd = opt.stateDict();
      const params2 = params.map((p) => tensor(p.toFloat32Array(), { shape: p.shape, requiresGrad: true }));
      const opt2 = build(c, params2);
      opt2.loadStateDict(sd);
      for (let s = 2; s < c.params_after_each_step.length; s++) {
        setGrads(params, s);
        setGrads(params2, s);
        opt.step();
        opt2.step();
        expect(params2.map((p) => p.toList())).toEqual(params.map((p) => p.toList()));
        expectParams(params2, c.params_after_each_step[s], `${c.name} resumed step ${s + 1}`);
      }
    });
  }
});

describe("optimizer API", () => {
  it("stateDict has PyTorch's layout and is a snapshot", () => {
    const params = makeParams();
    const opt = new optim.Adam([{ params: [params[0]] }, { params: [params[1]], lr: 0.5 }], { lr: 0.1, weightDecay: 0.01 });
    setGrads(params, 0);
    opt.step();
    const sd = opt.stateDict();
    expect(Object.keys(sd.state)).toEqual(["0", "1"]);
    expect(Object.keys(sd.state["0"])).toEqual(["step", "exp_avg", "exp_avg_sq"]);
    expect(sd.state["0"].step).toBe(1);
    expect(sd.param_groups[1]).toEqual({ lr: 0.5, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01, amsgrad: false, maximize: false, params: [1] });
    const snapshot = (sd.state["0"].exp_avg as Tensor).toList();
    opt.step();
    expect((sd.state["0"].exp_avg as Tensor).toList()).toEqual(snapshot);
  });

  it("loadStateDict validates groups, parameter counts and buffer shapes; accepts a tensor step", () => {
    const params = makeParams();
    const opt = new optim.SGD(params, { lr: 0.1, momentum: 0.9 });
    setGrads(params, 0);
    opt.step();
    const sd = opt.stateDict();
    const one = new optim.SGD([params[0]], { lr: 0.1 });
    expect(() => one.loadStateDict(sd)).toThrow(/group 0 has 2 parameters in the state dict, 1 in the optimizer/);
    const two = new optim.SGD([{ params: [params[0]] }, { params: [params[1]] }], { lr: 0.1 });
    expect(() => two.loadStateDict(sd)).toThrow(/has 1 parameter groups, optimizer has 2/);
    const swapped = new optim.SGD([params[1], params[0]], { lr: 0.1 });
    expect(() => swapped.loadStateDict(sd)).toThrow(ShapeError);
    const adam = new optim.Adam(params, { lr: 0.1 });
    adam.step();
    const asd = adam.stateDict();
    asd.state["0"].step = tensor([1]);
    const adam2 = new optim.Adam(makeParams(), { lr: 0.1 });
    adam2.loadStateDict(asd);
    expect(adam2.stateDict().state["0"].step).toBe(1);
    expect(adam2.paramGroups[0].lr).toBe(0.1);
  });

  it("validates options and parameters like PyTorch", () => {
    const p = zeros([2], { requiresGrad: true });
    expect(() => new optim.SGD([], { lr: 0.1 })).toThrow(/empty parameter list/);
    expect(() => new optim.SGD([p], {} as any)).toThrow(/lr is required/);
    expect(() => new optim.SGD([p], { lr: -1 })).toThrow(/invalid learning rate/);
    expect(() => new optim.SGD([p], { lr: 0.1, nesterov: true })).toThrow(/Nesterov/);
    expect(() => new optim.SGD([p, p], { lr: 0.1 })).toThrow(/more than one parameter group/);
    expect(() => new optim.Adam([p], { betas: [1, 0.9] })).toThrow(/beta parameter at index 0/);
    expect(() => new optim.SGD([zeros([2], { dtype: "int32" })], { lr: 1 })).toThrow(ValueError);
    const opt = new optim.SGD([p], { lr: 0.1 });
    expect(() => opt.addParamGroup({ params: [p] })).toThrow(/more than one parameter group/);
  });

  it("skips parameters without gradients, zeroGrad clears them, step returns the closure's loss", () => {
    const a = zeros([2], { requiresGrad: true });
    const b = zeros([2], { requiresGrad: true });
    const opt = new optim.SGD([a, b], { lr: 1 });
    a.grad = tensor([1, 2]);
    expect(opt.step(() => 42)).toBe(42);
    expect(a.toList()).toEqual([-1, -2]);
    expect(b.toList()).toEqual([0, 0]);
    opt.zeroGrad(false);
    expect(a.grad!.toList()).toEqual([0, 0]);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
  });
});

describe.skipIf(!listBackends().includes("wasm"))("SGD on the wasm backend", () => {
  const variants: Partial<SGDOptions>[] = [
    {}, { momentum: 0.9 }, { momentum: 0.9, nesterov: true, weightDecay: 5e-4 }, { momentum: 0.5, dampening: 0.1, maximize: true }, { weightDecay: 0.01 },
  ];
  for (const v of variants) {
    it(`updates bit-identically to the reference loop: ${JSON.stringify(v)}`, () => {
      const run = (backend: "wasm" | "ref") => onBackend(backend, () => {
        manualSeed(3);
        const w = randn([3001]).requiresGrad_();
        const opt = new SGD([w], { lr: 0.05, ...v });
        for (let step = 0; step < 3; step++) {
          opt.zeroGrad();
          w.mul(w).mul(randn([3001])).sum().backward();
          opt.step();
        }
        return Array.from(w.data);
      });
      expect(run("wasm")).toEqual(run("ref"));
    });
  }
});
