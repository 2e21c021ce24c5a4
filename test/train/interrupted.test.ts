/**
 * Interrupted runs (issue #16): the atomic writer removes temp files that a killed writer
 * left (our naming only, dead processes only), its errors name the target path and never the
 * temp file, and a resumed run's metrics log is truncated to its checkpoint (no duplicates,
 * a torn last line dropped).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { removeStaleTemps, removeStaleTempsIn, writeFileAtomic } from "../../src/nn/fs.js";
import { truncateJsonl, truncateMetricsTo } from "../../src/train/fs.js";
import { ValueError } from "../../src/tensor/errors.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "qat-interrupted-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited (so certainly not alive now). */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout as unknown as number;
}

describe("writeFileAtomic", () => {
  it("removes the temp files of dead writers of the same target, and nothing else", () => {
    const target = path.join(dir, "a.ckpt");
    const dead = Number(deadPid());
    const stale = [`.a.ckpt.${dead}.1700000000000.0.tmp`, `.a.ckpt.${dead}.1700000000001.3.tmp`];
    const keep = [`.a.ckpt.${process.pid}.1700000000000.9.tmp`, `.b.ckpt.${dead}.1700000000000.0.tmp`, "a.ckpt.tmp", ".a.ckpt.x.1.2.tmp"];
    for (const n of [...stale, ...keep]) writeFileSync(path.join(dir, n), "half");
    writeFileAtomic(target, "new");
    expect(readFileSync(target, "utf8")).toBe("new");
    const left = readdirSync(dir);
    for (const n of stale) expect(left).not.toContain(n);
    for (const n of keep) expect(left).toContain(n);
    expect(removeStaleTemps(target)).toEqual([]);
  });

  it("removeStaleTempsIn sweeps a run directory: dead writers' temps of every target go, live ones and other files stay", () => {
    const run = path.join(dir, "run");
    mkdirSync(run);
    const dead = Number(deadPid());
    const stale = [`.convert.json.${dead}.1700000000000.6.tmp`, `.model.int8.safetensors.${dead}.1700000000000.0.tmp`];
    const keep = [`.layers.json.${process.pid}.1700000000000.1.tmp`, "convert.json", "notes.tmp", ".x.y.tmp"];
    for (const n of [...stale, ...keep]) writeFileSync(path.join(run, n), "half");
    expect(removeStaleTempsIn(run).map((f) => path.basename(f)).sort()).toEqual([...stale].sort());
    expect(readdirSync(run).sort()).toEqual([...keep].sort());
    expect(removeStaleTempsIn(path.join(dir, "no-such-run"))).toEqual([]);
  });

  it("errors name the target, never the temp file", () => {
    const inMissingDir = path.join(dir, "no-such-dir", "m.int8.safetensors");
    expect(() => writeFileAtomic(inMissingDir, "x")).toThrow(ValueError);
    expect(() => writeFileAtomic(inMissingDir, "x")).toThrow(`cannot write ${inMissingDir}: its directory does not exist; create it first (ENOENT)`);
    const isDir = path.join(dir, "d.safetensors");
    mkdirSync(isDir);
    expect(() => writeFileAtomic(isDir, "x")).toThrow(`cannot write ${isDir}: it is a directory; give a file name (EISDIR)`);
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp") && n.includes(String(process.pid)) && n.includes("d.safetensors"))).toEqual([]);
    const blocked = path.join(dir, "file-not-dir");
    writeFileSync(blocked, "");
    expect(() => writeFileAtomic(path.join(blocked, "x"), "x")).toThrow(/^cannot write .*file-not-dir\/x: a parent of it is not a directory \(ENOTDIR\)$/);
  });
});

describe("metrics logs on resume", () => {
  it("truncateMetricsTo keeps records up to the checkpoint's step and drops a torn line", () => {
    const f = path.join(dir, "metrics.jsonl");
    const recs = [
      { kind: "step", step: 10, epoch: 1 }, { kind: "epoch", epoch: 1, step: 16 }, { kind: "step", step: 20, epoch: 2 },
      { kind: "epoch", epoch: 2, step: 32 }, { kind: "step", step: 40, epoch: 3 },
    ];
    writeFileSync(f, recs.map((r) => JSON.stringify(r)).join("\n") + '\n{"kind":"step","st');
    expect(truncateMetricsTo(f, 32)).toBe(4);
    expect(readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number }).map((r) => r.step)).toEqual([10, 16, 20, 32]);
    expect(truncateJsonl(path.join(dir, "absent.jsonl"), () => true)).toBe(0);
    expect(existsSync(path.join(dir, "absent.jsonl"))).toBe(false);
  });
});
