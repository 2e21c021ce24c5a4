/**
 * File access for nn (Node only): safetensors save / load and the crash-safe writer used
 * for checkpoints. Node's fs is looked up at call time through process.getBuiltinModule,
 * so importing nn stays browser-safe; calling these in a browser throws NotSupportedError.
 *
 * writeFileAtomic: write a temporary file in the target's directory, fsync it, rename it
 * over the target (atomic on POSIX), fsync the directory. A crash or error at any point
 * leaves either the old file or the new one, never a torn mix; the temp file is removed
 * on error.
 */
import type * as NodeFs from "node:fs";
import type * as NodePath from "node:path";
import { NotSupportedError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { type EncodeOptions, type SafetensorsContents, decodeSafetensorsWithMetadata, encodeSafetensors } from "./safetensors.js";
import type { StateDict } from "./state-dict.js";

interface NodeApis {
  fs: typeof NodeFs;
  path: typeof NodePath;
}

function node(op: string): NodeApis {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const get = proc?.getBuiltinModule;
  if (typeof get !== "function") throw new NotSupportedError(`${op}: needs Node.js ≥ 20.16 (file system access)`);
  return { fs: get("node:fs") as typeof NodeFs, path: get("node:path") as typeof NodePath };
}

export interface AtomicWriteOptions {
  /**
   * Called with the fully written and fsynced temporary file before it replaces the target;
   * throwing aborts the write (the target is left untouched). Useful to verify a checkpoint.
   */
  beforeRename?: (tempPath: string) => void;
}

let tempCounter = 0;

/** Replaces `path` with `data` atomically (see the header). */
export function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): void {
  const { fs, path: p } = node("writeFileAtomic");
  const dir = p.dirname(p.resolve(path));
  const temp = p.join(dir, `.${p.basename(path)}.${process.pid}.${Date.now()}.${tempCounter++}.tmp`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let fd: number | null = fs.openSync(temp, "wx", 0o644);
  try {
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    opts.beforeRename?.(temp);
    fs.renameSync(temp, path);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw e;
  }
  syncDir(fs, dir);
}

/** fsyncs a directory so the rename is durable; a no-op where directories cannot be opened. */
function syncDir(fs: typeof NodeFs, dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, "r");
  } catch {
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch {
    // Some platforms (Windows, some network file systems) refuse fsync on directories.
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes a state dict as a safetensors file (atomically). */
export function saveSafetensors(path: string, tensors: StateDict | Map<string, Tensor>, metadata?: Record<string, string>, opts: Omit<EncodeOptions, "metadata"> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, { ...opts, metadata }));
}

/** Reads a safetensors file: tensors (header order) and metadata. */
export function loadSafetensorsWithMetadata(path: string): SafetensorsContents {
  const { fs } = node("loadSafetensors");
  const buf = fs.readFileSync(path);
  return decodeSafetensorsWithMetadata(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

/** Reads a safetensors file as a state dict, ready for module.loadStateDict. */
export function loadSafetensors(path: string): StateDict {
  return loadSafetensorsWithMetadata(path).tensors;
}
