/**
 * Node file helpers for training: atomic checkpoint save/load and a JSON-lines metrics sink.
 * A checkpoint is written to a temporary file, fsynced and renamed over the old one, so a
 * crash mid-write leaves the previous checkpoint intact. node:fs is looked up when called
 * (../tensor/node-builtins.ts), so importing this stays browser-safe. Called by user code
 * and the CLI.
 */
import { FormatError } from "../tensor/errors.js";
import { nodeBuiltin } from "../tensor/node-builtins.js";
import { writeFileAtomic } from "../nn/fs.js";
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from "./checkpoint.js";

export function saveCheckpoint(path: string, c: Checkpoint): void {
  writeFileAtomic(path, encodeCheckpoint(c));
}

export function loadCheckpoint(path: string): Checkpoint {
  const { readFileSync } = nodeBuiltin("node:fs", "loadCheckpoint");
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new FormatError(`cannot read checkpoint ${path}: ${(e as Error).message}`);
  }
  return decodeCheckpoint(bytes, path);
}

/** Appends each record as one JSON line to `path`. */
export function jsonlSink(path: string): (record: object) => void {
  const { appendFileSync } = nodeBuiltin("node:fs", "jsonlSink");
  return (record) => appendFileSync(path, JSON.stringify(record) + "\n");
}

/**
 * Rewrites the JSON-lines file `path` (atomically) keeping the records `keep` accepts, in
 * order; a torn last line (a crash mid-append) is dropped. Resuming a run truncates its
 * metrics log to the checkpoint this way, so no record appears twice. Returns the records kept.
 */
export function truncateJsonl(path: string, keep: (record: Record<string, unknown>) => boolean): number {
  const { existsSync, readFileSync } = nodeBuiltin("node:fs", "truncateJsonl");
  if (!existsSync(path)) return 0;
  const kept: string[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      continue; // torn write
    }
    if (rec !== null && typeof rec === "object" && keep(rec as Record<string, unknown>)) kept.push(line);
  }
  writeFileAtomic(path, kept.map((l) => `${l}\n`).join(""));
  return kept.length;
}

/** Keeps the metric records (step and epoch kinds) up to `step`: the log of a run resumed from a checkpoint at that step. */
export function truncateMetricsTo(path: string, step: number): number {
  return truncateJsonl(path, (r) => typeof r.step === "number" && r.step <= step);
}
