/**
 * The native backend's place in the registry and its build: registered and the default in
 * Node when the addon is built (storage in wasm memory, its kernels over wasm's over ref),
 * QAT_BACKEND=wasm keeps the addon from loading, a missing compiler makes the build print
 * one line and exit 0 (so `npm ci` never fails on it), and the addon's own type checks.
 * With QAT_REQUIRE_NATIVE=1 a missing addon fails the suite instead of skipping it.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { getBackend, kernels, listBackends, setBackend, useFastestBackend } from "../../src/backend/index.js";
import { nativeAddon, nativeBackend, nativeIsa, nativeKernels, nativeStatus } from "../../src/backend/native/index.js";
import { refKernels } from "../../src/backend/ref/index.js";
import { wasmKernels } from "../../src/backend/wasm/index.js";
import { randn } from "../../src/tensor/creation.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const initial = getBackend();
afterAll(() => setBackend(initial));

const d = nativeBackend ? describe : describe.skip;
if (!nativeBackend) console.log(`native backend not tested: ${nativeStatus()}`);

d("native backend registration", () => {
  it("is registered, preferred by useFastestBackend, and says which ISA it runs", () => {
    expect(listBackends()).toContain("native");
    expect(useFastestBackend()).toBe("native");
    expect(nativeStatus()).toMatch(/^loaded qat-native-/);
    expect(["avx512-vnni", "avx512", "avx2-fma", "scalar"]).toContain(nativeIsa());
  });

  it("keeps tensors in wasm memory; its kernels over wasm's over the reference", () => {
    setBackend("native");
    expect(randn([100]).data.buffer).toBeInstanceOf(SharedArrayBuffer);
    const k = kernels();
    expect(k.matmul).toBe(nativeKernels!.matmul);
    expect(k.conv2dBackwardWeight).toBe(nativeKernels!.conv2dBackwardWeight);
    expect(k.unary).toBe(nativeKernels!.unary);
    expect(k.clamp).toBe(wasmKernels.clamp);
    expect(k.softmax).toBe(nativeKernels!.softmax);
    expect(k.argReduce).toBe(refKernels.argReduce);
    setBackend("ref");
    expect(randn([100]).data.buffer).toBeInstanceOf(ArrayBuffer);
  });

  it("the addon rejects arrays of the wrong type with a TypeError naming kernel and argument", () => {
    const geom = new Int32Array(16);
    expect(() => nativeAddon!.conv2d(new Float32Array(4), new Float64Array(4) as never, new Float32Array(4), geom))
      .toThrow(/qat-native conv2d: argument 1 must be a Float32Array/);
    expect(() => (nativeAddon!.matmul as (...a: unknown[]) => void)(new Float32Array(1))).toThrow(/qat-native matmul: expected 13 arguments, got 1/);
  });
});

describe("where the native backend is required (QAT_REQUIRE_NATIVE=1, e.g. CI on a machine with a C compiler)", () => {
  it.runIf(process.env.QAT_REQUIRE_NATIVE === "1")("the addon is loaded", () => {
    expect(nativeStatus()).toMatch(/^loaded /);
    expect(listBackends()).toContain("native");
  });
});

describe("selection and build without the addon", () => {
  it("QAT_BACKEND=wasm keeps the addon from loading", () => {
    const code = `import("./src/backend/index.ts").then(async (b) => { const n = await import("./src/backend/native/index.ts");`
      + ` console.log(JSON.stringify([b.getBackend(), b.listBackends(), n.nativeStatus()])); });`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], { cwd: ROOT, encoding: "utf8", env: { ...process.env, QAT_BACKEND: "wasm" } });
    expect(r.status, r.stderr).toBe(0);
    const [active, names, status] = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(active).toBe("wasm");
    expect(names).not.toContain("native");
    expect(status).toBe("QAT_BACKEND=wasm");
  });

  it("no C compiler: one line, exit status 0 (npm ci goes on with the wasm backend)", () => {
    const r = spawnSync(process.execPath, ["scripts/build-native.mjs", "--force"], {
      cwd: ROOT, encoding: "utf8", env: { ...process.env, CC: "/nonexistent/cc", PATH: "/nonexistent", QAT_BACKEND: "" },
    });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["build-native: no C compiler found (set CC) — the WebAssembly backend will be used"]);
    const strict = spawnSync(process.execPath, ["scripts/build-native.mjs", "--force", "--strict"], {
      cwd: ROOT, encoding: "utf8", env: { ...process.env, CC: "/nonexistent/cc", PATH: "/nonexistent", QAT_BACKEND: "" },
    });
    expect(strict.status).toBe(1);
  });
});
