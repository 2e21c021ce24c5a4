/**
 * Sequential (torch.nn.Sequential): children run in order, each output feeding the next.
 * Positional children are named "0", "1", …; named children come from a Map or an array of
 * [name, module] pairs (a plain object works too, but JavaScript lists integer-like keys
 * first, so prefer a Map when names mix digits and words). A BatchNorm child directly followed
 * by a ReLU child runs as one fused op when no hook or capture can see it (./fused-pairs.ts).
 */
import { ValueError } from "../../tensor/errors.js";
import type { Tensor } from "../../tensor/tensor.js";
import { Module } from "../module.js";
import { batchNormRelu, fusibleBatchNormRelu } from "./fused-pairs.js";

export type NamedModules = Map<string, Module> | readonly (readonly [string, Module])[] | Record<string, Module>;

function namedEntries(arg: NamedModules): [string, Module][] {
  if (arg instanceof Map) return [...arg];
  if (Array.isArray(arg)) return arg.map(([k, m]) => [k, m]);
  return Object.entries(arg as Record<string, Module>);
}

export class Sequential extends Module {
  constructor(...modules: Module[]);
  constructor(named: NamedModules);
  constructor(...args: (Module | NamedModules)[]) {
    super();
    if (args.length === 1 && !(args[0] instanceof Module)) {
      for (const [name, m] of namedEntries(args[0] as NamedModules)) this.registerModule(name, m);
      return;
    }
    args.forEach((m, i) => {
      if (!(m instanceof Module)) throw new ValueError(`Sequential: argument ${i} is not a Module`);
      this.registerModule(String(i), m);
    });
  }

  forward(x: Tensor): Tensor {
    const mods = this.childSlots().map(([, m]) => m).filter((m): m is Module => m !== null);
    let y = x;
    for (let i = 0; i < mods.length; i++) {
      const next = mods[i + 1];
      if (next && fusibleBatchNormRelu(mods[i], next)) y = batchNormRelu(mods[i], mods[++i], y);
      else y = mods[i].forward(y);
    }
    return y;
  }

  /** Number of child slots. */
  get length(): number {
    return this.childSlots().length;
  }

  /** The i-th child (negative counts from the end). */
  at(i: number): Module {
    const slots = this.childSlots();
    const j = i < 0 ? i + slots.length : i;
    const m = slots[j]?.[1];
    if (!m) throw new ValueError(`Sequential.at(${i}): index out of range for ${slots.length} modules`);
    return m;
  }

  /** Adds a module at the end, named by its position. */
  append(m: Module): this {
    this.registerModule(String(this.length), m);
    return this;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }
}
