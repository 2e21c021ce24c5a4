/**
 * Node file helpers for training: atomic checkpoint save/load and a JSON-lines metrics sink.
 * A checkpoint is written to a temporary file, fsynced and renamed over the old one, so a
 * crash mid-write leaves the previous checkpoint intact. Called by user code and the CLI.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { FormatError } from "../tensor/errors.js";
import { writeFileAtomic } from "../nn/fs.js";
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from "./checkpoint.js";

export function saveCheckpoint(path: string, c: Checkpoint): void {
  writeFileAtomic(path, encodeCheckpoint(c));
}

export function loadCheckpoint(path: string): Checkpoint {
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
  return (record) => appendFileSync(path, JSON.stringify(record) + "\n");
}
