// Summarizes StrykerJS JSON reports (reports/mutation/mutation.json by default): per file the
// mutant counts by status and the mutation score (killed + timeout + compile/runtime errors
// over all but ignored), then every surviving / uncovered mutant with its line, replacement and
// a category from the rules below (a first sort for review, not a verdict). Used to fill
// docs/TESTING.md after `npm run mutation`.
// Usage: node scripts/mutation-summary.mjs [--markdown] [report.json ...]   (later reports of
// the same file replace earlier ones)
import { readFileSync } from "node:fs";
import process from "node:process";
import console from "node:console";

const args = process.argv.slice(2);
const markdown = args.includes("--markdown");
const files = args.filter((a) => a !== "--markdown");
if (files.length === 0) files.push("reports/mutation/mutation.json");

/** Category of a survivor, from its mutator and source line. */
function category(m, line) {
  if (/getBackend\(\)|WASM_MIN|WASM_RESIDENT|depthwise|isUnitMultiplier|onWasm|tryWasm|2097152|TWO_52|RINT_LIMIT/.test(line)) return "fast-path";
  if (m.mutatorName === "StringLiteral" || m.mutatorName === "OptionalChaining") return "message";
  if (/throw new|check\w*\(|positive\(/.test(line)) return "validation";
  if (m.mutatorName === "EqualityOperator" && /^\s*for \(/.test(line) && /<=/.test(m.replacement ?? "")) return "loop-bound";
  if (m.mutatorName === "EqualityOperator" && /\?/.test(line) && /(<=|>=)/.test(m.replacement ?? "")) return "boundary";
  return "other";
}

const byFile = new Map();
for (const f of files) {
  const report = JSON.parse(readFileSync(f, "utf8"));
  for (const [name, file] of Object.entries(report.files)) byFile.set(name, file);
}
const rows = [];
const survivors = [];
let tk = 0, tv = 0;
for (const [name, file] of byFile) {
  const c = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0 };
  const lines = file.source.split("\n");
  for (const m of file.mutants) {
    c[m.status] = (c[m.status] ?? 0) + 1;
    if (m.status === "Survived" || m.status === "NoCoverage") {
      const line = lines[m.location.start.line - 1];
      survivors.push({ file: name, line: m.location.start.line, status: m.status, mutator: m.mutatorName, replacement: m.replacement ?? "", cat: category(m, line), src: line.trim() });
    }
  }
  const detected = c.Killed + c.Timeout + c.CompileError + c.RuntimeError;
  const valid = detected + c.Survived + c.NoCoverage;
  tk += detected;
  tv += valid;
  rows.push([name, c.Killed, c.Timeout, c.Survived, c.NoCoverage, valid === 0 ? "— (no mutants)" : `${((100 * detected) / valid).toFixed(1)} %`]);
}
console.log("| file | killed | timeout | survived | no coverage | score |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const r of rows) console.log(`| ${r[0]} | ${r[1]} | ${r[2]} | ${r[3]} | ${r[4]} | ${r[5]} |`);
console.log(`| **all** | | | | | **${((100 * tk) / tv).toFixed(1)} %** (${tk} / ${tv}) |`);
const cats = {};
for (const s of survivors) cats[s.cat] = (cats[s.cat] ?? 0) + 1;
console.log(`\nSurvivors by category: ${Object.entries(cats).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
for (const s of survivors) {
  const text = `${s.file}:${s.line} [${s.cat}] ${s.status} ${s.mutator} → ${JSON.stringify(s.replacement).slice(0, 80)}  | ${s.src.slice(0, 100)}`;
  console.log(markdown ? `- \`${text.replace(/`/g, "'")}\`` : text);
}
