// Test runner configuration for mutation testing (npm run mutation, stryker.config.json): only
// the suites that pin the numerics core, on the reference backend (the TypeScript kernels are
// the code being mutated; on wasm most of it would not run).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "test/quant/{qparams,observer,observer-edges,fake-quantize,fake-quantize-edges,lsq,lsq-edges,rounding-ties,convbn-golden,convbn-folded,non-finite}.test.ts",
      "test/int8/{fixed-point,kernels,kernels-misc,kernels-errors,fast-kernels,boundary-params,common-checks,layer-errors,requantize-paths,pool-rules}.test.ts",
      "test/backend/{conv,fakequant,qat-kernels}.test.ts",
      "test/ops/conv.test.ts",
    ],
    globalSetup: ["test/backend/setup.ts"],
    setupFiles: ["test/backend/select-backend.ts"],
    env: { QAT_BACKEND: "ref" },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
