/**
 * kill -9 at every stage of `qat demo` (issue #16): one run directory is killed with SIGKILL
 * while QAT fine-tuning writes its checkpoint, while convert writes the Int8Model, while the
 * ONNX export, the layer table and the report are written; each re-run resumes. The final
 * artifacts equal an uninterrupted run's byte for byte (QAT weights, Int8Model, ONNX), the
 * metrics logs hold each record once, and no temp file is left.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, watch } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeCheckpoint } from "../../src/train/checkpoint.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const base = mkdtempSync(path.join(os.tmpdir(), "qat-kill-demo-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const ARGS = ["demo", "--subset", "128", "--epochs", "1", "--qat-epochs", "2", "--json", "--no-progress"];
const CLI = ["--import", "tsx", path.join(ROOT, "src/cli/main.ts")];

function runToEnd(out: string): void {
  const r = spawnSync(process.execPath, [...CLI, ...ARGS, "--out", out], { cwd: ROOT, encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
}

/** Runs the demo and SIGKILLs it as soon as a temp file of `artifact` appears; resolves with the exit signal. */
function killAtWrite(out: string, artifact: string): Promise<string | null> {
  mkdirSync(out, { recursive: true });
  const child = spawn(process.execPath, [...CLI, ...ARGS, "--out", out], { cwd: ROOT, stdio: "ignore" });
  const watcher = watch(out, (_e, f) => {
    if (f && String(f).startsWith(`.${artifact}.`) && String(f).endsWith(".tmp")) child.kill("SIGKILL");
  });
  return new Promise((resolve) => child.on("exit", (_c, signal) => {
    watcher.close();
    resolve(signal);
  }));
}

const bytes = (out: string, f: string): Uint8Array => new Uint8Array(readFileSync(path.join(out, f)));
const weights = (out: string) => Object.fromEntries(Object.entries(decodeCheckpoint(bytes(out, "qat.ckpt.safetensors")).model).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number>)]));
const records = (out: string, f: string) => readFileSync(path.join(out, f), "utf8").trim().split("\n").map((l) => {
  const r = JSON.parse(l) as Record<string, unknown>;
  delete r.seconds;
  delete r.imagesPerSec;
  return r;
});

describe("kill -9 at every stage of qat demo", () => {
  it("QAT checkpoint, Int8Model, ONNX, layer table and report writes: the resumed run ends like an uninterrupted one", async () => {
    const ref = path.join(base, "ref");
    runToEnd(ref);
    const out = path.join(base, "killed");
    const killed: string[] = [];
    for (const artifact of ["qat.ckpt.safetensors", "model.int8.safetensors", "model.qdq.onnx", "layers.json", "report.html"]) {
      if ((await killAtWrite(out, artifact)) === "SIGKILL") killed.push(artifact);
    }
    runToEnd(out);
    console.log(`qat demo killed while writing: ${killed.join(", ")}`);
    expect(killed.length).toBeGreaterThanOrEqual(4); // the report may be written before the watcher sees it
    expect(weights(out)).toEqual(weights(ref));
    expect(bytes(out, "model.int8.safetensors")).toEqual(bytes(ref, "model.int8.safetensors"));
    expect(bytes(out, "model.qdq.onnx")).toEqual(bytes(ref, "model.qdq.onnx"));
    for (const f of ["metrics-float.jsonl", "metrics-qat.jsonl"]) expect(records(out, f), f).toEqual(records(ref, f));
    expect(readdirSync(out).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    for (const f of ["report.html", "run.json", "layers.json"]) expect(existsSync(path.join(out, f)), f).toBe(true);
  }, 400_000);
});
