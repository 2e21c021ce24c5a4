// Summarizes StrykerJS JSON reports: per file the mutant counts by status and the mutation score,
// then every surviving / uncovered mutant with its line, replacement and a category from the
// rules below (a first sort for review, not a verdict). Used to fill docs/TESTING.md and
// docs/mutation-survivors.md after `npm run mutation` (scripts/mutation.mjs).
//   score            = detected / (detected + survived + no coverage), detected = killed + timeout
//                      + compile/runtime errors (ignored mutants left out) — Stryker's own score
//   score (equiv. removed) = detected / (detected + survived + no coverage − equivalent), where
//                      equivalent = survivors listed in the "Equivalent mutants" section of
//                      docs/mutation-survivors.md, one per line:
//                      - `file:line Mutator → "replacement"` — reason
//                      (an entry covers every survivor with that file, line, mutator, replacement)
// Files of stryker.config.json's mutate list with no report here can be counted from an earlier
// measurement: --carry docs/mutation-carried.json ({ "file": { killed, timeout, survived,
// noCoverage, measured } }); their rows say so, their survivors are not listed.
// Usage: node scripts/mutation-summary.mjs [--markdown] [--equivalents FILE] [--carry FILE] [report.json ...]
//   Without reports: every per-file report reports/mutation/*.json (scripts/mutation.mjs writes
//   one per run), oldest first; a later report of the same file replaces an earlier one.
import { readFileSync, readdirSync, existsSync, statSync } from "node:fs";
import process from "node:process";
import console from "node:console";

const args = process.argv.slice(2);
let markdown = false;
let eqFile = "docs/mutation-survivors.md";
let carryFile;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--markdown") markdown = true;
  else if (args[i] === "--equivalents") eqFile = args[++i];
  else if (args[i] === "--carry") carryFile = args[++i];
  else files.push(args[i]);
}
if (files.length === 0) {
  const found = readdirSync("reports/mutation").filter((f) => f.endsWith(".json") && !f.endsWith(".incremental.json") && !f.endsWith(".config.json") && f !== "mutation.json");
  const at = (f) => statSync(`reports/mutation/${f}`).mtimeMs;
  for (const f of found.sort((a, b) => at(a) - at(b))) files.push(`reports/mutation/${f}`);
}

/** Category of a survivor, from its mutator and source line. */
function category(m, line) {
  if (/getBackend\(\)|WASM_MIN|WASM_RESIDENT|depthwise|isUnitMultiplier|onWasm|tryWasm|2097152|TWO_52|RINT_LIMIT/.test(line)) return "fast-path";
  if (m.mutatorName === "StringLiteral" || m.mutatorName === "OptionalChaining") return "message";
  if (/throw new|check\w*\(|positive\(/.test(line)) return "validation";
  if (m.mutatorName === "EqualityOperator" && /^\s*for \(/.test(line) && /<=/.test(m.replacement ?? "")) return "loop-bound";
  if (m.mutatorName === "EqualityOperator" && /\?/.test(line) && /(<=|>=)/.test(m.replacement ?? "")) return "boundary";
  return "other";
}

/** The mutant's key as the equivalents list writes it. */
const keyOf = (file, line, mutator, replacement) => `${file}:${line} ${mutator} → ${JSON.stringify(replacement)}`;

// Equivalent mutants: `- \`KEY\` — reason` lines of the equivalents file.
const equivalents = new Map();
if (existsSync(eqFile)) {
  for (const l of readFileSync(eqFile, "utf8").split("\n")) {
    const m = /^- `(\S+:\d+ \w+ → ".*")` — (.+)$/.exec(l);
    if (m) equivalents.set(m[1], { reason: m[2], used: 0 });
  }
}

const byFile = new Map();
for (const f of files) {
  const report = JSON.parse(readFileSync(f, "utf8"));
  for (const [name, file] of Object.entries(report.files)) byFile.set(name, file);
}
const rows = [];
const survivors = [];
let tk = 0, tv = 0, te = 0;
for (const [name, file] of [...byFile].sort((a, b) => a[0].localeCompare(b[0]))) {
  const c = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0 };
  const lines = file.source.split("\n");
  let eq = 0;
  for (const m of file.mutants) {
    c[m.status] = (c[m.status] ?? 0) + 1;
    if (m.status === "Survived" || m.status === "NoCoverage") {
      const line = lines[m.location.start.line - 1];
      const key = keyOf(name, m.location.start.line, m.mutatorName, m.replacement ?? "");
      const e = equivalents.get(key);
      if (e) {
        e.used++;
        eq++;
        continue;
      }
      survivors.push({ key, status: m.status, cat: category(m, line), src: line.trim() });
    }
  }
  const detected = c.Killed + c.Timeout + c.CompileError + c.RuntimeError;
  const valid = detected + c.Survived + c.NoCoverage;
  tk += detected;
  tv += valid;
  te += eq;
  const pct = (d, v) => (v === 0 ? "— (no mutants)" : `${((100 * d) / v).toFixed(1)} %`);
  rows.push([name, c.Killed, c.Timeout, c.Survived, c.NoCoverage, eq, pct(detected, valid), pct(detected, valid - eq)]);
}
if (carryFile) {
  const carried = JSON.parse(readFileSync(carryFile, "utf8"));
  for (const [name, c] of Object.entries(carried)) {
    if (byFile.has(name)) continue;
    const detected = c.killed + c.timeout;
    const valid = detected + c.survived + c.noCoverage;
    tk += detected;
    tv += valid;
    rows.push([`${name} (${c.measured})`, c.killed, c.timeout, c.survived, c.noCoverage, "—", `${((100 * detected) / valid).toFixed(1)} %`, "—"]);
  }
}
console.log("| file | killed | timeout | survived | no coverage | equivalent | score | score, equivalents removed |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
console.log(`| **all** | | | | | ${te} | **${((100 * tk) / tv).toFixed(1)} %** (${tk} / ${tv}) | **${((100 * tk) / (tv - te)).toFixed(1)} %** (${tk} / ${tv - te}) |`);
const stale = [...equivalents].filter(([, e]) => e.used === 0).map(([k]) => k);
if (stale.length > 0) console.log(`\nEquivalents list entries matching no survivor (stale or killed): ${stale.length}\n${stale.map((k) => `  ${k}`).join("\n")}`);
const cats = {};
for (const s of survivors) cats[s.cat] = (cats[s.cat] ?? 0) + 1;
console.log(`\nRemaining survivors (not listed as equivalent) by category: ${Object.entries(cats).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
for (const s of survivors) {
  const text = `${s.key} [${s.cat}] ${s.status}  | ${s.src.slice(0, 100)}`;
  console.log(markdown ? `- \`${text.replace(/`/g, "'")}\`` : text);
}
