/**
 * Compiles the native CPU backend (native/*.c, Node-API) with the system C compiler into
 * dist/native/qat-native-<platform>-<arch>.node, the file src/backend/native/addon.ts loads.
 * Node-API headers come from the `node-api-headers` devDependency (no node-gyp, no network).
 * ISA-specific code is selected per function (target attributes + __builtin_cpu_supports),
 * so the whole file is built for the baseline of the architecture, never -march=native.
 * Never fails the install: no compiler, an unknown platform or a compile error prints one
 * line and the library uses the WebAssembly backend (exit status 0; --strict makes a failed
 * compilation exit 1, for CI). Run by `npm run build` (so by `npm ci` through prepare) and
 * by the vitest global setup when the output is missing or older than the sources.
 * Usage: node scripts/build-native.mjs [--force] [--strict] [--quiet]
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SRC_DIR = path.join(ROOT, "native");
const OUT_DIR = path.join(ROOT, "dist/native");
const SELF = fileURLToPath(import.meta.url);
const args = new Set(process.argv.slice(2));
const quiet = args.has("--quiet");

/** Platforms whose shared-object conventions this script knows (Windows needs node.lib: not supported). */
const PLATFORMS = new Set(["linux", "darwin", "freebsd"]);

function note(msg) {
  if (!quiet) process.stdout.write(`build-native: ${msg}\n`);
}

function giveUp(msg) {
  process.stdout.write(`build-native: ${msg} — the WebAssembly backend will be used\n`);
  process.exit(args.has("--strict") ? 1 : 0);
}

function sources() {
  return readdirSync(SRC_DIR).filter((f) => f.endsWith(".c") || f.endsWith(".h")).map((f) => path.join(SRC_DIR, f));
}

function findCompiler() {
  for (const cc of [process.env.CC, "cc", "gcc", "clang"].filter(Boolean)) {
    const r = spawnSync(cc, ["--version"], { encoding: "utf8" });
    if (r.status === 0) return cc;
  }
  return null;
}

function headersDir() {
  try {
    return createRequire(import.meta.url)("node-api-headers").include_dir;
  } catch {
    return null;
  }
}

const out = path.join(OUT_DIR, `qat-native-${process.platform}-${process.arch}.node`);
if (process.env.QAT_BACKEND === "wasm" || process.env.QAT_NATIVE_BUILD === "0") giveUp("skipped (QAT_BACKEND=wasm or QAT_NATIVE_BUILD=0)");
if (!PLATFORMS.has(process.platform)) giveUp(`no native build for ${process.platform}-${process.arch}`);
if (!args.has("--force") && existsSync(out)) {
  const built = statSync(out).mtimeMs;
  if ([...sources(), SELF].every((f) => statSync(f).mtimeMs <= built)) {
    note(`${path.relative(ROOT, out)} is up to date`);
    process.exit(0);
  }
}
const cc = findCompiler();
if (!cc) giveUp("no C compiler found (set CC)");
const include = headersDir();
if (!include) giveUp("node-api-headers is not installed");

const flags = [
  "-O3", "-std=gnu11", "-fPIC", "-shared", "-pthread", "-fvisibility=hidden",
  // Bit-exact float64 epilogues (nn.c) need a·b + c rounded twice, as JavaScript does.
  "-ffp-contract=off", "-fno-math-errno",
  "-Wall", "-Wextra", "-Wno-unused-parameter",
  `-I${include}`,
];
if (process.platform === "darwin") flags.push("-undefined", "dynamic_lookup");
mkdirSync(OUT_DIR, { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
const cfiles = sources().filter((f) => f.endsWith(".c"));
const r = spawnSync(cc, [...flags, ...cfiles, "-o", tmp, "-lm"], { encoding: "utf8" });
if (r.status !== 0) {
  rmSync(tmp, { force: true });
  // The sources changed and no longer compile: a binary of older sources must not be loaded.
  rmSync(out, { force: true });
  if (!quiet) process.stderr.write(r.stderr ?? "");
  giveUp(`${cc} failed (${(r.stderr ?? "").split("\n").find((l) => l.includes("error")) ?? `status ${r.status}`})`);
}
if (r.stderr && !quiet) process.stderr.write(r.stderr);
renameSync(tmp, out);
note(`built ${path.relative(ROOT, out)} with ${cc}`);
