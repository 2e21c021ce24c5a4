// Summarizes a StrykerJS JSON report (reports/mutation/mutation.json by default): per file the
// mutant counts by status and the mutation score (killed + timeout over all but ignored,
// compile errors counted as killed), then every surviving / uncovered mutant with its line and
// replacement. Used to fill docs/TESTING.md after `npm run mutation`.
// Usage: node scripts/mutation-summary.mjs [report.json ...]
import { readFileSync } from "node:fs";
import process from "node:process";
import console from "node:console";

const files = process.argv.slice(2);
if (files.length === 0) files.push("reports/mutation/mutation.json");
const rows = new Map();
const survivors = [];
for (const f of files) {
  const report = JSON.parse(readFileSync(f, "utf8"));
  for (const [name, file] of Object.entries(report.files)) {
    const c = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0 };
    for (const m of file.mutants) {
      c[m.status] = (c[m.status] ?? 0) + 1;
      if (m.status === "Survived" || m.status === "NoCoverage") {
        const line = file.source.split("\n")[m.location.start.line - 1].trim();
        survivors.push(`${name}:${m.location.start.line} ${m.status} ${m.mutatorName}: ${JSON.stringify(m.replacement ?? "")}  | ${line.slice(0, 110)}`);
      }
    }
    rows.set(name, c);
  }
}
let tk = 0, tv = 0;
console.log("| file | killed | timeout | survived | no coverage | errors | score |");
console.log("|---|---|---|---|---|---|---|");
for (const [name, c] of rows) {
  const detected = c.Killed + c.Timeout + c.CompileError + c.RuntimeError;
  const valid = detected + c.Survived + c.NoCoverage;
  tk += detected;
  tv += valid;
  console.log(`| ${name} | ${c.Killed} | ${c.Timeout} | ${c.Survived} | ${c.NoCoverage} | ${c.CompileError + c.RuntimeError} | ${((100 * detected) / valid).toFixed(1)} % |`);
}
console.log(`| **all** | | | | | | **${((100 * tk) / tv).toFixed(1)} %** (${tk}/${tv}) |`);
console.log("\nSurvivors:");
for (const s of survivors) console.log(s);
