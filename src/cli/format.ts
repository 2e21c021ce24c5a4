/**
 * Human output of the `qat` verbs: aligned text tables and number formats (3 significant
 * digits for measured figures, percentages for accuracies, KiB for sizes). `--json` prints the
 * unrounded result instead. Called by src/cli/main.ts and src/cli/commands/*.
 */

/** `x` rounded to `digits` significant digits, as text without exponent (1234.5 → "1230", 0.012345 → "0.0123"). */
export function sig(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return x === Infinity ? "∞" : "-";
  if (x === 0) return "0";
  const rounded = Number(x.toPrecision(digits));
  const mag = Math.floor(Math.log10(Math.abs(rounded)));
  const decimals = Math.max(0, digits - 1 - mag);
  return decimals > 0 ? rounded.toFixed(Math.min(decimals, 20)) : String(Math.round(rounded));
}

export const percent = (x: number | null | undefined): string => (x === null || x === undefined ? "-" : `${(x * 100).toFixed(2)} %`);
export const kib = (bytes: number | null | undefined): string => (bytes === null || bytes === undefined ? "-" : `${(bytes / 1024).toFixed(1)} KiB`);

/** An aligned table: a header row, a rule, then the rows. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => r.map((v, c) => (v ?? "").padEnd(w[c])).join("  ").trimEnd();
  return [line(head), line(w.map((x) => "-".repeat(x))), ...rows.map(line)].join("\n");
}

/** `key  value` lines for a flat result (what a verb did and where it wrote it). */
export function keyValues(pairs: [string, string][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}
