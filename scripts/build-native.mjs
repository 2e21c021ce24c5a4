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
 * --emu512 builds the AVX-512 emulation addon instead, build/native/qat-native-emu512-<platform>-<arch>.node:
 * the same sources with -DQAT_EMULATE_AVX512, so the AVX-512 / VNNI kernels run on SIMDe's portable
 * intrinsics (header-only; Debian's libsimde-dev, or SIMDE_INCLUDE=<dir holding simde/>) and the ISA
 * reads "avx512-vnni (emulated)" on any AVX2 CPU. Only test/backend/native-avx512-emu.test.ts builds
 * and loads it (never npm ci); without SIMDe or off x86 it prints why and exits 0 (2 with --strict).
 * Usage: node scripts/build-native.mjs [--force] [--strict] [--quiet] [--emu512]
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
const emu512 = args.has("--emu512");

/** Platforms whose shared-object conventions this script knows (Windows needs node.lib: not supported). */
const PLATFORMS = new Set(["linux", "darwin", "freebsd"]);

function note(msg) {
  if (!quiet) process.stdout.write(`build-native: ${msg}\n`);
}

function giveUp(msg) {
  process.stdout.write(`build-native: ${msg}${emu512 ? " — no AVX-512 emulation addon" : " — the WebAssembly backend will be used"}\n`);
  process.exit(args.has("--strict") ? (emu512 ? 2 : 1) : 0);
}

/** The include directory holding simde/x86/avx512.h, or null. */
function simdeDir() {
  const dirs = [process.env.SIMDE_INCLUDE, "/usr/include", "/usr/local/include", "/opt/homebrew/include"].filter(Boolean);
  return dirs.find((d) => existsSync(path.join(d, "simde/x86/avx512.h"))) ?? null;
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

// The emulation addon goes to build/ (git-ignored, not in the package's files): tests only.
const outDir = emu512 ? path.join(ROOT, "build/native") : OUT_DIR;
const out = path.join(outDir, `qat-native-${emu512 ? "emu512-" : ""}${process.platform}-${process.arch}.node`);
if (!emu512 && (process.env.QAT_BACKEND === "wasm" || process.env.QAT_NATIVE_BUILD === "0")) giveUp("skipped (QAT_BACKEND=wasm or QAT_NATIVE_BUILD=0)");
const simde = emu512 ? simdeDir() : null;
if (emu512 && !["x64", "ia32"].includes(process.arch)) giveUp(`the emulation build is for x86 (this is ${process.arch})`);
if (emu512 && !simde) giveUp("SIMDe headers (simde/x86/avx512.h) not found: install libsimde-dev or set SIMDE_INCLUDE");
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
// SIMDe's 64-byte vector types make GCC note an old ABI change on every file: silenced.
if (emu512) flags.push("-DQAT_EMULATE_AVX512", "-Wno-psabi", ...(simde === "/usr/include" ? [] : [`-I${simde}`]));
mkdirSync(outDir, { recursive: true });
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
