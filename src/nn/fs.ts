/**
 * File access for nn (Node only): safetensors save / load and the crash-safe writer used
 * for checkpoints. Node's fs is looked up at call time through process.getBuiltinModule,
 * so importing nn stays browser-safe; calling these in a browser throws NotSupportedError.
 *
 * writeFileAtomic: write a temporary file in the target's directory, fsync it, rename it
 * over the target (atomic on POSIX), fsync the directory. A crash or error at any point
 * leaves either the old file or the new one, never a torn mix; the temp file is removed
 * on error, and the temp files of writers that died (kill -9) are removed by the next write
 * to the same target (removeStaleTemps). Errors name the target path, never the temp file.
 */
import type * as NodeFs from "node:fs";
import type * as NodePath from "node:path";
import { NotSupportedError, ValueError } from "../tensor/errors.js";
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

/** Our temp-file naming: `.<target name>.<pid>.<ms>.<n>.tmp` in the target's directory. */
const TEMP_NAME = /^\.(.+)\.(\d+)\.(\d+)\.(\d+)\.tmp$/;

/** Whether process `pid` is alive (signal 0 probes without signalling). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temp files our writer left in `dir` for targets `wanted` accepts, when the
 * process that wrote them is gone (kill -9, power loss). Best effort; returns the removed paths.
 */
function sweepTemps(dir: string, wanted: (target: string) => boolean): string[] {
  const { fs, path: p } = node("removeStaleTemps");
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || !wanted(m[1]) || alive(Number(m[2]))) continue;
    try {
      fs.rmSync(p.join(dir, name), { force: true });
      removed.push(p.join(dir, name));
    } catch {
      // another process may be cleaning up too
    }
  }
  return removed;
}

/** Removes the temp files our writer left for `target` when a process died mid-write. */
export function removeStaleTemps(target: string): string[] {
  const { path: p } = node("removeStaleTemps");
  const base = p.basename(target);
  return sweepTemps(p.dirname(p.resolve(target)), (t) => t === base);
}

/**
 * Removes every temp file our writer left in `dir` (any target) whose process is gone: a run
 * directory swept before a resumed run, so a kill between a stage's writes leaves nothing behind.
 */
export function removeStaleTempsIn(dir: string): string[] {
  return sweepTemps(dir, () => true);
}

/** Re-throws a file-system error naming the user's path (never our temp file) and what to do. */
function fileError(e: unknown, path: string): never {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code !== "string") throw e;
  const hint: Record<string, string> = {
    EACCES: "permission denied; choose a writable location", EPERM: "operation not permitted; choose a writable location",
    ENOENT: "its directory does not exist; create it first", EISDIR: "it is a directory; give a file name",
    ENOSPC: "no space left on the device", EROFS: "the file system is read-only", ENOTDIR: "a parent of it is not a directory",
  };
  throw new ValueError(`cannot write ${path}: ${hint[err.code] ?? err.message} (${err.code})`);
}

/** Replaces `path` with `data` atomically (see the header); stale temp files of earlier crashed writes are removed first. */
export function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): void {
  const { fs, path: p } = node("writeFileAtomic");
  const dir = p.dirname(p.resolve(path));
  removeStaleTemps(path);
  let isDir = false;
  try {
    isDir = fs.statSync(path).isDirectory();
  } catch {
    // absent (the usual case) or unreachable: opening the temp file below reports it
  }
  if (isDir) fileError(Object.assign(new Error("is a directory"), { code: "EISDIR" }), path);
  const temp = p.join(dir, `.${p.basename(path)}.${process.pid}.${Date.now()}.${tempCounter++}.tmp`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let fd: number | null = null;
  try {
    fd = fs.openSync(temp, "wx", 0o644);
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    removeQuietly(fs, temp);
    fileError(e, path);
  }
  try {
    opts.beforeRename?.(temp);
    fs.renameSync(temp, path);
  } catch (e) {
    removeQuietly(fs, temp);
    fileError(e, path);
  }
  syncDir(fs, dir);
}

function removeQuietly(fs: typeof NodeFs, file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // nothing was created there (e.g. a parent is not a directory)
  }
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
