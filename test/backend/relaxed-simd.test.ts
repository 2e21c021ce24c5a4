/**
 * The relaxed-SIMD wasm build (issue 15, item 5): picked only where the host validates it,
 * off with QAT_WASM_RELAXED=0, and its GEMM (fused multiply-add) within the reference's
 * tolerance. Node 20 validates relaxed SIMD only with --experimental-wasm-relaxed-simd, so
 * each case runs test/backend/fixtures/relaxed-probe.mts in a child process with or without it.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PROBE = "test/backend/fixtures/relaxed-probe.mts";

interface Probe {
  backend: string;
  relaxed: boolean;
  maxErr: number;
  out: number[];
}

function probe(flags: string[], env: Record<string, string> = {}): Probe {
  const r = spawnSync(process.execPath, [...flags, "--import", "tsx", PROBE], { cwd: ROOT, encoding: "utf8", env: { ...process.env, QAT_BACKEND: "wasm", ...env } });
  if (r.status !== 0) throw new Error(`probe failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Probe;
}

const hostHasFma = (() => {
  try {
    return /\bfma\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    return false;
  }
})();

describe("relaxed-SIMD wasm build", () => {
  const plain = probe([]);
  const flagged = probe(["--experimental-wasm-relaxed-simd"]);
  const optedOut = probe(["--experimental-wasm-relaxed-simd"], { QAT_WASM_RELAXED: "0" });

  it("is used only where the host validates it, and QAT_WASM_RELAXED=0 turns it off", () => {
    expect(plain.backend).toBe("wasm");
    expect(plain.relaxed).toBe(false);
    expect(flagged.relaxed).toBe(true);
    expect(optedOut.relaxed).toBe(false);
  });

  it("computes the GEMM within the reference tolerance on both builds", () => {
    // |wasm − ref| / Σ|a||b| per output element
    expect(plain.maxErr).toBeLessThan(1e-6);
    expect(flagged.maxErr).toBeLessThan(1e-6);
  });

  it("opting out gives the SIMD128 build's results bit for bit", () => {
    expect(optedOut.out).toEqual(plain.out);
  });

  it.runIf(hostHasFma)("fuses the multiply-add where the CPU has FMA (results differ from the SIMD128 build's)", () => {
    const differs = flagged.out.filter((v, i) => v !== plain.out[i]).length;
    expect(differs).toBeGreaterThan(0);
  });
});
