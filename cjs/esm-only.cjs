// qat-ts is an ES module package (it uses top-level await), so require() cannot load it.
// package.json's "require" export condition points here to say so clearly.
"use strict";
const err = new Error(
  'qat-ts is ESM-only: use `import { ... } from "qat-ts"` in an ES module (a .mjs file, or "type": "module" in package.json), ' +
    'or `const qat = await import("qat-ts")` from CommonJS. The same holds for "qat-ts/node" and "qat-ts/datasets/fashion-mnist-sample".',
);
err.code = "ERR_QAT_TS_ESM_ONLY";
throw err;
