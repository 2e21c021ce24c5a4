/**
 * Vitest global setup: builds the WebAssembly kernels (scripts/build-wasm.mjs) when the
 * generated module is missing or older than assembly/*.ts, so tests running from source
 * always load current kernels. Registered in vitest.config.ts.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
  const r = spawnSync(process.execPath, [path.join(root, "scripts/build-wasm.mjs")], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`wasm build failed:\n${r.stderr}`);
}
