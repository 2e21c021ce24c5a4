// Test runner configuration for mutation testing (npm run mutation → scripts/mutation.mjs,
// stryker.config.json): only the suites that pin the numerics core, on the reference backend
// (the TypeScript kernels are the code being mutated; on wasm most of it would not run).
// MUTATION_TESTS (globs separated by ";", set per source file by scripts/mutation.mjs) narrows
// the list to the suites that pin the file being mutated, so a run takes minutes on 2 cores.
import { defineConfig } from "vitest/config";

const all = [
  "test/quant/{qparams,observer,observer-edges,fake-quantize,fake-quantize-edges,lsq,lsq-edges,rounding-ties,convbn-golden,convbn-folded,non-finite}.test.ts",
  "test/int8/{fixed-point,kernels,kernels-misc,kernels-errors,fast-kernels,boundary-params,common-checks,layer-errors,requantize-paths,pool-rules}.test.ts",
  "test/backend/{conv,fakequant,qat-kernels}.test.ts",
  "test/ops/conv.test.ts",
  "test/{quant,int8,backend}/*-mutants.test.ts",
];

export default defineConfig({
  test: {
    include: process.env.MUTATION_TESTS ? process.env.MUTATION_TESTS.split(";") : all,
    globalSetup: ["test/backend/setup.ts"],
    setupFiles: ["test/backend/select-backend.ts"],
    env: { QAT_BACKEND: "ref" },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
