#!/usr/bin/env node
/**
 * `npm run prepare`: runs `npm run build` (wasm kernels, native addon, TypeScript → dist/)
 * unless dist/ is newer than every input. npm runs prepare on `npm install` / `npm ci` and
 * `npm pack`, and again the first time `npx qat` is called in a clone: npm exec links the
 * project into its npx cache so that its bin is found, which runs prepare a second time —
 * a full TypeScript build (about a minute on a loaded 2-core machine) before `npx qat demo`
 * even starts. With this check that second run costs milliseconds.
 *
 * Inputs: src/, assembly/, native/, scripts/build-*.mjs, tsconfig*.json, package.json. The
 * stamp dist/.build-stamp is written after a successful build; QAT_FORCE_BUILD=1 always builds.
 * Either way dist/cli/main.js (the `qat` bin) is left executable.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const stamp = path.join(root, "dist", ".build-stamp");

/** The newest modification time (ms) under `p` (a file or a directory, recursively); 0 if absent. */
function newest(p) {
  if (!existsSync(p)) return 0;
  const s = statSync(p);
  if (!s.isDirectory()) return s.mtimeMs;
  let t = s.mtimeMs; // a deleted file changes its directory's mtime
  for (const e of readdirSync(p)) t = Math.max(t, newest(path.join(p, e)));
  return t;
}

const inputs = ["src", "assembly", "native", "tsconfig.json", "tsconfig.build.json", "package.json", ...readdirSync(path.join(root, "scripts")).filter((f) => f.startsWith("build-")).map((f) => path.join("scripts", f))];
const stampTime = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const changed = inputs.filter((p) => newest(path.join(root, p)) > stampTime);

if (process.env.QAT_FORCE_BUILD !== "1" && stampTime > 0 && changed.length === 0 && existsSync(path.join(root, "dist", "cli", "main.js"))) {
  process.stdout.write("prepare: dist/ is up to date (newer than src/, assembly/, native/, scripts/build-*, tsconfig, package.json); skipping the build\n");
} else {
  const r = spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
  if (r.status !== 0) process.exit(r.status ?? 1);
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}
// The bin must be executable: tsc writes it 0644, and npm sets the mode only when it links the
// bin (a later rebuild of a fresh clone at a path npx has cached would leave it 0644).
const bin = path.join(root, "dist", "cli", "main.js");
if (existsSync(bin)) chmodSync(bin, 0o755);
