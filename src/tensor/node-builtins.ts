/**
 * Node.js built-in modules looked up at call time (process.getBuiltinModule, Node ≥ 20.16)
 * instead of imported, so that every module reachable from the package root stays
 * browser-safe: bundlers see no `node:` import, and a Node-only function called in a browser
 * throws a NotSupportedError naming it. The same technique as src/nn/fs.ts and
 * src/report/fs.ts. Called by src/data/fs.ts, src/train/fs.ts, src/int8/fs.ts and
 * src/datasets/fashion-mnist-sample.ts.
 */
import type * as NodeFs from "node:fs";
import type * as NodePath from "node:path";
import type * as NodeUrl from "node:url";
import type * as NodeZlib from "node:zlib";
import { NotSupportedError } from "./errors.js";

interface Builtins {
  "node:fs": typeof NodeFs;
  "node:path": typeof NodePath;
  "node:url": typeof NodeUrl;
  "node:zlib": typeof NodeZlib;
}

/** The Node built-in `id`; throws NotSupportedError (naming `op`) outside Node. */
export function nodeBuiltin<K extends keyof Builtins>(id: K, op: string): Builtins[K] {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const get = proc?.getBuiltinModule;
  if (typeof get !== "function") {
    throw new NotSupportedError(`${op}: needs Node.js ≥ 20.16 (${id.slice(5)} access); in a browser, fetch the bytes yourself and use the byte-level API`);
  }
  return get(id) as Builtins[K];
}
