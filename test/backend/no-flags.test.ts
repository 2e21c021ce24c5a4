/**
 * Importing qat-ts has no process-wide side effect (issue #16): no V8 flag is set (a fresh
 * vm context has no `gc` and no `FinalizationRegistry.prototype.cleanupSome`) until
 * synchronous wasm memory reclamation is switched on — lazily under memory pressure, or by
 * configureWasmMemory({ syncReclaim: true }) — and QAT_SYNC_RECLAIM=0 forbids it. Each case
 * runs in a fresh child process (flags, once set, cannot be unset).
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");

function probe(body: string, env: Record<string, string> = {}): { gc: string; cleanupSome: string } {
  const code = `
    import vm from "node:vm";
    const q = await import(${JSON.stringify(path.join(ROOT, "src/index.ts"))});
    ${body}
    console.log(JSON.stringify({ gc: vm.runInNewContext("typeof gc"), cleanupSome: vm.runInNewContext("typeof FinalizationRegistry.prototype.cleanupSome") }));`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { cwd: ROOT, encoding: "utf8", env: { ...process.env, QAT_BACKEND: "", ...env } }); // the default (wasm) backend, also in CI's QAT_BACKEND=ref pass
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as { gc: string; cleanupSome: string };
}

const hasWasm = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", `const b = await import(${JSON.stringify(path.join(ROOT, "src/backend/index.ts"))}); console.log(b.listBackends().includes("wasm"))`], { cwd: ROOT, encoding: "utf8" }).stdout.trim() === "true";

describe.skipIf(!hasWasm)("V8 flags", () => {
  it("none after import and a few small ops; set on explicit request", () => {
    expect(probe("q.tensor([1, 2, 3]).add(q.tensor([1, 1, 1]));")).toEqual({ gc: "undefined", cleanupSome: "undefined" });
    expect(probe("q.configureWasmMemory({ syncReclaim: true });")).toEqual({ gc: "function", cleanupSome: "function" });
  });

  it("switched on lazily when wasm memory passes the threshold; never with QAT_SYNC_RECLAIM=0", () => {
    const churn = "q.configureWasmMemory({ gcThresholdBytes: 8 << 20 }); for (let i = 0; i < 40; i++) q.zeros([1 << 18]).add(1);";
    expect(probe(churn)).toEqual({ gc: "function", cleanupSome: "function" });
    expect(probe(churn, { QAT_SYNC_RECLAIM: "0" })).toEqual({ gc: "undefined", cleanupSome: "undefined" });
  });
});
