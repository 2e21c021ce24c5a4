/**
 * Where an imported node's module goes in the OnnxModule tree. Candidate dotted paths, best
 * first: the common prefix of its initializer names ("layer1.0.conv1" from
 * "layer1.0.conv1.weight"), its node name when that is already a dotted path (our own
 * exports), or PyTorch's scope name ("/layer1/layer1.0/conv1/Conv" → "layer1.0.conv1").
 * ChildPlacer creates OnnxContainer namespaces along the path and falls back to a flat,
 * sanitized, unique name when a path is taken or collides with a Module property — so
 * state-dict keys match the original model's wherever the file allows. Called by
 * import-build.ts.
 */
import type { Module } from "../nn/module.js";
import type { IrNode } from "./graph.js";
import { OnnxContainer } from "./onnx-module.js";

const SEGMENT = /^[A-Za-z0-9_]+$/;
const MAX_PATH = 256;

function isDottedPath(s: string): boolean {
  return s.length > 0 && s.length <= MAX_PATH && s.split(".").every((seg) => SEGMENT.test(seg));
}

/** "layer1.0.conv1" for initializers all named "layer1.0.conv1.<x>", else null. */
function initializerPrefix(inits: readonly string[]): string | null {
  if (inits.length === 0) return null;
  const prefixes = new Set(inits.map((n) => (n.includes(".") ? n.slice(0, n.lastIndexOf(".")) : "")));
  const [p] = prefixes;
  return prefixes.size === 1 && isDottedPath(p) ? p : null;
}

/** PyTorch ≥ 1.13 scope names: "/a/a.0/b/Op" → "a.0.b" (a Sequential item's scope is "<name>.<index>"). */
function torchScopePath(name: string): string | null {
  if (!name.startsWith("/")) return null;
  const parts = name.slice(1).split("/");
  parts.pop();
  if (parts.length === 0) return null;
  const path = parts.map((seg) => (seg.includes(".") ? seg.slice(seg.lastIndexOf(".") + 1) : seg)).join(".");
  return isDottedPath(path) ? path : null;
}

/** Candidate paths for a node, best first. */
export function pathCandidates(node: IrNode, initializerNames: readonly string[]): string[] {
  const out = [initializerPrefix(initializerNames), isDottedPath(node.name) ? node.name : null, torchScopePath(node.name)];
  return [...new Set(out.filter((p): p is string => p !== null))];
}

/** A flat module name from any string: runs of other characters become "_". */
export function sanitizeName(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9_]+/g, "_").replace(/^_+|_+$/g, "").slice(0, MAX_PATH);
  return clean || "node";
}

interface Slots {
  childSlots(): [string, Module | null][];
}

/**
 * Registers modules at dotted paths under a root, creating namespaces as needed. It keeps its
 * own index of each module's children (read once from `childSlots()`, then updated on every
 * registration it makes), so a probe costs O(1) and importing an n-node graph O(n) — copying
 * the child list on every probe made a 20,000-node chain take tens of seconds.
 */
export class ChildPlacer {
  private readonly index = new Map<Module, Map<string, Module | null>>();

  constructor(private readonly root: Module) {}

  /** Places `module` at the first free candidate path, else at a flat unique name; returns the path. */
  place(candidates: readonly string[], module: Module, fallback: string): string {
    for (const path of candidates) if (this.tryPlace(path, module)) return path;
    const base = sanitizeName(fallback);
    for (let i = 0; ; i++) {
      const name = i === 0 ? base : `${base}_${i}`;
      if (this.free(this.root, name)) {
        this.register(this.root, name, module);
        return name;
      }
    }
  }

  private tryPlace(path: string, module: Module): boolean {
    const parts = path.split(".");
    let cur = this.root;
    let depth = 0;
    for (; depth < parts.length - 1; depth++) {
      const existing = this.childOf(cur, parts[depth]);
      if (!(existing instanceof OnnxContainer)) break;
      cur = existing;
    }
    // Every remaining segment must be free: the first on `cur`, the rest on fresh containers.
    probe ??= new OnnxContainer();
    if (!this.free(cur, parts[depth]) || parts.slice(depth + 1).some((seg) => !this.free(probe!, seg))) return false;
    for (; depth < parts.length - 1; depth++) cur = this.register(cur, parts[depth], new OnnxContainer());
    this.register(cur, parts[depth], module);
    return true;
  }

  private children(m: Module): Map<string, Module | null> {
    let kids = this.index.get(m);
    if (!kids) {
      kids = new Map((m as unknown as Slots).childSlots());
      this.index.set(m, kids);
    }
    return kids;
  }

  private childOf(m: Module, name: string): Module | null | undefined {
    const kids = this.children(m);
    return kids.has(name) ? kids.get(name) : undefined;
  }

  /** A name can be registered on `m` when nothing (child, parameter, property) holds it. */
  private free(m: Module, name: string): boolean {
    return this.childOf(m, name) === undefined && !(name in m);
  }

  private register<M extends Module>(parent: Module, name: string, module: M): M {
    parent.registerModule(name, module);
    this.children(parent).set(name, module);
    return module;
  }
}

let probe: OnnxContainer | undefined;
