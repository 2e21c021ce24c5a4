/**
 * State-dict loading for Module.loadStateDict (torch.nn.Module.load_state_dict): walks the
 * module tree, validates every incoming tensor (shape, dtype kind) before copying anything,
 * reports missing / unexpected keys, then copies values in place so optimizers holding the
 * parameters keep working. Called by src/nn/module.ts only.
 */
import { isFloatDType } from "../tensor/dtype.js";
import { DTypeError, QatError, ShapeError, fmtShape } from "../tensor/errors.js";
import { shapesEqual } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Module } from "./module.js";

/** Dotted key → tensor, in insertion order (PyTorch's OrderedDict state_dict). */
export type StateDict = Record<string, Tensor>;

export interface LoadStateDictOptions {
  /** Throw on missing or unexpected keys (default true). */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** Raised for missing / unexpected state-dict keys (strict load) and bad module paths. */
export class StateDictError extends QatError {
  readonly missingKeys: readonly string[];
  readonly unexpectedKeys: readonly string[];
  constructor(message: string, missingKeys: readonly string[] = [], unexpectedKeys: readonly string[] = []) {
    super("E_STATE_DICT", message);
    this.missingKeys = missingKeys;
    this.unexpectedKeys = unexpectedKeys;
  }
}

/**
 * Default per-entry check: shapes equal (PyTorch's "size mismatch" message), and float goes
 * into float, integer into integer (float32 ↔ float64 and int widths convert, as copy_ does).
 */
export function checkStateEntry(key: string, current: Tensor, incoming: Tensor): void {
  if (!shapesEqual(current.shape, incoming.shape)) {
    throw new ShapeError(
      `size mismatch for ${key}: copying a param with shape ${fmtShape(incoming.shape)} from checkpoint, ` +
        `the shape in current model is ${fmtShape(current.shape)}`,
    );
  }
  if (isFloatDType(current.dtype) !== isFloatDType(incoming.dtype)) {
    throw new DTypeError(`dtype mismatch for ${key}: checkpoint has ${incoming.dtype}, current model has ${current.dtype}`);
  }
}

interface Entry {
  owner: Module;
  name: string;
  current: Tensor;
  incoming: Tensor;
}

function collect(module: Module, prefix: string, sd: Map<string, Tensor>, expected: string[], entries: Entry[]): void {
  for (const [name, current] of module.localState()) {
    const key = prefix + name;
    expected.push(key);
    const incoming = sd.get(key);
    if (incoming === undefined) continue;
    module.validateStateEntry(key, name, current, incoming);
    entries.push({ owner: module, name, current, incoming });
  }
  for (const [name, child] of module.childSlots()) if (child) collect(child, `${prefix}${name}.`, sd, expected, entries);
}

function quoteKeys(keys: readonly string[]): string {
  return keys.map((k) => `"${k}"`).join(", ");
}

/** Implements Module.loadStateDict (see there). */
export function loadStateDictInto(module: Module, sd: StateDict | Map<string, Tensor>, opts: LoadStateDictOptions): LoadStateDictResult {
  const strict = opts.strict ?? true;
  const map = sd instanceof Map ? sd : new Map(Object.entries(sd));
  const expected: string[] = [];
  const entries: Entry[] = [];
  collect(module, "", map, expected, entries);
  const expectedSet = new Set(expected);
  const missingKeys = expected.filter((k) => !map.has(k));
  const unexpectedKeys = [...map.keys()].filter((k) => !expectedSet.has(k));
  if (strict && (missingKeys.length || unexpectedKeys.length)) {
    const parts: string[] = [];
    if (unexpectedKeys.length) parts.push(`Unexpected key(s) in state_dict: ${quoteKeys(unexpectedKeys)}.`);
    if (missingKeys.length) parts.push(`Missing key(s) in state_dict: ${quoteKeys(missingKeys)}.`);
    throw new StateDictError(`Error(s) in loading state_dict for ${module.typeName}:\n\t${parts.join("\n\t")}`, missingKeys, unexpectedKeys);
  }
  for (const e of entries) e.owner.applyStateEntry(e.name, e.current, e.incoming);
  return { missingKeys, unexpectedKeys };
}
