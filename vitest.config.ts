// Test runner configuration: every *.test.ts under test/, run in forked workers, after the wasm build.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Builds the WebAssembly kernels when missing or stale (they are generated, not committed).
    globalSetup: ["test/backend/setup.ts"],
    // The default backend is the library's: "wasm" where WebAssembly SIMD exists, else "ref".
    // QAT_BACKEND=ref (or =wasm) runs every test on that backend; CI (.ci/run) runs the whole
    // suite on the default and the kernel/op/quant/int8 suites again with QAT_BACKEND=ref.
    // Tests that must cover both backends in one run use describeEachBackend (test/backend/helpers.ts).
    setupFiles: ["test/backend/select-backend.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
