/**
 * Node file I/O for Int8Model: atomic save, load with file-named errors. Installs
 * `Int8Model.prototype.save(path)` and `Int8Model.load(path)`. node:fs is looked up when
 * called (../tensor/node-builtins.ts), so importing this stays browser-safe. Called by users
 * and the CLI.
 */
import { FormatError } from "../tensor/errors.js";
import { nodeBuiltin } from "../tensor/node-builtins.js";
import { writeFileAtomic } from "../nn/fs.js";
import { Int8Model } from "./model.js";

export function saveInt8Model(path: string, model: Int8Model): void {
  writeFileAtomic(path, model.encode());
}

export function loadInt8Model(path: string): Int8Model {
  const { readFileSync } = nodeBuiltin("node:fs", "loadInt8Model");
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new FormatError(`cannot read Int8Model file ${path}: ${(e as Error).message}`);
  }
  return Int8Model.decode(bytes, path);
}

declare module "./model.js" {
  interface Int8Model {
    /** Writes the model atomically (see Int8Model.encode for the format). */
    save(path: string): void;
  }
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Int8Model {
    /** Reads a model written by save(). */
    function load(path: string): Int8Model;
  }
}

Int8Model.prototype.save = function (this: Int8Model, path: string): void {
  saveInt8Model(path, this);
};
(Int8Model as unknown as { load: (p: string) => Int8Model }).load = loadInt8Model;
