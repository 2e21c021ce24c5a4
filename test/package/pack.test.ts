/**
 * The published package, as a user gets it (issue 19): a fresh build of src/ (tsc, into a
 * staging copy, so the shared dist/ is not touched), `npm pack`, installed from the tarball
 * into a temporary project, then: imported from ESM (root, `qat-ts/node`, the dataset entry),
 * `require("qat-ts")` fails with the ESM-only message, and a TypeScript file type-checks with
 * `tsc --strict` against the installed types — once as a browser project (no @types/node,
 * root entry only) and once as a Node project (all three entries). Reports the packed size:
 * the package without the dataset's data must be under 1 MB. Skipped, with the reason
 * printed, when npm is unavailable.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const npmOk = spawnSync("npm", ["--version"], { encoding: "utf8" }).status === 0;
if (!npmOk) console.warn("[package] skipped: npm is not available on PATH");

const TSC = path.join(ROOT, "node_modules/typescript/bin/tsc");
const MB = 1024 * 1024;

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? dirBytes(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).size;
  return n;
}

describe.skipIf(!npmOk)("npm package", () => {
  let tmp: string;
  let tgz: string;
  let app: string;
  let installNote = "";

  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "qat-pack-"));
    // Stage: package.json, README, assets, cjs, and a fresh dist (emit only; `npm run typecheck` checks types).
    const stage = path.join(tmp, "stage");
    mkdirSync(stage);
    for (const f of ["package.json", "README.md", "LICENSE", "assets", "cjs"]) if (existsSync(path.join(ROOT, f))) cpSync(path.join(ROOT, f), path.join(stage, f), { recursive: true });
    run(process.execPath, [TSC, "-p", path.join(ROOT, "tsconfig.build.json"), "--noCheck", "--outDir", path.join(stage, "dist")], ROOT);
    const out = JSON.parse(run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", tmp], stage)) as { filename: string }[];
    tgz = path.join(tmp, out[0].filename);

    app = path.join(tmp, "app");
    mkdirSync(app);
    writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module" }));
    const inst = spawnSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", tgz], { cwd: app, encoding: "utf8" });
    if (inst.status !== 0) {
      // No network and a dependency missing from the npm cache: unpack the tarball and link the repo's copies of the dependencies.
      installNote = `npm install --offline failed (${inst.stderr.split("\n").find((l) => l.includes("cache mode")) ?? inst.stderr.split("\n")[0]}); dependencies linked from the repository`;
      const pkgDir = path.join(app, "node_modules/qat-ts");
      mkdirSync(pkgDir, { recursive: true });
      execFileSync("tar", ["xzf", tgz, "-C", pkgDir, "--strip-components=1"]);
      const deps = Object.keys((JSON.parse(run("npm", ["pkg", "get", "dependencies"], pkgDir)) as Record<string, string>));
      for (const d of deps) symlinkSync(path.join(ROOT, "node_modules", d), path.join(app, "node_modules", d));
    }
  }, 180_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("packs under 1 MB without the dataset's data, with no source maps or literal-bytes typings", () => {
    const dir = path.join(tmp, "unpacked");
    mkdirSync(dir);
    execFileSync("tar", ["xzf", tgz, "-C", dir]);
    const pkg = path.join(dir, "package");
    const data = path.join(pkg, "assets/fashion-mnist-sample");
    const dataBytes = dirBytes(data);
    // The same package without the data, packed the same way (gzip, default level).
    const noData = path.join(tmp, "no-data.tgz");
    execFileSync("tar", ["czf", noData, "--exclude=package/assets/fashion-mnist-sample", "-C", dir, "package"]);
    const total = statSync(tgz).size;
    const withoutData = statSync(noData).size;
    console.log(`[package] ${path.basename(tgz)}: ${(total / MB).toFixed(2)} MB packed (${(withoutData / MB).toFixed(2)} MB without the Fashion-MNIST sample's ${(dataBytes / MB).toFixed(2)} MB of gzipped IDX files)${installNote ? `; ${installNote}` : ""}`);
    expect(withoutData).toBeLessThan(1 * MB);
    const files = execFileSync("tar", ["tzf", tgz], { encoding: "utf8" }).split("\n");
    expect(files.filter((f) => f.endsWith(".map"))).toEqual([]);
    expect(files).toContain("package/cjs/esm-only.cjs");
    expect(files).toContain("package/dist/datasets/fashion-mnist-sample.js");
    expect(statSync(path.join(pkg, "dist/backend/wasm/generated/kernels-wasm.d.ts")).size).toBeLessThan(1024);
  });

  it("imports from ESM: the root, qat-ts/node and the dataset entry", () => {
    writeFileSync(path.join(app, "main.mjs"), `
import { tensor, Int8Model, nn, quant } from "qat-ts";
import { readIdxFile, terminalProgress, saveCheckpoint } from "qat-ts/node";
import { fashionMnistSample, embeddedSampleDir } from "qat-ts/datasets/fashion-mnist-sample";
const { train, test } = fashionMnistSample();
const y = tensor([[1, 2, 3], [4, 5, 6]]).sum().item();
console.log(JSON.stringify({ y, train: train.length, test: test.length, dir: embeddedSampleDir(), kinds: [typeof Int8Model, typeof nn.Linear, typeof quant.convert, typeof readIdxFile, typeof terminalProgress, typeof saveCheckpoint] }));
`);
    const r = JSON.parse(run(process.execPath, ["main.mjs"], app)) as { y: number; train: number; test: number; dir: string; kinds: string[] };
    expect(r).toMatchObject({ y: 21, train: 6000, test: 1000 });
    expect(r.dir.startsWith(path.join(app, "node_modules/qat-ts/assets/"))).toBe(true);
    expect(r.kinds).toEqual(new Array(6).fill("function"));
  });

  it("the qat command runs from the installed package", () => {
    const help = run(process.execPath, [path.join(app, "node_modules/qat-ts/dist/cli/main.js"), "--help"], app);
    expect(help).toMatch(/Usage: qat/);
    expect(help).toContain("demo");
  });

  it("require() says the package is ESM-only", () => {
    writeFileSync(path.join(app, "main.cjs"), `
for (const id of ["qat-ts", "qat-ts/node"]) {
  try { require(id); console.log("loaded " + id); } catch (e) { console.log(e.code + ": " + e.message); }
}`);
    const lines = run(process.execPath, ["main.cjs"], app).trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^ERR_QAT_TS_ESM_ONLY: qat-ts is ESM-only: use `import \{ \.\.\. \} from "qat-ts"`.*await import\("qat-ts"\)/);
  });

  it("type-checks with tsc --strict: a browser project (no @types/node) and a Node project", () => {
    // The browser project checks every .d.ts of the package it reaches (skipLibCheck false);
    // the Node project only its own use of the three entries (the libraries were just checked).
    const tsconfig = (types: string[], files: string[]) => JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "DOM"], types, skipLibCheck: types.length > 0 }, files });
    writeFileSync(path.join(app, "browser.ts"), `
import { tensor, nn, optim, quant, train, onnx, Int8Model, type Tensor } from "qat-ts";
const model = new nn.Sequential(new nn.Linear(4, 3));
const x: Tensor = tensor([[1, 2, 3, 4]]);
const y: Tensor = model.forward(x);
const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
const trainer = new train.Trainer({ model, optimizer: opt, progress: train.lineProgress() });
const done: Promise<train.EpochRecord[]> = Promise.resolve(trainer.history);
const fmt: string = onnx.exportModel.name + quant.convert.name + String(Int8Model.name) + y.shape.join("x");
void done; void fmt;
`);
    writeFileSync(path.join(app, "node.ts"), `
import { data } from "qat-ts";
import { readIdxFile, terminalProgress, type ProgressReporter } from "qat-ts/node";
import { fashionMnistSample, type ImageSplits } from "qat-ts/datasets/fashion-mnist-sample";
const s: ImageSplits = fashionMnistSample();
const p: ProgressReporter = terminalProgress();
const loader = new data.DataLoader(s.train, { batchSize: 8 });
const n: number = loader.length + readIdxFile.length;
void p; void n;
`);
    writeFileSync(path.join(app, "tsconfig.browser.json"), tsconfig([], ["browser.ts"]));
    writeFileSync(path.join(app, "tsconfig.node.json"), tsconfig(["node"], ["node.ts"]));
    const typesNode = path.join(app, "node_modules/@types/node");
    if (!existsSync(typesNode)) {
      mkdirSync(path.dirname(typesNode), { recursive: true });
      symlinkSync(path.join(ROOT, "node_modules/@types/node"), typesNode);
    }
    for (const cfg of ["tsconfig.browser.json", "tsconfig.node.json"]) {
      const r = spawnSync(process.execPath, [TSC, "-p", cfg], { cwd: app, encoding: "utf8" });
      expect(r.stdout + r.stderr, cfg).toBe("");
      expect(r.status).toBe(0);
    }
  }, 120_000);
});
