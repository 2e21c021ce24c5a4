// `npm run mutation` — StrykerJS over the numerics core (stryker.config.json), one file per run.
// Without --file it runs every file of the config's `mutate` list in turn; with
// `--file src/quant/lsq.ts` (repeatable) only those; `--file a.ts,b.ts` mutates a group of files
// in one run (one initial test run instead of one per file; its report is named after the first).
// Each run uses concurrency 1 (2-core machine), only the suites that pin the file (TESTS below,
// then vitest's `related` selection), and writes its own report reports/mutation/<file>.json and
// incremental file reports/mutation/<file>.incremental.json, so `node scripts/mutation-summary.mjs`
// can total the latest report of every file. A rerun reuses the results of mutants whose code and
// covering tests did not change (Stryker's incremental mode); `--force` reruns every mutant.
// Other arguments are passed to `stryker run`.
// Usage: npm run mutation -- [--file <src>[,<src>...] ...] [--force] [--concurrency n]
import { readFileSync, writeFileSync, mkdirSync, renameSync } from "node:fs";
import { spawnSync } from "node:child_process";
import process from "node:process";
import console from "node:console";

// The suites that pin each file (vitest.mutation.config.ts reads them from MUTATION_TESTS); a
// group runs the union. A file not listed runs the config's whole list. Left out for time: the
// model-training tests of test/quant/non-finite.test.ts and test/backend/qat-kernels.test.ts
// (seconds per mutant on 2 cores; they pin the skip-on-non-finite logic and the wasm kernels).
// conv.ts runs only the kernel suites (the float64-definition and wasm comparisons): the op and
// conv-BN model suites reach the same kernels at several seconds per mutant.
const Q = (names) => `test/quant/{${names}}.test.ts`;
const FQ = Q("fake-quantize,fake-quantize-edges,fake-quantize-mutants,fake-quantize-mutants2,rounding-ties");
const OBS = Q("observer,observer-edges,observer-mutants,observer-mutants2,fake-quantize");
const INT8 = "test/int8/{fixed-point,kernels,kernels-misc,kernels-errors,fast-kernels,boundary-params,common-checks,layer-errors,requantize-paths,pool-rules,int8-mutants,int8-kernel-mutants-*}.test.ts";
const TESTS = {
  "src/quant/qparams.ts": [Q("qparams,observer,fake-quantize,rounding-ties")],
  "src/quant/fake-quantize.ts": [FQ, "test/backend/fakequant.test.ts"],
  "src/quant/fake-quantize-fused.ts": [FQ],
  "src/quant/fake-quantize-defaults.ts": [FQ, OBS],
  "src/quant/lsq.ts": [Q("lsq,lsq-edges,lsq-mutants,rounding-ties")],
  "src/quant/observer.ts": [OBS],
  "src/quant/minmax.ts": [OBS],
  "src/quant/observer-fixed.ts": [OBS],
  "src/quant/observer-histogram.ts": [OBS],
  "src/int8/fixed-point.ts": [INT8, "test/int8/fixed-point-mutants.test.ts"],
  "src/int8/kernels/common.ts": [INT8],
  "src/int8/kernels/elementwise.ts": [INT8],
  "src/int8/kernels/packed.ts": [INT8],
  "src/int8/kernels/params.ts": [INT8],
  "src/int8/kernels/pool.ts": [INT8],
  "src/int8/kernels/qconv2d.ts": [INT8],
  "src/int8/kernels/qlinear.ts": [INT8],
  "src/int8/kernels/quantize.ts": [INT8],
  "src/backend/ref/conv.ts": ["test/backend/{conv,conv-mutants}.test.ts"],
};

const base = JSON.parse(readFileSync("stryker.config.json", "utf8"));
const args = process.argv.slice(2);
const files = [];
const pass = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--file") {
    const group = args[++i];
    if (group === undefined) throw new Error("mutation: --file needs a source path");
    for (const f of group.split(",")) {
      if (!base.mutate.includes(f)) throw new Error(`mutation: ${f} is not in stryker.config.json's mutate list`);
    }
    files.push(group);
  } else pass.push(args[i]);
}
if (files.length === 0) files.push(...base.mutate);
const concurrency = pass.includes("--concurrency") || pass.includes("-c") ? [] : ["--concurrency", "1"];

mkdirSync("reports/mutation", { recursive: true });
let failed = 0;
for (const group of files) {
  const file = group.split(",")[0];
  const slug = file.replace(/^src\//, "").replace(/\.ts$/, "").replace(/\//g, "-");
  const config = {
    ...base,
    mutate: group.split(","),
    jsonReporter: { fileName: `reports/mutation/${slug}.json` },
    incremental: true,
    incrementalFile: `reports/mutation/${slug}.incremental.json`,
  };
  delete config.$schema;
  const configFile = `reports/mutation/${slug}.config.json`;
  writeFileSync(`${configFile}.tmp`, JSON.stringify(config, null, 2));
  renameSync(`${configFile}.tmp`, configFile);
  const started = Date.now();
  console.log(`mutation: ${group} → reports/mutation/${slug}.json`);
  const members = group.split(",");
  const tests = members.every((f) => TESTS[f]) ? [...new Set(members.flatMap((f) => TESTS[f]))].join(";") : undefined;
  const env = { ...process.env, ...(tests === undefined ? {} : { MUTATION_TESTS: tests }) };
  const r = spawnSync("npx", ["stryker", "run", configFile, ...concurrency, ...pass], { stdio: "inherit", env });
  console.log(`mutation: ${group} done in ${Math.round((Date.now() - started) / 1000)} s (exit ${r.status})`);
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
