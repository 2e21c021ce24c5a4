/**
 * Deep copy of a module tree (PyTorch's copy.deepcopy(model)): same classes, same structure,
 * independent tensors (data copied, requiresGrad kept), shared nothing mutable. Used by
 * quant.prepareQat / convert (which leave the user's model untouched unless `inplace`) and by
 * anything that needs a snapshot of a model.
 *
 * How: every own property is copied recursively (Maps, Sets, arrays, typed arrays, plain
 * objects, Tensors, Modules — each object once, so shared references stay shared), except the
 * two kinds of per-instance closures Module installs, which are rebuilt on the copy: the
 * registry accessors (parameter/buffer/module slots) and the hook-running `forward` wrapper.
 * Hook functions are shared with the original (they receive the module as their first
 * argument; a hook that captured the original module in a closure keeps pointing at it).
 */
import { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

type Memo = Map<unknown, unknown>;

interface ModuleInternals {
  _parameters: Map<string, Tensor | null>;
  _buffers: Map<string, Tensor | null>;
  _modules: Map<string, Module | null>;
  _preHooks: Map<number, unknown>;
  _hooks: Map<number, unknown>;
  defineSlot(name: string, map: Map<string, unknown>, kind: string): void;
  runForward(impl: unknown, inputs: unknown[]): Tensor;
}

function cloneTensor(t: Tensor): Tensor {
  const c = new Tensor(t.data.slice(), t.shape);
  if (t.requiresGrad) c.requiresGrad = true;
  return c;
}

function cloneValue(v: unknown, memo: Memo): unknown {
  if (v === null || typeof v !== "object") return v;
  if (memo.has(v)) return memo.get(v);
  if (v instanceof Tensor) {
    const c = cloneTensor(v);
    memo.set(v, c);
    return c;
  }
  if (v instanceof Module) return cloneModuleInto(v, memo);
  if (ArrayBuffer.isView(v)) {
    const c = (v as unknown as Float32Array).slice();
    memo.set(v, c);
    return c;
  }
  if (v instanceof Map) {
    const c = new Map();
    memo.set(v, c);
    for (const [k, x] of v) c.set(cloneValue(k, memo), cloneValue(x, memo));
    return c;
  }
  if (v instanceof Set) {
    const c = new Set();
    memo.set(v, c);
    for (const x of v) c.add(cloneValue(x, memo));
    return c;
  }
  if (Array.isArray(v)) {
    const c: unknown[] = [];
    memo.set(v, c);
    for (const x of v) c.push(cloneValue(x, memo));
    return c;
  }
  if (v instanceof RegExp || v instanceof Date) return v;
  const c = Object.create(Object.getPrototypeOf(v) as object) as Record<string, unknown>;
  memo.set(v, c);
  for (const [k, x] of Object.entries(v)) c[k] = cloneValue(x, memo);
  return c;
}

function cloneModuleInto(m: Module, memo: Memo): Module {
  const src = m as unknown as ModuleInternals & Record<string, unknown>;
  const c = Object.create(Object.getPrototypeOf(m) as object) as ModuleInternals & Record<string, unknown>;
  memo.set(m, c);
  const slots = new Set<string>([...src._parameters.keys(), ...src._buffers.keys(), ...src._modules.keys()]);
  for (const key of Object.keys(src)) {
    if (key === "forward" || slots.has(key)) continue;
    const desc = Object.getOwnPropertyDescriptor(src, key)!;
    if (desc.get || desc.set) continue;
    c[key] = cloneValue(desc.value, memo);
  }
  // Hooks receive the module as an argument, so well-behaved hooks can be shared.
  c._preHooks = new Map(src._preHooks);
  c._hooks = new Map(src._hooks);
  for (const [map, kind] of [[c._parameters, "parameter"], [c._buffers, "buffer"], [c._modules, "module"]] as const) {
    for (const name of map.keys()) c.defineSlot(name, map as Map<string, unknown>, kind);
  }
  const impl = (Object.getPrototypeOf(m) as { forward?: unknown }).forward;
  Object.defineProperty(c, "forward", {
    value: (...inputs: unknown[]): Tensor => c.runForward(impl, inputs),
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return c as unknown as Module;
}

/** A deep, independent copy of `m` (see the file header). */
export function cloneModule<M extends Module>(m: M): M {
  return cloneModuleInto(m, new Map()) as M;
}
