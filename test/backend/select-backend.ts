/**
 * Vitest setup file (runs in every test worker before the tests): selects the backend named
 * by the QAT_BACKEND environment variable, so the whole suite can run on the wasm backend
 * with `QAT_BACKEND=wasm npx vitest run`. Without the variable nothing changes (ref).
 */
import { setBackend } from "../../src/backend/index.js";

const name = process.env.QAT_BACKEND;
if (name) setBackend(name);
