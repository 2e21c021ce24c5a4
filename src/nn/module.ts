/**
 * Module: the base class of every layer and model (torch.nn.Module). Holds parameters,
 * buffers and child modules in insertion order, so state-dict keys and their order are
 * exactly PyTorch's (`conv1.weight`, `bn1.running_mean`, `0.weight` inside Sequential).
 * Subclasses register their state explicitly and keep a typed field pointing at it:
 *
 *   this.weight = this.registerParameter("weight", kaimingUniform(zeros([out, inF])));
 *
 * Registration installs an accessor, so `module.weight = t` later updates the registry as
 * PyTorch's __setattr__ does. `forward` is wrapped per instance to run forward pre-hooks and
 * hooks, so `model.forward(x)` behaves like PyTorch's `model(x)`. Called by layers, models,
 * optimizers (parameters()), quant (hooks, setSubmodule) and checkpoints (stateDict).
 */
import { ValueError } from "../tensor/errors.js";
import { Tensor } from "../tensor/tensor.js";
import { addIndent } from "./repr.js";
import { type LoadStateDictOptions, type LoadStateDictResult, type StateDict, StateDictError, checkStateEntry, loadStateDictInto } from "./state-dict.js";

export { StateDictError, type LoadStateDictOptions, type LoadStateDictResult, type StateDict } from "./state-dict.js";

/** Runs before forward; may return replacement inputs. */
export type ForwardPreHook = (module: Module, inputs: unknown[]) => unknown[] | void;
/** Runs after forward; may return a replacement output. */
export type ForwardHook = (module: Module, inputs: unknown[], output: Tensor) => Tensor | void;

/** Returned by hook registration; remove() unregisters the hook. */
export interface HookHandle {
  readonly id: number;
  remove(): void;
}

const explicitParameters = new WeakSet<Tensor>();

/**
 * Marks a tensor as a parameter (torch.nn.Parameter): a leaf, requiring grad unless asked
 * otherwise. A non-leaf tensor is detached first (its values copied). registerParameter
 * applies Parameter(t) itself, keeping requiresGrad=false of a tensor made by Parameter(t, false).
 */
export function Parameter(t: Tensor, requiresGrad = true): Tensor {
  const leaf = t.isLeaf ? t : t.detach();
  leaf.requiresGrad = requiresGrad;
  explicitParameters.add(leaf);
  return leaf;
}

let nextHookId = 1;

type Slot = "parameter" | "buffer" | "module";

function checkName(name: string, what: Slot): void {
  if (typeof name !== "string" || name === "" || name.includes(".")) {
    throw new ValueError(`register ${what}: name must be a non-empty string without '.', got ${JSON.stringify(name)}`);
  }
}

export abstract class Module {
  /** True in training mode (dropout active, BN uses batch statistics). */
  training = true;
  // Internals below are also read by name by src/nn/clone.ts (deep copy): keep names in sync.
  private readonly _parameters = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _nonPersistent = new Set<string>();
  private readonly _modules = new Map<string, Module | null>();
  private readonly _preHooks = new Map<number, ForwardPreHook>();
  private readonly _hooks = new Map<number, ForwardHook>();

