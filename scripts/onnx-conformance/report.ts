/**
 * Prints the ONNX conformance pass rate, per-op counts (the docs/OPS.md table) and every
 * failing case with its reason, and flags KNOWN entries that now pass or failures missing from
 * KNOWN. Run: `node --import tsx scripts/onnx-conformance/report.ts [--table]`. Reads the
 * bundle through test/onnx/conformance/run-case.ts.
 */
import { loadBundle, runCase } from "../../test/onnx/conformance/run-case.js";
import { KNOWN } from "../../test/onnx/conformance/known.js";

const bundle = loadBundle();
let pass = 0;
const per = new Map<string, [number, number]>();
for (const c of bundle.cases) {
  const r = runCase(c);
  const p = per.get(c.op) ?? [0, 0];
  p[1]++;
  if (r === null) {
    pass++;
    p[0]++;
    if (KNOWN[c.name]) console.log(`NOW PASSES (remove from KNOWN): ${c.name}`);
  } else {
    console.log(`${KNOWN[c.name] ? "known" : "NEW FAILURE"} ${c.name}: ${r.slice(0, 200)}`);
  }
  per.set(c.op, p);
}
const pct = ((100 * pass) / bundle.cases.length).toFixed(1);
console.log(`\npass ${pass}/${bundle.cases.length} = ${pct} % over ${per.size} ops (onnx ${bundle.onnx})`);
if (process.argv.includes("--table")) {
  console.log("\n| Op | pass | Op | pass | Op | pass | Op | pass |\n|---|---:|---|---:|---|---:|---|---:|");
  const rows = [...per].sort(([a], [b]) => a.localeCompare(b)).map(([o, [p, n]]) => `${o} | ${p}/${n}`);
  for (let i = 0; i < rows.length; i += 4) console.log(`| ${rows.slice(i, i + 4).join(" | ")} |`);
}
