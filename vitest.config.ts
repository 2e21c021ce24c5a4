// Test runner configuration: every *.test.ts under test/, run in forked workers, after the wasm build.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Builds the WebAssembly kernels when missing or stale (they are generated, not committed).
    globalSetup: ["test/backend/setup.ts"],
    // QAT_BACKEND=wasm runs every test on the wasm backend (default: ref).
    setupFiles: ["test/backend/select-backend.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
