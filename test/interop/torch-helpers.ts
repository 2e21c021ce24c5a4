/**
 * Helpers for the PyTorch round-trip tests: whether Debian's torch is importable by
 * /usr/bin/python3 (tests skip with a printed reason when it is not), running the exported
 * project's scripts and torchrun, and comparing state dicts and outputs. Used by
 * test/interop/torch-*.test.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Tensor } from "../../src/tensor/tensor.js";
import type { StateDict } from "../../src/nn/state-dict.js";

export const PYTHON = "/usr/bin/python3";

let probed: string | null = null;
/** "" when `/usr/bin/python3 -c "import torch"` works, else why not. */
export function torchUnavailable(): string {
  if (probed === null) {
    const r = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" });
    probed = r.error ? `${PYTHON} cannot run (${r.error.message})` : r.status !== 0 ? `${PYTHON} -c "import torch" failed: ${(r.stderr || "").trim().split("\n").pop()}` : "";
  }
  return probed;
}

const made: string[] = [];

/** A fresh temporary directory, removed by removeTempDirs() (call it from afterAll). */
export function tempDir(tag: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `qat-torch-${tag}-`));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Runs a Python script of the exported project; throws with its stderr on failure. */
export function runPy(dir: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(PYTHON, args, { cwd: dir, encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1", ...env }, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${PYTHON} ${args.join(" ")} failed (${r.status}):\n${(r.stderr || "").slice(-4000)}`);
  return r.stdout;
}

/**
 * `torchrun --nproc_per_node n train_ddp.py …` (gloo on CPU). `--redirects 2 --tee 2`: torch
 * 1.13's launcher under Python 3.11 turns the default "0" into None and fails (to_map); any
 * non-zero value avoids it and keeps stdout on the console.
 */
export function torchrun(dir: string, n: number, args: string[]): string {
  const port = String(29500 + Math.floor(Math.random() * 2000));
  return runPy(dir, ["-m", "torch.distributed.run", "--nproc_per_node", String(n), "--redirects", "2", "--tee", "2", "--log_dir", path.join(dir, "torchrun-logs"), "--master_port", port, "train_ddp.py", ...args]);
}

/** Keys whose values differ between two state dicts (bitwise, as numbers), and missing keys. */
export function stateDiff(a: StateDict, b: StateDict, keep: (key: string) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const [k, t] of Object.entries(a)) {
    if (!keep(k)) continue;
    const o = b[k];
    if (!o) {
      out.push(`${k} (missing)`);
      continue;
    }
    if (o.size !== t.size) {
      out.push(`${k} (size ${t.size} vs ${o.size})`);
      continue;
    }
    for (let i = 0; i < t.size; i++) {
      if (!Object.is(Number(t.data[i]), Number(o.data[i]))) {
        out.push(`${k}[${i}]: ${Number(t.data[i])} vs ${Number(o.data[i])}`);
        break;
      }
    }
  }
  return out;
}

/** Max |a − b| in units of `scale`, and the fraction of values within one unit. */
export function inQuanta(a: Tensor | Float32Array, b: Tensor | Float32Array, scale: number): { max: number; within1: number; exact: number } {
  const x = "data" in a && !(a instanceof Float32Array) ? a.data : a;
  const y = "data" in b && !(b instanceof Float32Array) ? b.data : b;
  let max = 0;
  let within = 0;
  let exact = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(Number(x[i]) - Number(y[i])) / scale;
    max = Math.max(max, d);
    if (d <= 1.0001) within++;
    if (d === 0) exact++;
  }
  return { max, within1: within / x.length, exact: exact / x.length };
}

/** Top-1 agreement of two [N, C] outputs. */
export function top1(a: ArrayLike<number>, b: ArrayLike<number>, classes: number): number {
  let same = 0;
  const rows = a.length / classes;
  const arg = (v: ArrayLike<number>, r: number) => {
    let k = 0;
    for (let j = 1; j < classes; j++) if (v[r * classes + j] > v[r * classes + k]) k = j;
    return k;
  };
  for (let r = 0; r < rows; r++) if (arg(a, r) === arg(b, r)) same++;
  return same / rows;
}

/**
 * Largest difference between two state dicts, per key relative to that tensor's largest |value|
 * (so near-zero elements do not dominate), and how many keys are bit-identical.
 */
export function stateRelDiff(a: StateDict, b: StateDict): { worst: number; key: string; identical: number; keys: number } {
  let worst = 0;
  let key = "";
  let identical = 0;
  let keys = 0;
  for (const [k, t] of Object.entries(a)) {
    const o = b[k];
    if (!o || o.size !== t.size) return { worst: Infinity, key: `${k} (missing or resized)`, identical, keys };
    keys++;
    let same = true;
    let top = 1e-12;
    for (let i = 0; i < t.size; i++) if (Number.isFinite(Number(t.data[i]))) top = Math.max(top, Math.abs(Number(t.data[i])));
    for (let i = 0; i < t.size; i++) {
      const x = Number(t.data[i]);
      const y = Number(o.data[i]);
      if (Object.is(x, y)) continue;
      same = false;
      const d = Math.abs(x - y) / top;
      if (d > worst) [worst, key] = [d, k];
    }
    if (same) identical++;
  }
  return { worst, key, identical, keys };
}
