/**
 * ONNX backend conformance (node tests of onnx 1.12, restricted to the op set of vision,
 * speech and transformer models; scripts/onnx-conformance/generate.py writes the bundle, with
 * every input after the first baked in as an initializer). Each case is imported with
 * `onnx.importModel`, put in eval mode (inference semantics, as onnx's runner), run, and its
 * outputs compared at the suite's tolerances (rtol 1e-3, atol 1e-7; integers and bools exactly).
 * A case in KNOWN is a `test.fails` with its reason (it must still fail: a fix shows up as a
 * failing test here, and then moves out of KNOWN).
 * Pass rate: 476 / 497 = 95.8 % (was 127 / 416 = 30.5 % before issue #14 part 2, over a smaller
 * op list); per op in docs/OPS.md (`node --import tsx scripts/onnx-conformance/report.ts --table`).
 */
import { describe, expect, it } from "vitest";
import { loadBundle, runCase } from "./conformance/run-case.js";
import { KNOWN } from "./conformance/known.js";

const bundle = loadBundle();

describe("ONNX backend conformance (onnx 1.12 node tests)", () => {
  it("bundle holds the generated cases", () => {
    expect(bundle.cases.length).toBeGreaterThan(400);
    for (const name of Object.keys(KNOWN)) expect(bundle.cases.some((c) => c.name === name), `KNOWN lists ${name}, which is not in the bundle`).toBe(true);
  });
  for (const c of bundle.cases) {
    const reason = KNOWN[c.name];
    if (reason) {
      it.fails(`${c.name} (known failure: ${reason})`, () => expect(runCase(c)).toBeNull());
    } else {
      it(c.name, () => expect(runCase(c)).toBeNull());
    }
  }
});
