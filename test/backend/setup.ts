/**
 * Vitest global setup: builds the WebAssembly kernels (scripts/build-wasm.mjs) when the
 * generated module is missing or older than assembly/*.ts, and the native addon
 * (scripts/build-native.mjs: a no-op without a C compiler) when older than native/*.c, so
 * tests running from source always load current kernels. Registered in vitest.config.ts.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
  const r = spawnSync(process.execPath, [path.join(root, "scripts/build-wasm.mjs")], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`wasm build failed:\n${r.stderr}`);
  const n = spawnSync(process.execPath, [path.join(root, "scripts/build-native.mjs"), "--quiet"], { cwd: root, encoding: "utf8" });
  if (n.status !== 0) throw new Error(`native build failed:\n${n.stderr}`);
}