  constructor() {
    // Wrap the subclass's forward (found on the prototype chain) so hooks run on every call.
    const impl = (this as unknown as { forward?: (...inputs: unknown[]) => Tensor }).forward;
    Object.defineProperty(this, "forward", {
      value: (...inputs: unknown[]): Tensor => this.runForward(impl, inputs),
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }

  /**
   * Shapes of the tensor inputs of the last forward call (null before the first). Graph
   * capture (quant.prepareQat, onnx export) uses them when no example input is given.
   */
  lastInputShapes: number[][] | null = null;

  private recordInputShapes(inputs: unknown[]): void {
    if (inputs.length === 0) return;
    const shapes: number[][] = [];
    for (const x of inputs) {
      const shape = (x as { shape?: unknown } | null)?.shape;
      if (!Array.isArray(shape)) return;
      shapes.push([...(shape as number[])]);
    }
    this.lastInputShapes = shapes;
  }

  /** The computation. Call it directly: hooks run around it. */
  abstract forward(...inputs: any[]): Tensor;

  /** Same as forward(...) (PyTorch's `module(x)`). */
  call(...inputs: any[]): Tensor {
    return this.forward(...inputs);
  }

  private runForward(impl: ((...inputs: unknown[]) => Tensor) | undefined, inputs: unknown[]): Tensor {
    if (typeof impl !== "function") throw new ValueError(`${this.typeName}: forward is not implemented`);
    this.recordInputShapes(inputs);
    if (this._preHooks.size === 0 && this._hooks.size === 0) return impl.apply(this, inputs);
    let args = inputs;
    for (const hook of [...this._preHooks.values()]) {
      const r = hook(this, args);
      if (r !== undefined) args = Array.isArray(r) ? r : [r];
    }
    let out = impl.apply(this, args);
    for (const hook of [...this._hooks.values()]) {
      const r = hook(this, args, out);
      if (r !== undefined) out = r;
    }
    return out;
  }

  /**
   * True when a forward (pre-)hook is registered. Modules that fuse a child pair into one op
   * (BatchNorm → ReLU in src/nn/layers/batchnorm.ts) do so only when neither child has one:
   * capture, trace, calibration and inspection all observe modules through hooks.
   */
  hasForwardHooks(): boolean {
    return this._preHooks.size > 0 || this._hooks.size > 0;
  }

  /** Registers a hook run before forward (torch register_forward_pre_hook). */
  registerForwardPreHook(hook: ForwardPreHook): HookHandle {
    return this.addHook(this._preHooks, hook);
  }

  /** Registers a hook run after forward (torch register_forward_hook). */
  registerForwardHook(hook: ForwardHook): HookHandle {
    return this.addHook(this._hooks, hook);
  }

  private addHook<H>(map: Map<number, H>, hook: H): HookHandle {
    const id = nextHookId++;
    map.set(id, hook);
    return { id, remove: () => void map.delete(id) };
  }

  // ---- registration -------------------------------------------------------------------

  /** Registers (or replaces) a parameter; null keeps the slot without state (bias=False). */
  registerParameter<T extends Tensor | null>(name: string, value: T): T {
    checkName(name, "parameter");
    this.checkFree(name, "parameter");
    if (value !== null && !(value instanceof Tensor)) throw new ValueError(`registerParameter '${name}': expected a Tensor or null`);
    const t = value === null ? null : explicitParameters.has(value) ? value : Parameter(value);
    this._parameters.set(name, t);
    this.defineSlot(name, this._parameters, "parameter");
    return t as T;
  }

  /** Registers (or replaces) a buffer; non-persistent buffers stay out of the state dict. */
  registerBuffer<T extends Tensor | null>(name: string, value: T, persistent = true): T {
    checkName(name, "buffer");
    this.checkFree(name, "buffer");
    if (value !== null && !(value instanceof Tensor)) throw new ValueError(`registerBuffer '${name}': expected a Tensor or null`);
    this._buffers.set(name, value);
    if (persistent) this._nonPersistent.delete(name);
    else this._nonPersistent.add(name);
    this.defineSlot(name, this._buffers, "buffer");
    return value;
  }

  /** Registers (or replaces, keeping its position) a child module. */
  registerModule<M extends Module | null>(name: string, module: M): M {
    checkName(name, "module");
    this.checkFree(name, "module");
    if (module !== null && !(module instanceof Module)) throw new ValueError(`registerModule '${name}': expected a Module or null`);
    this._modules.set(name, module);
    this.defineSlot(name, this._modules, "module");
    return module;
  }

  private checkFree(name: string, what: Slot): void {
    const owners: [Slot, Map<string, unknown>][] = [["parameter", this._parameters], ["buffer", this._buffers], ["module", this._modules]];
    for (const [kind, map] of owners) {
      if (kind !== what && map.has(name)) throw new ValueError(`register ${what}: '${name}' is already registered as a ${kind}`);
    }
    if (owners.some(([, map]) => map.has(name))) return;
    const own = Object.getOwnPropertyDescriptor(this, name);
    const occupied = own ? own.get !== undefined || own.value !== undefined : name in this;
    if (occupied) throw new ValueError(`register ${what}: attribute '${name}' already exists on ${this.typeName}`);
  }

  private defineSlot(name: string, map: Map<string, unknown>, kind: Slot): void {
    const own = Object.getOwnPropertyDescriptor(this, name);
    if (own?.get) return;
    Object.defineProperty(this, name, {
      get: () => map.get(name) ?? null,
      set: (v: unknown) => {
        const ok = v === null || (kind === "module" ? v instanceof Module : v instanceof Tensor);
        if (!ok) throw new ValueError(`cannot assign ${typeof v} to ${kind} '${name}' of ${this.typeName}`);
        map.set(name, v);
      },
      enumerable: true,
      configurable: true,
    });
  }

  // ---- traversal ----------------------------------------------------------------------

  /** (path, module) for this module and every descendant, pre-order, each module once. */
  namedModules(prefix = "", memo: Set<Module> = new Set()): [string, Module][] {
    const out: [string, Module][] = [];
    if (memo.has(this)) return out;
    memo.add(this);
    out.push([prefix, this]);
    for (const [name, m] of this._modules) {
      if (m) out.push(...m.namedModules(prefix ? `${prefix}.${name}` : name, memo));
    }
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Direct children (each once), with their names. */
  namedChildren(): [string, Module][] {
    const seen = new Set<Module>();
    const out: [string, Module][] = [];
    for (const [name, m] of this._modules) {
      if (m && !seen.has(m)) {
        seen.add(m);
        out.push([name, m]);
      }
    }
    return out;
  }

  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  private namedMembers(map: (m: Module) => Map<string, Tensor | null>, prefix: string, recurse: boolean): [string, Tensor][] {
    const mods: [string, Module][] = recurse ? this.namedModules(prefix) : [[prefix, this]];
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [modPrefix, m] of mods) {
      for (const [name, t] of map(m)) {
        if (!t || seen.has(t)) continue;
        seen.add(t);
        out.push([modPrefix ? `${modPrefix}.${name}` : name, t]);
      }
    }
    return out;
  }

  /** (dotted name, parameter) pairs, each tensor once (shared weights appear once). */
  namedParameters(prefix = "", recurse = true): [string, Tensor][] {
    return this.namedMembers((m) => m._parameters, prefix, recurse);
  }

  parameters(recurse = true): Tensor[] {
    return this.namedParameters("", recurse).map(([, t]) => t);
  }

  namedBuffers(prefix = "", recurse = true): [string, Tensor][] {
    return this.namedMembers((m) => m._buffers, prefix, recurse);
  }

  buffers(recurse = true): Tensor[] {
    return this.namedBuffers("", recurse).map(([, t]) => t);
  }

  /** Calls fn on every descendant (children first), then on this; returns this. */
  apply(fn: (m: Module) => void): this {
    for (const m of this.children()) m.apply(fn);
    fn(this);
    return this;
  }

  /** Sets training mode here and in every descendant; returns this. */
  train(mode = true): this {
    this.training = mode;
    for (const m of this.children()) m.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Turns requiresGrad on or off for every parameter (freezing); returns this. */
  requiresGrad_(on = true): this {
    for (const p of this.parameters()) p.requiresGrad = on;
    return this;
  }

  /** Clears parameter gradients: to null (default, PyTorch ≥ 2.0) or to zeros. */
  zeroGrad(setToNone = true): void {
    for (const p of this.parameters()) {
      if (!p.grad) continue;
      if (setToNone) p.grad = null;
      else p.grad.data.fill(0);
    }
  }

  // ---- paths --------------------------------------------------------------------------

  /** The descendant at a dotted path ("" is this module). */
  getSubmodule(path: string): Module {
    if (path === "") return this;
    const parts = path.split(".");
    return parts.reduce<Module>((cur, part, i) => {
      const next = cur._modules.get(part);
      if (!next) {
        const at = parts.slice(0, i).join(".") || "<root>";
        throw new StateDictError(`getSubmodule('${path}'): ${cur.typeName} at '${at}' has no submodule '${part}'`);
      }
      return next;
    }, this);
  }

  /** Replaces the descendant at a dotted path, keeping its position (module swapping). */
  setSubmodule(path: string, module: Module): void {
    if (path === "") throw new ValueError("setSubmodule: path must not be empty");
    const parts = path.split(".");
    const last = parts.pop()!;
    const parent = this.getSubmodule(parts.join("."));
    if (!parent._modules.has(last)) {
      throw new StateDictError(`setSubmodule('${path}'): ${parent.typeName} has no submodule '${last}'`);
    }
    parent.registerModule(last, module);
  }

  /** The parameter at a dotted path (e.g. "features.0.weight"). */
  getParameter(path: string): Tensor {
    const i = path.lastIndexOf(".");
    const owner = this.getSubmodule(i < 0 ? "" : path.slice(0, i));
    const t = owner._parameters.get(path.slice(i + 1));
    if (!t) throw new StateDictError(`getParameter('${path}'): no such parameter`);
    return t;
  }

  // ---- state dict ---------------------------------------------------------------------

  /** Own parameters (non-null) then own persistent buffers, in registration order. */
  localState(): [string, Tensor, "parameter" | "buffer"][] {
    const out: [string, Tensor, "parameter" | "buffer"][] = [];
    for (const [name, t] of this._parameters) if (t) out.push([name, t, "parameter"]);
    for (const [name, t] of this._buffers) if (t && !this._nonPersistent.has(name)) out.push([name, t, "buffer"]);
    return out;
  }

  /** Child modules in registration order (null slots included, for traversal helpers). */
  childSlots(): [string, Module | null][] {
    return [...this._modules];
  }

  /**
   * PyTorch's state_dict: for each module (pre-order) its parameters then persistent buffers,
   * keyed by dotted path. Values share storage with the module (like torch's detach());
   * pass keepVars to get the live tensors themselves.
   */
  stateDict(opts: { prefix?: string; keepVars?: boolean } = {}): StateDict {
    const dest: StateDict = {};
    this.collectState(dest, opts.prefix ?? "", opts.keepVars ?? false);
    return dest;
  }

  private collectState(dest: StateDict, prefix: string, keepVars: boolean): void {
    for (const [name, t] of this.localState()) dest[prefix + name] = keepVars ? t : new Tensor(t.data, t.shape);
    for (const [name, m] of this._modules) if (m) m.collectState(dest, `${prefix}${name}.`, keepVars);
  }

  /**
   * Copies a state dict into this module's tensors, in place. Shape or dtype-kind mismatches
   * throw (naming the key) whatever `strict`; missing / unexpected keys throw StateDictError
   * when strict (default) and are returned otherwise. Nothing is modified when it throws.
   */
  loadStateDict(sd: StateDict | Map<string, Tensor>, opts: LoadStateDictOptions = {}): LoadStateDictResult {
    return loadStateDictInto(this, sd, opts);
  }

  /**
   * Checks one incoming tensor before anything is copied (override to accept e.g. a
   * per-channel scale replacing a per-tensor one). Default: same shape, same dtype kind.
   */
  validateStateEntry(key: string, _name: string, current: Tensor, incoming: Tensor): void {
    checkStateEntry(key, current, incoming);
  }

  /** Copies one incoming tensor into the slot `name` (default: in place, converting dtype). */
  applyStateEntry(_name: string, current: Tensor, incoming: Tensor): void {
    (current.data as Float32Array).set(incoming.data as Float32Array);
  }

  // ---- printing -----------------------------------------------------------------------

  /** Class name shown by toString (override when minification would mangle it). */
  get typeName(): string {
    return this.constructor.name;
  }

  /** The part inside the parentheses of toString (torch extra_repr). */
  extraRepr(): string {
    return "";
  }

  /** The module tree, formatted as PyTorch's repr(module). */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split("\n") : [];
    const childLines = [...this._modules].map(([name, m]) => `(${name}): ${addIndent(m ? m.toString() : "None", 2)}`);
    const lines = [...extraLines, ...childLines];
    let s = `${this.typeName}(`;
    if (lines.length) s += extraLines.length === 1 && childLines.length === 0 ? extraLines[0] : `\n  ${lines.join("\n  ")}\n`;
    return `${s})`;
  }
}
