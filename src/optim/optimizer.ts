/**
 * Optimizer base (torch.optim.Optimizer): parameter groups with per-group options, per-
 * parameter state, zeroGrad, step, and a PyTorch-shaped state dict
 *   { state: { "0": { momentum_buffer | exp_avg, exp_avg_sq, step, … } },
 *     param_groups: [{ lr, momentum, weight_decay, …, params: [0, 1, …] }] }
 * (group options under PyTorch's snake_case names; parameters referred to by their index
 * in group order). Subclasses implement updateGroup, which runs under noGrad and updates
 * parameter data in place. Called by training loops, checkpoints and LR schedulers.
 */
import { allocArray, isFloatDType } from "../tensor/dtype.js";
import { ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { enableGrad, noGrad } from "../tensor/grad-mode.js";
import { shapesEqual } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

/** Options every optimizer has. */
export interface BaseOptions {
  lr: number;
}

/** A group as the user passes it: its parameters plus any options overriding the defaults. */
export type ParamGroupSpec<O> = Partial<O> & { params: Iterable<Tensor> };

/** A group as stored: full options, the parameter list, and initialLr once a scheduler ran. */
export type ParamGroup<O> = O & { params: Tensor[]; initialLr?: number };

/** Parameters (e.g. model.parameters()) or a list of groups. */
export type ParamsArg<O> = Iterable<Tensor> | readonly ParamGroupSpec<O>[];

/** Per-parameter state: tensors (buffers) and numbers (step counts). */
export type ParamState = Record<string, Tensor | number>;

export interface OptimizerStateDict {
  state: Record<string, ParamState>;
  param_groups: Record<string, unknown>[];
}

const camelToSnake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const snakeToCamel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function isGroupList<O>(params: ParamsArg<O>): params is readonly ParamGroupSpec<O>[] {
  return Array.isArray(params) && params.length > 0 && !(params[0] instanceof Tensor);
}

/** A copy of a state value (tensors cloned, so a saved state dict is a snapshot). */
function cloneValue(v: Tensor | number): Tensor | number {
  return v instanceof Tensor ? new Tensor(v.data.slice(), v.shape) : v;
}

export abstract class Optimizer<O extends BaseOptions> {
  readonly defaults: Readonly<O>;
  readonly paramGroups: ParamGroup<O>[] = [];
  /** Per-parameter state, keyed by the parameter tensor. */
  readonly state = new Map<Tensor, ParamState>();

  constructor(params: ParamsArg<O>, defaults: O) {
    this.defaults = { ...defaults };
    const groups: ParamGroupSpec<O>[] = isGroupList(params) ? [...params] : [{ params } as ParamGroupSpec<O>];
    if (groups.length === 0) throw new ValueError(`${new.target.name}: optimizer got an empty parameter list`);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group; options it leaves out come from the defaults. */
  addParamGroup(spec: ParamGroupSpec<O>): void {
    const params = [...spec.params];
    const name = this.constructor.name;
    if (params.length === 0 && this.paramGroups.length === 0) throw new ValueError(`${name}: optimizer got an empty parameter list`);
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new ValueError(`${name}: parameter ${i} of group ${this.paramGroups.length} is not a Tensor`);
      if (!isFloatDType(p.dtype)) throw new ValueError(`${name}: can only optimize float tensors, parameter ${i} is ${p.dtype}`);
      if (!p.isLeaf) throw new ValueError(`${name}: can't optimize a non-leaf tensor (parameter ${i} ${fmtShape(p.shape)})`);
      if (seen.has(p)) throw new ValueError(`${name}: some parameters appear in more than one parameter group`);
      seen.add(p);
    });
    const group = { ...this.defaults, ...spec, params } as ParamGroup<O>;
    this.validateGroup(group);
    this.paramGroups.push(group);
  }

  /** Checks a group's option values (override to add checks). */
  protected validateGroup(group: ParamGroup<O>): void {
    if (!(group.lr >= 0)) throw new ValueError(`${this.constructor.name}: invalid learning rate ${group.lr}`);
  }

  /** Clears gradients: to null (default, PyTorch ≥ 2.0) or to zeros. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (setToNone) p.grad = null;
        else p.grad.data.fill(0);
      }
    }
  }

  /** One update of every parameter that has a gradient. `closure` recomputes the loss. */
  step(closure?: () => number | Tensor): number | undefined {
    let loss: number | undefined;
    if (closure) {
      const l = enableGrad(closure);
      loss = l instanceof Tensor ? l.item() : l;
    }
    noGrad(() => {
      for (const g of this.paramGroups) this.updateGroup(g);
    });
    return loss;
  }

  /** Updates the parameters of one group in place (called under noGrad). */
  protected abstract updateGroup(group: ParamGroup<O>): void;

  /** The state of parameter p (created empty on first use). */
  protected stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = {};
      this.state.set(p, s);
    }
    return s;
  }

  /** A zero buffer shaped and typed like p. */
  protected zerosLike(p: Tensor): Tensor {
    return new Tensor(allocArray(p.dtype, p.size), p.shape);
  }

  /** A snapshot in PyTorch's layout (tensors copied). */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const packed: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(g)) {
        if (k !== "params") packed[camelToSnake(k)] = Array.isArray(v) ? [...v] : v;
      }
      packed.params = g.params.map((p) => {
        if (!index.has(p)) index.set(p, index.size);
        return index.get(p)!;
      });
      return packed;
    });
    const state: Record<string, ParamState> = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      state[String(i)] = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, cloneValue(v)]));
    }
    return { state, param_groups: paramGroups };
  }

  /** Restores a stateDict() result (group options and per-parameter state, copied). */
  loadStateDict(sd: OptimizerStateDict): void {
    const name = this.constructor.name;
    if (!sd || !Array.isArray(sd.param_groups) || typeof sd.state !== "object") throw new ValueError(`${name}.loadStateDict: expected { state, param_groups }`);
    if (sd.param_groups.length !== this.paramGroups.length) {
      throw new ValueError(`${name}.loadStateDict: loaded state dict has ${sd.param_groups.length} parameter groups, optimizer has ${this.paramGroups.length}`);
    }
    const byIndex = new Map<number, Tensor>();
    sd.param_groups.forEach((saved, gi) => {
      const ids = saved.params as number[];
      const ours = this.paramGroups[gi].params;
      if (!Array.isArray(ids) || ids.length !== ours.length) {
        throw new ValueError(`${name}.loadStateDict: group ${gi} has ${Array.isArray(ids) ? ids.length : "no"} parameters in the state dict, ${ours.length} in the optimizer`);
      }
      ids.forEach((id, j) => byIndex.set(id, ours[j]));
    });
    const newState = new Map<Tensor, ParamState>();
    for (const [key, s] of Object.entries(sd.state)) {
      const p = byIndex.get(Number(key));
      if (!p) throw new ValueError(`${name}.loadStateDict: state for parameter index ${key} matches no parameter`);
      newState.set(p, this.castState(s, p, key));
    }
    sd.param_groups.forEach((saved, gi) => {
      const group = this.paramGroups[gi] as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(saved)) if (k !== "params") group[snakeToCamel(k)] = Array.isArray(v) ? [...v] : v;
    });
    this.state.clear();
    for (const [p, s] of newState) this.state.set(p, s);
  }

  /** Copies saved state for p, converting buffers to p's dtype and checking shapes. */
  private castState(s: ParamState, p: Tensor, key: string): ParamState {
    const out: ParamState = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === "step" && v instanceof Tensor && v.size === 1) {
        out[k] = v.item(); // PyTorch keeps Adam's step as a one-element tensor
        continue;
      }
      if (!(v instanceof Tensor)) {
        out[k] = v;
        continue;
      }
      if (!shapesEqual(v.shape, p.shape)) {
        throw new ShapeError(`${this.constructor.name}.loadStateDict: state[${key}].${k} has shape ${fmtShape(v.shape)}, parameter has ${fmtShape(p.shape)}`);
      }
      const buf = allocArray(p.dtype, p.size);
      buf.set(v.data as Float32Array);
      out[k] = new Tensor(buf, p.shape);
    }
    return out;
  }
}
