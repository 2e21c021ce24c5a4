/**
 * Vitest setup file (runs in every test worker before the tests): selects the backend named
 * by the QAT_BACKEND environment variable, so the whole suite can run on one backend, e.g.
 * `QAT_BACKEND=ref npx vitest run`. Without the variable the library's default stays: "native"
 * where its addon is built, else "wasm" where WebAssembly SIMD exists, else "ref"
 * (src/backend/index.ts). Fails loudly if the
 * selection did not take, so a run labelled "ref" is never silently a wasm run.
 */
import { getBackend, setBackend } from "../../src/backend/index.js";

const name = process.env.QAT_BACKEND;
if (name) {
  setBackend(name);
  if (getBackend() !== name) throw new Error(`QAT_BACKEND=${name} but the active backend is ${getBackend()}`);
}
