/**
 * Bounded fuzz suite of every loader (issue #16): safetensors, Int8Model, checkpoint, ONNX,
 * IDX and config files each get FUZZ_CASES (default 250) seeded mutations of valid inputs,
 * in child processes with a 512 MB V8 heap cap. Every outcome must be a load or a QatError:
 * no untyped error, no crash or hang (the child must exit), no RSS above 512 MB.
 * `npm run fuzz` runs the same with 5,000 cases per loader.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CASES = Number(process.env.FUZZ_CASES ?? 250);
const SEED = Number(process.env.FUZZ_SEED ?? 1);
const TARGETS = ["safetensors", "int8", "checkpoint", "onnx", "idx", "config"];
const MEMORY_CAP_MB = 512;

interface Summary {
  target: string;
  outcomes: Record<string, number>;
  untyped: { case: number; error: string }[];
  peakRssMB: number;
}

/** Runs one target's child; rejects on a non-zero exit or a hang (no output within `limitMs`). */
function runTarget(target: string, limitMs: number): Promise<Summary> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${MEMORY_CAP_MB}`, "--import", "tsx", path.join(ROOT, "test/fuzz/runner.ts"), target, String(CASES), String(SEED)], { cwd: ROOT });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`fuzz ${target}: child exited with ${code ?? signal} (a crash, an out-of-memory abort or a hang)\n${err.slice(-2000)}`));
      else resolve(JSON.parse(out.trim().split("\n").pop()!) as Summary);
    });
  });
}

describe("loader fuzzing (child processes, 512 MB heap cap)", () => {
  it(`${CASES} mutated inputs per loader: typed errors only, bounded memory`, async () => {
    const limit = Math.max(120_000, CASES * 200);
    const results: Summary[] = [];
    for (let i = 0; i < TARGETS.length; i += 2) results.push(...(await Promise.all(TARGETS.slice(i, i + 2).map((t) => runTarget(t, limit)))));
    for (const r of results) {
      console.log(`[fuzz ${r.target}] ${JSON.stringify(r.outcomes)}, peak RSS ${r.peakRssMB} MB`);
      expect(r.untyped, r.target).toEqual([]);
      expect(r.peakRssMB, r.target).toBeLessThan(MEMORY_CAP_MB);
      expect(Object.values(r.outcomes).reduce((a, b) => a + b, 0)).toBe(CASES);
    }
  }, Math.max(300_000, CASES * 400));
});
